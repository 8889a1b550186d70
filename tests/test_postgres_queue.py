"""PostgresQueue against the PostgreSQL server at 127.0.0.1:5432, in one process."""

from __future__ import annotations

import asyncio
import logging
import pickle
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from prefactor_core.queue import Delivery, PostgresQueue, QueueClosedError
from prefactor_core.queue._postgres_sql import Statements
from tests.postgres_support import DSN, drop_queue_table, sql, terminate_backends, unique_queue_name

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def name() -> AsyncIterator[str]:
    queue_name = unique_queue_name("q")
    yield queue_name
    await drop_queue_table(queue_name)


def open_queue(name: str, **options: object) -> PostgresQueue[object]:
    options.setdefault("lease_seconds", 2.0)
    options.setdefault("poll_interval", 1.0)
    return PostgresQueue(DSN, name, **options)  # type: ignore[arg-type]


async def test_put_receive_ack_round_trip(name: str) -> None:
    async with open_queue(name) as queue:
        await queue.put({"id": 1, "tags": ["a", "b"]})
        delivery = await queue.receive()
        await queue.ack(delivery)

    assert delivery.item == {"id": 1, "tags": ["a", "b"]}
    assert delivery.attempts == 0
    assert await sql(f'SELECT id FROM "prefactor_queue_{name}"') == []


async def test_receive_batch_takes_at_most_max(name: str) -> None:
    async with open_queue(name) as queue:
        await queue.put_many(range(5))
        first = await queue.receive_batch(3)
        second = await queue.receive_batch(3)
        for delivery in first + second:
            await queue.ack(delivery)

    assert [d.item for d in first] == [0, 1, 2]
    assert [d.item for d in second] == [3, 4]


async def test_receive_batch_rejects_zero(name: str) -> None:
    async with open_queue(name) as queue:
        with pytest.raises(ValueError, match="max_items must be >= 1, got 0"):
            await queue.receive_batch(0)


async def test_get_removes_item(name: str) -> None:
    async with open_queue(name) as queue:
        await queue.put("x")
        assert await queue.get() == "x"
    assert await sql(f'SELECT id FROM "prefactor_queue_{name}"') == []


async def test_nack_redelivers_after_delay(name: str) -> None:
    async with open_queue(name) as queue:
        await queue.put("job")
        first = await queue.receive()
        started = time.monotonic()
        owned = await queue.nack(first, delay=0.5, error=RuntimeError("boom"))
        second = await queue.receive()
        waited = time.monotonic() - started
        await queue.ack(second)

    assert owned is True
    assert second.item == "job"
    assert second.attempts == 1
    assert waited >= 0.45


async def test_retry_survives_restart(name: str) -> None:
    async with open_queue(name) as queue:
        await queue.put("job")
        delivery = await queue.receive()
        await queue.nack(delivery, delay=0.2, error=ValueError("first"))
        delivery = await queue.receive()
        await queue.nack(delivery, delay=0.2, error=ValueError("second"))

    async with open_queue(name) as restarted:
        delivery = await restarted.receive()
        await restarted.ack(delivery)

    assert delivery.item == "job"
    assert delivery.attempts == 2


async def test_dead_items_listed_and_requeued(name: str) -> None:
    async with open_queue(name) as queue:
        await queue.put_many(["a", "b"])
        for delivery in await queue.receive_batch(2):
            await queue.dead_letter(delivery, KeyError(delivery.item))
        dead = await queue.list_dead()

        assert [item.item for item in dead] == ["a", "b"]
        assert [item.attempts for item in dead] == [1, 1]
        assert dead[0].error == "KeyError: 'a'"
        assert queue.size() == 0

        assert await queue.requeue_dead([dead[1].id]) == 1
        again = await queue.receive()
        await queue.ack(again)
        assert again.item == "b"
        assert again.attempts == 0

        assert await queue.requeue_dead() == 1
        last = await queue.receive()
        await queue.ack(last)
        assert last.item == "a"
        assert await queue.list_dead() == []


@pytest.mark.parametrize(
    "hostile",
    [
        'jobs"; DROP TABLE pg_class; --',
        "jobs; DROP TABLE users",
        "robert'); --",
        'a"b',
        "",
        "1jobs",
        "jobs with space",
        "jöbs",
        "x" * 42,
        "public.jobs",
    ],
)
def test_hostile_queue_name_rejected(hostile: str) -> None:
    with pytest.raises(ValueError) as caught:
        PostgresQueue(DSN, hostile)

    assert repr(hostile) in str(caught.value)
    assert "letters, digits or underscores" in str(caught.value)


def test_longest_valid_name_accepted() -> None:
    queue: PostgresQueue[object] = PostgresQueue(DSN, "x" * 41)
    assert queue.table == "prefactor_queue_" + "x" * 41


async def test_malformed_rows_dead_lettered(name: str) -> None:
    async with open_queue(name) as queue:
        table = f'"prefactor_queue_{name}"'
        await sql(f"INSERT INTO {table} (payload, payload_pickle) VALUES (NULL, NULL)")
        await sql(f"INSERT INTO {table} (payload_pickle) VALUES ($1)", pickle.dumps(1))
        await queue.put("good")

        delivery = await queue.receive()
        await queue.ack(delivery)
        dead = await queue.list_dead()

    assert delivery.item == "good"
    assert len(dead) == 2
    assert dead[0].error == "malformed row: both payload columns are NULL"
    assert dead[1].error is not None
    assert "pickled payload" in dead[1].error
    assert dead[1].item is None


async def test_unpicklable_row_dead_lettered(name: str) -> None:
    async with open_queue(name, serializer="pickle") as queue:
        table = f'"prefactor_queue_{name}"'
        await sql(f"INSERT INTO {table} (payload_pickle) VALUES ($1)", b"not a pickle")
        await queue.put({1, 2})

        delivery = await queue.receive()
        await queue.ack(delivery)
        dead = await queue.list_dead()

    assert delivery.item == {1, 2}
    assert len(dead) == 1
    assert dead[0].error is not None
    assert dead[0].error.startswith("malformed row: cannot unpickle the payload")


async def test_json_rejects_unserializable_item(name: str) -> None:
    async with open_queue(name) as queue:
        with pytest.raises(TypeError, match="serializer='pickle'"):
            await queue.put({1, 2})
        with pytest.raises(ValueError, match="NUL character"):
            await queue.put("a\x00b")
        with pytest.raises(ValueError, match="as JSON"):
            await queue.put(float("nan"))


async def test_pickle_round_trips_objects(name: str) -> None:
    async with open_queue(name, serializer="pickle") as queue:
        await queue.put(("tuple", {1, 2}))
        delivery = await queue.receive()
        await queue.ack(delivery)
    assert delivery.item == ("tuple", {1, 2})


async def test_close_wakes_blocked_receivers(name: str) -> None:
    async with open_queue(name, poll_interval=30.0) as queue:
        receivers = [asyncio.create_task(queue.receive_batch(4)) for _ in range(3)]
        await asyncio.sleep(0.3)
        await queue.close()
        results = await asyncio.wait_for(
            asyncio.gather(*receivers, return_exceptions=True), timeout=2
        )

    assert all(isinstance(result, QueueClosedError) for result in results)


async def test_close_rejects_put_but_settles(name: str) -> None:
    async with open_queue(name) as queue:
        await queue.put_many(["a", "b"])
        first, second = await queue.receive_batch(2)
        await queue.close()

        with pytest.raises(QueueClosedError):
            await queue.put("c")
        with pytest.raises(QueueClosedError):
            await queue.receive()
        await queue.ack(first)
        assert await queue.nack(second, delay=0, error=RuntimeError("x")) is True

    rows = await sql(f'SELECT payload::text, attempts FROM "prefactor_queue_{name}"')
    assert [(row[0], row[1]) for row in rows] == [('"b"', 1)]


async def test_notification_wakes_idle_receiver(name: str) -> None:
    async with open_queue(name, poll_interval=30.0) as queue:
        receiver = asyncio.create_task(queue.receive())
        await asyncio.sleep(0.3)
        async with open_queue(name) as producer:
            await producer.put("wake")
        delivery = await asyncio.wait_for(receiver, timeout=3)
        await queue.ack(delivery)
    assert delivery.item == "wake"


async def test_size_counts_puts_and_idles(name: str) -> None:
    async with open_queue(name) as queue:
        await queue.put_many([1, 2, 3])
        assert queue.size() == 3

        batch = await queue.receive_batch(3)
        for delivery in batch:
            await queue.ack(delivery)
        receiver = asyncio.create_task(queue.receive())
        await asyncio.sleep(0.3)
        assert queue.size() == 0

        await queue.close()
        with pytest.raises(QueueClosedError):
            await receiver


async def test_size_counts_scheduled_retries(name: str) -> None:
    async with open_queue(name) as queue:
        await queue.put("retry me")
        delivery = await queue.receive()
        await queue.nack(delivery, delay=1.0, error=RuntimeError("x"))
        receiver = asyncio.create_task(queue.receive())
        await asyncio.sleep(0.3)
        assert queue.size() == 1

        redelivered = await asyncio.wait_for(receiver, timeout=3)
        await queue.ack(redelivered)
    assert redelivered.attempts == 1


async def test_live_lease_is_extended(name: str) -> None:
    async with open_queue(name, lease_seconds=0.6) as holder:
        await holder.put("slow")
        held = await holder.receive()
        async with open_queue(name, lease_seconds=0.6) as other:
            stolen = asyncio.create_task(other.receive())
            await asyncio.sleep(2.0)
            assert not stolen.done()
            await holder.ack(held)
            await other.close()
            with pytest.raises(QueueClosedError):
                await stolen


async def test_expired_lease_redelivers(name: str) -> None:
    stopped = open_queue(name, lease_seconds=0.5)
    await stopped.put("orphan")
    lost = await stopped.receive()
    await stopped.aclose()  # stops extending the lease without settling it

    async with open_queue(name, lease_seconds=0.5) as queue:
        started = time.monotonic()
        delivery = await queue.receive()
        await queue.ack(delivery)
        waited = time.monotonic() - started

    assert lost.item == "orphan"
    assert delivery.item == "orphan"
    assert delivery.attempts == 0
    assert waited < 3


async def test_stale_ack_keeps_new_lease(name: str, caplog: pytest.LogCaptureFixture) -> None:
    async with open_queue(name) as queue:
        await queue.put("x")
        old = await queue.receive()
        await sql(f'UPDATE "prefactor_queue_{name}" SET run_at = now()')  # expire the lease
        new = await queue.receive()
        with caplog.at_level(logging.WARNING):
            await queue.ack(old)
            await queue.flush_acks()
        rows = await sql(f'SELECT id FROM "prefactor_queue_{name}"')
        await queue.ack(new)

    assert len(rows) == 1
    assert "may be processed again" in caplog.text


async def test_foreign_receipt_rejected(name: str) -> None:
    async with open_queue(name) as queue:
        with pytest.raises(ValueError, match="invalid receipt"):
            await queue.ack(Delivery("x", 0, "1-0"))


async def test_terminated_backend_reconnects(name: str, caplog: pytest.LogCaptureFixture) -> None:
    app = unique_queue_name("app")
    queue = PostgresQueue.from_url(
        f"postgresql://postgres:s3cret@127.0.0.1:5432/test?queue={name}"
        f"&application_name={app}&lease=2"
    )
    with caplog.at_level(logging.DEBUG):
        async with queue:
            await queue.put_many(range(10))
            first = await queue.receive_batch(5)
            assert await terminate_backends(app) >= 2
            for delivery in first:
                await queue.ack(delivery)
            await queue.put(10)
            rest = []
            while len(rest) < 6:
                rest += await asyncio.wait_for(queue.receive_batch(10), timeout=5)
            for delivery in rest:
                await queue.ack(delivery)

    assert sorted(d.item for d in first + rest) == list(range(11))  # type: ignore[type-var]
    assert "reconnecting" in caplog.text
    assert "s3cret" not in caplog.text
    assert "s3cret" not in repr(queue)
    assert await sql(f'SELECT id FROM "prefactor_queue_{name}"') == []


def test_from_url_reads_options() -> None:
    queue = PostgresQueue.from_url(
        "postgresql://u:pw@127.0.0.1:5432/db?queue=jobs&lease=5&poll_interval=2"
        "&serializer=pickle&sslmode=disable"
    )
    assert queue.name == "jobs"
    assert "pw" not in repr(queue)
    assert "sslmode=disable" in repr(queue)
    assert "serializer='pickle'" in repr(queue)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://127.0.0.1/db", "missing queue name"),
        ("redis://127.0.0.1/0?queue=jobs", "scheme must be postgresql"),
        ("postgresql://127.0.0.1/db?queue=jobs&lease=soon", "invalid value 'soon' for 'lease'"),
        ("postgresql://127.0.0.1/db?queue=a-b", "invalid queue name 'a-b'"),
    ],
)
def test_from_url_rejects_bad_url(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PostgresQueue.from_url(url)


def test_password_in_query_redacted() -> None:
    queue = PostgresQueue.from_url("postgresql://127.0.0.1/db?queue=jobs&password=hunter2")
    assert "hunter2" not in repr(queue)


async def test_sequential_acks_share_one_delete(name: str) -> None:
    async with open_queue(name) as queue:
        await queue.put_many(range(50))
        deliveries = await queue.receive_batch(50)
        batches: list[int] = []
        delete_rows = queue._delete_rows

        async def counting_delete(batch: list[tuple[int, object]]) -> set[int]:
            batches.append(len(batch))
            return await delete_rows(batch)  # type: ignore[arg-type]

        queue._delete_rows = counting_delete  # type: ignore[assignment,method-assign]
        for delivery in deliveries:
            await queue.ack(delivery)
        await queue.flush_acks()
        assert await sql(f'SELECT id FROM "prefactor_queue_{name}"') == []
    assert batches == [50]


async def test_ack_after_aclose_rejected(name: str) -> None:
    queue = open_queue(name)
    await queue.put("x")
    delivery = await queue.receive()
    await queue.aclose()

    with pytest.raises(QueueClosedError):
        await queue.ack(delivery)


async def test_json_keeps_escaped_text(name: str) -> None:
    async with open_queue(name) as queue:
        await queue.put("\\u0000 is six characters")
        delivery = await queue.receive()
        await queue.ack(delivery)
    assert delivery.item == "\\u0000 is six characters"


def test_package_imports_without_driver() -> None:
    program = (
        "import sys\n"
        "sys.modules['asyncpg'] = None  # makes 'import asyncpg' fail\n"
        "import prefactor_core.queue\n"
        "try:\n"
        "    prefactor_core.queue.PostgresQueue\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=30
    )

    assert run.returncode == 0, run.stderr
    assert "pip install 'prefactor-core[postgres]'" in run.stdout


async def test_lease_extension_skips_locked_rows(name: str) -> None:
    async with open_queue(name, lease_seconds=30.0) as queue:
        await queue.put_many(["locked", "free"])
        locked, free = await queue.receive_batch(2)
        table = f'"prefactor_queue_{name}"'

        holder = await asyncpg.connect(DSN)
        extender = await asyncpg.connect(DSN)
        try:
            async with holder.transaction():
                # Stands in for the DELETE of an ack that holds the row's lock.
                await holder.execute(
                    f"SELECT id FROM {table} WHERE id = $1 FOR UPDATE", locked.receipt[0]
                )
                status = await asyncio.wait_for(
                    extender.execute(
                        Statements(queue.table).extend,
                        [locked.receipt[0], free.receipt[0]],
                        [locked.receipt[1], free.receipt[1]],
                        600.0,
                    ),
                    timeout=5,
                )
        finally:
            await holder.close()
            await extender.close()
        await queue.ack(locked)
        await queue.ack(free)

    assert status == "UPDATE 1"
