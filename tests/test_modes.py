"""Thread and process modes: same retry, drain and stop semantics as async mode."""

from __future__ import annotations

import asyncio
import collections
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from prefactor_core.queue import (
    AttemptTimeoutError,
    InMemoryQueue,
    ItemNotPicklableError,
    RemoteTraceback,
    TaskExecutor,
    WorkerCrashedError,
    current_delivery,
)
from tests import handlers


async def run_items(items: list[Any], handler: Any, **options: Any) -> tuple[dict, dict, Any]:
    """Run items through an executor; return successes, failures and statistics."""
    queue: InMemoryQueue[Any] = InMemoryQueue()
    successes: dict[Any, Any] = {}
    failures: dict[Any, BaseException] = {}
    options.setdefault("backoff_base", 0.01)

    def on_failure(item: Any, exc: BaseException) -> None:
        failures[_key(item)] = exc

    executor = TaskExecutor(
        queue,
        handler,
        on_success=lambda item, result: successes.__setitem__(_key(item), result),
        on_failure=on_failure,
        **options,
    )
    async with executor:
        for item in items:
            await queue.put(item)
    return successes, failures, executor.statistics()


def _key(item: Any) -> Any:
    return item if isinstance(item, (int, float, str, tuple)) else repr(item)


@pytest.mark.parametrize("mode", ["thread", "process"])
async def test_mode_processes_every_item(mode: str) -> None:
    successes, failures, stats = await run_items(list(range(2_000)), handlers.double, mode=mode)

    assert successes == {value: value * 2 for value in range(2_000)}
    assert failures == {}
    assert stats.succeeded == 2_000


@pytest.mark.parametrize("mode", ["thread", "process"])
async def test_mode_retries_and_fails(mode: str) -> None:
    successes, failures, stats = await run_items(
        [1, -1, 2], handlers.fail_on_negative, mode=mode, max_retries=2
    )

    assert successes == {1: 1, 2: 2}
    assert list(failures) == [-1]
    assert isinstance(failures[-1], ValueError)
    assert str(failures[-1]) == "negative item -1"
    assert stats.retried == 2
    assert stats.failed == 1


async def test_thread_mode_runs_in_threads() -> None:
    main_thread = threading.get_ident()
    seen_threads: set[int] = set()

    def handle(item: int) -> None:
        time.sleep(0.01)
        seen_threads.add(threading.get_ident())

    await run_items(list(range(30)), handle, mode="thread", num_workers=3)

    assert main_thread not in seen_threads
    assert 1 < len(seen_threads) <= 3


async def test_process_mode_runs_in_other_processes() -> None:
    successes, _, _ = await run_items(list(range(40)), handlers.record_pid, mode="process")

    pids = set(successes.values())
    assert os.getpid() not in pids
    assert 1 < len(pids) <= 3


@pytest.mark.parametrize("mode", ["thread", "process"])
async def test_drain_with_work_in_flight(mode: str) -> None:
    queue: InMemoryQueue[float] = InMemoryQueue()
    results: list[float] = []
    executor = TaskExecutor(
        queue,
        handlers.sleep_for,
        num_workers=2,
        mode=mode,
        on_success=lambda item, result: results.append(result),
    )
    executor.start()
    for _ in range(4):
        await queue.put(0.3)
    await asyncio.sleep(0.1)

    await asyncio.wait_for(executor.drain(), timeout=30)

    assert results == [0.3] * 4
    assert executor.statistics().in_flight == 0
    await executor.stop()


@pytest.mark.timeout(60)
async def test_process_crash_is_retried(tmp_path: Path) -> None:
    items = [(str(tmp_path), value) for value in range(20)]

    successes, failures, stats = await run_items(
        items, handlers.exit_once, mode="process", num_workers=2
    )

    assert failures == {}
    assert sorted(successes.values()) == list(range(20))
    assert (tmp_path / "exited-0").exists()
    assert stats.succeeded == 20


@pytest.mark.timeout(60)
async def test_process_sigkill_is_retried(tmp_path: Path) -> None:
    items = [(str(tmp_path), value) for value in range(10)]

    successes, failures, _ = await run_items(items, handlers.kill_once, mode="process")

    assert failures == {}
    assert sorted(successes.values()) == list(range(10))
    assert (tmp_path / "killed-0").exists()


async def test_process_crash_counts_as_attempt(tmp_path: Path) -> None:
    items = [(str(tmp_path), 0)]

    successes, failures, _ = await run_items(
        items, handlers.exit_once, mode="process", max_retries=0
    )

    assert successes == {}
    error = failures[(str(tmp_path), 0)]
    assert isinstance(error, WorkerCrashedError)
    assert "exit code 7" in str(error)


@pytest.mark.timeout(60)
async def test_process_pool_keeps_going_after_crash(tmp_path: Path) -> None:
    queue: InMemoryQueue[tuple[str, int]] = InMemoryQueue()
    done: list[int] = []
    async with TaskExecutor(
        queue,
        handlers.exit_once,
        mode="process",
        num_workers=1,
        backoff_base=0.01,
        on_success=lambda item, result: done.append(result),
    ) as executor:
        await queue.put((str(tmp_path), 0))
        await asyncio.wait_for(executor.drain(), timeout=30)
        for value in range(1, 6):
            await queue.put((str(tmp_path), value))

    assert sorted(done) == [0, 1, 2, 3, 4, 5]


def test_unpicklable_handler_is_rejected() -> None:
    with pytest.raises(TypeError, match=r"<lambda>.*module level"):
        TaskExecutor(InMemoryQueue(), lambda item: item, mode="process")

    def local_handler(item: int) -> int:
        return item

    with pytest.raises(TypeError, match=r"local_handler.*module level"):
        TaskExecutor(InMemoryQueue(), local_handler, mode="process")


async def test_unpicklable_item_fails_alone() -> None:
    lock = threading.Lock()
    items: list[Any] = [1, lock, 2, 3]

    successes, failures, stats = await run_items(items, handlers.double, mode="process")

    assert successes == {1: 2, 2: 4, 3: 6}
    assert len(failures) == 1
    error = failures[repr(lock)]
    assert isinstance(error, ItemNotPicklableError)
    assert "cannot be pickled" in str(error)
    assert stats.retried == 0


async def test_remote_traceback_is_attached() -> None:
    _, failures, _ = await run_items([-5], handlers.fail_on_negative, mode="process", max_retries=0)

    error = failures[-5]
    assert isinstance(error, ValueError)
    assert isinstance(error.__cause__, RemoteTraceback)
    assert "fail_on_negative" in str(error.__cause__)


async def test_unpicklable_exception_is_reported() -> None:
    _, failures, _ = await run_items(
        [3], handlers.raise_unpicklable_exception, mode="process", max_retries=0
    )

    error = failures[3]
    assert isinstance(error, RuntimeError)
    assert "NeedsTwoArguments" in str(error)
    assert "cannot be pickled back" in str(error)


async def test_unpicklable_result_is_reported() -> None:
    _, failures, _ = await run_items([3], handlers.return_lambda, mode="process", max_retries=0)

    assert "result cannot be pickled back" in str(failures[3])


@pytest.mark.timeout(60)
async def test_process_time_limit_kills_worker() -> None:
    queue: InMemoryQueue[float] = InMemoryQueue()
    failures: list[tuple[float, BaseException, int]] = []
    results: list[float] = []

    def on_failure(item: float, exc: BaseException) -> None:
        failures.append((item, exc, current_delivery().attempts))

    started = time.monotonic()
    async with TaskExecutor(
        queue,
        handlers.sleep_for,
        mode="process",
        num_workers=2,
        max_retries=1,
        backoff_base=0.01,
        time_limit=0.5,
        on_failure=on_failure,
        on_success=lambda item, result: results.append(result),
    ):
        await queue.put(30.0)
        await queue.put(0.05)
    elapsed = time.monotonic() - started

    assert results == [0.05]
    assert len(failures) == 1
    item, error, attempts = failures[0]
    assert item == 30.0
    assert isinstance(error, AttemptTimeoutError)
    assert "killed and replaced" in str(error)
    assert attempts == 2
    assert elapsed < 20


async def test_thread_time_limit_reports_overrun() -> None:
    successes, failures, _ = await run_items(
        [0.3, 0.01], handlers.sleep_for, mode="thread", max_retries=0, time_limit=0.1
    )

    assert successes == {0.01: 0.01}
    assert isinstance(failures[0.3], AttemptTimeoutError)
    assert "cannot be interrupted" in str(failures[0.3])


@pytest.mark.parametrize("mode", ["thread", "process"])
@pytest.mark.timeout(60)
async def test_stop_drains_without_cancelling(mode: str) -> None:
    queue: InMemoryQueue[float] = InMemoryQueue()
    results: list[float] = []
    executor = TaskExecutor(
        queue,
        handlers.sleep_for,
        mode=mode,
        num_workers=2,
        on_success=lambda item, result: results.append(result),
    )
    executor.start()
    for _ in range(200):
        await queue.put(0.002)
    await queue.put(1.5)

    await executor.stop()

    assert len(results) == 201
    assert executor.statistics().succeeded == 201


@pytest.mark.timeout(60)
async def test_process_stop_reaps_children() -> None:
    import multiprocessing

    queue: InMemoryQueue[int] = InMemoryQueue()
    executor = TaskExecutor(queue, handlers.double, mode="process", num_workers=2)
    executor.start()
    await queue.put(1)
    await executor.drain()
    workers = [
        child
        for child in multiprocessing.active_children()
        if child.name.startswith("prefactor-core-process")
    ]
    assert len(workers) == 2

    await executor.stop()

    assert all(not child.is_alive() for child in workers)


async def test_batches_spread_over_workers() -> None:
    counts: collections.Counter[str] = collections.Counter()

    def handle(item: int) -> None:
        time.sleep(0.02)
        counts[threading.current_thread().name] += 1

    await run_items(list(range(6)), handle, mode="thread", num_workers=3)

    # Six slow items on three threads: a short queue is shared, not batched to one.
    assert len(counts) == 3


@pytest.mark.parametrize("context", ["spawn", "forkserver"])
async def test_process_mode_start_methods(context: str) -> None:
    successes, _, _ = await run_items([1, 2], handlers.double, mode="process", mp_context=context)
    assert successes == {1: 2, 2: 4}


async def test_thread_mode_rejects_coroutine_result() -> None:
    async def handle(item: int) -> int:
        return item

    def wrapper(item: int) -> Any:
        return handle(item)

    successes, failures, _ = await run_items([1], wrapper, mode="thread", max_retries=0)

    assert successes == {}
    assert isinstance(failures[1], TypeError)
    assert "pass the coroutine function itself" in str(failures[1])


@pytest.mark.timeout(60)
async def test_crash_spares_other_items_of_batch() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    for value in range(40):
        await queue.put(value)
    results: list[int] = []
    failures: list[tuple[int, BaseException]] = []

    async with TaskExecutor(
        queue,
        handlers.exit_on_zero,
        mode="process",
        num_workers=1,
        max_retries=0,
        on_success=lambda item, result: results.append(result),
        on_failure=lambda item, exc: failures.append((item, exc)),
    ):
        pass

    # Item 0 kills every worker that runs it; the rest of its batch runs again alone.
    assert [item for item, _ in failures] == [0]
    assert isinstance(failures[0][1], WorkerCrashedError)
    assert sorted(results) == list(range(1, 40))
