"""Queues that `TaskExecutor` consumes, and the contract they share.

Engines whose driver is optional (`PostgresQueue` needs asyncpg) are imported
on first access, so this package imports without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Delivery, Queue, QueueClosedError

if TYPE_CHECKING:
    from .postgres_queue import PostgresQueue

__all__ = ["Delivery", "PostgresQueue", "Queue", "QueueClosedError"]


def __getattr__(name: str) -> Any:
    if name == "PostgresQueue":
        from .postgres_queue import PostgresQueue

        return PostgresQueue
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
