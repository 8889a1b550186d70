"""Progress of `prefactor-core run`: plain lines without a terminal, a bar on one."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .cli_process import COMMAND_TIMEOUT, cli_environment, run_cli


@pytest.mark.timeout(60)
def test_plain_progress_line_every_interval(tmp_path: Path) -> None:
    # Three items of 2 s on one worker take about 6 s, past the 5 s interval.
    (tmp_path / "items.txt").write_text("a\nb\nc\n")

    completed = run_cli(
        "run", "tests.cli_handlers:started_sleep", "items.txt", "--workers", "1", cwd=tmp_path
    )

    assert completed.returncode == 0, completed.stderr
    lines = completed.stderr.splitlines()
    assert any(
        re.fullmatch(r"progress: [0-3]/3 items done, 0 failed, \d+\.\d items/s(, ETA \d+ s)?", line)
        for line in lines
    ), completed.stderr
    assert "\x1b[" not in completed.stderr
    assert lines[-1].startswith("3 items: 3 succeeded, 0 failed in ")


@pytest.mark.timeout(60)
def test_terminal_shows_progress_bar(tmp_path: Path) -> None:
    (tmp_path / "words.txt").write_text("".join(f"word{n}\n" for n in range(40)))
    command = [sys.executable, "-m", "prefactor_core", "run", "tests.cli_handlers:shout"]
    command += ["words.txt", "--output", "out.jsonl"]
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            command,
            cwd=tmp_path,
            env={**cli_environment(), "COLUMNS": "120", "TERM": "xterm"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=terminal,
        )
        os.close(terminal)
        output = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO once the command has closed the terminal
                break
            if not chunk:
                break
            output += chunk
        returncode = process.wait(timeout=COMMAND_TIMEOUT)
    finally:
        os.close(controller)

    text = output.decode("utf-8", errors="replace")
    assert returncode == 0, text
    assert "━" in text
    assert "40/40" in text
    assert "0 failed" in text
    assert "40 items: 40 succeeded, 0 failed in " in text
