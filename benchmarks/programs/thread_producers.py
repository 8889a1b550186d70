"""Thread producers: threads put items through a thread-safe queue to coroutines.

Each program starts `threads` producer threads that put `items_per_thread`
integers each, and stops the clock when the async side has handled them all.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any


class _Completion:
    """Counts handled items on the event loop and sets `done` at the last one."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.handled = 0
        self.done = asyncio.Event()

    async def handle(self, item: Any) -> None:
        self.handled += 1
        if self.handled == self.total:
            self.done.set()


def _start_producers(
    threads: int, items_per_thread: int, put: Callable[[int], Any]
) -> list[threading.Thread]:
    def produce() -> None:
        for item in range(items_per_thread):
            put(item)

    producers = [threading.Thread(target=produce, name=f"producer-{i}") for i in range(threads)]
    for producer in producers:
        producer.start()
    return producers


async def prefactor_executor(threads: int, items_per_thread: int, workers: int) -> dict[str, float]:
    """Time threads putting through `InMemoryQueue.sync_q` into a `TaskExecutor`."""
    from prefactor_core.queue import InMemoryQueue, TaskExecutor

    completion = _Completion(threads * items_per_thread)
    queue: Any = InMemoryQueue()
    executor = TaskExecutor(queue, completion.handle, num_workers=workers)

    started = time.perf_counter()
    executor.start()
    producers = _start_producers(threads, items_per_thread, queue.sync_q.put)
    await completion.done.wait()
    seconds = time.perf_counter() - started

    for producer in producers:
        producer.join()
    await executor.stop()
    return {"seconds": seconds}


async def janus_queue(threads: int, items_per_thread: int, workers: int) -> dict[str, float]:
    """Time threads putting through `janus.Queue.sync_q` into `workers` consumer tasks."""
    import janus

    completion = _Completion(threads * items_per_thread)
    queue: janus.Queue[int] = janus.Queue()

    async def consume() -> None:
        while True:
            await completion.handle(await queue.async_q.get())

    started = time.perf_counter()
    consumers = [asyncio.create_task(consume()) for _ in range(workers)]
    producers = _start_producers(threads, items_per_thread, queue.sync_q.put)
    await completion.done.wait()
    seconds = time.perf_counter() - started

    for producer in producers:
        producer.join()
    for consumer in consumers:
        consumer.cancel()
    await asyncio.gather(*consumers, return_exceptions=True)
    await queue.aclose()
    return {"seconds": seconds}


async def aiologic_queue(threads: int, items_per_thread: int, workers: int) -> dict[str, float]:
    """Time threads calling `aiologic.Queue.green_put` into `workers` consumer tasks."""
    import aiologic

    completion = _Completion(threads * items_per_thread)
    queue: aiologic.Queue[int] = aiologic.Queue()

    async def consume() -> None:
        while True:
            await completion.handle(await queue.async_get())

    started = time.perf_counter()
    consumers = [asyncio.create_task(consume()) for _ in range(workers)]
    producers = _start_producers(threads, items_per_thread, queue.green_put)
    await completion.done.wait()
    seconds = time.perf_counter() - started

    for producer in producers:
        producer.join()
    for consumer in consumers:
        consumer.cancel()
    await asyncio.gather(*consumers, return_exceptions=True)
    return {"seconds": seconds}
