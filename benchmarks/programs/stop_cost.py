"""Stop cost: CPU time used while an executor finishes queued slow items and stops.

The handler sleeps, so an executor that waits on events uses little CPU,
while one that polls keeps a core busy for the whole drain.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any


async def prefactor_executor(
    items: int, workers: int, sleep_seconds: float, drain_first: bool = False
) -> dict[str, float]:
    """Measure process CPU seconds and wall seconds of finishing `items` queued items.

    The items are queued before `start()`, and the clock runs around
    `stop()`, which in prefactor-core 0.5.3 waits for the queue to empty.

    Args:
        items: Items queued before the executor starts.
        workers: Worker coroutines.
        sleep_seconds: Seconds that the handler sleeps per item.
        drain_first: Await `drain()` before `stop()`, for an executor whose
            `stop()` does not wait for queued items on its own.

    Raises:
        RuntimeError: The executor stopped before it handled every item.
    """
    from prefactor_core.queue import InMemoryQueue, TaskExecutor

    handled = 0

    async def handle(item: Any) -> None:
        nonlocal handled
        await asyncio.sleep(sleep_seconds)
        handled += 1

    queue: Any = InMemoryQueue()
    for item in range(items):
        await queue.put(item)
    executor: Any = TaskExecutor(queue, handle, num_workers=workers)
    executor.start()

    cpu_started = time.process_time()
    wall_started = time.perf_counter()
    if drain_first:
        await executor.drain()
    await executor.stop()
    cpu_seconds = time.process_time() - cpu_started
    wall_seconds = time.perf_counter() - wall_started

    if handled != items:
        raise RuntimeError(f"stop() returned after {handled} of {items} items were handled")
    return {"cpu_seconds": cpu_seconds, "wall_seconds": wall_seconds}


async def asyncio_tasks(items: int, workers: int, sleep_seconds: float) -> dict[str, float]:
    """Measure the same sleeps with bare asyncio: the floor that any executor adds to.

    `workers` tasks take the queued items from an `asyncio.Queue` with
    `get_nowait` and sleep `sleep_seconds` per item, with no executor.
    """
    queue: asyncio.Queue[int] = asyncio.Queue()
    for item in range(items):
        queue.put_nowait(item)

    async def consume() -> None:
        while True:
            try:
                queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await asyncio.sleep(sleep_seconds)

    cpu_started = time.process_time()
    wall_started = time.perf_counter()
    await asyncio.gather(*(consume() for _ in range(workers)))
    cpu_seconds = time.process_time() - cpu_started
    wall_seconds = time.perf_counter() - wall_started

    return {"cpu_seconds": cpu_seconds, "wall_seconds": wall_seconds}
