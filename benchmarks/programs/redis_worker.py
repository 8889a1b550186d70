"""One worker process of the Redis throughput benchmark, for one library.

Usage: ``python redis_worker.py SYSTEM REDIS_URL QUEUE_NAME READY_FILE``
with SYSTEM one of ``prefactor``, ``arq``, ``rq``, ``rq-simple``. The worker
runs a no-op handler until the queue is empty, then exits. Just before it
starts taking items it writes ``time.time()`` to READY_FILE, so the
benchmark leaves interpreter start-up out of the measured time.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

PREFACTOR_WORKERS = 3  # coroutines per process, TaskExecutor's default
BURST_CHECK_INTERVAL = 0.02  # seconds between two checks for an empty queue


def noop(*args: Any, **kwargs: Any) -> None:
    """Do nothing: the rq job."""


async def noop_async(*args: Any, **kwargs: Any) -> None:
    """Do nothing: the arq job and the prefactor-core handler."""


def mark_ready(ready_file: str) -> None:
    Path(ready_file).write_text(repr(time.time()))


async def run_prefactor(url: str, stream: str, ready_file: str) -> None:
    from prefactor_core.queue import RedisQueue, TaskExecutor

    async with RedisQueue.from_url(url, stream=stream, poll_interval=0.1) as queue:
        executor = TaskExecutor(queue, noop_async, num_workers=PREFACTOR_WORKERS, mode="async")
        mark_ready(ready_file)
        async with executor:
            # Burst mode: stop once nothing is in flight and the stream contains
            # nothing undelivered. This polls instead of calling drain(),
            # because drain() re-reads size() only when a worker of this
            # process changes state, and here the other process may take the
            # last items.
            while True:
                await asyncio.sleep(BURST_CHECK_INTERVAL)
                if executor.statistics().in_flight == 0 and queue.size() == 0:
                    break


def run_arq(url: str, queue_name: str, ready_file: str) -> None:
    from arq.connections import RedisSettings
    from arq.worker import Worker

    async def on_startup(ctx: dict[str, Any]) -> None:
        mark_ready(ready_file)

    worker = Worker(
        functions=[noop_async],  # type: ignore[list-item]
        redis_settings=RedisSettings.from_dsn(url),
        queue_name=queue_name,
        burst=True,
        handle_signals=False,
        on_startup=on_startup,
        poll_delay=0.1,
    )
    worker.run()


def run_rq(url: str, queue_name: str, ready_file: str, simple: bool) -> None:
    import redis
    from rq import Queue, SimpleWorker, Worker

    connection = redis.Redis.from_url(url)
    worker_class = SimpleWorker if simple else Worker
    worker = worker_class([Queue(queue_name, connection=connection)], connection=connection)
    mark_ready(ready_file)
    worker.work(burst=True, logging_level="WARNING")


def main() -> None:
    system, url, queue_name, ready_file = sys.argv[1:5]
    if system == "prefactor":
        asyncio.run(run_prefactor(url, queue_name, ready_file))
    elif system == "arq":
        run_arq(url, queue_name, ready_file)
    elif system in ("rq", "rq-simple"):
        run_rq(url, queue_name, ready_file, simple=system == "rq-simple")
    else:
        raise SystemExit(f"unknown system {system!r}: use prefactor, arq, rq or rq-simple")


if __name__ == "__main__":
    main()
