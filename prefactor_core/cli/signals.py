"""Stop signals: the first SIGINT or SIGTERM stops gracefully, the second aborts.

The commands install `StopSignals` on their event loop. The first signal sets
`requested`, and the command stops reading input and drains what it accepted.
The second signal calls the abort callback, which ends the process at once.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable

__all__ = ["StopSignals", "abort_process"]

logger = logging.getLogger(__name__)

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Handlers for SIGINT and SIGTERM on the running event loop.

    Attributes:
        requested: Set by the first signal.
        signal_name: Name of the first signal received, such as `SIGINT`.
        signal_number: Number of the first signal received, or None.

    NOTE: `loop.add_signal_handler` exists only on Unix event loops, so on
    Windows Ctrl+C raises KeyboardInterrupt as usual and nothing is drained.
    """

    def __init__(self, on_abort: Callable[[str, int], None]) -> None:
        self._on_abort = on_abort
        self._loop: asyncio.AbstractEventLoop | None = None
        self.requested = asyncio.Event()
        self.signal_name: str | None = None
        self.signal_number: int | None = None

    def install(self) -> None:
        """Handle SIGINT and SIGTERM on the running loop until `uninstall`."""
        self._loop = asyncio.get_running_loop()
        for signum in _STOP_SIGNALS:
            try:
                self._loop.add_signal_handler(signum, self._received, signum)
            except NotImplementedError:
                return

    def uninstall(self) -> None:
        """Restore the default handling of both signals."""
        if self._loop is None:
            return
        for signum in _STOP_SIGNALS:
            try:
                self._loop.remove_signal_handler(signum)
            except NotImplementedError:
                return

    def _received(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self.signal_number is None:
            logger.info("received %s, stopping after the accepted items", name)
            self.signal_name = name
            self.signal_number = signum
            self.requested.set()
            return
        self._on_abort(name, signum)


def abort_process(signum: int) -> None:
    """End the process at once with status 128 + `signum`.

    Worker processes started through multiprocessing are terminated first,
    because `os._exit` skips the pool shutdown, and a child in the middle of
    a long handler call would otherwise keep running. Threads still running
    a handler are not waited for.
    """
    for child in multiprocessing.active_children():
        child.terminate()
    sys.stderr.flush()
    os._exit(128 + signum)
