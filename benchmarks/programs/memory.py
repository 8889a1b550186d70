"""Memory: bytes that a queue allocates per queued item, measured with tracemalloc.

The items are integers created before tracing starts, so the figure counts
only what the queue itself allocates to hold them (deque blocks, wrappers),
plus the queue object's fixed size spread over all the items.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any


async def _bytes_per_item(
    items: int, fill: Callable[[list[int]], Awaitable[Any]]
) -> dict[str, float]:
    """Trace `fill(values)` and return the bytes still allocated per item.

    `fill` must return the queue, so that it stays alive until the
    measurement is taken.
    """
    values = list(range(items))
    gc.collect()
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]

    queue = await fill(values)
    allocated = tracemalloc.get_traced_memory()[0] - baseline

    tracemalloc.stop()
    del queue
    return {"bytes_per_item": allocated / items}


async def prefactor_queue(items: int) -> dict[str, float]:
    """Measure `InMemoryQueue` filled with `await put(item)`."""
    from prefactor_core.queue import InMemoryQueue

    async def fill(values: list[int]) -> InMemoryQueue[int]:
        queue: InMemoryQueue[int] = InMemoryQueue()
        for value in values:
            await queue.put(value)
        return queue

    return await _bytes_per_item(items, fill)


async def asyncio_queue(items: int) -> dict[str, float]:
    """Measure `asyncio.Queue` filled with `put_nowait`."""

    async def fill(values: list[int]) -> asyncio.Queue[int]:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for value in values:
            queue.put_nowait(value)
        return queue

    return await _bytes_per_item(items, fill)


async def janus_queue(items: int) -> dict[str, float]:
    """Measure `janus.Queue` filled through `async_q.put_nowait`."""
    import janus

    async def fill(values: list[int]) -> janus.Queue[int]:
        queue: janus.Queue[int] = janus.Queue()
        for value in values:
            queue.async_q.put_nowait(value)
        return queue

    return await _bytes_per_item(items, fill)
