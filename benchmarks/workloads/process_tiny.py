"""Process mode with tiny tasks: 50,000 items with a handler that does nothing."""

from __future__ import annotations

import os

from ..harness import Comparison, Metric, Program, Target, Workload

# One worker process per core, for every program.
_WORKERS = os.cpu_count() or 1

WORKLOAD = Workload(
    name="process_tiny",
    title="Process mode, tiny tasks",
    description=(
        "Calls a module-level handler that does nothing on `items` integers in `workers` "
        "worker processes (one per core). prefactor-core runs "
        '`TaskExecutor(mode="process")`, puts the items and waits for `drain()` and '
        "`stop()`. The peers use a `ProcessPoolExecutor` with Python's default start "
        "method: one `loop.run_in_executor` call per item, all gathered at once, and "
        "`ProcessPoolExecutor.map(chunksize=256)`. Starting and stopping the processes is "
        "inside the timed region of every program. The executor's default start method is "
        '"forkserver", while the pools use "fork" on Linux with Python 3.11, so a second '
        'prefactor-core program runs with `mp_context="fork"` to show what the start '
        "method costs."
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
        Program(
            "run_in_executor",
            "run_in_executor per item",
            "process_mode",
            "run_in_executor_per_item",
        ),
        Program(
            "process_pool_map",
            "ProcessPoolExecutor.map(chunksize=256)",
            "process_mode",
            "process_pool_map",
        ),
    ),
    metrics=(Metric("seconds", "median seconds"),),
    comparisons=(
        Comparison(
            name="vs_run_in_executor",
            subject="prefactor_core",
            peer="run_in_executor",
            metric="seconds",
            higher_is_better=True,
            target=Target(">=", 20.0),
            description="speed relative to run_in_executor(ProcessPoolExecutor) per item",
        ),
        Comparison(
            name="vs_process_pool_map",
            subject="prefactor_core",
            peer="process_pool_map",
            metric="seconds",
            higher_is_better=True,
            target=Target(">=", 0.3),
            description="speed relative to ProcessPoolExecutor.map(chunksize=256)",
        ),
        Comparison(
            name="fork_vs_process_pool_map",
            subject="prefactor_core_fork",
            peer="process_pool_map",
            metric="seconds",
            higher_is_better=True,
            target=None,
            description='the same, with mp_context="fork" as the pool uses',
        ),
    ),
    sizes={"items": 50_000, "workers": _WORKERS},
    quick_sizes={"items": 300, "workers": _WORKERS},
)
