"""Compare psycopg 3 and asyncpg on the statements that PostgresQueue runs.

Run: python benchmarks/postgres_drivers.py [DSN]. Prints operations per second
for single-row inserts and for claiming and deleting rows in batches of 50,
each driver on one connection in autocommit mode.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import psycopg

DSN = "postgresql://postgres@127.0.0.1:5432/test"
TABLE = "prefactor_driver_bench"
NUM_INSERTS = 3000
NUM_CLAIMED = 20000
BATCH = 50

CREATE = f"""
DROP TABLE IF EXISTS {TABLE};
CREATE TABLE {TABLE} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payload jsonb, run_at timestamptz NOT NULL DEFAULT now(), lease uuid
);
CREATE INDEX ON {TABLE} (run_at, id);
"""
INSERT = f"INSERT INTO {TABLE} (payload) VALUES ($1::jsonb)"
FILL = f"INSERT INTO {TABLE} (payload) SELECT '{{}}'::jsonb FROM generate_series(1, $1::int)"
CLAIM = f"""
UPDATE {TABLE} SET lease = $2, run_at = now() + interval '30 seconds'
WHERE id IN (SELECT id FROM {TABLE} WHERE run_at <= now()
             ORDER BY run_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
RETURNING id, payload
"""
DELETE = f"DELETE FROM {TABLE} WHERE id = ANY($1::bigint[]) AND lease = $2"


async def _rate(label: str, count: int, step: Callable[[], Awaitable[int]]) -> None:
    started = time.perf_counter()
    done = 0
    while done < count:
        moved = await step()
        if moved == 0:
            break
        done += moved
    elapsed = time.perf_counter() - started
    print(f"{label:40s} {done / elapsed:10.0f} rows/s")


async def bench_asyncpg(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    await conn.execute(CREATE)

    async def insert() -> int:
        await conn.execute(INSERT, "{}")
        return 1

    await _rate("asyncpg insert one row", NUM_INSERTS, insert)
    await conn.execute(FILL, NUM_CLAIMED)

    async def claim_and_delete() -> int:
        lease = uuid.uuid4()
        rows = await conn.fetch(CLAIM, BATCH, lease)
        await conn.execute(DELETE, [row["id"] for row in rows], lease)
        return len(rows)

    await _rate(f"asyncpg claim+delete batches of {BATCH}", NUM_CLAIMED, claim_and_delete)
    await conn.execute(f"DROP TABLE {TABLE}")
    await conn.close()


async def bench_psycopg(dsn: str) -> None:
    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    await conn.execute(CREATE.replace("$", "%"))  # no parameters in this script
    insert_sql = INSERT.replace("$1", "%s")
    claim_sql = CLAIM.replace("$1", "%s").replace("$2", "%s")
    delete_sql = DELETE.replace("$1", "%s").replace("$2", "%s")
    fill_sql = FILL.replace("$1", "%s")

    async def insert() -> int:
        await conn.execute(insert_sql, ("{}",), prepare=True)
        return 1

    await _rate("psycopg insert one row", NUM_INSERTS, insert)
    await conn.execute(fill_sql, (NUM_CLAIMED,))

    async def claim_and_delete() -> int:
        lease = uuid.uuid4()
        # %s placeholders bind in text order: the lease comes before the limit.
        cursor = await conn.execute(claim_sql, (lease, BATCH), prepare=True)
        rows = await cursor.fetchall()
        await conn.execute(delete_sql, ([row[0] for row in rows], lease), prepare=True)
        return len(rows)

    await _rate(f"psycopg claim+delete batches of {BATCH}", NUM_CLAIMED, claim_and_delete)
    await conn.execute(f"DROP TABLE {TABLE}")
    await conn.close()


async def main(dsn: str) -> None:
    for _ in range(2):
        await bench_psycopg(dsn)
        await bench_asyncpg(dsn)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else DSN))
