"""Helpers for the RedisQueue tests: private redis-server processes and worker processes."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import redis

SHARED_REDIS_URL = "redis://127.0.0.1:6379/0"
WORKER_SCRIPT = Path(__file__).with_name("redis_worker.py")
SERVER_START_TIMEOUT = 10.0  # seconds for a private redis-server to reply to PING


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """A redis-server process on a free loopback port, owned by one test."""

    def __init__(self, workdir: Path, *extra_args: str, password: str | None = None) -> None:
        self.port = free_port()
        self.password = password
        self.workdir = workdir
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it replies to PING."""
        if self.password is not None:
            extra_args = ("--requirepass", self.password, *self.extra_args)
        else:
            extra_args = self.extra_args
        command = [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(self.workdir),
            *extra_args,
        ]
        if "--appendonly" not in extra_args:
            command += ["--appendonly", "no"]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = self.client(socket_connect_timeout=1)
        wait_until(lambda: _answers_ping(client), SERVER_START_TIMEOUT, "redis-server to start")
        client.close()

    def kill(self) -> None:
        """Kill the server with SIGKILL, as a crash would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def client(self, **options: Any) -> redis.Redis:
        return redis.Redis(port=self.port, password=self.password, **options)


def _answers_ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.exceptions.ConnectionError:
        return False


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` every 20 ms; raise AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


async def wait_until_async(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Like `wait_until`, but lets the event loop run between polls."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


class WorkerProcess:
    """tests/redis_worker.py in a subprocess, with its event lines and log."""

    started: ClassVar[list[WorkerProcess]] = []  # every worker, so a fixture can kill leftovers

    def __init__(self, workdir: Path, name: str, url: str, *args: str) -> None:
        self.events_path = workdir / f"{name}.events"
        self.log_path = workdir / f"{name}.log"
        self.events_path.touch()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    str(WORKER_SCRIPT),
                    "--url",
                    url,
                    "--events",
                    str(self.events_path),
                    *args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        WorkerProcess.started.append(self)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        lines = self.events_path.read_text().splitlines()
        parsed = [json.loads(line) for line in lines if line.endswith("}")]
        return [event for event in parsed if kind is None or event["event"] == kind]

    def done_items(self) -> list[Any]:
        return [event["item"] for event in self.events("done")]

    def log(self) -> str:
        return self.log_path.read_text()

    def wait_ready(self, timeout: float = 15.0) -> None:
        wait_until(lambda: bool(self.events("ready")), timeout, "the worker to start")

    def stop(self, timeout: float = 15.0) -> int:
        """Send SIGTERM and wait for the exit; kill it if it hangs."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
            raise AssertionError(f"worker did not exit within {timeout} s of SIGTERM") from None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


def kill_leftover_workers() -> None:
    """Kill the workers that a failed test left running, so they stop using its stream."""
    while WorkerProcess.started:
        WorkerProcess.started.pop().kill()
