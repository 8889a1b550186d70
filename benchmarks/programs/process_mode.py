"""Process mode: handlers called in worker processes, tiny and CPU-bound.

Handlers are module-level functions so that worker processes can import
them by name, whatever the start method. Each timed region includes
starting and stopping the worker processes, because every program pays
for that once per run.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

MAP_CHUNKSIZE = 256


def handle_tiny(item: Any) -> None:
    """Do nothing: the cost measured is moving the item to a process and back."""


def spin(iterations: int) -> int:
    """Burn CPU in pure Python for `iterations` loop turns and return a checksum."""
    total = 0
    for value in range(iterations):
        total += value * value
    return total


def calibrate_spin(seconds: float) -> int:
    """Return the `spin` iterations that take about `seconds` of CPU time here.

    The figure is the median of several runs timed with `time.process_time`,
    so time spent waiting for a core that other processes use is not
    counted.
    """
    probe = 100_000
    spin(probe)  # warm-up, not timed
    timings = []
    for _ in range(7):
        started = time.process_time()
        spin(probe)
        timings.append(time.process_time() - started)
    timings.sort()
    per_iteration = timings[len(timings) // 2] / probe
    return max(1, round(seconds / per_iteration))


async def prefactor_executor(
    items: int, workers: int, iterations: int = 0, mp_context: str | None = None
) -> dict[str, float]:
    """Time `TaskExecutor(mode="process")` until `drain()` and `stop()` return.

    Args:
        items: Number of items to put.
        workers: Number of worker processes.
        iterations: 0 for the tiny handler, otherwise the `spin` argument
            that each item carries.
        mp_context: Start method passed to the executor, or None for its
            default.
    """
    from prefactor_core.queue import InMemoryQueue, TaskExecutor

    handler = spin if iterations else handle_tiny
    queue: InMemoryQueue[int] = InMemoryQueue()
    executor = TaskExecutor(
        queue, handler, num_workers=workers, mode="process", mp_context=mp_context
    )

    started = time.perf_counter()
    executor.start()
    for _ in range(items):
        await queue.put(iterations)
    await executor.drain()
    await executor.stop()
    seconds = time.perf_counter() - started

    return {"seconds": seconds}


async def run_in_executor_per_item(items: int, workers: int) -> dict[str, float]:
    """Time one `loop.run_in_executor(ProcessPoolExecutor)` call per item, gathered."""
    loop = asyncio.get_running_loop()

    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        await asyncio.gather(
            *(loop.run_in_executor(pool, handle_tiny, item) for item in range(items))
        )
    seconds = time.perf_counter() - started

    return {"seconds": seconds}


def process_pool_map(items: int, workers: int) -> dict[str, float]:
    """Time `ProcessPoolExecutor.map` with chunks of `MAP_CHUNKSIZE` items."""
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(handle_tiny, range(items), chunksize=MAP_CHUNKSIZE):
            pass
    seconds = time.perf_counter() - started

    return {"seconds": seconds}


def serial_spin(items: int, iterations: int, workers: int = 1) -> dict[str, float]:
    """Time a plain loop that calls `spin` once per item in this process.

    `workers` is unused; it is accepted so that every program of the
    workload takes the same sizes.
    """
    started = time.perf_counter()
    for _ in range(items):
        spin(iterations)
    seconds = time.perf_counter() - started

    return {"seconds": seconds}
