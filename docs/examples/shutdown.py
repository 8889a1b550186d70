"""Shut an executor down: drain, stop, stop with a timeout, and stop on SIGTERM.

Four short scenes, each with its own queue and executor, check what each
call guarantees. The last one sends SIGTERM to its own process, the way a
service manager or `kill` would. Run it on a Unix system with
`python docs/examples/shutdown.py`.
"""

from __future__ import annotations

import asyncio
import os
import signal

from prefactor_core.queue import (
    ExecutorStopTimeout,
    InMemoryQueue,
    QueueClosedError,
    TaskExecutor,
)


async def drain_keeps_the_queue_open() -> None:
    """Wait for the queue to empty with drain(), then put more items."""
    handled: list[int] = []

    async def handle(number: int) -> None:
        await asyncio.sleep(0.01)
        handled.append(number)

    queue: InMemoryQueue[int] = InMemoryQueue()
    async with TaskExecutor(queue, handle, num_workers=2) as executor:
        for number in range(10):
            await queue.put(number)
        await executor.drain()
        assert sorted(handled) == list(range(10))
        assert not queue.closed

        # drain() closed nothing, so the same executor takes more work.
        await queue.put(10)
        await executor.drain()
        assert sorted(handled) == list(range(11))
    print("drain: waited for 11 items and left the queue open")


async def stop_finishes_accepted_items() -> None:
    """stop() closes the queue but ends every item it had accepted."""
    attempts: dict[str, int] = {}
    completed: list[str] = []

    async def handle(item: str) -> None:
        attempts[item] = attempts.get(item, 0) + 1
        if item == "fails once" and attempts[item] == 1:
            raise ConnectionError("try again")
        if item == "slow":
            await asyncio.sleep(0.3)  # stop() must not cancel this
        completed.append(item)

    queue: InMemoryQueue[str] = InMemoryQueue()
    executor = TaskExecutor(queue, handle, num_workers=2, backoff_base=0.2)
    executor.start()
    for item in ("slow", "fails once", "a", "b", "c"):
        await queue.put(item)
    await asyncio.sleep(0.05)  # "fails once" now waits 0.2 s for its retry

    await executor.stop()

    # The retry that was pending when stop() began still ran, and the slow
    # attempt finished instead of being cancelled.
    assert sorted(completed) == sorted(["slow", "fails once", "a", "b", "c"])
    assert attempts["fails once"] == 2
    try:
        await queue.put("late")
    except QueueClosedError:
        pass
    else:
        raise AssertionError("put after stop() did not raise QueueClosedError")
    print("stop: finished 5 accepted items, including a pending retry")


async def stop_with_a_timeout() -> None:
    """stop(timeout=...) raises ExecutorStopTimeout but keeps the work running."""
    completed: list[str] = []

    async def handle(item: str) -> None:
        await asyncio.sleep(0.5)
        completed.append(item)

    queue: InMemoryQueue[str] = InMemoryQueue()
    executor = TaskExecutor(queue, handle, num_workers=1)
    executor.start()
    await queue.put("long job")
    await asyncio.sleep(0.05)

    try:
        await executor.stop(timeout=0.1)
    except ExecutorStopTimeout as exc:
        assert exc.unfinished == ["long job"]
        assert exc.queued == 0
        print(f"stop(timeout=0.1): {exc}")
    else:
        raise AssertionError("stop(timeout=0.1) returned before a 0.5 s attempt ended")
    assert completed == []

    # Nothing was cancelled: a second stop() waits for the attempt to end.
    await executor.stop()
    assert completed == ["long job"]


async def stop_on_sigterm() -> None:
    """Run until SIGTERM, then stop: every item that put() accepted is handled."""
    handled: list[int] = []
    accepted: list[int] = []

    async def handle(number: int) -> None:
        await asyncio.sleep(0.001)
        handled.append(number)

    async def produce(queue: InMemoryQueue[int]) -> None:
        number = 0
        while True:
            try:
                await queue.put(number)
            except QueueClosedError:
                return  # the executor is stopping, so this number was not accepted
            accepted.append(number)
            number += 1
            if number == 100:
                # Simulates `kill PID` from a service manager.
                os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(0.001)

    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    # The handler runs on the event loop, between two steps of a coroutine,
    # so it may call asyncio objects. asyncio offers this on Unix only.
    loop.add_signal_handler(signal.SIGTERM, stop_requested.set)
    try:
        queue: InMemoryQueue[int] = InMemoryQueue(maxsize=20)
        async with TaskExecutor(queue, handle, num_workers=4):
            producer = asyncio.create_task(produce(queue))
            await stop_requested.wait()
        # Leaving the block ran stop(): the queue is closed, so the producer
        # got QueueClosedError, and every accepted number was handled.
        await producer
    finally:
        loop.remove_signal_handler(signal.SIGTERM)

    assert len(accepted) >= 100
    assert sorted(handled) == accepted
    print(f"SIGTERM: stopped after handling all {len(accepted)} accepted items")


async def main() -> None:
    await drain_keeps_the_queue_open()
    await stop_finishes_accepted_items()
    await stop_with_a_timeout()
    await stop_on_sigterm()


if __name__ == "__main__":
    asyncio.run(main())
