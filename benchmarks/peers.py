"""Virtual environment with the queue libraries that the shared-queue workloads compare.

arq, rq, procrastinate and pgqueuer are not dependencies of this project. The
command installs them into `benchmarks/.venvs/peers/` on first use, next to
this tree in editable mode with its `redis` and `postgres` extras. It reuses
that environment while its list of requirements is unchanged.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from .reference import create_venv

__all__ = ["PEER_PACKAGES", "ensure_peers_python", "peer_versions"]

logger = logging.getLogger(__name__)

# Distributions installed next to this tree; the workloads import these.
PEER_PACKAGES = ("arq", "rq", "procrastinate", "pgqueuer")

# File in the environment that records the requirements it was made with.
_MARKER = "prefactor-bench-requirements.txt"

_VERSIONS = (
    "import importlib.metadata as m, sys; "
    "print(', '.join(f'{n} {m.version(n)}' for n in sys.argv[1:]))"
)


def ensure_peers_python(venvs_dir: Path, root: Path) -> Path:
    """Return the interpreter of the peers environment, creating it if needed.

    Blocks while `venv` and `pip install` run, which needs access to the
    package index on first use.

    Raises:
        BenchmarkError: No Python >= 3.11 was found, or creating the
            environment or installing the packages failed.
    """
    venv_dir = venvs_dir / "peers"
    python = venv_dir / "bin" / "python"
    requirements = [f"-e {root}[redis,postgres]", *PEER_PACKAGES]
    marker = venv_dir / _MARKER
    if python.exists() and marker.exists() and marker.read_text().splitlines() == requirements:
        return python

    create_venv(venv_dir, ["-e", f"{root}[redis,postgres]", *PEER_PACKAGES])
    marker.write_text("\n".join(requirements) + "\n")
    return python


def peer_versions(python: Path) -> str:
    """Return "NAME VERSION, ..." for each of PEER_PACKAGES installed for `python`."""
    completed = subprocess.run(
        [str(python), "-I", "-c", _VERSIONS, *PEER_PACKAGES],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if completed.returncode != 0:
        return "versions unknown"
    return completed.stdout.strip()
