"""Queues that `TaskExecutor` consumes: the contract and its implementations.

`RedisQueue` is imported on first use, so this package imports without
redis-py; install the `redis` extra to use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prefactor_core.queue.base import Delivery, Queue, QueueClosedError

if TYPE_CHECKING:
    from prefactor_core.queue.redis_queue import RedisQueue, RedisUnavailableError

__all__ = ["Delivery", "Queue", "QueueClosedError", "RedisQueue", "RedisUnavailableError"]

_REDIS_NAMES = frozenset({"RedisQueue", "RedisUnavailableError"})


def __getattr__(name: str) -> Any:
    # Import the Redis engine only when it is asked for, because it needs
    # the optional redis-py package.
    if name in _REDIS_NAMES:
        from prefactor_core.queue import redis_queue

        return getattr(redis_queue, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
