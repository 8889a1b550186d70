"""TaskExecutor in async mode: retries, callbacks, drain, stop and arguments."""

from __future__ import annotations

import asyncio
import collections
import logging
import resource
import time
from typing import Any

import pytest

from prefactor_core.queue import (
    Delivery,
    ExecutorStopTimeout,
    InMemoryQueue,
    Queue,
    QueueClosedError,
    TaskExecutor,
    current_delivery,
)
from tests import handlers


async def noop(item: Any) -> None:
    return None


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def test_processes_every_item_once() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    seen: list[int] = []

    async def handle(item: int) -> int:
        seen.append(item)
        return item * 10

    results: dict[int, int] = {}
    async with TaskExecutor(
        queue, handle, on_success=lambda item, result: results.__setitem__(item, result)
    ):
        for value in range(500):
            await queue.put(value)

    assert sorted(seen) == list(range(500))
    assert results == {value: value * 10 for value in range(500)}


async def test_mode_is_inferred_from_handler() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    assert TaskExecutor(queue, noop).mode == "async"
    assert TaskExecutor(queue, handlers.double).mode == "thread"


async def test_retries_then_succeeds() -> None:
    queue: InMemoryQueue[str] = InMemoryQueue()
    attempts: collections.Counter[str] = collections.Counter()

    async def flaky(item: str) -> str:
        attempts[item] += 1
        if attempts[item] < 3:
            raise ConnectionError("try again")
        return item

    succeeded: list[str] = []
    failed: list[str] = []
    executor = TaskExecutor(
        queue,
        flaky,
        max_retries=3,
        backoff_base=0.01,
        on_success=lambda item, result: succeeded.append(item),
        on_failure=lambda item, exc: failed.append(item),
    )
    async with executor:
        await queue.put("a")

    assert attempts["a"] == 3
    assert succeeded == ["a"]
    assert failed == []
    stats = executor.statistics()
    assert stats.retried == 2
    assert stats.succeeded == 1


async def test_max_retries_counts_retries_after_first() -> None:
    for max_retries in (0, 1, 4):
        queue: InMemoryQueue[int] = InMemoryQueue()
        calls = 0

        async def always_fail(item: int) -> None:
            nonlocal calls
            calls += 1
            raise RuntimeError("nope")

        failures: list[tuple[int, BaseException, int]] = []

        def record(
            item: int, exc: BaseException, failures: list[tuple[int, BaseException, int]] = failures
        ) -> None:
            failures.append((item, exc, current_delivery().attempts))

        async with TaskExecutor(
            queue, always_fail, max_retries=max_retries, backoff_base=0.001, on_failure=record
        ):
            await queue.put(1)

        assert calls == max_retries + 1
        assert len(failures) == 1
        item, exc, attempts = failures[0]
        assert item == 1
        assert isinstance(exc, RuntimeError)
        assert attempts == max_retries + 1


async def test_is_retryable_stops_retries() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    calls: collections.Counter[type] = collections.Counter()

    async def handle(item: int) -> None:
        error = ValueError if item == 1 else ConnectionError
        calls[error] += 1
        raise error("failed")

    failures: list[int] = []
    async with TaskExecutor(
        queue,
        handle,
        max_retries=2,
        backoff_base=0.001,
        is_retryable=lambda exc: isinstance(exc, ConnectionError),
        on_failure=lambda item, exc: failures.append(item),
    ):
        await queue.put(1)
        await queue.put(2)

    assert calls[ValueError] == 1
    assert calls[ConnectionError] == 3
    assert sorted(failures) == [1, 2]


async def test_async_callbacks_are_awaited() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    events: list[str] = []

    async def handle(item: int) -> int:
        if item < 0:
            raise ValueError("negative")
        return item

    async def on_success(item: int, result: int) -> None:
        await asyncio.sleep(0)
        events.append(f"ok {item} {result}")

    async def on_failure(item: int, exc: BaseException) -> None:
        await asyncio.sleep(0)
        events.append(f"failed {item} {type(exc).__name__}")

    async with TaskExecutor(
        queue, handle, max_retries=0, on_success=on_success, on_failure=on_failure
    ):
        await queue.put(5)
        await queue.put(-1)

    assert sorted(events) == ["failed -1 ValueError", "ok 5 5"]


async def test_failure_logged_without_on_failure(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="prefactor_core")
    queue: InMemoryQueue[dict[str, int]] = InMemoryQueue()

    async def handle(item: dict[str, int]) -> None:
        raise KeyError("missing-key")

    async with TaskExecutor(queue, handle, max_retries=1, backoff_base=0.001):
        await queue.put({"order": 42})

    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "{'order': 42}" in errors[0].getMessage()
    assert "after 2 attempts" in errors[0].getMessage()
    assert errors[0].exc_info is not None
    assert "missing-key" in caplog.text
    assert "Traceback" in caplog.text


async def test_raising_callback_is_logged_and_item_ends(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="prefactor_core")
    queue: InMemoryQueue[int] = InMemoryQueue()

    def bad_callback(item: int, result: None) -> None:
        raise RuntimeError("callback broke")

    executor = TaskExecutor(queue, noop, on_success=bad_callback)
    async with executor:
        await queue.put(1)

    assert executor.statistics().succeeded == 1
    assert "on_success callback raised for item 1" in caplog.text


async def test_backoff_does_not_hold_a_worker() -> None:
    queue: InMemoryQueue[str] = InMemoryQueue()
    finished: dict[str, float] = {}
    attempts: collections.Counter[str] = collections.Counter()
    started = time.monotonic()

    async def handle(item: str) -> None:
        attempts[item] += 1
        if item == "slow-retry" and attempts[item] == 1:
            raise ConnectionError("retry me in a second")
        finished[item] = time.monotonic() - started

    async with TaskExecutor(queue, handle, num_workers=1, backoff_base=1.0):
        await queue.put("slow-retry")
        for index in range(20):
            await queue.put(f"item-{index}")

    assert attempts["slow-retry"] == 2
    # With one worker, the 20 other items ran while the retry waited.
    assert all(finished[f"item-{index}"] < finished["slow-retry"] for index in range(20))
    assert finished["slow-retry"] >= 0.9


async def test_concurrency_bounded_with_retries() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    running = 0
    peak = 0
    attempts: collections.Counter[int] = collections.Counter()

    async def handle(item: int) -> None:
        nonlocal running, peak
        attempts[item] += 1
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.005)
        running -= 1
        if attempts[item] == 1 and item % 2 == 0:
            raise ConnectionError("retry")

    async with TaskExecutor(queue, handle, num_workers=3, backoff_base=0.01):
        for value in range(60):
            await queue.put(value)

    assert peak <= 3
    assert peak == 3
    assert sum(attempts.values()) == 90


async def test_drain_waits_for_in_flight_items() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    done: list[int] = []

    async def handle(item: int) -> None:
        await asyncio.sleep(0.2)
        done.append(item)

    executor = TaskExecutor(queue, handle, num_workers=2)
    executor.start()
    for value in range(4):
        await queue.put(value)
    await asyncio.sleep(0.05)
    stats = executor.statistics()
    assert stats.in_flight >= 2
    assert stats.in_flight + stats.queued == 4

    await asyncio.wait_for(executor.drain(), timeout=10)

    assert sorted(done) == [0, 1, 2, 3]
    stats = executor.statistics()
    assert stats.in_flight == 0
    assert stats.queued == 0
    assert not queue.closed
    await queue.put(9)
    await asyncio.wait_for(executor.drain(), timeout=10)
    assert 9 in done
    await executor.stop()


async def test_drain_waits_for_pending_retry() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    attempts = 0

    async def handle(item: int) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("again")

    executor = TaskExecutor(queue, handle, backoff_base=0.3)
    executor.start()
    await queue.put(1)
    await asyncio.sleep(0.05)
    assert executor.statistics().waiting_retry == 1

    await asyncio.wait_for(executor.drain(), timeout=10)

    assert attempts == 2
    assert executor.statistics().succeeded == 1
    await executor.stop()


async def test_drain_before_start_raises() -> None:
    executor = TaskExecutor(InMemoryQueue(), noop)
    with pytest.raises(RuntimeError, match="not started"):
        await executor.drain()


async def test_start_is_idempotent() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    executor = TaskExecutor(queue, noop, num_workers=2)
    executor.start()
    executor.start()
    assert len([task for task in asyncio.all_tasks() if "prefactor-core" in task.get_name()]) == 2
    await executor.stop()
    await executor.stop()
    with pytest.raises(RuntimeError, match="was stopped"):
        executor.start()


@pytest.mark.timeout(60)
async def test_stop_drains_thousands_without_cancelling() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    completed: list[int] = []
    cancelled: list[int] = []

    async def handle(item: int) -> None:
        try:
            await asyncio.sleep(0.001)
        except asyncio.CancelledError:
            cancelled.append(item)
            raise
        completed.append(item)

    executor = TaskExecutor(queue, handle, num_workers=8)
    executor.start()
    for value in range(5_000):
        await queue.put(value)

    await executor.stop()

    assert cancelled == []
    assert sorted(completed) == list(range(5_000))
    assert queue.closed
    with pytest.raises(QueueClosedError):
        await queue.put(1)


@pytest.mark.timeout(60)
async def test_stop_waits_for_handler_over_ten_seconds() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    finished: list[int] = []

    async def slow(item: int) -> None:
        await asyncio.sleep(11.0)
        finished.append(item)

    executor = TaskExecutor(queue, slow)
    executor.start()
    await queue.put(1)
    await asyncio.sleep(0.05)
    started = time.monotonic()
    cpu_before = cpu_seconds()

    await executor.stop()

    assert finished == [1]
    assert time.monotonic() - started >= 10.5
    # No polling: waiting eleven seconds costs almost no CPU.
    assert cpu_seconds() - cpu_before < 0.5


async def test_stop_waits_for_retries() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    attempts = 0

    async def handle(item: int) -> None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionError("again")

    executor = TaskExecutor(queue, handle, backoff_base=0.1)
    executor.start()
    await queue.put(1)
    await asyncio.sleep(0.02)

    await executor.stop()

    assert attempts == 3
    assert executor.statistics().succeeded == 1


async def test_stop_timeout_reports_unfinished() -> None:
    queue: InMemoryQueue[str] = InMemoryQueue()
    release = asyncio.Event()
    finished: list[str] = []

    async def handle(item: str) -> None:
        await release.wait()
        finished.append(item)

    executor = TaskExecutor(queue, handle, num_workers=1)
    executor.start()
    await queue.put("first")
    await queue.put("second")
    await asyncio.sleep(0.05)

    with pytest.raises(ExecutorStopTimeout) as caught:
        await executor.stop(timeout=0.1)

    # One worker is running "first", and "second" is in its batch or still queued.
    assert "first" in caught.value.unfinished
    assert len(caught.value.unfinished) + caught.value.queued == 2
    assert "call stop() again" in str(caught.value)
    release.set()
    await asyncio.wait_for(executor.stop(), timeout=10)
    assert finished == ["first", "second"]


async def test_stop_without_start_closes_queue() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    await TaskExecutor(queue, noop).stop()
    assert queue.closed


@pytest.mark.timeout(30)
async def test_idle_executor_uses_no_cpu() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    async with TaskExecutor(queue, noop, num_workers=8):
        await asyncio.sleep(0.1)
        before = cpu_seconds()
        await asyncio.sleep(2.0)
        used = cpu_seconds() - before
    assert used < 0.2


async def test_statistics_counts() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()

    async def handle(item: int) -> None:
        if item < 0:
            raise ValueError("negative")

    executor = TaskExecutor(
        queue, handle, max_retries=1, backoff_base=0.001, on_failure=lambda item, exc: None
    )
    async with executor:
        for value in (1, 2, -1, 3):
            await queue.put(value)

    stats = executor.statistics()
    assert stats.succeeded == 3
    assert stats.failed == 1
    assert stats.retried == 1
    assert stats.in_flight == 0
    assert stats.waiting_retry == 0
    assert stats.queued == 0


async def test_async_time_limit_cancels_attempt() -> None:
    queue: InMemoryQueue[float] = InMemoryQueue()
    failures: list[BaseException] = []

    async def handle(seconds: float) -> None:
        await asyncio.sleep(seconds)

    async with TaskExecutor(
        queue,
        handle,
        max_retries=0,
        time_limit=0.1,
        on_failure=lambda item, exc: failures.append(exc),
    ) as executor:
        await queue.put(5.0)
        await queue.put(0.01)

    assert len(failures) == 1
    assert type(failures[0]).__name__ == "AttemptTimeoutError"
    assert isinstance(failures[0], TimeoutError)
    assert executor.statistics().succeeded == 1


async def test_handler_timeout_error_is_not_the_limit() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    failures: list[BaseException] = []

    async def handle(item: int) -> None:
        raise TimeoutError("the handler's own timeout")

    async with TaskExecutor(
        queue, handle, max_retries=0, time_limit=5, on_failure=lambda i, exc: failures.append(exc)
    ):
        await queue.put(1)

    assert len(failures) == 1
    assert type(failures[0]) is TimeoutError
    assert str(failures[0]) == "the handler's own timeout"


class RecordingQueue(InMemoryQueue[int]):
    """In-memory queue that records the delivery step, as a persistent queue would."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, int, int]] = []

    async def ack(self, delivery: Delivery[int]) -> None:
        self.events.append(("ack", delivery.item, delivery.attempts))

    async def nack(self, delivery: Delivery[int], *, delay: float, error: BaseException) -> bool:
        self.events.append(("nack", delivery.item, delivery.attempts))
        return False

    async def dead_letter(self, delivery: Delivery[int], error: BaseException) -> None:
        self.events.append(("dead_letter", delivery.item, delivery.attempts))


async def test_delivery_hooks_called_once_per_outcome() -> None:
    queue = RecordingQueue()

    async def handle(item: int) -> None:
        if item < 0:
            raise ValueError("negative")

    async with TaskExecutor(
        queue, handle, max_retries=2, backoff_base=0.001, on_failure=lambda i, e: None
    ):
        await queue.put(1)
        await queue.put(-1)

    assert sorted(queue.events) == [
        ("ack", 1, 0),
        ("dead_letter", -1, 2),
        ("nack", -1, 0),
        ("nack", -1, 1),
    ]


class RedeliveringQueue(Queue[int]):
    """Queue that owns its retries, as Redis and PostgreSQL queues do."""

    def __init__(self) -> None:
        self._items: asyncio.Queue[Delivery[int] | None] = asyncio.Queue()
        self._closed = False
        self.nacks: list[tuple[int, float]] = []

    async def put(self, item: int) -> None:
        if self._closed:
            raise QueueClosedError("closed")
        self._items.put_nowait(Delivery(item))

    async def get(self) -> int:
        return (await self.receive()).item

    async def receive(self) -> Delivery[int]:
        if self._closed and self._items.empty():
            raise QueueClosedError("closed")
        delivery = await self._items.get()
        if delivery is None:  # a wake-up from close()
            raise QueueClosedError("closed")
        return delivery

    def size(self) -> int:
        return self._items.qsize()

    async def close(self, num_waiters: int = 1) -> None:
        self._closed = True
        for _ in range(num_waiters):
            self._items.put_nowait(None)

    @property
    def closed(self) -> bool:
        return self._closed

    async def nack(self, delivery: Delivery[int], *, delay: float, error: BaseException) -> bool:
        self.nacks.append((delivery.attempts, delay))
        self._items.put_nowait(Delivery(delivery.item, delivery.attempts + 1))
        return True


async def test_queue_owned_retries_use_stored_attempts() -> None:
    queue = RedeliveringQueue()
    calls = 0

    async def handle(item: int) -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("down")

    failures: list[int] = []

    def on_failure(item: int, exc: BaseException) -> None:
        failures.append(current_delivery().attempts)

    executor = TaskExecutor(queue, handle, max_retries=2, backoff_base=0.5, on_failure=on_failure)
    executor.start()
    await queue.put(7)
    await asyncio.wait_for(executor.drain(), timeout=10)
    await asyncio.wait_for(executor.stop(), timeout=10)

    assert calls == 3
    assert [attempts for attempts, _ in queue.nacks] == [0, 1]
    assert 0.45 <= queue.nacks[0][1] <= 0.5
    assert 0.9 <= queue.nacks[1][1] <= 1.0
    assert failures == [3]


def test_current_delivery_outside_callback_raises() -> None:
    with pytest.raises(LookupError):
        current_delivery()


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"num_workers": 0}, ValueError, "num_workers must be >= 1, got 0"),
        ({"num_workers": -3}, ValueError, "num_workers must be >= 1, got -3"),
        ({"num_workers": 2.0}, TypeError, "num_workers must be an int"),
        ({"max_retries": -1}, ValueError, "max_retries must be >= 0, got -1"),
        ({"mode": "fiber"}, ValueError, "mode must be one of .* got 'fiber'"),
        ({"backoff_base": -1.0}, ValueError, "backoff_base must be .* got -1.0"),
        ({"backoff_max": -0.5}, ValueError, "backoff_max must be .* got -0.5"),
        ({"on_success": "print"}, TypeError, "on_success must be callable"),
        ({"on_failure": 5}, TypeError, "on_failure must be callable"),
        ({"time_limit": 0}, ValueError, "time_limit must be a number of seconds > 0"),
        ({"time_limit": -2}, ValueError, "time_limit must be .* got -2"),
        ({"mode": "thread"}, TypeError, "mode 'thread' needs a plain function"),
    ],
)
def test_invalid_arguments_are_rejected(
    arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        TaskExecutor(InMemoryQueue(), noop, **arguments)


def test_handler_must_be_callable() -> None:
    with pytest.raises(TypeError, match="handler must be callable, got 42"):
        TaskExecutor(InMemoryQueue(), 42)  # type: ignore[arg-type]


def test_async_mode_needs_coroutine_function() -> None:
    with pytest.raises(TypeError, match="mode 'async' needs a coroutine function"):
        TaskExecutor(InMemoryQueue(), handlers.double, mode="async")


def test_queue_must_be_a_queue() -> None:
    with pytest.raises(TypeError, match=r"queue must be a prefactor_core\.queue\.Queue"):
        TaskExecutor([], noop)  # type: ignore[arg-type]


async def test_logs_start_stop_and_retries(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="prefactor_core")
    queue: InMemoryQueue[int] = InMemoryQueue()
    attempts = 0

    async def handle(item: int) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("first try fails")

    async with TaskExecutor(queue, handle, backoff_base=0.001, name="billing"):
        await queue.put(3)

    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("executor billing started: 3 workers in async mode") for m in messages)
    assert any("attempt 1 of item 3 failed" in m and "retrying in" in m for m in messages)
    assert any(m.startswith("executor billing stopped: 1 succeeded, 0 failed") for m in messages)
    retry_records = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retry_records) == 1
    assert retry_records[0].levelno == logging.WARNING


class BatchCountingQueue(InMemoryQueue[int]):
    """In-memory queue that requests batches, as a networked queue would."""

    preferred_batch = 16

    def __init__(self) -> None:
        super().__init__()
        self.batch_sizes: list[int] = []

    async def receive_batch(self, max_items: int) -> list[Delivery[int]]:
        batch = await super().receive_batch(max_items)
        self.batch_sizes.append(len(batch))
        return batch


async def test_async_mode_uses_preferred_batch() -> None:
    queue = BatchCountingQueue()
    for value in range(200):
        await queue.put(value)
    seen: list[int] = []

    async def handle(item: int) -> None:
        seen.append(item)

    async with TaskExecutor(queue, handle, num_workers=2):
        pass

    assert sorted(seen) == list(range(200))
    assert max(queue.batch_sizes) == 16
    assert sum(queue.batch_sizes) == 200
