"""Helpers that run `python -m prefactor_core` in a subprocess for the tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# Generous for a loaded machine; each test also has its pytest timeout.
COMMAND_TIMEOUT = 60.0  # seconds


def cli_environment() -> dict[str, str]:
    """Return the environment with the repository root on PYTHONPATH."""
    environment = dict(os.environ)
    paths = [str(ROOT), environment.get("PYTHONPATH", "")]
    environment["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    return environment


def run_cli(
    *arguments: str, cwd: Path, stdin: str | None = None, module: str = "prefactor_core"
) -> subprocess.CompletedProcess[str]:
    """Run `python -m MODULE ARGUMENTS` in `cwd` and return the result."""
    return subprocess.run(
        [sys.executable, "-m", module, *arguments],
        cwd=cwd,
        env=cli_environment(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )


def start_cli(
    *arguments: str,
    cwd: Path,
    stdin: int = subprocess.DEVNULL,
    module: str = "prefactor_core",
) -> subprocess.Popen[str]:
    """Start `python -m MODULE ARGUMENTS` in `cwd` with stderr piped."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *arguments],
        cwd=cwd,
        env=cli_environment(),
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_jsonl(path: Path) -> list[Any]:
    """Return the JSON values of the lines of `path`."""
    return [json.loads(line) for line in path.read_text().splitlines()]
