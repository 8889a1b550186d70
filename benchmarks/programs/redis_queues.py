"""Programs: end-to-end items per second of RedisQueue, arq and rq on one Redis.

Each system gets the same Redis server, a no-op handler and 2 worker
processes (`redis_worker.py`). The items are put first with each library's
own enqueue call. Then the clock runs from the moment the first worker is
ready to take items until the last worker process has exited after the queue
ran empty (burst mode). `xadd_ceiling` returns the XADD rate that
``redis-benchmark`` measures on the same server, the ceiling.

The programs write only keys that start with ``prefactor-bench-`` (and arq's
and rq's own keys for those queue names) and delete them afterwards.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis

__all__ = ["measure", "xadd_ceiling"]

# Only the server on this machine: the programs write and delete keys there.
URL = "redis://127.0.0.1:6379/0"
WORKER_SCRIPT = Path(__file__).with_name("redis_worker.py")
NUM_PROCESSES = 2
ENQUEUE_CHUNK = 500  # items per enqueue round trip or gather
RUN_TIMEOUT = 300.0  # seconds one system may take before the run is abandoned


def _key_prefix() -> str:
    return f"prefactor-bench-{uuid.uuid4().hex[:8]}"


async def _enqueue_prefactor(url: str, name: str, count: int) -> None:
    from prefactor_core.queue import RedisQueue

    async with RedisQueue[int].from_url(url, stream=name) as queue:
        for start in range(0, count, ENQUEUE_CHUNK):
            await queue.put_many(range(start, min(count, start + ENQUEUE_CHUNK)))


async def _enqueue_arq(url: str, name: str, count: int) -> None:
    from arq import create_pool
    from arq.connections import RedisSettings

    pool = await create_pool(RedisSettings.from_dsn(url), default_queue_name=name)
    try:
        for start in range(0, count, ENQUEUE_CHUNK):
            batch = range(start, min(count, start + ENQUEUE_CHUNK))
            # Job ids that contain the run's name let _delete_keys find the
            # result keys, which arq names after the job id only.
            await asyncio.gather(
                *(pool.enqueue_job("noop_async", n, _job_id=f"{name}-{n}") for n in batch)
            )
    finally:
        await pool.aclose()


def _enqueue_rq(url: str, name: str, count: int) -> None:
    from rq import Queue

    connection = redis.Redis.from_url(url)
    queue = Queue(name, connection=connection)
    for start in range(0, count, ENQUEUE_CHUNK):
        batch = range(start, min(count, start + ENQUEUE_CHUNK))
        jobs = [
            Queue.prepare_data("redis_worker.noop", args=(n,), job_id=f"{name}-{n}") for n in batch
        ]
        queue.enqueue_many(jobs)
    connection.close()


def _enqueue(system: str, url: str, name: str, count: int) -> None:
    if system == "prefactor":
        asyncio.run(_enqueue_prefactor(url, name, count))
    elif system == "arq":
        asyncio.run(_enqueue_arq(url, name, count))
    else:
        _enqueue_rq(url, name, count)


def _delete_keys(url: str, name: str) -> None:
    connection = redis.Redis.from_url(url)
    keys = list(connection.scan_iter(match=f"*{name}*", count=1000))
    for start in range(0, len(keys), 1000):
        connection.delete(*keys[start : start + 1000])
    connection.close()


def _measure_system(system: str, url: str, count: int) -> dict[str, float]:
    name = _key_prefix()
    try:
        started = time.perf_counter()
        _enqueue(system, url, name, count)
        enqueue_seconds = time.perf_counter() - started

        with tempfile.TemporaryDirectory() as workdir:
            ready_files = [Path(workdir) / f"ready-{n}" for n in range(NUM_PROCESSES)]
            env_path = str(WORKER_SCRIPT.parent)
            processes = [
                subprocess.Popen(
                    [sys.executable, str(WORKER_SCRIPT), system, url, name, str(ready)],
                    cwd=env_path,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                for ready in ready_files
            ]
            deadline = time.time() + RUN_TIMEOUT
            while any(process.poll() is None for process in processes):
                if time.time() > deadline:
                    for process in processes:
                        process.kill()
                    raise RuntimeError(f"{system} did not finish within {RUN_TIMEOUT} s")
                time.sleep(0.005)
            finished = time.time()
            for process in processes:
                if process.returncode != 0:
                    assert process.stderr is not None
                    error = process.stderr.read().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"{system} worker exited with {process.returncode}: {error}")
            first_ready = min(float(ready.read_text()) for ready in ready_files)
    finally:
        _delete_keys(url, name)

    seconds = finished - first_ready
    return {
        "items_per_s": count / seconds,
        "us_per_item": seconds / count * 1e6,
        "enqueue_per_s": count / enqueue_seconds,
    }


def measure(system: str, items: dict[str, int], **_sizes: Any) -> dict[str, float]:
    """Put ``items[system]`` items for `system`, run 2 burst workers and time them.

    Args:
        system: "prefactor", "arq", "rq-simple" (rq's `SimpleWorker`) or "rq"
            (rq's forking `Worker`).
        items: Items per system; only this system's entry is used.
        _sizes: The workload's other sizes, unused.

    Returns:
        ``items_per_s`` and ``us_per_item`` end to end, ``enqueue_per_s``
        for the put phase.

    Raises:
        RuntimeError: A worker failed or the run exceeded RUN_TIMEOUT.
    """
    return _measure_system(system, URL, items[system])


def xadd_ceiling(xadd_requests: int, **_sizes: Any) -> dict[str, float]:
    """Run redis-benchmark with `xadd_requests` XADD requests and return its rate.

    The figures are ``items_per_s`` (XADD requests per second) and
    ``us_per_item``, named like those of `measure` so that they share a table.

    It runs with its defaults (50 connections, no pipelining) on one key
    that is deleted afterwards.

    Raises:
        RuntimeError: redis-benchmark is missing or printed no rate.
    """
    program = shutil.which("redis-benchmark")
    if program is None:
        raise RuntimeError("redis-benchmark not found: install the redis-tools package")
    connection = redis.Redis.from_url(URL)
    options = connection.connection_pool.connection_kwargs
    key = f"{_key_prefix()}-xadd"
    try:
        completed = subprocess.run(
            [
                program,
                "-h",
                str(options.get("host", "127.0.0.1")),
                "-p",
                str(options.get("port", 6379)),
                "-n",
                str(xadd_requests),
                "-q",
                "XADD",
                key,
                "*",
                "d",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=True,
        )
    finally:
        connection.delete(key)
        connection.close()
    match = re.search(r"([\d.]+) requests per second", completed.stdout)
    if match is None:
        raise RuntimeError(f"redis-benchmark printed no rate: {completed.stdout!r}")
    rate = float(match.group(1))
    return {"items_per_s": rate, "us_per_item": 1e6 / rate}
