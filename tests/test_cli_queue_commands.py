"""`worker` and `enqueue` end to end, on the `listqueue://` queue of the tests."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import pytest

from .cli_process import read_jsonl, run_cli, start_cli

WITH_LIST_QUEUE = "tests.cli_with_list_queue"

# Bounded wait for the first handler call, start-up included.
START_TIMEOUT = 30.0  # seconds


@pytest.mark.timeout(60)
def test_enqueue_puts_items_in_order(tmp_path: Path) -> None:
    folder = tmp_path / "queue"
    folder.mkdir()
    lines = [json.dumps({"n": n}) for n in range(1, 6)]
    lines.insert(2, "{not json")
    (tmp_path / "items.jsonl").write_text("\n".join(lines) + "\n")

    completed = run_cli(
        "enqueue",
        "--queue",
        f"listqueue://{folder}",
        "items.jsonl",
        "--format",
        "jsonl",
        cwd=tmp_path,
        module=WITH_LIST_QUEUE,
    )

    assert completed.returncode == 1, completed.stderr
    assert "items.jsonl:3: invalid JSON: " in completed.stderr
    assert "enqueued 5 items, 1 invalid input line skipped" in completed.stderr
    assert read_jsonl(folder / "out.jsonl") == [{"n": n} for n in range(1, 6)]


@pytest.mark.timeout(60)
def test_enqueue_clean_input_exits_0(tmp_path: Path) -> None:
    folder = tmp_path / "queue"
    folder.mkdir()

    completed = run_cli(
        "enqueue",
        "--queue",
        f"listqueue://{folder}",
        cwd=tmp_path,
        stdin="a\nb\n",
        module=WITH_LIST_QUEUE,
    )

    assert completed.returncode == 0, completed.stderr
    assert read_jsonl(folder / "out.jsonl") == ["a", "b"]


@pytest.mark.timeout(60)
def test_worker_drains_on_sigterm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "queue"
    folder.mkdir()
    (folder / "in.jsonl").write_text("".join(f"{json.dumps(str(n))}\n" for n in range(20)))
    marker = tmp_path / "started"
    monkeypatch.setenv("CLI_TEST_STARTED", str(marker))

    process = start_cli(
        "worker",
        "--queue",
        f"listqueue://{folder}",
        "tests.cli_handlers:started_slow_echo",
        "--workers",
        "2",
        "--output",
        "out.jsonl",
        cwd=tmp_path,
        module=WITH_LIST_QUEUE,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while not marker.exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.05)

    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)

    assert process.returncode == 0, stderr
    # Closing an in-memory queue keeps its items for the workers, so the
    # stop finishes all 20. A persistent queue would keep them stored.
    assert re.search(r"stopped by SIGTERM: 20 items accepted, 20 succeeded, 0 failed", stderr)
    items = sorted(record["item"] for record in read_jsonl(tmp_path / "out.jsonl"))
    assert items == sorted(str(n) for n in range(20))
    assert read_jsonl(folder / "out.jsonl") == []
