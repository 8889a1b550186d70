"""Counters that `TaskExecutor.statistics()` returns."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ExecutorStatistics"]


@dataclass(frozen=True)
class ExecutorStatistics:
    """Snapshot of an executor's counters, taken on the event loop.

    Attributes:
        succeeded: Items whose last attempt succeeded.
        failed: Items that ended in failure, after their last attempt.
        retried: Failed attempts that were followed by a retry.
        in_flight: Items taken from the queue that are running or about to.
        waiting_retry: Items waiting for their backoff in this process. Items
            whose retry a persistent queue stores are counted by the queue.
        queued: Items in the queue, as its `size()` reports them.
    """

    succeeded: int
    failed: int
    retried: int
    in_flight: int
    waiting_retry: int
    queued: int
