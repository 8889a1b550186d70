"""Run a CPU-bound handler in worker processes, with crash recovery and a time limit.

The handler hashes a block of bytes many times over in one of two worker
processes. One item makes its process exit, one runs past the time limit,
and one cannot be pickled; each fails alone while the other items succeed.
Run it with `python docs/examples/processes.py`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time

from prefactor_core.queue import (
    AttemptTimeoutError,
    InMemoryQueue,
    ItemNotPicklableError,
    TaskExecutor,
    WorkerCrashedError,
    current_delivery,
)

ROUNDS = 20_000
CRASH = b"exit the worker process"
HANG = b"sleep past the time limit"


def stretch_hash(data: bytes) -> str:
    """Hash `data` ROUNDS times over: CPU-bound work that holds the GIL.

    The worker processes import this module and find the function by its
    name, so it lives at module level and its arguments and result pickle.
    """
    if data == CRASH:
        os._exit(3)  # simulates a segfault or the out-of-memory killer
    if data == HANG:
        time.sleep(60)
    digest = data
    for _ in range(ROUNDS):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()


async def hash_blocks_despite_failures() -> None:
    """Hash 20 blocks while one item crashes its process and one cannot be pickled."""
    queue: InMemoryQueue[bytes] = InMemoryQueue()
    results: dict[bytes, str] = {}
    failures: dict[bytes, tuple[type[BaseException], int]] = {}

    def record_failure(item: bytes, exc: BaseException) -> None:
        failures[item] = (type(exc), current_delivery().attempts)

    executor = TaskExecutor(
        queue,
        stretch_hash,
        num_workers=2,
        max_retries=1,
        mode="process",
        backoff_base=0.05,
        on_success=lambda item, digest: results.__setitem__(item, digest),
        on_failure=record_failure,
    )
    blocks = [f"block {index}".encode() for index in range(20)]
    async with executor:
        for block in blocks[:10]:
            await queue.put(block)
        await queue.put(CRASH)
        # A lock cannot be pickled, so it never reaches a worker process.
        await queue.put(threading.Lock())  # type: ignore[arg-type]
        for block in blocks[10:]:
            await queue.put(block)
        await executor.drain()

    # Every block was hashed. Blocks sent in the same batch as CRASH failed
    # with it, and their retry succeeded in the replacement process.
    assert sorted(results) == sorted(blocks)
    assert results[b"block 0"] == stretch_hash(b"block 0")
    # The crashing item got its one retry, and crashed a fresh process again.
    assert failures[CRASH] == (WorkerCrashedError, 2)
    # The lock failed in this process and was not retried.
    [(lock_error, lock_attempts)] = [
        failure for item, failure in failures.items() if item != CRASH
    ]
    assert lock_error is ItemNotPicklableError
    assert lock_attempts == 1

    stats = executor.statistics()
    print(f"hashed {stats.succeeded} blocks; {stats.failed} items failed:")
    for item, (error, attempts) in failures.items():
        print(f"  {item!r:.40} -> {error.__name__} after {attempts} attempt(s)")


async def stop_a_stuck_attempt() -> None:
    """Kill the process of an attempt that runs past `time_limit`, then go on."""
    queue: InMemoryQueue[bytes] = InMemoryQueue()
    results: list[bytes] = []
    failures: list[tuple[type[BaseException], int]] = []
    time_limit = 1.0
    executor = TaskExecutor(
        queue,
        stretch_hash,
        num_workers=1,
        max_retries=0,
        mode="process",
        time_limit=time_limit,
        on_success=lambda item, digest: results.append(item),
        on_failure=lambda item, exc: failures.append(
            (type(exc), current_delivery().attempts)
        ),
    )
    async with executor:
        started = time.monotonic()
        await queue.put(HANG)
        await executor.drain()
        elapsed = time.monotonic() - started

        # The replacement process is fresh. Its start-up does not count
        # against the time limit, so the next item succeeds without a retry.
        await queue.put(b"after the kill")
        await executor.drain()

    # The handler would sleep for 60 s; the time limit ended it after 1 s.
    assert failures == [(AttemptTimeoutError, 1)]
    assert time_limit <= elapsed < 30
    assert results == [b"after the kill"]
    print(f"stuck attempt ended after {elapsed:.1f} s with AttemptTimeoutError")


async def main() -> None:
    # The handler is pickled when the executor is built. A lambda or a
    # function defined inside another function cannot be pickled.
    try:
        TaskExecutor(InMemoryQueue[bytes](), lambda data: data, mode="process")
    except TypeError as exc:
        print(f"lambda rejected: {str(exc)[:60]}...")
    else:
        raise AssertionError("a lambda handler was accepted in process mode")

    await hash_blocks_despite_failures()
    await stop_a_stuck_attempt()


# Worker processes import this module again. The guard keeps them from
# running main() themselves.
if __name__ == "__main__":
    asyncio.run(main())
