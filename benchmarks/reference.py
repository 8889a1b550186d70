"""Virtual environment with prefactor-core 0.5.3 from PyPI, the reference peer.

0.5.3 has the same import name as this tree, so it gets its own virtual
environment under `benchmarks/.venvs/`, created with the ordinary `venv` and
`pip` on first use and reused while it still contains that version.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .harness import BenchmarkError

__all__ = ["REFERENCE_VERSION", "ensure_reference_python", "find_base_python", "run_install_step"]

logger = logging.getLogger(__name__)

REFERENCE_VERSION = "0.5.3"

# prefactor-core 0.5.3 declares Requires-Python >=3.11.
_MIN_PYTHON = (3, 11)

# Seconds allowed for creating the environment and installing the package.
_INSTALL_TIMEOUT = 600.0

_VERSION_CHECK = "import importlib.metadata as m; print(m.version('prefactor-core'))"


def ensure_reference_python(venvs_dir: Path) -> Path:
    """Return the interpreter of the 0.5.3 environment, creating it if needed.

    Blocks while `venv` and `pip install prefactor-core==0.5.3` run, which
    needs access to PyPI on first use.

    Raises:
        BenchmarkError: No Python >= 3.11 was found, or creating the
            environment or installing the package failed.
    """
    venv_dir = venvs_dir / f"prefactor-core-{REFERENCE_VERSION}"
    python = venv_dir / "bin" / "python"
    if python.exists() and _installed_version(python) == REFERENCE_VERSION:
        return python

    create_venv(venv_dir, [f"prefactor-core=={REFERENCE_VERSION}"])

    installed = _installed_version(python)
    if installed != REFERENCE_VERSION:
        raise BenchmarkError(
            f"{venv_dir} contains prefactor-core {installed!r} instead of "
            f"{REFERENCE_VERSION}; delete the folder and run again"
        )
    return python


def _installed_version(python: Path) -> str | None:
    completed = subprocess.run(
        [str(python), "-I", "-c", _VERSION_CHECK],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if completed.returncode != 0:
        return None
    return completed.stdout.strip()


def create_venv(venv_dir: Path, pip_arguments: list[str]) -> Path:
    """Create `venv_dir` anew and pip-install `pip_arguments` into it.

    Returns:
        The venv's Python interpreter.

    Raises:
        BenchmarkError: Creating the venv or installing failed.
    """
    python = venv_dir / "bin" / "python"
    base_python = find_base_python()
    logger.info("creating %s with %s", venv_dir, base_python)
    if venv_dir.exists():
        shutil.rmtree(venv_dir)
    run_install_step([base_python, "-m", "venv", str(venv_dir)])
    pip_install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run_install_step([*pip_install, *pip_arguments])
    return python


def find_base_python() -> str:
    """Return a Python >= 3.11 for a benchmark environment, this one if it qualifies."""
    if sys.version_info >= _MIN_PYTHON:
        return sys.executable
    for minor in range(20, _MIN_PYTHON[1] - 1, -1):
        found = shutil.which(f"python3.{minor}")
        if found:
            return found
    raise BenchmarkError(
        "the benchmark environments need Python >= 3.11, but this is "
        f"{sys.version.split()[0]} and no python3.11 or newer is on PATH; "
        "install one or pass --no-reference"
    )


def run_install_step(command: list[str]) -> None:
    """Run one step of creating an environment; raise BenchmarkError if it fails."""
    # Drop PYTHONPATH so that pip cannot see this source tree's package.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=_INSTALL_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchmarkError(f"{command[0]} timed out after {_INSTALL_TIMEOUT:g} s") from exc
    if completed.returncode != 0:
        raise BenchmarkError(
            f"{' '.join(command)} failed with exit code {completed.returncode}:\n"
            f"{completed.stderr.strip()}"
        )
