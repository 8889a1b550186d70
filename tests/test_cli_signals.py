"""Stop signals during `prefactor-core run`: drain on the first, abort on the second."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .cli_process import cli_environment, read_jsonl, start_cli

INPUT_LINES = 20_000

# Bounded wait for the first handler call; start-up includes interpreter,
# click and rich imports on a possibly loaded machine.
START_TIMEOUT = 30.0  # seconds


def wait_for_file(path: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not path.exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, f"{path} was not created in {START_TIMEOUT} s"
        time.sleep(0.05)


def start_run(tmp_path: Path, handler: str, *options: str) -> subprocess.Popen[str]:
    (tmp_path / "numbers.txt").write_text("".join(f"{n}\n" for n in range(1, INPUT_LINES + 1)))
    arguments = [
        "run",
        handler,
        "numbers.txt",
        "--output",
        "out.jsonl",
        "--failed",
        "failed.jsonl",
        *options,
    ]
    return start_cli(*arguments, cwd=tmp_path)


@pytest.fixture(autouse=True)
def started_marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    marker = tmp_path / "started"
    monkeypatch.setenv("CLI_TEST_STARTED", str(marker))
    assert "CLI_TEST_STARTED" in cli_environment()
    return marker


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("signal_number", "mode"),
    [(signal.SIGINT, "thread"), (signal.SIGTERM, "process")],
)
def test_first_signal_drains_accepted_items(
    tmp_path: Path, started_marker: Path, signal_number: int, mode: str
) -> None:
    process = start_run(
        tmp_path, "tests.cli_handlers:started_slow_echo", "--mode", mode, "--workers", "4"
    )
    wait_for_file(started_marker, process)
    time.sleep(0.3)

    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=40)

    assert process.returncode == 128 + signal_number, stderr
    name = signal.Signals(signal_number).name
    match = re.search(rf"stopped by {name}: (\d+) items accepted", stderr)
    assert match is not None, stderr
    accepted = int(match.group(1))
    assert 0 < accepted < INPUT_LINES
    assert f"{name} received: finishing" in stderr
    assert f"{INPUT_LINES - accepted} input lines left unread" in stderr

    items = [record["item"] for record in read_jsonl(tmp_path / "out.jsonl")]
    items += [record["item"] for record in read_jsonl(tmp_path / "failed.jsonl")]
    assert len(items) == accepted
    assert sorted(items, key=int) == [str(n) for n in range(1, accepted + 1)]


@pytest.mark.timeout(60)
def test_second_signal_aborts_at_once(tmp_path: Path, started_marker: Path) -> None:
    # Each item sleeps 2 s, and up to 16 items are accepted, so a drain
    # would take about 15 s. The abort must come well before that.
    process = start_run(
        tmp_path,
        "tests.cli_handlers:started_sleep",
        "--mode",
        "thread",
        "--workers",
        "2",
        "--queue-size",
        "8",
    )
    wait_for_file(started_marker, process)

    process.send_signal(signal.SIGINT)
    time.sleep(0.5)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    exited_after = time.monotonic() - sent

    assert process.returncode == 128 + signal.SIGINT, stderr
    assert exited_after < 5.0
    match = re.search(r"aborted by a second SIGINT: (\d+) accepted items left unfinished", stderr)
    assert match is not None, stderr
    assert int(match.group(1)) > 0


@pytest.mark.timeout(60)
def test_signal_while_stdin_blocks(tmp_path: Path, started_marker: Path) -> None:
    # The input thread is blocked reading a pipe that stays open; the command
    # must still stop cleanly, without the interpreter aborting at shutdown.
    process = start_cli(
        "run",
        "tests.cli_handlers:started_slow_echo",
        "--output",
        "out.jsonl",
        cwd=tmp_path,
        stdin=subprocess.PIPE,
    )
    assert process.stdin is not None
    process.stdin.write("first\n")
    process.stdin.flush()
    wait_for_file(started_marker, process)
    time.sleep(0.3)

    process.send_signal(signal.SIGINT)
    returncode = process.wait(timeout=30)
    process.stdin.close()
    assert process.stderr is not None
    stderr = process.stderr.read()

    assert returncode == 128 + signal.SIGINT, stderr
    assert "Fatal Python error" not in stderr
    assert "stopped by SIGINT: 1 item accepted" in stderr
    assert "the rest of stdin left unread" in stderr
    assert read_jsonl(tmp_path / "out.jsonl") == [{"item": "first", "result": "first"}]
