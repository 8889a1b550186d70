"""Runner for plain functions, called in a pool of threads.

Each `run` call sends a whole batch to one thread, so small items cost one
hand-over between the event loop and the pool per batch, not per item.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import AttemptTimeoutError
from . import Outcome, Runner

__all__ = ["ThreadRunner"]

_AWAITABLE_RESULT = (
    "the handler returned a coroutine or other awaitable instead of running; "
    "pass the coroutine function itself, or use mode='async'"
)

# Enough items per hand-over that its cost (tens of microseconds) vanishes
# next to a no-op handler, and few enough that a batch does not pin a slow
# thread for long. The executor also shrinks batches when the queue is short.
_MAX_BATCH = 64


class ThreadRunner(Runner):
    """Calls `handler(item)` in a `ThreadPoolExecutor` of `size` threads.

    A running thread cannot be interrupted. With a time limit, an attempt
    that took longer is reported as `AttemptTimeoutError` once it returns,
    and its result is discarded. The thread itself runs to the end.
    """

    def __init__(self, handler: Callable[[Any], Any], size: int, time_limit: float | None) -> None:
        self._handler = handler
        self._size = size
        self._time_limit = time_limit
        self._pool: ThreadPoolExecutor | None = None
        self.max_batch = 1 if time_limit is not None else _MAX_BATCH

    def start(self) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._size, thread_name_prefix="prefactor-core-thread")

    async def run(self, items: Sequence[Any]) -> list[Outcome]:
        assert self._pool is not None, "start() must be called before run()"
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, _call_each, self._handler, items, self._time_limit
        )

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            # Every run() has returned, so the threads are idle and exit at once.
            await asyncio.get_running_loop().run_in_executor(None, pool.shutdown)


def _call_each(
    handler: Callable[[Any], Any], items: Sequence[Any], time_limit: float | None
) -> list[Outcome]:
    outcomes = []
    for item in items:
        started = time.monotonic()
        try:
            result = handler(item)
        except Exception as exc:
            outcomes.append(Outcome(False, exc))
            continue
        if inspect.isawaitable(result):
            _close_awaitable(result)
            outcomes.append(Outcome(False, TypeError(_AWAITABLE_RESULT)))
            continue
        if time_limit is not None and time.monotonic() - started > time_limit:
            outcomes.append(
                Outcome(
                    False,
                    AttemptTimeoutError(
                        f"attempt took longer than the time limit of {time_limit} s; "
                        "threads cannot be interrupted, so it ran to the end and its "
                        "result was discarded"
                    ),
                )
            )
            continue
        outcomes.append(Outcome(True, result))
    return outcomes


def _close_awaitable(awaitable: object) -> None:
    # Closing a coroutine that never ran avoids the "never awaited" warning.
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()
