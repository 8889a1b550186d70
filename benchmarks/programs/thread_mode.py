"""Thread mode: a no-op synchronous handler called in a pool of threads.

Every program counts handled items with `itertools.count`, whose `next` is a
single call under the GIL, and checks the count after the clock stops.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_handled = itertools.count()


def handle(item: Any) -> None:
    """Count the item and do nothing else."""
    next(_handled)


def _check_handled(items: int) -> None:
    handled = next(_handled)
    if handled != items:
        raise RuntimeError(f"handled {handled} items, expected {items}")


async def prefactor_executor(items: int, workers: int) -> dict[str, float]:
    """Time `TaskExecutor(mode="thread")` until `drain()` returns."""
    from prefactor_core.queue import InMemoryQueue, TaskExecutor

    queue: InMemoryQueue[int] = InMemoryQueue()
    executor = TaskExecutor(queue, handle, num_workers=workers, mode="thread")

    started = time.perf_counter()
    executor.start()
    for item in range(items):
        await queue.put(item)
    await executor.drain()
    seconds = time.perf_counter() - started

    await executor.stop()
    _check_handled(items)
    return {"seconds": seconds}


async def run_in_executor_per_item(items: int, workers: int) -> dict[str, float]:
    """Time one `loop.run_in_executor` call per item, all gathered at once."""
    loop = asyncio.get_running_loop()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        await asyncio.gather(*(loop.run_in_executor(pool, handle, item) for item in range(items)))
    seconds = time.perf_counter() - started

    _check_handled(items)
    return {"seconds": seconds}


def thread_pool_map(items: int, workers: int) -> dict[str, float]:
    """Time `ThreadPoolExecutor.map` over the items, with no event loop."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(handle, range(items)):
            pass
    seconds = time.perf_counter() - started

    _check_handled(items)
    return {"seconds": seconds}
