"""`prefactor-core enqueue` and `worker` on RedisQueue, with a worker killed mid-item."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.redis_support import SHARED_REDIS_URL

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 20.0  # seconds for a worker to start and take the slow item


@pytest.fixture
def stream_name() -> Iterator[str]:
    name = f"test-redis-cli-{uuid.uuid4().hex[:12]}"
    yield name
    # A failed test may leave a worker running, which would recreate the
    # stream and its group after the cleanup below.
    while _started:
        process = _started.pop()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    client = redis.Redis.from_url(SHARED_REDIS_URL)
    client.delete(name, f"{name}:delayed", f"{name}:dead")
    client.close()


_started: list[subprocess.Popen[str]] = []


def start_cli(*arguments: str, env: dict[str, str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "prefactor_core", *arguments],
        cwd=env["WORKDIR"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _started.append(process)
    return process


@pytest.mark.timeout(60)
def test_killed_cli_worker_item_redelivered(tmp_path: Path, stream_name: str) -> None:
    url = f"{SHARED_REDIS_URL}?stream={stream_name}&visibility_timeout=1&poll_interval=0.2"
    started = tmp_path / "started.txt"
    started.touch()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "WORKDIR": str(tmp_path),
        "REDIS_CLI_TEST_STARTED": str(started),
        "REDIS_CLI_TEST_SLOW": "slow",
    }

    enqueue = subprocess.run(
        [sys.executable, "-m", "prefactor_core", "enqueue", "--queue", url],
        cwd=tmp_path,
        env=env,
        input="slow\nfast\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert enqueue.returncode == 0, enqueue.stderr

    worker = ["worker", "--queue", url, "tests.redis_cli_handlers:mark_then_echo"]
    victim = start_cli(*worker, "--output", "victim.jsonl", "--workers", "1", env=env)
    deadline = time.monotonic() + START_TIMEOUT
    while "slow" not in started.read_text().split():
        assert victim.poll() is None, victim.communicate()[1]
        assert time.monotonic() < deadline, "the victim did not take the slow item"
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=10)

    env["REDIS_CLI_TEST_SLOW"] = ""
    rescuer = start_cli(*worker, "--output", "rescuer.jsonl", env=env)
    output = tmp_path / "rescuer.jsonl"
    deadline = time.monotonic() + START_TIMEOUT
    # Wait for the handler's second mark, because --output may be flushed
    # only when the worker stops.
    while started.read_text().split().count("slow") < 2:
        assert rescuer.poll() is None, rescuer.communicate()[1]
        assert time.monotonic() < deadline, "the rescuer did not handle the slow item"
        time.sleep(0.05)
    rescuer.send_signal(signal.SIGTERM)
    _, stderr = rescuer.communicate(timeout=30)

    assert victim.returncode == -signal.SIGKILL
    assert rescuer.returncode == 0, stderr
    records = [json.loads(line) for line in output.read_text().splitlines()]
    handled = sorted(record["item"] for record in records)
    victim_output = tmp_path / "victim.jsonl"
    if victim_output.exists():
        handled += [json.loads(line)["item"] for line in victim_output.read_text().splitlines()]
    assert sorted(handled) == ["fast", "slow"]
    assert "reclaimed 1 entries" in stderr
