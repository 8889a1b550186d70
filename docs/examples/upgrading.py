"""Check the behaviour that changed between prefactor-core 0.5.3 and 0.6.

Each function checks one point of the upgrading guide and prints what it
found. Run it with `python docs/examples/upgrading.py`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable

from prefactor_core.queue import InMemoryQueue, QueueClosedError, TaskExecutor


async def max_retries_counts_retries() -> None:
    """max_retries=2 gives three attempts in all, as 0.5.3 did."""
    attempts = 0

    async def always_fails(item: str) -> None:
        nonlocal attempts
        attempts += 1
        raise ConnectionError("down")

    queue: InMemoryQueue[str] = InMemoryQueue()
    executor = TaskExecutor(
        queue,
        always_fails,
        max_retries=2,
        backoff_base=0.01,
        on_failure=lambda item, exc: None,
    )
    async with executor:
        await queue.put("job")
        await executor.drain()
    assert attempts == 3

    # 0.5.3 accepted a negative value and then never called the handler.
    try:
        TaskExecutor(queue, always_fails, max_retries=-1)
    except ValueError as exc:
        print(f"max_retries=-1 -> ValueError: {exc}")
    else:
        raise AssertionError("max_retries=-1 was accepted")
    print("max_retries=2 -> 3 attempts")


async def close_wakes_every_waiter() -> None:
    """close() wakes every blocked consumer, whatever the value of num_waiters."""
    queue: InMemoryQueue[str] = InMemoryQueue()
    woken: list[str] = []

    async def consume_async(name: str) -> None:
        try:
            await queue.get()
        except QueueClosedError:
            woken.append(name)

    def consume_in_thread() -> None:
        try:
            queue.sync_q.get(timeout=5)
        except QueueClosedError:
            woken.append("thread")

    consumers = [
        asyncio.create_task(consume_async(f"task-{index}")) for index in range(3)
    ]
    thread = threading.Thread(target=consume_in_thread)
    thread.start()
    await asyncio.sleep(0.1)  # let every consumer block in get()

    await queue.close()  # num_waiters keeps its default of 1, as in 0.5.3
    await asyncio.wait_for(asyncio.gather(*consumers), timeout=5)
    await asyncio.to_thread(thread.join, 5)

    assert sorted(woken) == ["task-0", "task-1", "task-2", "thread"]
    print(f"close() woke {len(woken)} blocked consumers")


async def stop_never_cancels() -> None:
    """stop() waits for an attempt that is running, and cancels nothing."""
    finished: list[str] = []

    async def slow(item: str) -> None:
        await asyncio.sleep(1.0)
        finished.append(item)

    queue: InMemoryQueue[str] = InMemoryQueue()
    executor = TaskExecutor(queue, slow)
    executor.start()
    await queue.put("job")
    await asyncio.sleep(0.05)

    started = time.monotonic()
    await executor.stop()
    waited = time.monotonic() - started
    assert finished == ["job"]
    print(f"stop() waited {waited:.1f} s for the running attempt")


async def plain_functions_run_in_threads() -> None:
    """A plain function now runs in a thread pool, a coroutine function on the loop."""
    thread_names: list[str] = []

    def blocking(item: str) -> None:
        time.sleep(0.01)  # blocking is fine: this runs in a worker thread
        thread_names.append(threading.current_thread().name)

    async def non_blocking(item: str) -> None:
        await asyncio.sleep(0)

    queue: InMemoryQueue[str] = InMemoryQueue()
    async with TaskExecutor(queue, blocking) as executor:
        assert executor.mode == "thread"
        await queue.put("job")
        await executor.drain()
    assert thread_names[0].startswith("prefactor-core-thread")
    assert TaskExecutor(InMemoryQueue[str](), non_blocking).mode == "async"

    # A 0.5.3-style wrapper that returns a coroutine is a plain function, so it
    # would run in a thread and its coroutine would never be awaited.
    def wrapper(item: str) -> Awaitable[None]:
        return non_blocking(item)

    assert TaskExecutor(InMemoryQueue[str](), wrapper).mode == "thread"
    print("plain function -> mode 'thread'; coroutine function -> mode 'async'")


async def main() -> None:
    await max_retries_counts_retries()
    await close_wakes_every_waiter()
    await stop_never_cancels()
    await plain_functions_run_in_threads()


if __name__ == "__main__":
    asyncio.run(main())
