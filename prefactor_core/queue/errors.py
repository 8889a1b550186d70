"""Exceptions that the executor reports for attempts that did not run to the end.

`QueueClosedError` belongs to the queue contract and lives in `base`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AttemptTimeoutError",
    "ExecutorStopTimeout",
    "ItemNotPicklableError",
    "RemoteTraceback",
    "WorkerCrashedError",
]


class AttemptTimeoutError(TimeoutError):
    """An attempt ran longer than the executor's `time_limit`.

    It counts as a failed attempt and is retried like any other `Exception`
    unless `is_retryable` returns False for it.
    """


class WorkerCrashedError(RuntimeError):
    """The worker process running an attempt died before returning a result.

    Raised, for example, after `os._exit`, SIGKILL or the out-of-memory
    killer. The executor has already started a replacement process.
    """


class ItemNotPicklableError(TypeError):
    """An item could not be pickled to send it to a worker process.

    The executor never retries this error, because the same item would fail
    the same way; it goes straight to `on_failure`.
    """


class RemoteTraceback(Exception):
    """Formatted traceback of an exception raised in a worker process.

    Attached as `__cause__` of the exception that the handler raised, so
    that logs show where in the worker process it happened.
    """

    def __str__(self) -> str:
        return "\n" + str(self.args[0]) if self.args else ""


class ExecutorStopTimeout(TimeoutError):
    """`TaskExecutor.stop(timeout=...)` ran out of time before every item ended.

    Nothing is discarded: the workers keep running, and calling `stop()`
    again waits for the rest.

    Attributes:
        unfinished: Items in flight or waiting for a retry, in no set order.
        queued: Items still in the queue.
    """

    def __init__(self, unfinished: list[Any], queued: int) -> None:
        super().__init__(
            f"stop() timed out with {len(unfinished)} items in flight or waiting "
            f"for a retry and {queued} queued; they keep running, so call stop() "
            "again to wait for them"
        )
        self.unfinished = unfinished
        self.queued = queued
