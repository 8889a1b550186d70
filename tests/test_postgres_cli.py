"""The `init` and `dead` commands on a PostgreSQL queue, run as `python -m prefactor_core`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from prefactor_core.queue import PostgresQueue
from tests.postgres_support import DSN, drop_queue_table, sql, unique_queue_name

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def name() -> Iterator[str]:
    queue_name = unique_queue_name("c")
    yield queue_name
    asyncio.run(drop_queue_table(queue_name))


def prefactor_core(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prefactor_core", *arguments],
        capture_output=True,
        text=True,
        timeout=30,
    )


def url_of(name: str, password: str = "") -> str:
    secret = f":{password}" if password else ""
    return f"postgresql://postgres{secret}@127.0.0.1:5432/test?queue={name}"


async def bury(name: str, items: list[str]) -> None:
    async with PostgresQueue[str](DSN, name) as queue:
        await queue.put_many(items)
        for delivery in await queue.receive_batch(len(items)):
            await queue.dead_letter(delivery, RuntimeError(f"{delivery.item} failed"))


def test_init_creates_queue_table(name: str) -> None:
    run = prefactor_core("init", "--queue", url_of(name))

    assert run.returncode == 0, run.stderr
    assert "queue ready" in run.stdout
    tables = asyncio.run(sql("SELECT to_regclass($1)::text", f"prefactor_queue_{name}"))
    assert tables[0][0] == f"prefactor_queue_{name}"


def test_dead_list_and_requeue(name: str) -> None:
    asyncio.run(bury(name, ["first", "second"]))

    listed = prefactor_core("dead", "list", "--queue", url_of(name), "--json")
    assert listed.returncode == 0, listed.stderr
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [record["item"] for record in records] == ["first", "second"]
    assert records[0]["error"] == "RuntimeError: first failed"
    assert records[0]["attempts"] == 1

    one = prefactor_core("dead", "requeue", "--queue", url_of(name), "--id", str(records[0]["id"]))
    assert one.returncode == 0, one.stderr
    assert one.stdout.strip() == "re-queued 1 dead item"

    text = prefactor_core("dead", "list", "--queue", url_of(name))
    assert text.returncode == 0, text.stderr
    assert len(text.stdout.splitlines()) == 1
    assert "error=RuntimeError: second failed" in text.stdout

    rest = prefactor_core("dead", "requeue", "--queue", url_of(name), "--all")
    assert rest.returncode == 0, rest.stderr
    assert rest.stdout.strip() == "re-queued 1 dead item"
    ready = asyncio.run(
        sql(f"SELECT count(*) FROM \"prefactor_queue_{name}\" WHERE state = 'ready'")
    )
    assert ready[0][0] == 2


def test_requeue_needs_id_or_all(name: str) -> None:
    run = prefactor_core("dead", "requeue", "--queue", url_of(name))

    assert run.returncode == 2
    assert "pass either --id ID" in run.stderr


def test_dead_list_missing_table_hints_init(name: str) -> None:
    run = prefactor_core("dead", "list", "--queue", url_of(name, password="s3cret"))

    assert run.returncode == 1
    assert "prefactor-core init --queue" in run.stderr
    assert "s3cret" not in run.stderr
    assert "***" in run.stderr


def test_dead_list_rejects_hostile_name() -> None:
    run = prefactor_core("dead", "list", "--queue", url_of("x;DROP TABLE y"))

    assert run.returncode == 2
    assert "invalid queue name" in run.stderr


@pytest.mark.timeout(90)
def test_enqueue_then_worker_end_to_end(name: str, tmp_path: Path) -> None:
    items = [f"item-{n}" for n in range(30)]
    source = tmp_path / "in.txt"
    source.write_text("".join(f"{item}\n" for item in items), encoding="utf-8")
    queued = prefactor_core("enqueue", "--queue", url_of(name), str(source))
    assert queued.returncode == 0, queued.stderr

    output = tmp_path / "out.jsonl"
    worker_command = [sys.executable, "-m", "prefactor_core", "worker", "--queue", url_of(name)]
    worker = subprocess.Popen(
        [*worker_command, "tests.cli_handlers:shout", "--workers", "2", "--output", str(output)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=subprocess.PIPE,
        text=True,
    )
    table = f'"prefactor_queue_{name}"'
    try:
        deadline = time.monotonic() + 30
        while asyncio.run(sql(f"SELECT count(*) FROM {table}"))[0][0] > 0:
            assert worker.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=30)

    assert worker.returncode == 0, stderr
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert sorted(record["item"] for record in records) == sorted(items)
    assert sorted(record["result"] for record in records) == sorted(i.upper() for i in items)
