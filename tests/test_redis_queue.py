"""Tests of RedisQueue against the Redis server at 127.0.0.1:6379 and private servers.

Each test uses its own stream name and deletes its keys afterwards. Worker
processes run tests/redis_worker.py; fault tests start their own redis-server
on a free loopback port.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import pickle
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from prefactor_core.queue import QueueClosedError, RedisQueue, RedisUnavailableError
from prefactor_core.queue.redis_queue import redact_url
from tests.redis_support import (
    SHARED_REDIS_URL,
    RedisServer,
    WorkerProcess,
    kill_leftover_workers,
    wait_until_async,
)

PASSWORD = "s3cret-Pa55word"


@pytest.fixture
def stream_name() -> Iterator[str]:
    name = f"test-redis-queue-{uuid.uuid4().hex[:12]}"
    yield name
    kill_leftover_workers()
    client = redis.Redis.from_url(SHARED_REDIS_URL)
    client.delete(name, f"{name}:delayed", f"{name}:dead")
    client.close()


@pytest.fixture
def inspect() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(SHARED_REDIS_URL)
    yield client
    client.close()


@pytest.fixture
async def queue(stream_name: str) -> AsyncIterator[RedisQueue[Any]]:
    async with RedisQueue(
        SHARED_REDIS_URL, stream=stream_name, visibility_timeout=5.0, poll_interval=0.2
    ) as opened:
        yield opened


def pending_count(client: redis.Redis, stream: str) -> int:
    return int(client.xpending(stream, "prefactor")["pending"])


# Basics, in one process.


async def test_put_receive_ack_roundtrip(queue: RedisQueue[Any], inspect: redis.Redis) -> None:
    items = [{"n": 1}, [2, "two"], "three", 4.5, None]
    await queue.put(items[0])
    await queue.put_many(items[1:])
    assert queue.size() == len(items)

    received = []
    while len(received) < len(items):
        received += await queue.receive_batch(3)
    assert [delivery.item for delivery in received] == items
    assert all(delivery.attempts == 0 for delivery in received)

    for delivery in received:
        await queue.ack(delivery)
    assert inspect.xlen(queue.stream) == 0
    assert pending_count(inspect, queue.stream) == 0


async def test_receive_batch_respects_max_items(queue: RedisQueue[Any]) -> None:
    await queue.put_many(range(10))
    batch = await queue.receive_batch(4)
    assert len(batch) == 4
    with pytest.raises(ValueError, match="max_items must be >= 1, got 0"):
        await queue.receive_batch(0)


async def test_size_zero_while_receiver_waits(queue: RedisQueue[Any]) -> None:
    receiver = asyncio.ensure_future(queue.receive())
    await asyncio.sleep(0.5)
    assert not receiver.done()
    assert queue.size() == 0

    await queue.put("late")
    delivery = await asyncio.wait_for(receiver, 5)
    assert delivery.item == "late"


async def test_non_json_item_raises_type_error(queue: RedisQueue[Any]) -> None:
    with pytest.raises(TypeError, match=r"item <object object at .*> is not a JSON value"):
        await queue.put(object())
    with pytest.raises(TypeError, match=r"item nan is not a JSON value"):
        await queue.put(float("nan"))
    assert queue.size() == 0


async def test_pickle_serializer_roundtrip(stream_name: str) -> None:
    async with RedisQueue(SHARED_REDIS_URL, stream=stream_name, serializer="pickle") as queue:
        await queue.put({1, 2, 3})
        delivery = await queue.receive()
        await queue.ack(delivery)
    assert delivery.item == {1, 2, 3}


async def test_unpicklable_item_raises_type_error(stream_name: str) -> None:
    async with RedisQueue(SHARED_REDIS_URL, stream=stream_name, serializer="pickle") as queue:
        with pytest.raises(TypeError, match=r"item <function .*<lambda>.*> cannot be pickled"):
            await queue.put(lambda: None)


async def test_json_queue_rejects_pickled_entry(
    queue: RedisQueue[Any], inspect: redis.Redis
) -> None:
    inspect.xadd(queue.stream, {"d": pickle.dumps(("not", "loaded")), "e": "pickle", "a": "0"})
    await queue.put("after")
    delivery = await queue.receive()
    assert delivery.item == "after"

    dead = inspect.xrange(queue.dead_letter_stream)
    assert len(dead) == 1
    assert b"payload is pickled but this queue reads JSON only" in dead[0][1][b"error"]


async def test_malformed_entries_dead_lettered(
    queue: RedisQueue[Any], inspect: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    inspect.xadd(queue.stream, {"x": "no payload"})
    inspect.xadd(queue.stream, {"d": "{not json", "a": "0"})
    inspect.xadd(queue.stream, {"d": "1", "a": "many"})
    inspect.xadd(queue.stream, {"d": "1", "e": "yaml"})
    await queue.put("valid")

    delivery = await queue.receive()
    assert delivery.item == "valid"

    errors = [fields[b"error"].decode() for _, fields in inspect.xrange(queue.dead_letter_stream)]
    assert errors[0] == "malformed entry: missing field 'd' (fields: ['x'])"
    assert errors[1].startswith("malformed entry: payload is not valid JSON")
    assert errors[2] == "malformed entry: attempts field 'a' must be an integer, got b'many'"
    assert errors[3] == "malformed entry: unknown encoding b'yaml' in field 'e'"
    assert pending_count(inspect, queue.stream) == 1
    assert caplog.text.count("dead-lettered entry") == 4


async def test_nack_redelivers_after_delay(queue: RedisQueue[Any], inspect: redis.Redis) -> None:
    await queue.put("flaky")
    first = await queue.receive()
    started = time.monotonic()
    assert await queue.nack(first, delay=0.5, error=RuntimeError("try again")) is True
    assert inspect.zcard(queue.delayed_key) == 1
    assert queue.size() >= 1

    second = await asyncio.wait_for(queue.receive(), 5)
    assert time.monotonic() - started >= 0.45
    assert second.item == "flaky"
    assert second.attempts == 1
    assert inspect.zcard(queue.delayed_key) == 0


async def test_dead_letter_records_error(queue: RedisQueue[Any], inspect: redis.Redis) -> None:
    await queue.put({"job": 7})
    delivery = await queue.receive()
    delivery.attempts = 2
    await queue.dead_letter(delivery, ValueError("bad input 7"))

    dead = inspect.xrange(queue.dead_letter_stream)
    assert len(dead) == 1
    fields = dead[0][1]
    assert fields[b"error"] == b"ValueError: bad input 7"
    assert fields[b"attempts"] == b"3"
    assert fields[b"d"] == b'{"job":7}'
    assert pending_count(inspect, queue.stream) == 0
    assert inspect.xlen(queue.stream) == 0


async def test_close_wakes_blocked_receivers(queue: RedisQueue[Any]) -> None:
    await queue.put("taken")
    delivery = await queue.receive()
    receivers = [asyncio.ensure_future(queue.receive_batch(5)) for _ in range(3)]
    await asyncio.sleep(0.3)

    started = time.monotonic()
    await queue.close()
    for receiver in receivers:
        with pytest.raises(QueueClosedError):
            await asyncio.wait_for(receiver, 2)
    assert time.monotonic() - started < 1.0

    with pytest.raises(QueueClosedError):
        await queue.put("rejected")
    await queue.ack(delivery)
    assert queue.closed


async def test_read_after_close_released(
    stream_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    options: dict[str, Any] = {"stream": stream_name, "visibility_timeout": 30.0}
    closing: RedisQueue[Any] = RedisQueue(SHARED_REDIS_URL, poll_interval=1.0, **options)
    receiver = asyncio.ensure_future(closing.receive())
    await asyncio.sleep(0.3)  # the receiver now blocks in XREADGROUP
    await closing.close()
    with pytest.raises(QueueClosedError):
        await asyncio.wait_for(receiver, 1)

    # The blocked read is still open on the server and takes this entry.
    async with RedisQueue(SHARED_REDIS_URL, **options) as producer:
        await producer.put("late")
    await closing.aclose()
    assert "released 1 entries" in caplog.text

    # Without the release it would wait for the 30 s visibility timeout.
    async with RedisQueue(SHARED_REDIS_URL, poll_interval=0.1, **options) as other:
        delivery = await asyncio.wait_for(other.receive(), 3)
        await other.ack(delivery)
    assert delivery.item == "late"


async def test_delivery_from_other_queue_rejected(queue: RedisQueue[Any], stream_name: str) -> None:
    await queue.put(1)
    delivery = await queue.receive()
    async with RedisQueue(SHARED_REDIS_URL, stream=stream_name) as other:
        with pytest.raises(ValueError, match="was not received from"):
            await other.ack(delivery)


async def test_lease_renewal_keeps_slow_item(stream_name: str, inspect: redis.Redis) -> None:
    options: dict[str, Any] = {"stream": stream_name, "visibility_timeout": 0.6}
    async with RedisQueue(SHARED_REDIS_URL, poll_interval=0.1, **options) as slow:
        await slow.put("long job")
        slow_delivery = await slow.receive()

        async with RedisQueue(SHARED_REDIS_URL, poll_interval=0.1, **options) as other:
            # Three visibility timeouts pass while `slow` keeps the item.
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(other.receive(), 1.8)
            await slow.ack(slow_delivery)
    assert pending_count(inspect, stream_name) == 0


async def test_lease_lost_to_other_consumer(
    stream_name: str, inspect: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    options: dict[str, Any] = {"stream": stream_name, "visibility_timeout": 0.3}
    async with RedisQueue(SHARED_REDIS_URL, poll_interval=0.1, **options) as slow:
        await slow.put("contested")
        slow_delivery = await slow.receive()
        inspect.xclaim(stream_name, "prefactor", "thief", 0, [slow_delivery.receipt.entry_id])

        await asyncio.sleep(0.4)  # more than one renewal interval
        assert "lost 1 leases" in caplog.text
        assert "in_flight=0" in repr(slow)
        await slow.ack(slow_delivery)
    assert pending_count(inspect, stream_name) == 0


async def test_idle_entry_reclaimed_by_other(stream_name: str) -> None:
    options: dict[str, Any] = {"stream": stream_name, "visibility_timeout": 0.5}
    crashed: RedisQueue[Any] = RedisQueue(SHARED_REDIS_URL, poll_interval=0.1, **options)
    await crashed.put("orphan")
    orphan_delivery = await crashed.receive()
    # Releasing without ending the delivery stops the lease renewal, as a
    # crash would.
    await crashed.aclose()

    async with RedisQueue(SHARED_REDIS_URL, poll_interval=0.1, **options) as survivor:
        delivery = await asyncio.wait_for(survivor.receive(), 5)
        await survivor.ack(delivery)
    assert delivery.item == orphan_delivery.item
    assert delivery.attempts == 0


async def test_crashing_item_dead_lettered(stream_name: str, inspect: redis.Redis) -> None:
    options: dict[str, Any] = {
        "stream": stream_name,
        "visibility_timeout": 0.2,
        "poll_interval": 0.05,
        "max_deliveries": 2,
    }
    for expected_delivery in (1, 2):
        crashed: RedisQueue[Any] = RedisQueue(SHARED_REDIS_URL, **options)
        if expected_delivery == 1:
            await crashed.put("kills its worker")
        delivery = await asyncio.wait_for(crashed.receive(), 5)
        assert delivery.item == "kills its worker"
        await crashed.aclose()

    async with RedisQueue(SHARED_REDIS_URL, **options) as third:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(third.receive(), 1.0)

    dead = inspect.xrange(f"{stream_name}:dead")
    assert len(dead) == 1
    assert dead[0][1][b"orig:d"] == b'"kills its worker"'
    assert dead[0][1][b"error"].startswith(b"delivered 3 times without being acknowledged")
    assert pending_count(inspect, stream_name) == 0


# URLs, reprs and logs.


def test_from_url_reads_options() -> None:
    queue: RedisQueue[Any] = RedisQueue.from_url(
        "redis://127.0.0.1:6379/3?stream=jobs&group=g1&visibility_timeout=12.5"
        "&retry_timeout=none&socket_keepalive=true",
        consumer="c1",
    )
    assert queue.stream == "jobs"
    assert queue.consumer == "c1"
    assert queue.dead_letter_stream == "jobs:dead"
    assert queue.redis.connection_pool.connection_kwargs["db"] == 3
    assert "group='g1'" in repr(queue)


def test_from_url_requires_stream() -> None:
    with pytest.raises(ValueError, match=r"missing stream in queue URL .*add \?stream=NAME"):
        RedisQueue.from_url("redis://127.0.0.1:6379/0")
    with pytest.raises(ValueError, match="invalid visibility_timeout"):
        RedisQueue.from_url("redis://127.0.0.1:6379/0?stream=s&visibility_timeout=soon")


def test_redact_url_hides_password() -> None:
    assert redact_url(f"redis://:{PASSWORD}@host:1/0?password=x") == "redis://:***@host:1/0"
    assert redact_url(f"redis://user:{PASSWORD}@host/0") == "redis://user:***@host/0"
    assert redact_url("redis://host:1/2") == "redis://host:1/2"


@pytest.mark.timeout(30)
async def test_password_absent_from_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = RedisServer(tmp_path, password=PASSWORD)
    server.start()
    url = f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0?stream=secret-test&retry_timeout=1"
    queue: RedisQueue[Any] = RedisQueue.from_url(url, poll_interval=0.1)
    try:
        await queue.put("private")
        delivery = await queue.receive()
        await queue.ack(delivery)

        wrong_url = url.replace(PASSWORD, "wrong-" + PASSWORD)
        async with RedisQueue.from_url(wrong_url) as rejected:
            with pytest.raises(redis.exceptions.AuthenticationError) as auth_error:
                await asyncio.wait_for(rejected.put("unauthorized"), 5)
        assert PASSWORD not in str(auth_error.value)

        server.kill()
        with pytest.raises(RedisUnavailableError) as raised:
            await queue.put("during outage")
        await queue.close()
    finally:
        server.kill()
        await queue.aclose()

    assert "unreachable during put" in caplog.text
    assert PASSWORD not in caplog.text
    assert PASSWORD not in repr(queue)
    assert PASSWORD not in str(raised.value)
    assert f"redis://:***@127.0.0.1:{server.port}/0" in repr(queue)


@pytest.mark.timeout(30)
async def test_failed_ack_releases_lease(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    url = f"redis://127.0.0.1:{server.port}/0?stream=ack-outage&retry_timeout=0.5"
    queue: RedisQueue[Any] = RedisQueue.from_url(url)
    try:
        await queue.put("handled during outage")
        delivery = await queue.receive()
        assert "in_flight=1" in repr(queue)

        server.kill()
        with pytest.raises(RedisUnavailableError, match="ack timed out after"):
            await queue.ack(delivery)
        assert "in_flight=0" in repr(queue)
        await queue.close()
    finally:
        server.kill()
        await queue.aclose()


# Worker processes.


@pytest.mark.timeout(40)
async def test_two_executors_share_stream(
    tmp_path: Path, stream_name: str, inspect: redis.Redis
) -> None:
    url = f"{SHARED_REDIS_URL}?stream={stream_name}&poll_interval=0.2"
    workers = [
        WorkerProcess(tmp_path, f"worker{n}", url, "--executor", "--item-seconds", "0.002")
        for n in range(2)
    ]
    try:
        for worker in workers:
            worker.wait_ready()
        items = [f"item-{n % 150}" for n in range(300)]  # each value twice
        async with RedisQueue(SHARED_REDIS_URL, stream=stream_name) as producer:
            await producer.put_many(items)

        def done() -> list[str]:
            return [event["item"] for worker in workers for event in worker.events("done")]

        await wait_until_async(lambda: len(done()) >= len(items), 30, "300 items to be handled")
        await asyncio.sleep(0.3)  # a duplicate would show up now
    finally:
        exit_codes = [worker.stop() for worker in workers]

    assert collections.Counter(done()) == collections.Counter(items)
    assert all(worker.events("done") for worker in workers)
    assert exit_codes == [0, 0]
    assert pending_count(inspect, stream_name) == 0


@pytest.mark.timeout(40)
async def test_retry_survives_worker_restart(tmp_path: Path, stream_name: str) -> None:
    url = f"{SHARED_REDIS_URL}?stream={stream_name}&poll_interval=0.2"
    async with RedisQueue(SHARED_REDIS_URL, stream=stream_name) as producer:
        await producer.put("fails once")

    failing = WorkerProcess(tmp_path, "failing", url, "--fail", "--exit-after-nacks", "1")
    assert failing.process.wait(timeout=20) == 0
    assert [event["attempts"] for event in failing.events("nack")] == [0]

    healthy = WorkerProcess(tmp_path, "healthy", url)
    try:
        await wait_until_async(lambda: bool(healthy.events("done")), 20, "the retried item")
    finally:
        healthy.stop()
    assert healthy.events("done")[0]["item"] == "fails once"
    assert healthy.events("done")[0]["attempts"] == 1


@pytest.mark.timeout(40)
async def test_failing_item_reaches_dead_letter(
    tmp_path: Path, stream_name: str, inspect: redis.Redis
) -> None:
    url = f"{SHARED_REDIS_URL}?stream={stream_name}&poll_interval=0.1"
    async with RedisQueue(SHARED_REDIS_URL, stream=stream_name) as producer:
        await producer.put({"poison": True})

    worker = WorkerProcess(tmp_path, "worker", url, "--fail", "--max-retries", "2")
    try:
        await wait_until_async(
            lambda: bool(worker.events("dead")), 20, "the item to be dead-lettered"
        )
    finally:
        worker.stop()

    assert [event["attempts"] for event in worker.events("start")] == [0, 1, 2]
    dead = inspect.xrange(f"{stream_name}:dead")
    assert len(dead) == 1
    assert dead[0][1][b"attempts"] == b"3"
    assert dead[0][1][b"error"] == b"RuntimeError: failed on purpose: {'poison': True}"
    assert inspect.xlen(stream_name) == 0


@pytest.mark.timeout(40)
async def test_sigkilled_worker_item_reclaimed(
    tmp_path: Path, stream_name: str, inspect: redis.Redis
) -> None:
    url = f"{SHARED_REDIS_URL}?stream={stream_name}&poll_interval=0.2&visibility_timeout=1"
    async with RedisQueue(SHARED_REDIS_URL, stream=stream_name) as producer:
        await producer.put("slow item")

    victim = WorkerProcess(
        tmp_path, "victim", url, "--slow-item", "slow item", "--slow-seconds", "60"
    )
    try:
        await wait_until_async(
            lambda: bool(victim.events("start")), 20, "the victim to take the item"
        )
    finally:
        os.kill(victim.process.pid, signal.SIGKILL)
        victim.kill()
    assert victim.process.returncode == -signal.SIGKILL

    rescuer = WorkerProcess(tmp_path, "rescuer", url)
    try:
        await wait_until_async(
            lambda: bool(rescuer.events("done")), 20, "the rescuer to handle the item"
        )
    finally:
        rescuer.stop()
    assert [event["item"] for event in rescuer.events("done")] == ["slow item"]
    assert "reclaimed 1 entries" in rescuer.log()
    assert pending_count(inspect, stream_name) == 0


@pytest.mark.timeout(60)
async def test_server_restart_loses_nothing(tmp_path: Path) -> None:
    # The server keeps no data across the restart, so the test checks what
    # the clients own: the worker reconnects and recreates its group, and a
    # put made during the outage waits and lands after the restart.
    server = RedisServer(tmp_path)
    server.start()
    url = f"redis://127.0.0.1:{server.port}/0?stream=restart&poll_interval=0.2&retry_timeout=none"
    worker = WorkerProcess(tmp_path, "worker", url, "--batch", "10")
    producer: RedisQueue[Any] = RedisQueue.from_url(url)
    try:
        worker.wait_ready()
        await producer.put_many([f"before-{n}" for n in range(20)])
        await wait_until_async(
            lambda: len(worker.events("done")) == 20, 20, "items put before the restart"
        )

        server.kill()
        during = asyncio.ensure_future(producer.put_many([f"during-{n}" for n in range(20)]))
        await asyncio.sleep(1.0)
        assert not during.done()

        server.start()
        await asyncio.wait_for(during, 15)
        await producer.put_many([f"after-{n}" for n in range(20)])
        await wait_until_async(
            lambda: len(worker.events("done")) >= 60, 20, "items put around the restart"
        )
    finally:
        worker.stop()
        await producer.aclose()
        server.kill()

    handled = [event["item"] for event in worker.events("done")]
    expected = [f"{phase}-{n}" for phase in ("before", "during", "after") for n in range(20)]
    assert collections.Counter(handled) == collections.Counter(expected)
    assert "unreachable during receive" in worker.log()
    assert "consumer group 'prefactor' of stream 'restart' is missing" in worker.log()


@pytest.mark.timeout(60)
async def test_persistent_server_restart_keeps_backlog(tmp_path: Path) -> None:
    # With an append-only file synced on every write, entries waiting in the
    # stream and entries held by a worker survive a crash of the server.
    server = RedisServer(tmp_path, "--appendonly", "yes", "--appendfsync", "always")
    server.start()
    url = f"redis://127.0.0.1:{server.port}/0?stream=backlog&poll_interval=0.2&visibility_timeout=1"
    worker = WorkerProcess(tmp_path, "worker", url, "--item-seconds", "0.05")
    try:
        async with RedisQueue.from_url(url) as producer:
            await producer.put_many(list(range(60)))
        await wait_until_async(
            lambda: len(worker.events("done")) >= 5, 20, "the worker to make progress"
        )

        server.kill()
        await asyncio.sleep(0.5)
        server.start()
        await wait_until_async(
            lambda: len(set(worker.done_items())) >= 60, 30, "the backlog after the restart"
        )
    finally:
        worker.stop()
        server.kill()

    assert set(worker.done_items()) == set(range(60))
    assert "reachable again" in worker.log()
