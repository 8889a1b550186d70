"""Queues and an executor that move work between threads, coroutines and processes.

- `Queue` is the contract that every queue implements, and `QueueClosedError`
  what it raises once closed.
- `InMemoryQueue` keeps items in this process; coroutines use its async
  methods and threads its `sync_q` face.
- `RedisQueue` keeps items in a Redis stream that processes on several
  machines share. It is imported on first use, so this package imports
  without redis-py; install the `redis` extra to use it.
- `TaskExecutor` runs a handler on each item with a pool of workers, in one
  of three modes (event loop, threads, processes), with retries and a
  `stop()` that ends every accepted item.

- `PostgresQueue` keeps items in a PostgreSQL table shared by processes and
  machines. It needs asyncpg (the `postgres` extra) and is imported on first
  access, so this package imports without the driver.

The submodules: `base` (the contract), `memory` (the in-memory queue),
`executor`, `retry` (the backoff policy), `runners` (one per mode), `stats`,
`errors` and `postgres_queue`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Delivery, Queue, QueueClosedError
from .errors import (
    AttemptTimeoutError,
    ExecutorStopTimeout,
    ItemNotPicklableError,
    RemoteTraceback,
    WorkerCrashedError,
)
from .executor import TaskExecutor, current_delivery
from .memory import InMemoryQueue, SyncQueueFace
from .retry import RetryPolicy
from .stats import ExecutorStatistics

if TYPE_CHECKING:
    from .postgres_queue import PostgresQueue
    from .redis_queue import RedisQueue, RedisUnavailableError

__all__ = [
    "AttemptTimeoutError",
    "Delivery",
    "ExecutorStatistics",
    "ExecutorStopTimeout",
    "InMemoryQueue",
    "ItemNotPicklableError",
    "PostgresQueue",
    "Queue",
    "QueueClosedError",
    "RedisQueue",
    "RedisUnavailableError",
    "RemoteTraceback",
    "RetryPolicy",
    "SyncQueueFace",
    "TaskExecutor",
    "WorkerCrashedError",
    "current_delivery",
]

_REDIS_NAMES = frozenset({"RedisQueue", "RedisUnavailableError"})


def __getattr__(name: str) -> Any:
    # Import the Redis and PostgreSQL engines only when they are asked for,
    # because they need the optional redis-py and asyncpg packages.
    if name in _REDIS_NAMES:
        try:
            from . import redis_queue
        except ImportError as exc:
            raise ImportError(
                f"{name} needs redis-py, which is missing: pip install 'prefactor-core[redis]'"
            ) from exc
        return getattr(redis_queue, name)
    if name == "PostgresQueue":
        from .postgres_queue import PostgresQueue

        return PostgresQueue
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
