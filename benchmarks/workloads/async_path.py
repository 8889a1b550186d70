"""Async path: 100,000 items through `InMemoryQueue` and `TaskExecutor`."""

from __future__ import annotations

from ..harness import REFERENCE, Comparison, Metric, Program, Target, Workload

WORKLOAD = Workload(
    name="async_path",
    title="Async path",
    description=(
        "Puts `items` integers into a queue and stops the clock when a no-op async "
        "handler has seen the last one, with `workers` worker coroutines. prefactor-core "
        "runs `InMemoryQueue` and `TaskExecutor`; 0.5.3 runs the same function in its own "
        "virtual environment; the ceiling is a bare `asyncio.Queue` drained by `workers` "
        "tasks. The handler counts items and sets an event at the last one."
    ),
    programs=(
        Program("prefactor_core", "prefactor-core (this tree)", "async_path", "prefactor_executor"),
        Program(
            "prefactor_core_0_5_3",
            "prefactor-core 0.5.3",
            "async_path",
            "prefactor_executor",
            environment=REFERENCE,
        ),
        Program("asyncio_queue", "asyncio.Queue + tasks", "async_path", "asyncio_queue"),
    ),
    metrics=(Metric("seconds", "median seconds"),),
    comparisons=(
        Comparison(
            name="vs_prefactor_core_0_5_3",
            subject="prefactor_core",
            peer="prefactor_core_0_5_3",
            metric="seconds",
            higher_is_better=True,
            target=Target(">=", 1.5),
            description="speed relative to prefactor-core 0.5.3",
        ),
        Comparison(
            name="vs_asyncio_queue",
            subject="prefactor_core",
            peer="asyncio_queue",
            metric="seconds",
            higher_is_better=True,
            target=Target(">=", 0.3),
            description="speed relative to the bare asyncio.Queue ceiling",
        ),
    ),
    sizes={"items": 100_000, "workers": 3},
    quick_sizes={"items": 1_000, "workers": 3},
)
