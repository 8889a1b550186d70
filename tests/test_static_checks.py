"""mypy --strict and ruff over the package, as part of the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_tool(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )


@pytest.mark.timeout(180)
def test_mypy_strict_is_clean() -> None:
    completed = run_tool("mypy")
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.timeout(60)
def test_ruff_check_is_clean() -> None:
    folders = [name for name in ("prefactor_core", "tests", "benchmarks") if (ROOT / name).is_dir()]
    completed = run_tool("ruff", "check", *folders)
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.timeout(60)
def test_ruff_format_is_clean() -> None:
    completed = run_tool("ruff", "format", "--check", "prefactor_core")
    assert completed.returncode == 0, completed.stdout + completed.stderr
