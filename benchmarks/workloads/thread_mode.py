"""Thread mode: 50,000 items with a no-op synchronous handler in threads."""

from __future__ import annotations

from ..harness import Comparison, Metric, Program, Target, Workload

WORKLOAD = Workload(
    name="thread_mode",
    title="Thread mode",
    description=(
        "Calls a no-op synchronous handler on `items` integers in `workers` threads. "
        'prefactor-core runs `TaskExecutor(mode="thread")`, puts the items and waits '
        "for `drain()`. The peers use a `ThreadPoolExecutor` of `workers` threads: one "
        "`loop.run_in_executor` call per item, all gathered at once, and "
        "`ThreadPoolExecutor.map` with no event loop. Starting the threads is inside the "
        "timed region of every program."
    ),
    programs=(
        Program(
            "prefactor_core", "prefactor-core (this tree)", "thread_mode", "prefactor_executor"
        ),
        Program(
            "run_in_executor", "run_in_executor per item", "thread_mode", "run_in_executor_per_item"
        ),
        Program("thread_pool_map", "ThreadPoolExecutor.map", "thread_mode", "thread_pool_map"),
    ),
    metrics=(Metric("seconds", "median seconds"),),
    comparisons=(
        Comparison(
            name="vs_run_in_executor",
            subject="prefactor_core",
            peer="run_in_executor",
            metric="seconds",
            higher_is_better=True,
            target=Target(">=", 5.0),
            description="speed relative to loop.run_in_executor per item",
        ),
        Comparison(
            name="vs_thread_pool_map",
            subject="prefactor_core",
            peer="thread_pool_map",
            metric="seconds",
            higher_is_better=True,
            target=Target(">=", 2.0),
            description="speed relative to ThreadPoolExecutor.map",
        ),
    ),
    sizes={"items": 50_000, "workers": 3},
    quick_sizes={"items": 500, "workers": 3},
)
