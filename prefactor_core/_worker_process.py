"""The loop that runs in each worker process of process mode.

It lives outside `prefactor_core.queue`, and imports only the standard
library, so that a new worker process starts without importing asyncio,
janus and the executor: about 5 ms of imports instead of about 125 ms
(measured with `python -X importtime` on CPython 3.11). The parent side is
`prefactor_core.queue.runners.process`.
"""

from __future__ import annotations

import multiprocessing.connection
import pickle
import signal
import traceback
from collections.abc import Callable
from typing import Any

__all__ = ["STARTED_MESSAGE", "STOP_MESSAGE", "child_main"]

# An empty message instructs a child to exit.
STOP_MESSAGE = b""

# Sent by a child when it starts an attempt, if the runner has a time limit,
# so that the limit does not count the child's start-up. Pickled replies
# start with b"\x80", so they never equal this marker.
STARTED_MESSAGE = b"\x00"


def child_main(
    conn: multiprocessing.connection.Connection,
    handler: Callable[[Any], Any],
    announce_start: bool,
) -> None:
    """Run batches from the parent until it sends `STOP_MESSAGE` or goes away.

    Each message is a pickled list of items. The reply is a pickled
    `(True, [(ok, value, traceback), ...], None)`, or `(False, error,
    traceback)` when the batch itself cannot be unpickled.
    """
    # Ctrl-C reaches the whole process group. The parent decides how to stop,
    # and a child that died of SIGINT would lose the items it was running.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if message == STOP_MESSAGE:
            return
        try:
            items = pickle.loads(message)
        except Exception as exc:
            # Typically a class that the worker process cannot import.
            error = RuntimeError(
                f"worker process cannot unpickle the items ({type(exc).__name__}: {exc}); "
                "make sure their classes are importable by module name"
            )
            conn.send_bytes(pickle.dumps((False, error, traceback.format_exc())))
            continue
        if announce_start:
            conn.send_bytes(STARTED_MESSAGE)
        results = [_call(handler, item) for item in items]
        conn.send_bytes(_pickle_results(results))


def _call(handler: Callable[[Any], Any], item: Any) -> tuple[bool, Any, str | None]:
    try:
        return (True, handler(item), None)
    except BaseException as exc:  # reported to the parent as the attempt's error
        if isinstance(exc, (KeyboardInterrupt, SystemExit)) and not isinstance(exc, Exception):
            wrapped = RuntimeError(f"handler raised {type(exc).__name__}: {exc}")
            return (False, wrapped, traceback.format_exc())
        return (False, exc, traceback.format_exc())


def _pickle_results(results: list[tuple[bool, Any, str | None]]) -> bytes:
    """Pickle a reply of outcomes, replacing values that cannot cross the pipe.

    Results are only pickled. Exceptions are also unpickled here, because an
    exception class whose constructor takes extra arguments pickles fine but
    fails to unpickle in the parent.
    """
    if all(ok for ok, _, _ in results):
        try:
            return pickle.dumps((True, results, None), pickle.HIGHEST_PROTOCOL)
        except Exception:
            pass
    safe = []
    for ok, value, remote_traceback in results:
        try:
            data = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
            if not ok:
                pickle.loads(data)
        except Exception as exc:
            what = "result" if ok else f"exception {type(value).__name__}: {value}"
            value = RuntimeError(
                f"the handler's {what} cannot be pickled back to the parent "
                f"({type(exc).__name__}: {exc}); return or raise picklable values"
            )
            ok = False
        safe.append((ok, value, remote_traceback))
    return pickle.dumps((True, safe, None), pickle.HIGHEST_PROTOCOL)
