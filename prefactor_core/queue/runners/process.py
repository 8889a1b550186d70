"""Runner for CPU-bound functions, called in a pool of worker processes.

How data flows:

    event loop                                 worker process i
    ----------                                 ----------------
    run(items) takes an idle child
      pickle.dumps(items) -- pipe i -------->  recv_bytes, pickle.loads
                                               handler(item) for each item
      reader callback  <------ pipe i -------  send_bytes(pickled outcomes)
      sentinel callback <-- process exit ----  (only if the process dies)

Each child has its own pipe, so the parent always records which items a child
was running. When a child dies (os._exit, SIGKILL, the out-of-memory killer)
or overruns the time limit and is killed, a new child takes its place, and
only its own items are affected. A lost batch of one item fails with
`WorkerCrashedError` or `AttemptTimeoutError`. A lost batch of several items
runs again one item at a time, so that only an item whose own attempt dies
fails. The event loop watches the pipes and the process sentinels directly,
so no helper thread is involved and an idle pool costs no CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.context
import pickle
from collections.abc import Callable, Sequence
from typing import Any

from ..._worker_process import STARTED_MESSAGE, STOP_MESSAGE, child_main
from ..errors import AttemptTimeoutError, ItemNotPicklableError, RemoteTraceback, WorkerCrashedError
from . import Outcome, Runner

__all__ = ["ProcessRunner", "check_picklable_handler", "default_mp_context"]

logger = logging.getLogger(__name__)

# Items per message to a child. A batch of trivial items then costs one pipe
# round trip; the executor also shrinks batches when the queue is short.
_MAX_BATCH = 256

# Seconds that a child gets to exit after the stop message before it is killed.
_EXIT_GRACE = 5.0


def default_mp_context() -> multiprocessing.context.BaseContext:
    """Return the start method used when the caller names none.

    "forkserver" where the platform has it, otherwise "spawn". Both start
    children without copying the parent's threads and locks, which "fork"
    would do (the janus queue and the thread pool hold both).
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


def check_picklable_handler(handler: Callable[..., Any]) -> None:
    """Raise TypeError unless `handler` can be sent to a worker process.

    Raises:
        TypeError: The handler cannot be pickled, as with a lambda, a local
            function or a bound method of an object that cannot be pickled.
    """
    try:
        pickle.dumps(handler)
    except Exception as exc:
        name = getattr(handler, "__qualname__", None) or repr(handler)
        raise TypeError(
            f"process mode needs a handler that can be pickled, but {name!r} cannot be "
            f"({type(exc).__name__}: {exc}); define it as a function at module level "
            "and pass it by name"
        ) from exc


class _Child:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, process: multiprocessing.process.BaseProcess, conn: Any) -> None:
        self.process = process
        self.conn: multiprocessing.connection.Connection = conn
        self.replied = False

    @property
    def name(self) -> str:
        return f"{self.process.name} (pid {self.process.pid})"


class ProcessRunner(Runner):
    """Calls `handler(item)` in `size` worker processes, one batch per message.

    Raises:
        TypeError: From the constructor, when the handler cannot be pickled.
    """

    def __init__(
        self,
        handler: Callable[[Any], Any],
        size: int,
        time_limit: float | None,
        mp_context: multiprocessing.context.BaseContext | None = None,
    ) -> None:
        check_picklable_handler(handler)
        self._handler = handler
        self._size = size
        self._time_limit = time_limit
        self._context = mp_context or default_mp_context()
        self._idle: list[_Child] = []
        self._started = False
        self._spawned = 0
        self.max_batch = 1 if time_limit is not None else _MAX_BATCH

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        for _ in range(self._size):
            self._idle.append(self._spawn())

    def _spawn(self) -> _Child:
        parent_end, child_end = self._context.Pipe(duplex=True)
        self._spawned += 1
        process = self._context.Process(  # type: ignore[attr-defined]
            target=child_main,
            args=(child_end, self._handler, self._time_limit is not None),
            name=f"prefactor-core-process-{self._spawned}",
            daemon=True,
        )
        process.start()
        # Closing the parent's copy of the child's end lets the parent see
        # end-of-file on the pipe when the child goes away.
        child_end.close()
        return _Child(process, parent_end)

    async def run(self, items: Sequence[Any]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(items)
        sendable: list[int] = []
        payload = _pickle_batch(items, outcomes, sendable)
        if payload is None:
            return [outcome for outcome in outcomes if outcome is not None]

        # The executor runs at most `size` batches at once, so a child is idle.
        child = self._idle.pop()
        try:
            results = await self._exchange(child, payload, len(sendable))
        except (WorkerCrashedError, AttemptTimeoutError) as exc:
            self._replace(child)
            if len(sendable) == 1:
                outcomes[sendable[0]] = Outcome(False, exc)
            else:
                # Run each item of the lost batch alone, so that only an item
                # whose own attempt dies counts a failure.
                logger.warning("running the %d items of the lost batch one by one", len(sendable))
                for index in sendable:
                    outcomes[index] = (await self.run([items[index]]))[0]
        else:
            self._idle.append(child)
            for index, outcome in zip(sendable, results, strict=True):
                outcomes[index] = outcome
        return [outcome for outcome in outcomes if outcome is not None]

    async def _exchange(self, child: _Child, payload: bytes, count: int) -> list[Outcome]:
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[bytes] = loop.create_future()
        conn_fd = child.conn.fileno()
        sentinel = child.process.sentinel

        timer: asyncio.TimerHandle | None = None

        def on_readable() -> None:
            nonlocal timer
            if reply.done():
                return
            try:
                message = child.conn.recv_bytes()
            except (EOFError, OSError) as exc:
                reply.set_exception(self._crash_error(child, count, exc))
                return
            if message == STARTED_MESSAGE:
                assert self._time_limit is not None
                timer = loop.call_later(self._time_limit, self._kill_overrun, child, reply)
                return
            child.replied = True
            reply.set_result(message)

        def on_exit() -> None:
            if not reply.done():
                reply.set_exception(self._crash_error(child, count, None))

        loop.add_reader(conn_fd, on_readable)
        loop.add_reader(sentinel, on_exit)
        try:
            try:
                child.conn.send_bytes(payload)
            except OSError as exc:
                raise self._crash_error(child, count, exc) from exc
            data = await reply
        finally:
            loop.remove_reader(conn_fd)
            loop.remove_reader(sentinel)
            if timer is not None:
                timer.cancel()
        return _unpickle_outcomes(data, count)

    def _kill_overrun(self, child: _Child, reply: asyncio.Future[bytes]) -> None:
        if reply.done():
            return
        logger.warning(
            "killing %s: its attempt exceeded the time limit of %s s", child.name, self._time_limit
        )
        child.process.kill()
        reply.set_exception(
            AttemptTimeoutError(
                f"attempt exceeded the time limit of {self._time_limit} s; "
                f"worker {child.name} was killed and replaced"
            )
        )

    def _crash_error(
        self, child: _Child, count: int, cause: BaseException | None
    ) -> WorkerCrashedError:
        child.process.join(timeout=1.0)
        code = child.process.exitcode
        how = f"exit code {code}" if code is None or code >= 0 else f"signal {-code}"
        logger.error(
            "worker %s died (%s) while running %d items; starting a replacement",
            child.name,
            how,
            count,
        )
        message = f"worker process {child.name} died ({how}) while running this item"
        if not child.replied:
            # A child that dies before its first reply often failed to start:
            # "spawn" and "forkserver" import the main module again in it.
            message += (
                "; it had not finished any work yet, so if it failed at start-up, check that "
                "the main script guards its entry point with if __name__ == '__main__':"
            )
        error = WorkerCrashedError(message)
        error.__cause__ = cause
        return error

    def _replace(self, child: _Child) -> None:
        if child.process.is_alive():
            child.process.kill()
        child.process.join(timeout=_EXIT_GRACE)
        child.conn.close()
        if self._started:
            self._idle.append(self._spawn())

    async def close(self) -> None:
        self._started = False
        children, self._idle = self._idle, []
        for child in children:
            with contextlib.suppress(OSError):
                child.conn.send_bytes(STOP_MESSAGE)
        loop = asyncio.get_running_loop()
        for child in children:
            await _wait_for_exit(loop, child, _EXIT_GRACE)
            child.conn.close()


async def _wait_for_exit(loop: asyncio.AbstractEventLoop, child: _Child, grace: float) -> None:
    exited: asyncio.Future[None] = loop.create_future()

    def on_exit() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(child.process.sentinel, on_exit)
    try:
        await asyncio.wait_for(exited, grace)
    except asyncio.TimeoutError:
        logger.warning("worker %s did not exit within %s s; killing it", child.name, grace)
        child.process.kill()
    finally:
        loop.remove_reader(child.process.sentinel)
    child.process.join(timeout=grace)


def _pickle_batch(
    items: Sequence[Any], outcomes: list[Outcome | None], sendable: list[int]
) -> bytes | None:
    """Pickle the items that can be pickled; fail the others in `outcomes`."""
    try:
        payload = pickle.dumps(list(items), pickle.HIGHEST_PROTOCOL)
    except Exception:
        pass
    else:
        sendable.extend(range(len(items)))
        return payload

    # Find the items that cannot be pickled, so that they fail alone.
    good = []
    for index, item in enumerate(items):
        try:
            pickle.dumps(item, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            error = ItemNotPicklableError(
                f"item {_short_repr(item)} cannot be pickled for a worker process "
                f"({type(exc).__name__}: {exc}); put picklable values on the queue, "
                "or use mode='thread' or 'async'"
            )
            error.__cause__ = exc
            outcomes[index] = Outcome(False, error)
        else:
            sendable.append(index)
            good.append(item)
    if not good:
        return None
    return pickle.dumps(good, pickle.HIGHEST_PROTOCOL)


def _unpickle_outcomes(data: bytes, count: int) -> list[Outcome]:
    """Decode a child's reply: (True, outcomes, None) or (False, batch error, traceback)."""
    try:
        valid, payload, batch_traceback = pickle.loads(data)
    except Exception as exc:
        error = RuntimeError(f"cannot unpickle the reply of a worker process: {exc}")
        return [Outcome(False, error)] * count
    if not valid:
        if batch_traceback is not None:
            payload.__cause__ = RemoteTraceback(batch_traceback)
        return [Outcome(False, payload)] * count
    results: list[tuple[bool, Any, str | None]] = payload
    if len(results) != count:
        raise RuntimeError(f"worker returned {len(results)} outcomes for {count} items")
    outcomes = []
    for ok, value, remote_traceback in results:
        if not ok and remote_traceback is not None:
            value.__cause__ = RemoteTraceback(remote_traceback)
        outcomes.append(Outcome(ok, value))
    return outcomes


def _short_repr(value: object, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
