"""The run loop shared by `run` and `demo`: producers, executor and stop signals.

How data flows:

    producer threads --sync_q.put--> InMemoryQueue (bounded) --> TaskExecutor workers
           |                                                          |
           +-- invalid records ---------+              on_success / on_failure
                                        v                             v
                          event loop: RunCounts, --output and --failed files

The queue has room for a few items per worker, so the producers read the
input only as fast as the workers take it. A run ends when the producers have
read all input, or after the first stop signal. Either way it returns only
once every accepted item has ended in success or failure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any

import click

from prefactor_core.queue import InMemoryQueue, Queue, TaskExecutor, current_delivery
from prefactor_core.queue.executor import Mode

from .handler_path import Handler
from .inputs import QueueFeeder, Record
from .reporting import ProgressReporter, ResultWriter, RunCounts, format_count
from .signals import StopSignals, abort_process

__all__ = ["QUEUE_SLOTS_PER_WORKER", "ExecutorSettings", "Pipeline", "RunOutcome", "wait_first"]

logger = logging.getLogger(__name__)

QUEUE_SLOTS_PER_WORKER = 4
"""Default queue size per worker: enough that a worker finds the next item
waiting, few enough that a stop leaves little queued work to drain. The
executor hands a worker up to its share of the queued items at once, so a
larger queue means larger batches: faster for trivial handlers, but a longer
drain after a stop for slow ones."""

# The number of invalid-line errors printed in full; the rest are counted.
_MAX_INVALID_MESSAGES = 20


@dataclasses.dataclass(frozen=True)
class ExecutorSettings:
    """Options of `TaskExecutor` that the commands set.

    Attributes:
        mode: "async", "thread", "process", or None for the executor's default.
        workers: Number of attempts running at once.
        max_retries: Attempts after the first one for a failing item.
        backoff_base: Delay in seconds before the first retry.
        queue_size: Maximum items read ahead of the workers, or None for
            `QUEUE_SLOTS_PER_WORKER` per worker.
    """

    mode: Mode | None
    workers: int
    max_retries: int
    backoff_base: float
    queue_size: int | None = None


@dataclasses.dataclass(frozen=True)
class RunOutcome:
    """Outcome of one run.

    Attributes:
        counts: The final counts.
        elapsed: Seconds from start to the end of the drain.
        stop_signal: Name of the signal that stopped the input, or None.
        stop_signal_number: Number of that signal, or None.
        input_complete: Whether the producers read the whole input.
        input_error: The error that ended the input early, or None.
    """

    counts: RunCounts
    elapsed: float
    stop_signal: str | None
    stop_signal_number: int | None
    input_complete: bool
    input_error: BaseException | None


class Pipeline:
    """One run of a handler over the items of some producer threads.

    The pipeline owns the callbacks that update the counts, and the caller
    owns the writer and the reporter and closes them. `name` names the executor
    in log records.
    """

    def __init__(
        self,
        handler: Handler,
        settings: ExecutorSettings,
        writer: ResultWriter,
        reporter: ProgressReporter,
        counts: RunCounts,
        *,
        name: str,
    ) -> None:
        self._handler = handler
        self._name = name
        self._settings = settings
        self._writer = writer
        self._reporter = reporter
        self._counts = counts
        self._feeder: QueueFeeder | None = None
        self._executor: TaskExecutor[Any] | None = None
        self._input_closed = False

    async def run(self, streams: Sequence[Iterable[Record]], *, thread_name: str) -> RunOutcome:
        """Run the handler over the items of `streams` until they end or a signal.

        Each stream is read by its own producer thread. Blocks until every
        accepted item ended. A second stop signal ends the process at once
        through `abort_process`.

        Raises:
            click.UsageError: The executor rejected the settings or the handler.
        """
        queue_size = self._settings.queue_size or self._settings.workers * QUEUE_SLOTS_PER_WORKER
        queue: InMemoryQueue[Any] = InMemoryQueue(maxsize=queue_size)
        executor = self._build_executor(queue)
        self._executor = executor
        feeder = QueueFeeder(queue, streams, self._record_invalid, thread_name=thread_name)
        self._feeder = feeder
        signals = StopSignals(self._abort)

        signals.install()
        try:
            # The clock starts before the executor, so the rate includes
            # starting the thread or process pool.
            self._reporter.start()
            executor.start()
            feeder.start()

            await wait_first(feeder.finished.wait(), signals.requested.wait())
            if not feeder.finished.is_set():
                # Wait for the producers to leave their put attempt. After
                # that, `accepted` no longer changes.
                await asyncio.to_thread(feeder.stop)
            self._counts.accepted = feeder.accepted
            self._input_closed = True
            if feeder.exhausted:
                # The whole input is known now, which gives the bar its ETA.
                self._counts.total = feeder.accepted
            if signals.signal_name is not None:
                self._reporter.message(
                    f"{signals.signal_name} received: finishing "
                    f"{format_count(self._counts.unfinished, 'accepted items')}; "
                    "send it again to abort"
                )

            # Workers finish the items still queued and every retry before
            # `stop` returns, so each accepted item has ended after it.
            await executor.stop()
        finally:
            signals.uninstall()
            await self._reporter.stop()
            self._writer.flush()

        return RunOutcome(
            counts=self._counts,
            elapsed=self._reporter.elapsed,
            stop_signal=signals.signal_name,
            stop_signal_number=signals.signal_number,
            input_complete=feeder.exhausted,
            input_error=feeder.error,
        )

    async def serve(self, queue: Queue[Any]) -> RunOutcome:
        """Run the handler over the items of `queue` until the first stop signal.

        Blocks until the signal, then stops the executor, which finishes the
        deliveries already handed out. A second stop signal ends the process
        at once, and a persistent queue redelivers what was left unfinished.

        Raises:
            click.UsageError: The executor rejected the settings or the handler.
        """
        executor = self._build_executor(queue)
        self._executor = executor
        signals = StopSignals(self._abort)

        signals.install()
        try:
            self._reporter.start()
            executor.start()
            await signals.requested.wait()
            await executor.stop()
        finally:
            signals.uninstall()
            await self._reporter.stop()
            self._writer.flush()

        self._counts.accepted = self._counts.finished
        return RunOutcome(
            counts=self._counts,
            elapsed=self._reporter.elapsed,
            stop_signal=signals.signal_name,
            stop_signal_number=signals.signal_number,
            input_complete=False,
            input_error=None,
        )

    def _build_executor(self, queue: Queue[Any]) -> TaskExecutor[Any]:
        settings = self._settings
        try:
            return TaskExecutor(
                queue,
                self._handler.function,
                num_workers=settings.workers,
                max_retries=settings.max_retries,
                mode=settings.mode,
                backoff_base=settings.backoff_base,
                on_success=self._record_success,
                on_failure=self._record_failure,
                name=self._name,
            )
        except (TypeError, ValueError) as exc:
            raise click.UsageError(f"cannot run {self._handler.path!r}: {exc}") from exc

    def _record_success(self, item: Any, result: Any) -> None:
        self._counts.succeeded += 1
        self._writer.write_success(item, result)

    def _record_failure(self, item: Any, error: BaseException) -> None:
        self._counts.failed += 1
        # In on_failure, the delivery's `attempts` counts every attempt made.
        attempts = current_delivery().attempts
        self._writer.write_failure(item, f"{type(error).__name__}: {error}", attempts)
        if not self._writer.keeps_failures:
            logger.error(
                "%s: item %.200r failed (attempts: %d): %s: %s",
                self._name,
                item,
                attempts,
                type(error).__name__,
                error,
            )

    def _record_invalid(self, record: Record) -> None:
        self._counts.invalid += 1
        self._counts.failed += 1
        if self._counts.invalid <= _MAX_INVALID_MESSAGES:
            self._reporter.message(f"{record.location}: {record.error}")
        if self._counts.invalid == _MAX_INVALID_MESSAGES:
            self._reporter.message(
                "further invalid lines are not shown; they are counted and written to --failed"
            )
        self._writer.write_failure(record.item, f"{record.location}: {record.error}", 0)

    def _abort(self, signal_name: str, signal_number: int) -> None:
        if self._feeder is not None:
            if not self._input_closed:
                self._counts.accepted = self._feeder.accepted
            unfinished = self._counts.unfinished
        elif self._executor is not None:
            unfinished = self._executor.statistics().in_flight
        else:
            unfinished = 0
        self._reporter.abandon()
        self._writer.flush()
        self._reporter.message(
            f"aborted by a second {signal_name}: {format_count(unfinished, 'accepted items')} "
            "left unfinished "
            f"({self._counts.succeeded} succeeded, {self._counts.failed} failed)"
        )
        abort_process(signal_number)


async def wait_first(*waits: Awaitable[Any]) -> None:
    """Wait until the first of `waits` completes and cancel the others."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
