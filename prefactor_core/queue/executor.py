"""TaskExecutor: a pool of workers that take items from a queue and run a handler.

How items flow:

    queue.receive_batch() --> worker coroutine --> permit --> runner.run(items)
                                                                 |
          ack <-- on_success <-- ok -----------------------------+
          nack / in-memory timer <-- retry? <-- failed ----------+
          dead_letter <-- on_failure or ERROR log <-- final -----+

`num_workers` worker coroutines fetch items. A handler call needs one of
`num_workers` permits, so at most `num_workers` batches run at once. A retry
waits for its backoff on a timer, not in a worker: when it is due, a task of
its own takes a permit and runs the attempt, while the workers keep fetching.
Runners (event loop, thread pool, process pool) only call the handler, so
retry, drain and stop behave the same in every mode.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import dataclasses
import inspect
import logging
import multiprocessing.context
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar

from .base import Delivery, Queue, QueueClosedError
from .errors import ExecutorStopTimeout, ItemNotPicklableError
from .retry import RetryPolicy, retry_all
from .runners import Outcome, Runner
from .runners.loop import LoopRunner
from .runners.process import ProcessRunner
from .runners.thread import ThreadRunner
from .stats import ExecutorStatistics

__all__ = ["Mode", "TaskExecutor", "current_delivery"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

Mode = Literal["async", "thread", "process"]
_MODES = ("async", "thread", "process")

# Seconds to wait after an unexpected error from the queue before asking it
# again, doubling up to the maximum; persistent queues reconnect meanwhile.
_RECEIVE_ERROR_DELAY = 0.1
_RECEIVE_ERROR_DELAY_MAX = 5.0

# Seconds between re-checks of size() in drain() on a queue that other
# processes consume, whose size can fall without any event in this one.
_SHARED_DRAIN_RECHECK = 1.0

_current_delivery: contextvars.ContextVar[Delivery[Any]] = contextvars.ContextVar(
    "prefactor_core_current_delivery"
)


def current_delivery() -> Delivery[Any]:
    """Return the delivery whose `on_success` or `on_failure` callback is running.

    Its `attempts` is the number of failed attempts: in `on_failure`, all the
    attempts that were made.

    Raises:
        LookupError: Called outside a callback.
    """
    return _current_delivery.get()


class TaskExecutor(Generic[T]):
    """Pool of workers that takes items from a `Queue` and runs a handler on each.

    Args:
        queue: Any `Queue`; the executor closes it in `stop`.
        handler: Called once per attempt with the item. A coroutine function
            for mode "async"; a plain function for "thread" and "process".
        num_workers: Number of attempts running at once (coroutines, threads
            or processes).
        max_retries: Retries after the first attempt; 0 means one attempt.
        is_retryable: Predicate on the exception that decides whether a
            failed attempt is retried. By default every `Exception` is.
        mode: "async", "thread" or "process". None picks "async" for
            coroutine functions and "thread" for other callables. A plain
            function that returns a coroutine is not a coroutine function:
            in mode "thread" each such attempt fails with TypeError.
        backoff_base: Seconds before the first retry; retry n waits
            `backoff_base * 2**(n-1)` seconds, minus up to 10% jitter.
        backoff_max: Cap on any retry delay, in seconds.
        on_success: Called as `on_success(item, result)` after a successful
            attempt. Sync or async; runs on the event loop.
        on_failure: Called as `on_failure(item, exc)` for each item that ends
            without success. Sync or async; runs on the event loop. Without
            it, the failure is logged at ERROR with the traceback.
        time_limit: Seconds that one attempt may take, or None for no limit.
            Mode "async" cancels the handler, mode "process" kills and
            replaces the worker process. Mode "thread" cannot interrupt a
            thread: the attempt runs to the end and then counts as failed.
            In every mode the failure is `AttemptTimeoutError`.
        mp_context: Start method for mode "process", as a name ("spawn",
            "forkserver", "fork") or a multiprocessing context. None uses
            "forkserver" where available, otherwise "spawn".
        name: Name used in logs and task names.

    Raises:
        TypeError: The handler is not callable, a callback is not callable,
            or, in mode "process", the handler cannot be pickled.
        ValueError: An argument is out of range or the mode is unknown.

    Example:
        async def handle(item: str) -> None: ...

        async with TaskExecutor(queue, handle, num_workers=3) as executor:
            await queue.put("first")
            await executor.drain()
    """

    def __init__(
        self,
        queue: Queue[T],
        handler: Callable[[T], Any],
        num_workers: int = 3,
        max_retries: int = 3,
        *,
        is_retryable: Callable[[BaseException], bool] | None = None,
        mode: Mode | None = None,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        on_success: Callable[[T, Any], Any] | None = None,
        on_failure: Callable[[T, BaseException], Any] | None = None,
        time_limit: float | None = None,
        mp_context: str | multiprocessing.context.BaseContext | None = None,
        name: str = "executor",
    ) -> None:
        if not isinstance(queue, Queue):
            raise TypeError(f"queue must be a prefactor_core.queue.Queue, got {queue!r}")
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int):
            raise TypeError(f"num_workers must be an int, got {num_workers!r}")
        if num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {num_workers}")
        for label, callback in (("on_success", on_success), ("on_failure", on_failure)):
            if callback is not None and not callable(callback):
                raise TypeError(f"{label} must be callable or None, got {callback!r}")
        if time_limit is not None and (
            isinstance(time_limit, bool)
            or not isinstance(time_limit, (int, float))
            or not 0 < time_limit < float("inf")
        ):
            raise ValueError(
                f"time_limit must be a number of seconds > 0 or None, got {time_limit!r}"
            )

        self._mode: Mode = _resolve_mode(handler, mode)
        self._policy = RetryPolicy(
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            is_retryable=retry_all if is_retryable is None else is_retryable,
        )
        self._queue = queue
        self._handler = handler
        self._num_workers = num_workers
        self._on_success = on_success
        self._on_failure = on_failure
        self._time_limit = time_limit
        self._name = name
        self._runner = self._make_runner(mp_context)
        self._max_batch = self._runner.max_batch
        if self._mode == "async" and time_limit is None:
            self._max_batch = max(1, queue.preferred_batch)

        # Skip awaiting the no-op acknowledgement of in-memory queues per item.
        self._queue_acks = type(queue).ack is not Queue.ack
        self._queue_dead_letters = type(queue).dead_letter is not Queue.dead_letter

        self._loop: asyncio.AbstractEventLoop | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._retry_tasks: set[asyncio.Task[None]] = set()
        self._retry_timers: dict[int, tuple[asyncio.TimerHandle, Delivery[T]]] = {}
        self._in_flight: dict[int, Delivery[T]] = {}
        # Permits bound the attempts running at once to num_workers. A plain
        # counter with a FIFO of waiters is cheaper per item than a Semaphore.
        self._free_permits = num_workers
        self._permit_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        # Async handlers without a time limit are awaited inline, skipping the
        # runner, and plain successes skip _settle; both are the hot path.
        self._inline_handler = handler if self._mode == "async" and time_limit is None else None
        self._plain_success = on_success is None and not self._queue_acks
        self._idle_workers = 0
        self._live_workers = 0
        # drain() and stop() wait here for a condition on the counters below.
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._stopping = False
        self._stopped = False

        self._succeeded = 0
        self._failed = 0
        self._retried = 0

    def __repr__(self) -> str:
        state = "idle"
        if self._stopped:
            state = "stopped"
        elif self._workers:
            state = "running"
        return (
            f"<TaskExecutor {self._name!r} {state} mode={self._mode} "
            f"workers={self._num_workers} in_flight={len(self._in_flight)}>"
        )

    @property
    def mode(self) -> Mode:
        """The execution mode, one of "async", "thread" or "process"."""
        return self._mode

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy built from `max_retries`, `backoff_*` and `is_retryable`."""
        return self._policy

    def statistics(self) -> ExecutorStatistics:
        """Return a snapshot of the executor's counters."""
        return ExecutorStatistics(
            succeeded=self._succeeded,
            failed=self._failed,
            retried=self._retried,
            in_flight=len(self._in_flight),
            waiting_retry=len(self._retry_timers),
            queued=self._queue.size(),
        )

    # --- Lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start the workers. Calling it again while running does nothing.

        Must be called with an event loop running; workers begin taking items
        at once. Mode "process" starts its worker processes here.

        Raises:
            RuntimeError: No event loop is running, or the executor was stopped.
        """
        if self._stopped or self._stopping:
            raise RuntimeError(f"{self!r} was stopped; create a new TaskExecutor")
        if self._workers:
            return
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._runner.start()
        for index in range(self._num_workers):
            task = loop.create_task(self._work(index), name=f"prefactor-core-{self._name}-{index}")
            self._workers.append(task)
        self._live_workers = self._num_workers
        logger.info(
            "executor %s started: %d workers in %s mode, max_retries=%d",
            self._name,
            self._num_workers,
            self._mode,
            self._policy.max_retries,
        )

    async def drain(self) -> None:
        """Wait until the queue is empty and no item is in flight or waiting to retry.

        It does not close the queue, so more items may be put afterwards.
        Items put while it waits are waited for too. On a queue that other
        processes consume (`Queue.shared`), the queue's `size()` is
        re-checked every second, because other consumers can empty it.

        Raises:
            RuntimeError: The executor has not been started.
        """
        if not self._workers:
            raise RuntimeError(f"{self!r} is not started; call start() before drain()")
        recheck = _SHARED_DRAIN_RECHECK if self._queue.shared else None
        await self._wait_until(self._is_drained, recheck)

    async def stop(self, timeout: float | None = None) -> None:
        """Close the queue and wait until every accepted item has ended.

        Workers finish the items still in the queue, and items waiting for a
        retry get their remaining attempts with the usual backoff. Every
        item ends in `on_success` or in `on_failure` (or the ERROR log).
        Nothing is cancelled and there is no hidden deadline. Then threads
        or worker processes are released. Calling it again after it returned
        does nothing. Before `start()`, it only closes the queue.

        Args:
            timeout: Seconds to wait, or None to wait as long as it takes.

        Raises:
            ExecutorStopTimeout: The timeout passed first. It lists the
                unfinished items; the workers keep running, and calling
                `stop()` again waits for the rest.
        """
        if self._stopped:
            return
        if not self._workers:
            await self._queue.close(num_waiters=self._num_workers)
            self._stopped = True
            return
        if not self._stopping:
            self._stopping = True
            logger.info(
                "executor %s stopping: %d queued, %d in flight, %d waiting to retry",
                self._name,
                self._queue.size(),
                len(self._in_flight),
                len(self._retry_timers),
            )
            await self._queue.close(num_waiters=self._num_workers)

        try:
            await asyncio.wait_for(self._wait_until(self._has_ended), timeout)
        except asyncio.TimeoutError:
            unfinished = [delivery.item for delivery in self._in_flight.values()]
            unfinished += [delivery.item for _, delivery in self._retry_timers.values()]
            raise ExecutorStopTimeout(unfinished, self._queue.size()) from None

        if self._stopped:
            return
        self._stopped = True
        await asyncio.gather(*self._workers)
        await self._runner.close()
        stats = self.statistics()
        logger.info(
            "executor %s stopped: %d succeeded, %d failed, %d retries",
            self._name,
            stats.succeeded,
            stats.failed,
            stats.retried,
        )

    async def __aenter__(self) -> TaskExecutor[T]:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- Waiting for a state -----------------------------------------------------------

    def _is_drained(self) -> bool:
        busy_workers = self._live_workers - self._idle_workers
        return (
            busy_workers == 0
            and not self._in_flight
            and not self._retry_timers
            and not self._retry_tasks
            and self._queue.size() == 0
        )

    def _has_ended(self) -> bool:
        return (
            self._live_workers == 0
            and not self._in_flight
            and not self._retry_timers
            and not self._retry_tasks
        )

    async def _wait_until(
        self, condition: Callable[[], bool], recheck: float | None = None
    ) -> None:
        while not condition():
            assert self._loop is not None
            waiter = self._loop.create_future()
            entry = (condition, waiter)
            self._waiters.append(entry)
            try:
                if recheck is None:
                    await waiter
                else:
                    await asyncio.wait({waiter}, timeout=recheck)
            finally:
                if entry in self._waiters:
                    self._waiters.remove(entry)

    def _state_changed(self) -> None:
        # Wake the waiters whose condition now holds. Callers skip this when
        # the list is empty, so the per-item cost is one check.
        still_waiting = []
        for condition, waiter in self._waiters:
            if waiter.done():
                continue
            if condition():
                waiter.set_result(None)
            else:
                still_waiting.append((condition, waiter))
        self._waiters = still_waiting

    # --- Workers ---------------------------------------------------------------------

    async def _work(self, index: int) -> None:
        worker = f"{self._name}-{index}"
        receive_error_delay = _RECEIVE_ERROR_DELAY
        single = self._max_batch == 1
        receive = self._queue.receive
        receive_nowait = self._queue.receive_nowait
        batch: list[Delivery[T]] = []
        try:
            while True:
                delivery = None
                try:
                    if single:
                        delivery = receive_nowait()
                    if delivery is None:
                        self._idle_workers += 1
                        if self._waiters:
                            self._state_changed()
                        try:
                            if single:
                                delivery = await receive()
                            else:
                                batch = await self._receive_batch()
                        finally:
                            self._idle_workers -= 1
                except QueueClosedError:
                    return
                except Exception:
                    logger.exception(
                        "worker %s: receiving from %r failed; retrying in %.1f s",
                        worker,
                        self._queue,
                        receive_error_delay,
                    )
                    await asyncio.sleep(receive_error_delay)
                    receive_error_delay = min(receive_error_delay * 2, _RECEIVE_ERROR_DELAY_MAX)
                    continue
                receive_error_delay = _RECEIVE_ERROR_DELAY

                if delivery is not None:
                    await self._run_one(delivery)
                else:
                    await self._run_batch(batch)
        finally:
            self._live_workers -= 1
            self._state_changed()

    async def _receive_batch(self) -> list[Delivery[T]]:
        # Share a short queue among the workers instead of giving it all to one.
        share = self._queue.size() // self._num_workers
        return await self._queue.receive_batch(max(1, min(self._max_batch, share)))

    async def _run_one(self, delivery: Delivery[T]) -> None:
        handler = self._inline_handler
        if handler is None:
            await self._run_batch([delivery])
            return

        key = id(delivery)
        self._in_flight[key] = delivery
        if self._free_permits > 0 and not self._permit_waiters:
            self._free_permits -= 1
        else:
            await self._wait_for_permit()
        try:
            result = await handler(delivery.item)
        except Exception as exc:
            self._release_permit()
            await self._settle(delivery, Outcome(False, exc))
            return
        self._release_permit()

        if not self._plain_success:
            await self._settle(delivery, Outcome(True, result))
            return
        self._succeeded += 1
        del self._in_flight[key]
        if self._waiters:
            self._state_changed()

    async def _run_batch(self, batch: list[Delivery[T]]) -> None:
        if self._inline_handler is not None:
            await self._run_inline_batch(self._inline_handler, batch)
            return

        in_flight = self._in_flight
        for delivery in batch:
            in_flight[id(delivery)] = delivery

        if self._free_permits > 0 and not self._permit_waiters:
            self._free_permits -= 1
        else:
            await self._wait_for_permit()
        try:
            outcomes = await self._runner.run([delivery.item for delivery in batch])
        finally:
            self._release_permit()

        for delivery, outcome in zip(batch, outcomes, strict=True):
            if outcome.ok and self._plain_success:
                self._succeeded += 1
                del in_flight[id(delivery)]
                if self._waiters:
                    self._state_changed()
            else:
                await self._settle(delivery, outcome)

    async def _run_inline_batch(
        self, handler: Callable[[T], Any], batch: list[Delivery[T]]
    ) -> None:
        # Mode "async" without a time limit: await the handler on each item
        # in turn, settling each before the next starts, under one permit.
        in_flight = self._in_flight
        for delivery in batch:
            in_flight[id(delivery)] = delivery

        if self._free_permits > 0 and not self._permit_waiters:
            self._free_permits -= 1
        else:
            await self._wait_for_permit()
        try:
            for delivery in batch:
                try:
                    result = await handler(delivery.item)
                except Exception as exc:
                    await self._settle(delivery, Outcome(False, exc))
                    continue
                if not self._plain_success:
                    await self._settle(delivery, Outcome(True, result))
                    continue
                self._succeeded += 1
                del in_flight[id(delivery)]
                if self._waiters:
                    self._state_changed()
        finally:
            self._release_permit()

    async def _wait_for_permit(self) -> None:
        assert self._loop is not None
        waiter = self._loop.create_future()
        self._permit_waiters.append(waiter)
        # _release_permit hands its permit straight to this waiter.
        await waiter

    def _release_permit(self) -> None:
        while self._permit_waiters:
            waiter = self._permit_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free_permits += 1

    async def _run_retry(self, delivery: Delivery[T]) -> None:
        await self._run_one(delivery)

    # --- Ending an attempt -------------------------------------------------------------

    async def _settle(self, delivery: Delivery[T], outcome: Outcome) -> None:
        try:
            if outcome.ok:
                await self._succeed(delivery, outcome.value)
            else:
                await self._fail_attempt(delivery, outcome.value)
        finally:
            del self._in_flight[id(delivery)]
            if self._waiters:
                self._state_changed()

    async def _succeed(self, delivery: Delivery[T], result: Any) -> None:
        self._succeeded += 1
        if self._on_success is not None:
            await self._call_back("on_success", self._on_success, delivery, result)
        if self._queue_acks:
            try:
                await self._queue.ack(delivery)
            except Exception:
                logger.exception(
                    "executor %s: ack of item %s failed; the queue may deliver it again",
                    self._name,
                    _short_repr(delivery.item),
                )

    async def _fail_attempt(self, delivery: Delivery[T], error: BaseException) -> None:
        attempts = delivery.attempts + 1
        retryable = not isinstance(error, ItemNotPicklableError)
        if retryable and self._policy.should_retry(error, attempts):
            await self._retry(delivery, error, attempts)
            return

        self._failed += 1
        finished = dataclasses.replace(delivery, attempts=attempts)
        if self._on_failure is not None:
            await self._call_back("on_failure", self._on_failure, finished, error)
        else:
            logger.error(
                "executor %s: item %s failed after %d attempts",
                self._name,
                _short_repr(delivery.item),
                attempts,
                exc_info=error,
            )
        if self._queue_dead_letters:
            try:
                await self._queue.dead_letter(delivery, error)
            except Exception:
                logger.exception(
                    "executor %s: dead-lettering item %s failed; the queue may deliver it again",
                    self._name,
                    _short_repr(delivery.item),
                )

    async def _retry(self, delivery: Delivery[T], error: BaseException, attempts: int) -> None:
        self._retried += 1
        delay = self._policy.delay(attempts)
        logger.warning(
            "executor %s: attempt %d of item %s failed with %s; retrying in %.2f s",
            self._name,
            attempts,
            _short_repr(delivery.item),
            _short_repr(error),
            delay,
        )
        try:
            if await self._queue.nack(delivery, delay=delay, error=error):
                return
        except Exception:
            logger.exception(
                "executor %s: nack of item %s failed; retrying it in this process",
                self._name,
                _short_repr(delivery.item),
            )
        assert self._loop is not None
        retry = Delivery(delivery.item, attempts, delivery.receipt)
        timer = self._loop.call_later(delay, self._retry_due, retry)
        self._retry_timers[id(retry)] = (timer, retry)

    def _retry_due(self, delivery: Delivery[T]) -> None:
        del self._retry_timers[id(delivery)]
        assert self._loop is not None
        task = self._loop.create_task(
            self._run_retry(delivery), name=f"prefactor-core-{self._name}-retry"
        )
        self._retry_tasks.add(task)
        task.add_done_callback(self._retry_task_done)

    def _retry_task_done(self, task: asyncio.Task[None]) -> None:
        self._retry_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("executor %s: retry task failed", self._name, exc_info=task.exception())
        self._state_changed()

    async def _call_back(
        self, label: str, callback: Callable[..., Any], delivery: Delivery[T], value: Any
    ) -> None:
        token = _current_delivery.set(delivery)
        try:
            result = callback(delivery.item, value)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception(
                "executor %s: %s callback raised for item %s",
                self._name,
                label,
                _short_repr(delivery.item),
            )
        finally:
            _current_delivery.reset(token)

    # --- Construction helpers ----------------------------------------------------------

    def _make_runner(self, mp_context: str | multiprocessing.context.BaseContext | None) -> Runner:
        if self._mode == "async":
            return LoopRunner(self._handler, self._time_limit)
        if self._mode == "thread":
            return ThreadRunner(self._handler, self._num_workers, self._time_limit)
        context = (
            multiprocessing.get_context(mp_context) if isinstance(mp_context, str) else mp_context
        )
        return ProcessRunner(self._handler, self._num_workers, self._time_limit, context)


def _resolve_mode(handler: Callable[..., Any], mode: str | None) -> Mode:
    is_coroutine = _is_coroutine_function(handler)
    if mode is None:
        return "async" if is_coroutine else "thread"
    if mode not in _MODES:
        raise ValueError(f"mode must be one of 'async', 'thread', 'process' or None, got {mode!r}")
    if mode == "async" and not is_coroutine:
        raise TypeError(
            f"mode 'async' needs a coroutine function (async def), got {handler!r}; "
            "use mode='thread' for a plain function"
        )
    if mode != "async" and is_coroutine:
        raise TypeError(
            f"mode {mode!r} needs a plain function, got the coroutine function {handler!r}; "
            "use mode='async'"
        )
    return mode  # type: ignore[return-value]


def _is_coroutine_function(handler: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(handler):
        return True
    call = getattr(handler, "__call__", None)  # noqa: B004 - objects with an async __call__
    return call is not None and inspect.iscoroutinefunction(call)


def _short_repr(value: object, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
