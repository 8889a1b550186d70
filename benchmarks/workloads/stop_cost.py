"""Stop cost: CPU seconds while `stop()` finishes 10,000 queued slow items."""

from __future__ import annotations

from ..harness import REFERENCE, Comparison, Metric, Program, Target, Workload

WORKLOAD = Workload(
    name="stop_cost",
    title="Stop cost",
    description=(
        "Queues `items` integers, starts an executor with `workers` worker coroutines "
        "and a handler that sleeps `sleep_seconds`, and at once calls `stop()`, which "
        "returns when every queued item is handled. The figure is the CPU time of the "
        "whole process (`time.process_time()`) from the call until it returns; the "
        "program fails if any item was left unhandled. The wall time is shown for "
        "context. The bare asyncio program is the floor: `workers` tasks that take the "
        "same items from an `asyncio.Queue` and sleep the same time, with no executor."
    ),
    programs=(
        Program("prefactor_core", "prefactor-core (this tree)", "stop_cost", "prefactor_executor"),
        Program(
            "prefactor_core_0_5_3",
            "prefactor-core 0.5.3",
            "stop_cost",
            "prefactor_executor",
            environment=REFERENCE,
        ),
        Program("asyncio_tasks", "bare asyncio tasks (floor)", "stop_cost", "asyncio_tasks"),
    ),
    metrics=(
        Metric("cpu_seconds", "median CPU seconds"),
        Metric("wall_seconds", "median wall seconds"),
    ),
    comparisons=(
        Comparison(
            name="vs_prefactor_core_0_5_3",
            subject="prefactor_core",
            peer="prefactor_core_0_5_3",
            metric="cpu_seconds",
            higher_is_better=False,
            target=Target("<=", 0.1),
            description="CPU seconds relative to prefactor-core 0.5.3",
        ),
        Comparison(
            name="vs_asyncio_tasks",
            subject="prefactor_core",
            peer="asyncio_tasks",
            metric="cpu_seconds",
            higher_is_better=False,
            target=None,
            description="CPU seconds relative to bare asyncio tasks doing the same sleeps",
        ),
    ),
    sizes={"items": 10_000, "workers": 3, "sleep_seconds": 0.001},
    quick_sizes={"items": 100, "workers": 3, "sleep_seconds": 0.001},
)
