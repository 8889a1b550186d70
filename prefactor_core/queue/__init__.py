"""Queues and an executor that move work between threads, coroutines and processes.

- `Queue` is the contract that every queue implements, and `QueueClosedError`
  what it raises once closed.
- `InMemoryQueue` keeps items in this process; coroutines use its async
  methods and threads its `sync_q` face.
- `TaskExecutor` runs a handler on each item with a pool of workers, in one
  of three modes (event loop, threads, processes), with retries and a
  `stop()` that ends every accepted item.

The submodules: `base` (the contract), `memory` (the in-memory queue),
`executor`, `retry` (the backoff policy), `runners` (one per mode), `stats`
and `errors`.
"""

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

__all__ = [
    "AttemptTimeoutError",
    "Delivery",
    "ExecutorStatistics",
    "ExecutorStopTimeout",
    "InMemoryQueue",
    "ItemNotPicklableError",
    "Queue",
    "QueueClosedError",
    "RemoteTraceback",
    "RetryPolicy",
    "SyncQueueFace",
    "TaskExecutor",
    "WorkerCrashedError",
    "current_delivery",
]
