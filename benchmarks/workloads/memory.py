"""Memory: bytes per queued item for 1,000,000 small items, with tracemalloc."""

from __future__ import annotations

from ..harness import Comparison, Metric, Program, Target, Workload

WORKLOAD = Workload(
    name="memory",
    title="Memory per queued item",
    description=(
        "Fills a queue with `items` integers that exist before tracing starts, and "
        "divides what tracemalloc counts as still allocated by `items`, so the figure is "
        "the queue's own cost per item. prefactor-core uses `await InMemoryQueue.put`, "
        "`asyncio.Queue` uses `put_nowait` and janus uses `async_q.put_nowait`, all inside "
        "a running event loop."
    ),
    programs=(
        Program("prefactor_core", "prefactor-core InMemoryQueue", "memory", "prefactor_queue"),
        Program("asyncio_queue", "asyncio.Queue", "memory", "asyncio_queue"),
        Program("janus", "janus.Queue", "memory", "janus_queue"),
    ),
    metrics=(Metric("bytes_per_item", "median bytes per item", digits=2),),
    comparisons=(
        Comparison(
            name="vs_asyncio_queue",
            subject="prefactor_core",
            peer="asyncio_queue",
            metric="bytes_per_item",
            higher_is_better=False,
            target=Target("<=", 1.2),
            description="bytes per item relative to asyncio.Queue",
        ),
        Comparison(
            name="vs_janus",
            subject="prefactor_core",
            peer="janus",
            metric="bytes_per_item",
            higher_is_better=False,
            target=None,
            description="bytes per item relative to janus",
        ),
    ),
    sizes={"items": 1_000_000},
    quick_sizes={"items": 10_000},
)
