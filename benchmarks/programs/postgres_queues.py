"""Programs: end-to-end items per second of PostgresQueue, procrastinate and pgqueuer.

The workload is the same for every library. Each runs on a fresh database on
the local server with 2 worker processes (this file, run as a script) and a
no-op async handler. A producer in the parent enqueues the items in chunks of
CHUNK with each library's bulk enqueue call. The clock starts when both
workers are ready and the producer begins, and stops when no unfinished job
is left in the database. `measure` is the program that the harness runs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

SERVER = "postgresql://postgres@127.0.0.1:5432"
DATABASE = "prefactor_bench_queues"
DSN = f"{SERVER}/{DATABASE}"
CHUNK = 500
NUM_WORKERS = 2
# "prefactor" runs TaskExecutor; "prefactor_loop" calls receive_batch and
# acknowledges each batch concurrently, without the executor.
LIBRARIES = ("prefactor", "prefactor_loop", "pgqueuer", "procrastinate")

# Per-process settings, each library's documented knob for throughput.
PREFACTOR_WORKERS = 4  # TaskExecutor workers, or receiving coroutines, per process
PREFACTOR_BATCH = 100  # rows per claim in the plain receive loop
PGQUEUER_BATCH = 100
PROCRASTINATE_CONCURRENCY = 50

POLL_SECONDS = 0.01  # how often the parent counts unfinished jobs
TIMEOUT_SECONDS = 300.0  # stop a library's run that takes longer than this


# Workers, one process each. Each prints "ready" once it can take jobs,
# runs until SIGTERM, then prints "count N" with the jobs it handled.


async def _prefactor_worker() -> int:
    from prefactor_core.queue import PostgresQueue, TaskExecutor

    handled = 0

    async def noop(item: Any) -> None:
        nonlocal handled
        handled += 1

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    async with PostgresQueue[Any](DSN, "bench", poll_interval=1.0) as queue:
        executor = TaskExecutor(queue, noop, num_workers=PREFACTOR_WORKERS, mode="async")
        executor.start()
        print("ready", flush=True)
        await stopping.wait()
        await executor.stop()
    return handled


async def _prefactor_loop_worker() -> int:
    from prefactor_core.queue import PostgresQueue, QueueClosedError

    handled = 0
    queue: PostgresQueue[Any] = PostgresQueue(DSN, "bench", poll_interval=1.0)

    async def receive_loop() -> None:
        nonlocal handled
        while True:
            try:
                deliveries = await queue.receive_batch(PREFACTOR_BATCH)
            except QueueClosedError:
                return
            handled += len(deliveries)  # the no-op handler
            await asyncio.gather(*(queue.ack(delivery) for delivery in deliveries))

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: loop.create_task(queue.close()))
    async with queue:
        print("ready", flush=True)
        await asyncio.gather(*(receive_loop() for _ in range(PREFACTOR_WORKERS)))
    return handled


async def _pgqueuer_worker() -> int:
    from pgqueuer import AsyncpgDriver, Job, PgQueuer

    handled = 0
    connection = await asyncpg.connect(DSN)
    pgq = PgQueuer(AsyncpgDriver(connection))

    @pgq.entrypoint("noop")
    async def noop(job: Job) -> None:
        nonlocal handled
        handled += 1

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, pgq.shutdown.set)
    loop.call_soon(print, "ready")
    await pgq.run(batch_size=PGQUEUER_BATCH)
    await connection.close()
    return handled


async def _procrastinate_worker() -> int:
    import procrastinate

    handled = 0
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=DSN))

    @app.task(name="noop")
    async def noop() -> None:
        nonlocal handled
        handled += 1

    async with app.open_async():
        loop = asyncio.get_running_loop()
        loop.call_soon(print, "ready")
        await app.run_worker_async(concurrency=PROCRASTINATE_CONCURRENCY)
    return handled


_WORKERS: dict[str, Callable[[], Awaitable[int]]] = {
    "prefactor": _prefactor_worker,
    "prefactor_loop": _prefactor_loop_worker,
    "pgqueuer": _pgqueuer_worker,
    "procrastinate": _procrastinate_worker,
}


def _worker_main(library: str) -> None:
    handled = asyncio.run(_WORKERS[library]())
    print(f"count {handled}", flush=True)


# Producers and progress, in the parent.


async def _install(library: str) -> None:
    if library.startswith("prefactor"):
        from prefactor_core.queue import PostgresQueue

        async with PostgresQueue(DSN, "bench") as queue:
            await queue.create_schema()
    elif library == "pgqueuer":
        from pgqueuer import AsyncpgDriver, Queries

        connection = await asyncpg.connect(DSN)
        await Queries(AsyncpgDriver(connection)).install()
        await connection.close()
    else:
        import procrastinate

        app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=DSN))
        async with app.open_async():
            await app.schema_manager.apply_schema_async()


async def _produce(library: str, count: int) -> None:
    if library.startswith("prefactor"):
        from prefactor_core.queue import PostgresQueue

        async with PostgresQueue(DSN, "bench") as queue:
            for start in range(0, count, CHUNK):
                await queue.put_many([{"n": n} for n in range(start, min(count, start + CHUNK))])
    elif library == "pgqueuer":
        from pgqueuer import AsyncpgDriver, Queries

        connection = await asyncpg.connect(DSN)
        queries = Queries(AsyncpgDriver(connection))
        for start in range(0, count, CHUNK):
            size = min(CHUNK, count - start)
            await queries.enqueue(["noop"] * size, [b"{}"] * size, [0] * size)
        await connection.close()
    else:
        import procrastinate

        app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=DSN))

        @app.task(name="noop")
        async def noop() -> None:
            pass

        async with app.open_async():
            for start in range(0, count, CHUNK):
                await noop.batch_defer_async(*[{} for _ in range(min(CHUNK, count - start))])


_UNFINISHED = {
    "prefactor": "SELECT count(*) FROM prefactor_queue_bench",
    "prefactor_loop": "SELECT count(*) FROM prefactor_queue_bench",
    "pgqueuer": "SELECT count(*) FROM pgqueuer",
    "procrastinate": ("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"),
}


async def _wait_until_finished(library: str, produced: asyncio.Task[None]) -> float:
    connection = await asyncpg.connect(DSN)
    try:
        deadline = time.perf_counter() + TIMEOUT_SECONDS
        while time.perf_counter() < deadline:
            if produced.done() and await connection.fetchval(_UNFINISHED[library]) == 0:
                return time.perf_counter()
            await asyncio.sleep(POLL_SECONDS)
        raise TimeoutError(f"{library} did not finish in {TIMEOUT_SECONDS} s")
    finally:
        await connection.close()


async def _recreate_database() -> None:
    connection = await asyncpg.connect(f"{SERVER}/postgres")
    try:
        await connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        await connection.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await connection.close()


async def _drop_database() -> None:
    connection = await asyncpg.connect(f"{SERVER}/postgres")
    try:
        await connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    finally:
        await connection.close()


async def _measure_library(library: str, count: int) -> float:
    await _recreate_database()
    await _install(library)
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "worker",
            library,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        for _ in range(NUM_WORKERS)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            line = await worker.stdout.readline()
            if line.strip() != b"ready":
                raise RuntimeError(f"{library} worker failed to start: {line!r}")

        started = time.perf_counter()
        produced = asyncio.create_task(_produce(library, count))
        finished = await _wait_until_finished(library, produced)
        await produced
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
    handled = 0
    for worker in workers:
        out, _ = await asyncio.wait_for(worker.communicate(), timeout=60)
        counts = [line for line in out.decode().splitlines() if line.startswith("count ")]
        handled += int(counts[-1].split()[1]) if counts else 0
    if handled < count:
        raise RuntimeError(f"{library} workers reported {handled} of {count} items")
    return count / (finished - started)


async def measure(library: str, items: dict[str, int], **_sizes: Any) -> dict[str, float]:
    """Run ``items[library]`` items through `library` on a fresh database and time them.

    Blocks until the items are done, at most TIMEOUT_SECONDS, and drops the
    database afterwards.

    Args:
        library: One of LIBRARIES.
        items: Items per library; only this library's entry is used.
        _sizes: The workload's other sizes, unused.

    Returns:
        ``items_per_s`` and ``us_per_item`` end to end.

    Raises:
        TimeoutError: The items were not done within TIMEOUT_SECONDS.
        RuntimeError: A worker failed to start or handled fewer items.
    """
    count = items[library]
    try:
        rate = await _measure_library(library, count)
    finally:
        await _drop_database()
    return {"items_per_s": rate, "us_per_item": 1e6 / rate}


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "worker":
        raise SystemExit(f"usage: {sys.argv[0]} worker LIBRARY, with LIBRARY one of {LIBRARIES}")
    _worker_main(sys.argv[2])
