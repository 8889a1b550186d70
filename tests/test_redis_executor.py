"""TaskExecutor on RedisQueue, against the Redis server at 127.0.0.1:6379."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from prefactor_core.queue import RedisQueue, TaskExecutor
from tests.redis_support import SHARED_REDIS_URL


@pytest.fixture
def stream_name() -> Iterator[str]:
    name = f"test-redis-executor-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(SHARED_REDIS_URL)
    client.delete(name, f"{name}:delayed", f"{name}:dead")
    client.close()


def open_queue(stream: str) -> RedisQueue[Any]:
    return RedisQueue(SHARED_REDIS_URL, stream=stream, poll_interval=0.2)


@pytest.mark.timeout(30)
async def test_executor_drains_stream(stream_name: str) -> None:
    handled: list[int] = []

    async def handle(item: int) -> None:
        handled.append(item)

    async with open_queue(stream_name) as queue:
        async with TaskExecutor(queue, handle, num_workers=3) as executor:
            await queue.put_many(range(500))
            await asyncio.wait_for(executor.drain(), 20)
            assert sorted(handled) == list(range(500))
            assert queue.size() == 0

            await queue.put(500)
            await asyncio.wait_for(executor.drain(), 20)
        assert executor.statistics().succeeded == 501


@pytest.mark.timeout(30)
async def test_executor_retries_through_queue(stream_name: str) -> None:
    attempts: dict[str, int] = {}

    async def handle(item: str) -> str:
        attempts[item] = attempts.get(item, 0) + 1
        if attempts[item] < 3:
            raise ConnectionResetError(f"flaky {item}")
        return item

    async with open_queue(stream_name) as queue:
        inspect = queue.redis
        executor = TaskExecutor(queue, handle, num_workers=2, max_retries=3, backoff_base=0.1)
        async with executor:
            await queue.put_many(["a", "b"])
            await asyncio.wait_for(executor.drain(), 20)
            delayed = await inspect.zcard(queue.delayed_key)
        stats = executor.statistics()

    assert attempts == {"a": 3, "b": 3}
    assert stats.succeeded == 2
    assert stats.retried == 4
    assert delayed == 0


@pytest.mark.timeout(30)
async def test_executor_dead_letters_failure(stream_name: str) -> None:
    failures: list[tuple[Any, BaseException]] = []

    async def handle(item: dict[str, int]) -> None:
        raise ValueError(f"cannot handle {item['n']}")

    async with open_queue(stream_name) as queue:
        executor = TaskExecutor(
            queue,
            handle,
            max_retries=1,
            backoff_base=0.05,
            on_failure=lambda item, exc: failures.append((item, exc)),
        )
        async with executor:
            await queue.put({"n": 7})
            await asyncio.wait_for(executor.drain(), 20)
        dead = await queue.redis.xrange(queue.dead_letter_stream)

    assert len(failures) == 1
    assert len(dead) == 1
    assert dead[0][1][b"error"] == b"ValueError: cannot handle 7"
    assert dead[0][1][b"attempts"] == b"2"


@pytest.mark.timeout(30)
async def test_executor_stop_finishes_taken_items(stream_name: str) -> None:
    started = asyncio.Event()
    finished: list[int] = []

    async def handle(item: int) -> None:
        started.set()
        await asyncio.sleep(0.3)
        finished.append(item)

    async with open_queue(stream_name) as queue:
        executor = TaskExecutor(queue, handle, num_workers=2)
        executor.start()
        await queue.put_many([1, 2])
        await asyncio.wait_for(started.wait(), 10)
        await asyncio.wait_for(executor.stop(), 10)
        remaining = await queue.redis.xlen(queue.stream)

    # Every item taken before stop() ended, and an item that a read took as
    # the queue closed stays in the stream for other consumers.
    assert len(finished) >= 1
    assert remaining == 2 - len(finished)


@pytest.mark.timeout(30)
async def test_drain_sees_other_consumer_empty_stream(stream_name: str) -> None:
    # Executor B takes every item, and executor A's drain() must still return
    # although none of A's workers receives an item or changes state.
    taken_by_b: list[int] = []
    release_b = asyncio.Event()

    async def slow_b(item: int) -> None:
        await release_b.wait()
        taken_by_b.append(item)

    async def never_called(item: int) -> None:
        raise AssertionError(f"executor A was not meant to take {item}")

    async with open_queue(stream_name) as queue_a, open_queue(stream_name) as queue_b:
        await queue_b.put_many(range(5))
        async with TaskExecutor(queue_b, slow_b, num_workers=5) as executor_b:
            await asyncio.sleep(0.5)  # B's workers take all five items
            async with TaskExecutor(queue_a, never_called) as executor_a:
                release_b.set()
                await asyncio.wait_for(executor_a.drain(), 10)
                assert executor_a.statistics().succeeded == 0
            await asyncio.wait_for(executor_b.drain(), 10)

    assert sorted(taken_by_b) == [0, 1, 2, 3, 4]
