"""InMemoryQueue: both faces on real janus queues, real threads and real event loops."""

from __future__ import annotations

import asyncio
import collections
import logging
import logging.handlers
import queue as std_queue
import threading
import time

import pytest

from prefactor_core.queue import InMemoryQueue, Queue, QueueClosedError

# Created at import time, before any event loop runs.
MODULE_QUEUE: InMemoryQueue[int] = InMemoryQueue()


async def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


def test_queue_is_abstract() -> None:
    with pytest.raises(TypeError):
        Queue()  # type: ignore[abstract]


async def test_fifo_order_and_size() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    for value in range(5):
        await queue.put(value)
    assert queue.size() == 5

    received = [await queue.get() for _ in range(5)]

    assert received == [0, 1, 2, 3, 4]
    assert queue.size() == 0


async def test_faces_share_one_fifo() -> None:
    queue: InMemoryQueue[str] = InMemoryQueue()
    await queue.put("a")
    queue.sync_q.put("b")
    await queue.put("c")

    assert queue.sync_q.get() == "a"
    assert await queue.get() == "b"
    assert queue.sync_q.get_nowait() == "c"


async def test_close_rejects_put_and_drains_get() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    await queue.put(1)
    await queue.put(2)

    await queue.close()

    assert queue.closed
    with pytest.raises(QueueClosedError):
        await queue.put(3)
    with pytest.raises(QueueClosedError):
        queue.sync_q.put(3)
    assert await queue.get() == 1
    assert queue.sync_q.get() == 2
    with pytest.raises(QueueClosedError):
        await queue.get()
    with pytest.raises(QueueClosedError):
        queue.sync_q.get(timeout=1)


async def test_close_is_idempotent() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    await queue.close()
    await queue.close()
    assert queue.closed


async def test_close_wakes_every_async_getter() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    getters = [asyncio.create_task(queue.get()) for _ in range(10)]
    await asyncio.sleep(0.05)
    assert not any(getter.done() for getter in getters)

    await queue.close(num_waiters=1)  # the count is ignored: all wake
    results = await asyncio.wait_for(asyncio.gather(*getters, return_exceptions=True), timeout=5)

    assert all(isinstance(result, QueueClosedError) for result in results)
    assert queue.size() == 0


async def test_close_wakes_every_thread_getter() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    outcomes: list[str] = []
    lock = threading.Lock()

    def get_in_thread() -> None:
        try:
            queue.sync_q.get()
        except QueueClosedError:
            with lock:
                outcomes.append("closed")

    threads = [threading.Thread(target=get_in_thread) for _ in range(6)]
    for thread in threads:
        thread.start()
    await asyncio.sleep(0.1)

    await queue.close()
    for thread in threads:
        await asyncio.to_thread(thread.join, 5)

    assert outcomes == ["closed"] * 6
    assert not any(thread.is_alive() for thread in threads)


async def test_close_wakes_thread_blocked_in_full_put() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue(maxsize=1)
    await queue.put(1)
    errors: list[BaseException] = []
    started = threading.Event()

    def put_in_thread() -> None:
        started.set()
        try:
            queue.sync_q.put(2)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=put_in_thread)
    thread.start()
    started.wait(5)
    await asyncio.sleep(0.1)
    assert thread.is_alive()

    await queue.close()
    await asyncio.to_thread(thread.join, 5)

    assert not thread.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], QueueClosedError)
    assert queue.size() == 1
    assert await queue.get() == 1


async def test_close_wakes_async_put_on_full_queue() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue(maxsize=1)
    await queue.put(1)
    blocked = asyncio.create_task(queue.put(2))
    await asyncio.sleep(0.05)
    assert not blocked.done()

    await queue.close()

    with pytest.raises(QueueClosedError):
        await asyncio.wait_for(blocked, timeout=5)


async def test_bounded_put_waits_for_space() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue(maxsize=2)
    await queue.put(1)
    await queue.put(2)
    third = asyncio.create_task(queue.put(3))
    await asyncio.sleep(0.05)
    assert not third.done()
    assert queue.sync_q.full()

    assert await queue.get() == 1
    await asyncio.wait_for(third, timeout=5)

    assert queue.size() == 2
    with pytest.raises(std_queue.Full):
        queue.sync_q.put_nowait(4)
    with pytest.raises(std_queue.Full):
        queue.sync_q.put(4, timeout=0.01)


async def test_sync_get_timeout_raises_empty() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    with pytest.raises(std_queue.Empty):
        queue.sync_q.get(timeout=0.01)
    with pytest.raises(std_queue.Empty):
        queue.sync_q.get_nowait()
    assert queue.sync_q.empty()
    assert queue.sync_q.qsize() == 0


@pytest.mark.timeout(60)
async def test_eight_threads_feed_async_consumers() -> None:
    queue: InMemoryQueue[tuple[int, int]] = InMemoryQueue(maxsize=1000)
    threads_count, per_thread = 8, 20_000

    def produce(thread_index: int) -> None:
        for value in range(per_thread):
            queue.sync_q.put((thread_index, value))

    async def consume(sink: list[tuple[int, int]]) -> None:
        while True:
            try:
                sink.append(await queue.get())
            except QueueClosedError:
                return

    sinks: list[list[tuple[int, int]]] = [[] for _ in range(4)]
    consumers = [asyncio.create_task(consume(sink)) for sink in sinks]
    producers = [threading.Thread(target=produce, args=(i,)) for i in range(threads_count)]
    for producer in producers:
        producer.start()
    for producer in producers:
        await asyncio.to_thread(producer.join, 50)
    await queue.close()
    await asyncio.wait_for(asyncio.gather(*consumers), timeout=30)

    received = collections.Counter(item for sink in sinks for item in sink)
    expected = collections.Counter(
        (thread_index, value)
        for thread_index in range(threads_count)
        for value in range(per_thread)
    )
    assert sum(received.values()) == threads_count * per_thread
    assert received == expected
    for sink in sinks:
        for thread_index in range(threads_count):
            values = [value for index, value in sink if index == thread_index]
            assert values == sorted(values), "one producer's items arrived out of order"


async def test_sync_q_works_with_queue_handler() -> None:
    queue: InMemoryQueue[logging.LogRecord] = InMemoryQueue()
    logger = logging.getLogger("tests.queue_handler")
    logger.propagate = False
    handler = logging.handlers.QueueHandler(queue.sync_q)  # type: ignore[arg-type]
    logger.addHandler(handler)
    try:
        thread = threading.Thread(target=lambda: logger.warning("from thread %d", 7))
        thread.start()
        await asyncio.to_thread(thread.join, 5)
        record = await asyncio.wait_for(queue.get(), timeout=5)
    finally:
        logger.removeHandler(handler)

    assert record.getMessage() == "from thread 7"
    assert record.levelno == logging.WARNING


async def test_queue_listener_reads_sync_q() -> None:
    queue: InMemoryQueue[logging.LogRecord] = InMemoryQueue()
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    listener = logging.handlers.QueueListener(queue.sync_q, Collect())  # type: ignore[arg-type]
    listener.start()
    await queue.put(logging.makeLogRecord({"msg": "one"}))
    await queue.put(logging.makeLogRecord({"msg": "two"}))
    await asyncio.to_thread(listener.stop)

    assert seen == ["one", "two"]


async def test_queue_created_at_import_time() -> None:
    MODULE_QUEUE.sync_q.put(1)
    await MODULE_QUEUE.put(2)
    assert await MODULE_QUEUE.get() == 1
    assert await MODULE_QUEUE.get() == 2


def test_second_event_loop_raises_clear_error() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    asyncio.run(queue.put(1))

    with pytest.raises(RuntimeError, match="bound to another event loop"):
        asyncio.run(queue.put(2))
    with pytest.raises(RuntimeError, match="bound to another event loop"):
        asyncio.run(queue.get())
    assert queue.sync_q.get_nowait() == 1


def test_async_face_outside_loop_is_rejected() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    coroutine = queue.put(1)
    with pytest.raises(RuntimeError):
        coroutine.send(None)
    coroutine.close()


@pytest.mark.parametrize(
    ("maxsize", "error"),
    [(-1, ValueError), (1.5, TypeError), ("3", TypeError), (True, TypeError)],
)
def test_invalid_maxsize_is_rejected(maxsize: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="maxsize"):
        InMemoryQueue(maxsize)  # type: ignore[arg-type]


async def test_receive_batch_takes_what_is_queued() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    for value in range(10):
        await queue.put(value)

    first = await queue.receive_batch(4)
    rest = await queue.receive_batch(100)

    assert [delivery.item for delivery in first] == [0, 1, 2, 3]
    assert [delivery.item for delivery in rest] == [4, 5, 6, 7, 8, 9]
    assert all(delivery.attempts == 0 for delivery in first + rest)


async def test_size_never_counts_wakeups() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    getters = [asyncio.create_task(queue.get()) for _ in range(3)]
    await asyncio.sleep(0.02)
    await queue.close()
    await asyncio.gather(*getters, return_exceptions=True)
    assert queue.size() == 0


def test_close_nowait_from_thread_wakes_async_getter() -> None:
    async def scenario() -> BaseException | None:
        queue: InMemoryQueue[int] = InMemoryQueue()
        getter = asyncio.create_task(queue.get())
        await asyncio.sleep(0.02)
        thread = threading.Thread(target=queue.close_nowait)
        thread.start()
        await asyncio.to_thread(thread.join, 5)
        try:
            await asyncio.wait_for(getter, timeout=5)
        except QueueClosedError as exc:
            return exc
        return None

    assert isinstance(asyncio.run(scenario()), QueueClosedError)


def test_repr_shows_state() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue(maxsize=4)
    queue.sync_q.put(1)
    assert repr(queue) == "<InMemoryQueue open size=1 maxsize=4>"


async def test_receive_nowait_returns_none_when_empty() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    assert queue.receive_nowait() is None

    await queue.put(4)
    delivery = queue.receive_nowait()

    assert delivery is not None
    assert delivery.item == 4
    assert queue.receive_nowait() is None
    await queue.close()
    with pytest.raises(QueueClosedError):
        queue.receive_nowait()
