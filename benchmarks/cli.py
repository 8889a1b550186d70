"""Command line of `python -m benchmarks`: select workloads, run them, write the outputs."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from . import harness
from .harness import (
    MIN_REPEATS,
    PEERS,
    PROJECT,
    REFERENCE,
    BenchmarkError,
    Environment,
    Workload,
)
from .machine import describe_machine, load_average
from .peers import PEER_PACKAGES, ensure_peers_python, peer_versions
from .reference import REFERENCE_VERSION, ensure_reference_python
from .registry import load_workloads
from .report import render_markdown, to_json, write_outputs

__all__ = ["main"]

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MARKDOWN = ROOT / "docs" / "benchmarks.md"
DEFAULT_JSON = ROOT / "benchmarks" / "results.json"
DEFAULT_VENVS = ROOT / "benchmarks" / ".venvs"
ANALYSIS = ROOT / "benchmarks" / "analysis.md"

QUICK_REPEATS = 2

# Peer packages that the `bench` extra installs into the running environment.
_BENCH_EXTRA_PACKAGES = ("janus", "aiologic")


def _parse_args(argv: Sequence[str], workloads: Sequence[Workload]) -> argparse.Namespace:
    names = [workload.name for workload in workloads]
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run the benchmarks against the peers and write the page and the JSON file.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"tiny sizes and {QUICK_REPEATS} repeats, to check that the scripts work",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only this workload; repeat the option or separate names with commas "
        f"(choices: {', '.join(names)})",
    )
    parser.add_argument("--list", action="store_true", help="print the workload names and exit")
    parser.add_argument(
        "--repeats",
        type=int,
        help=f"runs of each program (default {MIN_REPEATS}, or {QUICK_REPEATS} with --quick; "
        f"at least {MIN_REPEATS} without --quick)",
    )
    parser.add_argument(
        "--no-reference",
        action="store_true",
        help=f"skip prefactor-core {REFERENCE_VERSION} and the queue libraries "
        f"({', '.join(PEER_PACKAGES)}), which are installed into their own virtual "
        "environments from PyPI on first use",
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        default=DEFAULT_MARKDOWN,
        help="path of the Markdown page to write (default: docs/benchmarks.md)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        help="path of the JSON file of ratios to write (default: benchmarks/results.json)",
    )
    parser.add_argument(
        "--venvs-dir",
        type=Path,
        default=DEFAULT_VENVS,
        help="folder for the virtual environments of the peers (default: benchmarks/.venvs)",
    )
    args = parser.parse_args(argv)

    if args.repeats is None:
        args.repeats = QUICK_REPEATS if args.quick else MIN_REPEATS
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if not args.quick and args.repeats < MIN_REPEATS:
        parser.error(f"--repeats must be >= {MIN_REPEATS} without --quick, got {args.repeats}")

    selected = []
    for option in args.only or []:
        selected += [name.strip() for name in option.split(",") if name.strip()]
    unknown = sorted(set(selected) - set(names))
    if unknown:
        parser.error(f"unknown workload {', '.join(unknown)}; choices: {', '.join(names)}")
    args.selected = selected or names
    return args


def _check_bench_extra() -> None:
    missing = [name for name in _BENCH_EXTRA_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise BenchmarkError(
            f"missing peer packages {', '.join(missing)}; install them with "
            "pip install -e '.[bench]'"
        )


def _display_path(path: Path) -> str:
    """Return `path` relative to the repository root when it is inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected workloads and write docs/benchmarks.md and results.json.

    Blocks for the whole run: about 11 minutes in full on a 2-core machine,
    seconds with `--quick`. Missed targets do not change the exit status.

    Returns:
        0 on success, 1 when a benchmark could not run.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    argv = list(sys.argv[1:] if argv is None else argv)
    workloads = load_workloads()
    args = _parse_args(argv, workloads)
    if args.list:
        for workload in workloads:
            print(f"{workload.name}: {workload.title}")
        return 0

    load_at_start = load_average()
    try:
        _check_bench_extra()
        environments = {PROJECT: Environment(sys.executable, sys_path=str(ROOT))}
        skipped_environments: dict[str, str] = {}
        reference_note = "not run (--no-reference)"
        if args.no_reference:
            skipped_environments[REFERENCE] = "--no-reference"
        else:
            python = ensure_reference_python(args.venvs_dir)
            environments[REFERENCE] = Environment(str(python))
            reference_note = f"installed by this command into {_display_path(python.parent.parent)}"

        # The queue libraries are skipped in quick runs too, because the smoke
        # test runs --quick and must not install packages.
        peers_note = "not run (--no-reference)"
        if args.no_reference or args.quick:
            reason = "--no-reference" if args.no_reference else "--quick"
            skipped_environments[PEERS] = reason
            peers_note = f"not run ({reason})"
        elif any(
            program.environment == PEERS
            for workload in workloads
            if workload.name in args.selected
            for program in workload.programs
        ):
            python = ensure_peers_python(args.venvs_dir, ROOT)
            environments[PEERS] = Environment(str(python))
            peers_note = (
                f"{peer_versions(python)}, installed by this command into "
                f"{_display_path(python.parent.parent)}"
            )
        else:
            skipped_environments[PEERS] = "not selected"
            peers_note = "not run (no selected workload uses them)"

        results = []
        for workload in workloads:
            if workload.name not in args.selected:
                continue
            logger.info("running %s", workload.name)
            results.append(
                harness.run_workload(
                    workload,
                    quick=args.quick,
                    repeats=args.repeats,
                    environments=environments,
                    skipped_environments=skipped_environments,
                )
            )
    except BenchmarkError as exc:
        logger.error("benchmark failed: %s", exc)
        return 1

    machine = describe_machine()
    machine["load average at start"] = load_at_start
    machine["load average at end"] = load_average()
    run = {
        "command": shlex.join(["python", "-m", "benchmarks", *argv]),
        "quick": args.quick,
        "repeats": args.repeats,
        "machine": machine,
        "peers": {
            f"prefactor-core {REFERENCE_VERSION}": reference_note,
            "janus, aiologic": "from the `bench` extra: `pip install -e '.[bench]'`",
            ", ".join(PEER_PACKAGES): peers_note,
        },
    }
    analysis = ANALYSIS.read_text() if ANALYSIS.exists() and not args.quick else None
    write_outputs(
        args.markdown, args.json, render_markdown(run, results, analysis), to_json(run, results)
    )
    logger.info("wrote %s and %s", args.markdown, args.json)
    return 0
