"""Clean interpreter exit: no pending task or unclosed resource is left behind."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    import asyncio, threading
    from prefactor_core.queue import InMemoryQueue, TaskExecutor
    from tests import handlers

    async def handle(item):
        await asyncio.sleep(0)
        return item

    async def main():
        queue = InMemoryQueue(maxsize=10)

        def produce():
            for value in range(200):
                queue.sync_q.put(value)

        async with TaskExecutor(queue, handle, num_workers=4):
            thread = threading.Thread(target=produce)
            thread.start()
            await asyncio.to_thread(thread.join)

        for mode in ("thread", "process"):
            queue = InMemoryQueue()
            async with TaskExecutor(queue, handlers.double, mode=mode):
                for value in range(50):
                    await queue.put(value)
        print("finished")

    if __name__ == "__main__":
        asyncio.run(main())
    """
)


@pytest.mark.timeout(60)
def test_exit_leaves_no_pending_task(tmp_path: Path) -> None:
    script = tmp_path / "exit_script.py"
    script.write_text(SCRIPT)

    completed = subprocess.run(
        [sys.executable, "-X", "dev", str(script)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=50,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "finished"
    assert "Task was destroyed but it is pending" not in completed.stderr
    assert "Exception ignored" not in completed.stderr
    assert "ResourceWarning" not in completed.stderr
    assert "Traceback" not in completed.stderr
