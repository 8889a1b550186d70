"""Helpers shared by the PostgresQueue tests: server address, table cleanup, waits."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import asyncpg

DSN = "postgresql://postgres@127.0.0.1:5432/test"


def unique_queue_name(label: str) -> str:
    """Return a queue name that no other test run uses."""
    return f"t_{label}_{uuid.uuid4().hex[:10]}"


async def server_available() -> bool:
    """Return whether the test server accepts a connection within 2 seconds."""
    try:
        connection = await asyncpg.connect(DSN, timeout=2)
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
        return False
    await connection.close()
    return True


async def sql(statement: str, *args: object) -> list[asyncpg.Record]:
    """Run one statement on a fresh connection and return its rows."""
    connection = await asyncpg.connect(DSN)
    try:
        return await connection.fetch(statement, *args)
    finally:
        await connection.close()


async def drop_queue_table(name: str) -> None:
    """Drop the table of queue `name` if it exists."""
    await sql(f'DROP TABLE IF EXISTS "prefactor_queue_{name}"')


async def terminate_backends(application_name: str) -> int:
    """Terminate every server backend whose application_name matches; return the count."""
    rows = await sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        application_name,
    )
    return len(rows)


async def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Poll `condition` every `step` seconds; return whether it held within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(step)
    return condition()
