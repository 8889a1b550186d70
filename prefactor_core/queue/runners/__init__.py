"""Runners execute a handler on a batch of items in one execution mode.

The executor owns queues, retries and callbacks; a runner only calls the
handler and reports one `Outcome` per item. The event loop runner (`loop`),
the thread pool runner (`thread`) and the process pool runner (`process`)
share this interface, so the three modes get the same retry and shutdown
semantics.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, NamedTuple

__all__ = ["Outcome", "Runner"]


class Outcome(NamedTuple):
    """Result of one attempt: `ok` with the handler's return value or its exception."""

    ok: bool
    value: Any


class Runner(ABC):
    """Executes a handler on items; one implementation per execution mode.

    The executor calls `run` from at most `size` coroutines at a time, and
    calls `start` before the first `run` and `close` after the last.
    """

    #: Largest batch that one `run` call should receive.
    max_batch: int = 1

    def start(self) -> None:
        """Allocate threads or processes. The default allocates nothing."""

    @abstractmethod
    async def run(self, items: Sequence[Any]) -> list[Outcome]:
        """Call the handler once on each item and return outcomes in the same order."""

    async def close(self) -> None:
        """Release threads or processes after the last `run` returned."""
