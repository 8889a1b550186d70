"""Runner for coroutine handlers, awaited on the executor's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..errors import AttemptTimeoutError
from . import Outcome, Runner

__all__ = ["LoopRunner"]


class LoopRunner(Runner):
    """Awaits `handler(item)` in the calling task.

    With a time limit, an attempt that runs longer is cancelled and reported
    as `AttemptTimeoutError`. Without one, nothing is ever cancelled.
    """

    def __init__(self, handler: Callable[[Any], Awaitable[Any]], time_limit: float | None) -> None:
        self._handler = handler
        self._time_limit = time_limit

    async def run(self, items: Sequence[Any]) -> list[Outcome]:
        return [await self.run_one(item) for item in items]

    async def run_one(self, item: Any) -> Outcome:
        """Await the handler on one item and capture its result or exception."""
        if self._time_limit is None:
            try:
                return Outcome(True, await self._handler(item))
            except Exception as exc:
                return Outcome(False, exc)
        return await self._run_limited(item, self._time_limit)

    async def _run_limited(self, item: Any, time_limit: float) -> Outcome:
        # A task of its own distinguishes the limit from a TimeoutError that the
        # handler raised itself, which asyncio.wait_for cannot do on 3.10.
        task = asyncio.ensure_future(self._handler(item))
        done, _ = await asyncio.wait({task}, timeout=time_limit)
        if not done:
            task.cancel()
            await asyncio.wait({task})
            if not task.cancelled() and task.exception() is None:
                return Outcome(True, task.result())
            return Outcome(
                False, AttemptTimeoutError(f"attempt exceeded the time limit of {time_limit} s")
            )
        exc = task.exception()
        if exc is None:
            return Outcome(True, task.result())
        if not isinstance(exc, Exception):
            raise exc
        return Outcome(False, exc)
