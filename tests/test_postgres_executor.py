"""TaskExecutor driving a PostgresQueue on the local server."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator

import pytest

from prefactor_core.queue import PostgresQueue, TaskExecutor
from tests.postgres_support import DSN, drop_queue_table, sql, unique_queue_name

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def name() -> AsyncIterator[str]:
    queue_name = unique_queue_name("e")
    yield queue_name
    await drop_queue_table(queue_name)


async def rows_left(name: str) -> int:
    rows = await sql(f'SELECT count(*) FROM "prefactor_queue_{name}"')
    return int(rows[0][0])


async def test_drain_handles_existing_backlog(name: str) -> None:
    async with PostgresQueue[int](DSN, name) as producer:
        await producer.put_many(range(1000))
    handled: list[int] = []

    async def handle(item: int) -> None:
        handled.append(item)

    async with PostgresQueue[int](DSN, name) as queue:
        executor = TaskExecutor(queue, handle, num_workers=4)
        executor.start()
        await asyncio.wait_for(executor.drain(), timeout=20)
        await executor.stop()

    assert sorted(handled) == list(range(1000))
    assert await rows_left(name) == 0


async def test_drain_waits_for_queue_retries(name: str) -> None:
    calls: collections.Counter[str] = collections.Counter()

    async def flaky(item: str) -> None:
        calls[item] += 1
        if item.startswith("flaky") and calls[item] < 3:
            raise RuntimeError(f"attempt {calls[item]} of {item} failed")

    async with PostgresQueue[str](DSN, name, lease_seconds=2, poll_interval=1) as queue:
        executor = TaskExecutor(
            queue, flaky, num_workers=3, max_retries=3, backoff_base=0.1, backoff_max=0.2
        )
        executor.start()
        await queue.put_many(["ok-1", "flaky-1", "ok-2", "flaky-2"])
        await asyncio.wait_for(executor.drain(), timeout=20)
        await executor.stop()

    assert calls == {"ok-1": 1, "ok-2": 1, "flaky-1": 3, "flaky-2": 3}
    assert await rows_left(name) == 0


async def test_final_failure_becomes_dead_item(name: str) -> None:
    failures: list[tuple[object, BaseException]] = []

    async def broken(item: str) -> None:
        raise ValueError(f"cannot handle {item}")

    def on_failure(item: object, error: BaseException) -> None:
        failures.append((item, error))

    async with PostgresQueue[str](DSN, name, lease_seconds=2) as queue:
        executor = TaskExecutor(
            queue, broken, max_retries=1, backoff_base=0.1, on_failure=on_failure
        )
        executor.start()
        await queue.put("poison")
        await asyncio.wait_for(executor.drain(), timeout=20)
        await executor.stop()

        dead = await queue.list_dead()

    assert [item for item, _ in failures] == ["poison"]
    assert len(dead) == 1
    assert dead[0].item == "poison"
    assert dead[0].attempts == 2
    assert dead[0].error == "ValueError: cannot handle poison"


async def test_stop_settles_claimed_items(name: str) -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    handled: list[str] = []

    async def slow(item: str) -> None:
        started.set()
        await release.wait()
        handled.append(item)

    async with PostgresQueue[str](DSN, name, lease_seconds=2) as queue:
        executor = TaskExecutor(queue, slow, num_workers=1)
        executor.start()
        await queue.put("held")
        await asyncio.wait_for(started.wait(), timeout=5)
        stopping = asyncio.create_task(executor.stop())
        await asyncio.sleep(0.2)
        assert not stopping.done()
        release.set()
        await asyncio.wait_for(stopping, timeout=10)

    assert handled == ["held"]
    assert await rows_left(name) == 0
