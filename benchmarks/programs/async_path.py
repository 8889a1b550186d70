"""Async path: items through an executor with a no-op async handler.

`prefactor_executor` uses only the API that prefactor-core 0.5.3 and this
tree share, so the harness runs the same function in both environments.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


def _counting_handler(items: int) -> tuple[Callable[[Any], Awaitable[None]], asyncio.Event]:
    """Return a no-op async handler and an event that it sets at the last item."""
    done = asyncio.Event()
    handled = 0

    async def handle(item: Any) -> None:
        nonlocal handled
        handled += 1
        if handled == items:
            done.set()

    return handle, done


async def prefactor_executor(items: int, workers: int) -> dict[str, float]:
    """Time `items` puts into `InMemoryQueue` until `TaskExecutor` handled all.

    The executor's `stop()` runs after the clock stops.
    """
    from prefactor_core.queue import InMemoryQueue, TaskExecutor

    handle, done = _counting_handler(items)
    queue: Any = InMemoryQueue()
    executor = TaskExecutor(queue, handle, num_workers=workers)

    started = time.perf_counter()
    executor.start()
    for item in range(items):
        await queue.put(item)
    await done.wait()
    seconds = time.perf_counter() - started

    await executor.stop()
    return {"seconds": seconds}


async def asyncio_queue(items: int, workers: int) -> dict[str, float]:
    """Time the same work through a bare `asyncio.Queue` drained by `workers` tasks."""
    handle, done = _counting_handler(items)
    queue: asyncio.Queue[int] = asyncio.Queue()

    async def consume() -> None:
        while True:
            await handle(await queue.get())

    started = time.perf_counter()
    consumers = [asyncio.create_task(consume()) for _ in range(workers)]
    for item in range(items):
        await queue.put(item)
    await done.wait()
    seconds = time.perf_counter() - started

    for consumer in consumers:
        consumer.cancel()
    await asyncio.gather(*consumers, return_exceptions=True)
    return {"seconds": seconds}
