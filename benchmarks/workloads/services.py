"""Checks that the Redis and PostgreSQL servers on this machine accept connections."""

from __future__ import annotations

import shutil
import socket

__all__ = ["check_postgres", "check_redis"]

# Seconds to wait for a TCP connection before calling the server absent.
_CONNECT_TIMEOUT = 2.0


def _check_port(name: str, port: int) -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=_CONNECT_TIMEOUT):
            return None
    except OSError as exc:
        return f"{name} does not accept connections on 127.0.0.1:{port} ({exc.strerror or exc})"


def check_redis() -> str | None:
    """Return why Redis on 127.0.0.1:6379 is unusable, or None if it accepts connections.

    The workload also needs `redis-benchmark` for its ceiling, so a missing
    program is a reason too.
    """
    if shutil.which("redis-benchmark") is None:
        return "redis-benchmark not found on PATH; install the redis-tools package"
    return _check_port("Redis", 6379)


def check_postgres() -> str | None:
    """Return why PostgreSQL on 127.0.0.1:5432 is unusable, or None if it accepts connections."""
    return _check_port("PostgreSQL", 5432)
