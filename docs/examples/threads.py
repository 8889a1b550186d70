"""Feed coroutines from threads through the thread face of an InMemoryQueue.

Three producer threads put numbers into a bounded queue with `sync_q.put`,
and an executor squares them in async workers. The threads also log through
a `logging.handlers.QueueHandler` that writes into a second queue, which one
coroutine reads. Run it with `python docs/examples/threads.py`.
"""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import threading

from prefactor_core.queue import (
    InMemoryQueue,
    QueueClosedError,
    SyncQueueFace,
    TaskExecutor,
)

NUM_PRODUCERS = 3
NUMBERS_PER_PRODUCER = 200

producer_log = logging.getLogger("example.producer")


def produce(jobs: SyncQueueFace[int], first: int, count: int) -> None:
    """Put `count` numbers from `first` on, blocking while the queue is full."""
    for number in range(first, first + count):
        jobs.put(number)
    producer_log.info("%s put %d numbers", threading.current_thread().name, count)


async def square(number: int) -> int:
    """Simulate async work, such as a request to a service."""
    await asyncio.sleep(0)
    return number * number


async def collect_logs(
    records: InMemoryQueue[logging.LogRecord], messages: list[str]
) -> None:
    """Read log records until the queue is closed and empty."""
    while True:
        try:
            record = await records.get()
        except QueueClosedError:
            return
        messages.append(record.getMessage())


async def main() -> None:
    # A bounded queue: a producer thread blocks in put() while 50 items wait.
    jobs: InMemoryQueue[int] = InMemoryQueue(maxsize=50)
    # Log records get an unbounded queue, because QueueHandler calls put_nowait.
    # On a full queue it would drop the record and print the error to stderr.
    records: InMemoryQueue[logging.LogRecord] = InMemoryQueue()

    handler = logging.handlers.QueueHandler(records.sync_q)
    producer_log.addHandler(handler)
    producer_log.setLevel(logging.INFO)
    producer_log.propagate = False

    results: list[int] = []
    messages: list[str] = []
    log_reader = asyncio.create_task(collect_logs(records, messages))

    async with TaskExecutor(
        jobs,
        square,
        num_workers=4,
        on_success=lambda number, result: results.append(result),
    ) as executor:
        threads = [
            threading.Thread(
                target=produce,
                args=(jobs.sync_q, index * NUMBERS_PER_PRODUCER, NUMBERS_PER_PRODUCER),
                name=f"producer-{index}",
            )
            for index in range(NUM_PRODUCERS)
        ]
        for thread in threads:
            thread.start()
        # Thread.join blocks, so it runs in a thread of its own instead of
        # stopping the event loop that the workers need.
        for thread in threads:
            await asyncio.to_thread(thread.join)
        await executor.drain()
    # Leaving the block called executor.stop(), which closed `jobs`.

    await records.close()
    await log_reader
    producer_log.removeHandler(handler)

    total = NUM_PRODUCERS * NUMBERS_PER_PRODUCER
    assert sorted(results) == [number * number for number in range(total)]
    assert sorted(messages) == [
        f"producer-{index} put {NUMBERS_PER_PRODUCER} numbers"
        for index in range(NUM_PRODUCERS)
    ]

    # After close, a put from a thread raises QueueClosedError instead of blocking.
    try:
        await asyncio.to_thread(jobs.sync_q.put, -1)
    except QueueClosedError:
        pass
    else:
        raise AssertionError("put on a closed queue did not raise QueueClosedError")

    print(f"squared {len(results)} numbers from {NUM_PRODUCERS} threads")
    print(f"log records received: {len(messages)}")


if __name__ == "__main__":
    asyncio.run(main())
