"""Thread producers: 4 threads put 100,000 items each into async consumers."""

from __future__ import annotations

from ..harness import Comparison, Metric, Program, Target, Workload

WORKLOAD = Workload(
    name="thread_producers",
    title="Thread producers",
    description=(
        "`threads` threads each put `items_per_thread` integers through the thread face "
        "of a queue, and `workers` coroutines take them with a no-op async handler; the "
        "clock stops at the last item handled. prefactor-core runs `InMemoryQueue.sync_q` "
        "into a `TaskExecutor`; the peers are a raw `janus.Queue` (`sync_q.put`, "
        "`async_q.get`) and an `aiologic.Queue` (`green_put`, `async_get`), each drained "
        "by `workers` tasks."
    ),
    programs=(
        Program(
            "prefactor_core", "prefactor-core (this tree)", "thread_producers", "prefactor_executor"
        ),
        Program("janus", "janus.Queue", "thread_producers", "janus_queue"),
        Program("aiologic", "aiologic.Queue", "thread_producers", "aiologic_queue"),
    ),
    metrics=(Metric("seconds", "median seconds"),),
    comparisons=(
        Comparison(
            name="vs_janus",
            subject="prefactor_core",
            peer="janus",
            metric="seconds",
            higher_is_better=True,
            target=Target(">=", 1.0),
            description="speed relative to raw janus",
        ),
        Comparison(
            name="vs_aiologic",
            subject="prefactor_core",
            peer="aiologic",
            metric="seconds",
            higher_is_better=True,
            target=None,
            description="speed relative to aiologic",
        ),
    ),
    sizes={"threads": 4, "items_per_thread": 100_000, "workers": 3},
    quick_sizes={"threads": 4, "items_per_thread": 500, "workers": 3},
)
