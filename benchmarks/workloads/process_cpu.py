"""Process mode, CPU-bound: 200 items of about 10 ms of pure-Python work each."""

from __future__ import annotations

import os
from typing import Any

from ..harness import Comparison, Metric, Program, Target, Workload
from ..programs.process_mode import calibrate_spin

_WORKERS = os.cpu_count() or 1


def _calibrate(sizes: dict[str, Any]) -> dict[str, Any]:
    """Replace `seconds_per_item` with the `spin` iterations that take that long here."""
    completed = dict(sizes)
    completed["iterations"] = calibrate_spin(completed.pop("seconds_per_item"))
    return completed


WORKLOAD = Workload(
    name="process_cpu",
    title="Process mode, CPU-bound",
    description=(
        "Runs `items` calls of a pure-Python loop of `iterations` turns, calibrated in the "
        "parent process to take about 10 ms each; the serial median divided by `items` "
        "gives the time per item in this run, since the machine's speed varies. The serial "
        "program calls it in a plain loop in one process. prefactor-core runs "
        '`TaskExecutor(mode="process")` with `workers` processes (one per core), puts the '
        "items and waits for `drain()` and `stop()`. The ratio is the speedup (serial "
        "seconds / prefactor-core seconds) divided by `os.cpu_count()`. A second "
        'prefactor-core program runs with `mp_context="fork"` instead of the default '
        '"forkserver".'
    ),
    programs=(
        Program(
            "prefactor_core", "prefactor-core (this tree)", "process_mode", "prefactor_executor"
        ),
        Program(
            "prefactor_core_fork",
            'prefactor-core, mp_context="fork"',
            "process_mode",
            "prefactor_executor",
            params={"mp_context": "fork"},
        ),
        Program("serial", "serial loop", "process_mode", "serial_spin"),
    ),
    metrics=(Metric("seconds", "median seconds"),),
    comparisons=(
        Comparison(
            name="speedup_per_core",
            subject="prefactor_core",
            peer="serial",
            metric="seconds",
            higher_is_better=True,
            per_core=True,
            target=Target(">=", 0.85),
            description="speedup over the serial loop, divided by the number of cores",
        ),
        Comparison(
            name="fork_speedup_per_core",
            subject="prefactor_core_fork",
            peer="serial",
            metric="seconds",
            higher_is_better=True,
            per_core=True,
            target=None,
            description='the same, with mp_context="fork"',
        ),
    ),
    sizes={"items": 200, "workers": _WORKERS, "seconds_per_item": 0.010},
    quick_sizes={"items": 10, "workers": _WORKERS, "seconds_per_item": 0.001},
    prepare=_calibrate,
)
