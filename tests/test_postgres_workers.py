"""PostgresQueue shared by real worker processes, with faults injected mid run.

Each worker runs tests/postgres_worker.py and writes "start ITEM" and
"done ITEM" lines to its own file, so the test can tell what was handled.
"""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from prefactor_core.queue import PostgresQueue
from tests.postgres_support import (
    DSN,
    drop_queue_table,
    sql,
    terminate_backends,
    unique_queue_name,
    wait_until,
)

pytestmark = pytest.mark.timeout(60)

WORKER = Path(__file__).with_name("postgres_worker.py")
PASSWORD = "s3cret-worker"


class Worker:
    """One worker process and the lines it has written."""

    def __init__(self, url: str, directory: Path, label: str, *args: str) -> None:
        self.output = directory / f"{label}.out"
        self.errors = directory / f"{label}.err"
        self.output.touch()
        with self.errors.open("w") as errors:
            self.process = subprocess.Popen(
                [sys.executable, str(WORKER), url, str(self.output), *args],
                stderr=errors,
            )

    def lines(self) -> list[str]:
        return self.output.read_text(encoding="utf-8").splitlines()

    def done(self) -> list[str]:
        return [line[5:] for line in self.lines() if line.startswith("done ")]

    def started(self, item: str) -> bool:
        return f"start {item}" in self.lines()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=10)


@pytest.fixture
async def name() -> AsyncIterator[str]:
    queue_name = unique_queue_name("w")
    yield queue_name
    await drop_queue_table(queue_name)


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait(timeout=10)


def queue_url(name: str, lease: float, application_name: str = "prefactor-test") -> str:
    return (
        f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/test?queue={name}"
        f"&lease={lease}&poll_interval=1&application_name={application_name}"
    )


async def rows_left(name: str) -> int:
    rows = await sql(f'SELECT count(*) FROM "prefactor_queue_{name}"')
    return int(rows[0][0])


async def test_two_workers_process_exact_multiset(
    name: str, workers: list[Worker], tmp_path: Path
) -> None:
    url = queue_url(name, lease=5)
    async with PostgresQueue(DSN, name) as producer:
        workers.append(Worker(url, tmp_path, "one", "--batch", "10"))
        workers.append(Worker(url, tmp_path, "two", "--batch", "10"))
        items = [str(i % 100) for i in range(300)]
        for start in range(0, len(items), 50):
            await producer.put_many(items[start : start + 50])

        def all_done() -> bool:
            return sum(len(worker.done()) for worker in workers) >= len(items)

        finished = await wait_until(all_done, timeout=20)

    assert finished
    assert [worker.stop() for worker in workers] == [0, 0]
    handled = collections.Counter(workers[0].done() + workers[1].done())
    assert handled == collections.Counter(items)
    assert await rows_left(name) == 0


async def test_killed_worker_item_redelivered(
    name: str, workers: list[Worker], tmp_path: Path
) -> None:
    url = queue_url(name, lease=1)
    async with PostgresQueue(DSN, name) as producer:
        await producer.put_many(["a", "slow", "b"])
    doomed = Worker(url, tmp_path, "doomed", "--slow", "slow", "--slow-seconds", "30")
    workers.append(doomed)
    assert await wait_until(lambda: doomed.started("slow"), timeout=10)

    doomed.process.kill()
    assert doomed.process.wait(timeout=10) == -signal.SIGKILL
    survivor = Worker(url, tmp_path, "survivor")
    workers.append(survivor)
    assert await wait_until(lambda: "slow" in survivor.done(), timeout=10)

    assert "slow" not in doomed.done()
    # "a" may be handled twice: its ack may not have reached the server before
    # the kill, and at-least-once delivery then repeats it.
    assert set(doomed.done() + survivor.done()) == {"a", "b", "slow"}
    assert survivor.stop() == 0
    assert await rows_left(name) == 0


async def test_terminated_backend_loses_nothing(
    name: str, workers: list[Worker], tmp_path: Path
) -> None:
    application_name = unique_queue_name("app")
    url = queue_url(name, lease=2, application_name=application_name)
    items = [str(i) for i in range(200)]
    async with PostgresQueue(DSN, name) as producer:
        await producer.put_many(items[:150])
        worker = Worker(url, tmp_path, "worker", "--slow", "100", "--slow-seconds", "1")
        workers.append(worker)
        assert await wait_until(lambda: worker.started("100"), timeout=10)

        assert await terminate_backends(application_name) >= 2
        await producer.put_many(items[150:])
        finished = await wait_until(lambda: set(worker.done()) >= set(items), timeout=20)

    assert finished
    assert worker.stop() == 0
    assert sorted(set(worker.done())) == sorted(items)
    assert await rows_left(name) == 0
    log = worker.errors.read_text(encoding="utf-8")
    assert "reconnecting" in log
    assert PASSWORD not in log
