"""PostgresQueue through a loopback TCP proxy that can drop and refuse connections.

Stopping the proxy looks to the queue like a server restart: every connection
breaks and new ones are refused until the proxy listens again. The real
server keeps running for the other tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest

from prefactor_core.queue import PostgresQueue
from tests.postgres_support import drop_queue_table, sql, unique_queue_name

pytestmark = pytest.mark.timeout(30)

SERVER = ("127.0.0.1", 5432)


class Proxy:
    """Forward 127.0.0.1:<port> to the test server until `stop` is called."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*SERVER)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, upstream_writer))

        async def pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    target.write(data)
                    await target.drain()
            target.transport.abort()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        self._writers.difference_update((writer, upstream_writer))


@pytest.fixture
async def name() -> AsyncIterator[str]:
    queue_name = unique_queue_name("r")
    yield queue_name
    await drop_queue_table(queue_name)


async def test_outage_reconnects_with_backoff(name: str, caplog: pytest.LogCaptureFixture) -> None:
    proxy = Proxy()
    await proxy.start()
    url = f"postgresql://postgres:hunter2@127.0.0.1:{proxy.port}/test?queue={name}&lease=5"

    with caplog.at_level(logging.INFO):
        async with PostgresQueue.from_url(url) as queue:
            await queue.put_many(["a", "b", "c"])
            held = await queue.receive_batch(2)

            await proxy.stop()
            restart = asyncio.create_task(asyncio.sleep(1.0))
            restart.add_done_callback(lambda _: asyncio.ensure_future(proxy.start()))
            for delivery in held:
                await queue.ack(delivery)
            await queue.put("d")
            rest = [await asyncio.wait_for(queue.receive(), timeout=10) for _ in range(2)]
            for delivery in rest:
                await queue.ack(delivery)
            await queue.flush_acks()
            await proxy.stop()

    retries = [r.getMessage() for r in caplog.records if "attempt 1)" in r.getMessage()]
    assert retries
    assert "reconnecting in" in retries[0]
    assert "hunter2" not in caplog.text
    assert sorted(d.item for d in held + rest) == ["a", "b", "c", "d"]  # type: ignore[type-var]
    assert await sql(f'SELECT id FROM "prefactor_queue_{name}"') == []


async def test_unreachable_server_raises_after_timeout(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = Proxy()
    await proxy.start()
    await proxy.stop()
    queue: PostgresQueue[str] = PostgresQueue(
        f"postgresql://postgres@127.0.0.1:{proxy.port}/test", name, reconnect_timeout=1.0
    )

    with caplog.at_level(logging.WARNING), pytest.raises(OSError):
        await queue.put("never stored")
    await queue.aclose()

    attempts = [r for r in caplog.records if "could not insert items" in r.getMessage()]
    assert len(attempts) >= 3
    assert attempts[-1].levelno == logging.ERROR
