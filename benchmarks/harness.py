"""Shared harness: workload definitions, alternating runs, medians and ratios.

A workload names its programs (functions in `benchmarks.programs`) and the
comparisons between them. The harness runs every program in a fresh child
process, in turn (A B A B ...) for each repeat, takes the median of each
figure, and computes each comparison's ratio per repeat and its median.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import statistics
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "CHILD_TIMEOUT",
    "MIN_REPEATS",
    "PEERS",
    "PROJECT",
    "REFERENCE",
    "BenchmarkError",
    "Comparison",
    "ComparisonResult",
    "Environment",
    "Metric",
    "Program",
    "Target",
    "Workload",
    "WorkloadResult",
    "run_workload",
]

logger = logging.getLogger(__name__)

# Minimum number of repeats behind a published median; `--quick` may use fewer.
MIN_REPEATS = 5

# Seconds that one child process may run before it is killed.
CHILD_TIMEOUT = 600.0

# Environment names used by `Program.environment`.
PROJECT = "project"
REFERENCE = "reference"
PEERS = "peers"

_RUNNER = Path(__file__).resolve().parent / "programs" / "run.py"


class BenchmarkError(Exception):
    """A benchmark could not run: a child failed, timed out or printed no figures."""


@dataclasses.dataclass(frozen=True)
class Environment:
    """Python interpreter that runs the programs of one environment.

    Attributes:
        python: Path of the interpreter.
        sys_path: Source tree to put first on the child's `sys.path`, or
            None to import only what the interpreter has installed.
    """

    python: str
    sys_path: str | None = None


@dataclasses.dataclass(frozen=True)
class Program:
    """One compared program: a function of a module in `benchmarks/programs/`.

    Attributes:
        name: Key used in comparisons and in results.json.
        label: Text shown in the tables of docs/benchmarks.md.
        module: Module name inside `benchmarks/programs/`, such as "async_path".
        function: Function of that module; it returns a dict of figures.
        environment: "project" for this source tree, "reference" for the
            virtual environment with prefactor-core 0.5.3, "peers" for the
            one with the queue libraries (arq, rq, procrastinate, pgqueuer).
        params: Keyword arguments added to the workload's sizes for this
            program only.
    """

    name: str
    label: str
    module: str
    function: str
    environment: str = PROJECT
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Metric:
    """Figure that the programs of a workload return, such as "seconds".

    Attributes:
        key: Key in the dict that a program returns.
        label: Column heading, with the unit.
        digits: Decimal places shown in the tables.
    """

    key: str
    label: str
    digits: int = 3


@dataclasses.dataclass(frozen=True)
class Target:
    """Bound that a median ratio must meet, such as ">= 1.5"."""

    op: Literal[">=", "<="]
    value: float

    def is_met(self, ratio: float) -> bool:
        """Return whether `ratio` is within the bound."""
        if self.op == ">=":
            return ratio >= self.value
        return ratio <= self.value

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Ratio of one metric between the subject program and a peer.

    Attributes:
        name: Key of the ratio in results.json, unique within the workload.
        subject: Name of the program under test.
        peer: Name of the program it is compared with.
        metric: Key of the compared figure.
        higher_is_better: True when the ratio is peer / subject, so that a
            ratio above 1 means the subject is faster (the metric is a
            time). False when the ratio is subject / peer, for costs such
            as memory or CPU seconds.
        per_core: Divide the ratio by `os.cpu_count()`, for a speedup
            reported as a fraction of the cores.
        target: Bound on the median ratio, or None when the issue sets none.
        description: One sentence on what the ratio means.
    """

    name: str
    subject: str
    peer: str
    metric: str
    higher_is_better: bool
    target: Target | None
    description: str
    per_core: bool = False

    def ratio(self, subject_figure: float, peer_figure: float) -> float:
        """Return the ratio for one pair of figures from the same repeat."""
        if self.higher_is_better:
            value = peer_figure / subject_figure
        else:
            value = subject_figure / peer_figure
        if self.per_core:
            value /= os.cpu_count() or 1
        return value


@dataclasses.dataclass(frozen=True)
class Workload:
    """One benchmark: its programs, the sizes they run with and the comparisons.

    Attributes:
        name: Short name used by `--only` and as the prefix of ratio names.
        title: Heading in docs/benchmarks.md.
        description: Paragraph in docs/benchmarks.md on what each program does.
        programs: Programs, run in this order in every repeat.
        metrics: Figures shown in the table; the first is the main one.
        comparisons: Ratios reported for this workload.
        sizes: Keyword arguments for every program in a full run.
        quick_sizes: The same, tiny, for `--quick`.
        prepare: Optional function that takes the sizes and returns them
            completed, run once in the parent before the repeats (for
            example to calibrate a CPU-bound handler).
        check_services: Optional function that returns why the workload
            cannot run, such as a server that rejects connections, or None
            when it can. Every program is then skipped with that reason.
    """

    name: str
    title: str
    description: str
    programs: tuple[Program, ...]
    metrics: tuple[Metric, ...]
    comparisons: tuple[Comparison, ...]
    sizes: Mapping[str, Any]
    quick_sizes: Mapping[str, Any]
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    check_services: Callable[[], str | None] | None = None


@dataclasses.dataclass
class ComparisonResult:
    """Median ratio of one comparison, or the reason it was skipped."""

    comparison: Comparison
    ratios: list[float]
    skipped_reason: str | None = None

    @property
    def median(self) -> float | None:
        """Median of the per-repeat ratios, or None when skipped."""
        if not self.ratios:
            return None
        return statistics.median(self.ratios)

    @property
    def met(self) -> bool | None:
        """Whether the median meets the target; None without target or figures."""
        median = self.median
        if self.comparison.target is None or median is None:
            return None
        return self.comparison.target.is_met(median)


@dataclasses.dataclass
class WorkloadResult:
    """Every figure of one workload run, with medians and ratios."""

    workload: Workload
    sizes: dict[str, Any]
    repeats: int
    samples: dict[str, list[dict[str, float]]]
    skipped: dict[str, str]
    comparisons: list[ComparisonResult]

    def median(self, program: str, metric: str) -> float | None:
        """Return the median of `metric` over the repeats of `program`."""
        runs = self.samples.get(program)
        if not runs:
            return None
        return statistics.median(run[metric] for run in runs)


def run_program(
    program: Program, sizes: Mapping[str, Any], environment: Environment
) -> dict[str, float]:
    """Run one program in a fresh child process and return its figures.

    Blocks until the child exits, at most `CHILD_TIMEOUT` seconds.

    Raises:
        BenchmarkError: The child exited with an error, timed out or did
            not print its figures.
    """
    params = {**sizes, **program.params}
    command = [environment.python, "-I", str(_RUNNER)]
    if environment.sys_path:
        command += ["--sys-path", environment.sys_path]
    command += [program.module, program.function, json.dumps(params)]

    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=CHILD_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchmarkError(
            f"{program.module}.{program.function} timed out after {CHILD_TIMEOUT:g} s"
        ) from exc

    if completed.returncode != 0:
        raise BenchmarkError(
            f"{program.module}.{program.function} failed with exit code "
            f"{completed.returncode}:\n{completed.stderr.strip()}"
        )
    lines = completed.stdout.strip().splitlines()
    if not lines:
        raise BenchmarkError(f"{program.module}.{program.function} printed no figures")
    figures: dict[str, float] = json.loads(lines[-1])
    return figures


def run_workload(
    workload: Workload,
    *,
    quick: bool,
    repeats: int,
    environments: Mapping[str, Environment],
    skipped_environments: Mapping[str, str],
) -> WorkloadResult:
    """Run every program of `workload` `repeats` times, in turn, and compare them.

    Args:
        workload: The workload to run.
        quick: Use `quick_sizes` instead of `sizes`.
        repeats: Runs of each program; each repeat runs every program once,
            in the order of `workload.programs`.
        environments: Interpreter for each environment name.
        skipped_environments: Environment names that are not available,
            with the reason; their programs are skipped.

    Raises:
        BenchmarkError: A program failed.
    """
    sizes = dict(workload.quick_sizes if quick else workload.sizes)
    if workload.prepare is not None:
        sizes = workload.prepare(sizes)

    skipped = {
        program.name: skipped_environments[program.environment]
        for program in workload.programs
        if program.environment in skipped_environments
    }
    unavailable = workload.check_services() if workload.check_services else None
    if unavailable:
        logger.warning("%s: skipped, %s", workload.name, unavailable)
        skipped = {program.name: unavailable for program in workload.programs}
    programs = [program for program in workload.programs if program.name not in skipped]
    samples: dict[str, list[dict[str, float]]] = {program.name: [] for program in programs}

    main_metric = workload.metrics[0].key
    for repeat in range(1, repeats + 1):
        for program in programs:
            figures = run_program(program, sizes, environments[program.environment])
            samples[program.name].append(figures)
            logger.info(
                "%s: repeat %d/%d, %s: %s = %.4g",
                workload.name,
                repeat,
                repeats,
                program.name,
                main_metric,
                figures.get(main_metric, float("nan")),
            )

    comparisons = [_compare(comparison, samples, skipped) for comparison in workload.comparisons]
    return WorkloadResult(workload, sizes, repeats, samples, skipped, comparisons)


def _compare(
    comparison: Comparison,
    samples: Mapping[str, Sequence[Mapping[str, float]]],
    skipped: Mapping[str, str],
) -> ComparisonResult:
    for name in (comparison.subject, comparison.peer):
        if name in skipped:
            return ComparisonResult(comparison, [], skipped_reason=skipped[name])

    # Repeat i of the subject ran next to repeat i of the peer, so pairing
    # them reduces the effect of load that changes during the run.
    pairs = zip(samples[comparison.subject], samples[comparison.peer], strict=True)
    ratios = [
        comparison.ratio(subject[comparison.metric], peer[comparison.metric])
        for subject, peer in pairs
    ]
    return ComparisonResult(comparison, ratios)
