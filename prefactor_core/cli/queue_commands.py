"""The `worker` and `enqueue` commands, which use a persistent queue at a URL.

`enqueue` reads items as `run` does and puts them into the queue, and
`worker` runs a `TaskExecutor` on the queue until SIGINT or SIGTERM. Each
may run in its own process, on any machine that reaches the queue's service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any, cast

import click

from prefactor_core.queue import InMemoryQueue, Queue, QueueClosedError

from .handler_path import Handler, handler_argument
from .inputs import InputFormat, QueueFeeder, Record, iter_records
from .logging_setup import configure_logging
from .options import (
    executor_options,
    executor_settings,
    format_option,
    progress_option,
    result_options,
)
from .pipeline import ExecutorSettings, Pipeline, RunOutcome, wait_first
from .queue_url import QueueURLError, open_queue, redact_url
from .reporting import (
    ProgressReporter,
    ResultWriter,
    RunCounts,
    format_count,
    format_rate,
    format_summary,
    open_result_file,
)
from .signals import StopSignals, abort_process

__all__ = ["enqueue", "worker"]

logger = logging.getLogger(__name__)

# Items read ahead of the puts to the queue's service by `enqueue`.
_ENQUEUE_BUFFER_SIZE = 64

_QUEUE_URL_HELP = (
    "Queue to use, such as redis://HOST[:PORT][/DB]?stream=NAME (or rediss://) or "
    "postgresql://USER@HOST[:PORT]/DATABASE?queue=NAME (or postgres://)."
)


def queue_url_option(function: Any) -> Any:
    """Add the required `--queue URL` option."""
    return click.option("--queue", "queue_url", required=True, metavar="URL", help=_QUEUE_URL_HELP)(
        function
    )


def _open_queue(url: str) -> Queue[Any]:
    try:
        return open_queue(url)
    except QueueURLError as exc:
        raise click.BadParameter(str(exc), param_hint="'--queue'") from exc


@click.command()
@queue_url_option
@click.argument("handler", callback=handler_argument)
@executor_options
@result_options
@progress_option
def worker(
    queue_url: str,
    handler: Handler,
    mode: str | None,
    workers: int,
    max_retries: int,
    backoff_base: float,
    output_path: str | None,
    failed_path: str | None,
    progress: bool,
) -> None:
    """Run HANDLER on the items of the queue at URL until SIGINT or SIGTERM.

    The first signal stops taking items and finishes those already taken.
    A second one aborts at once, and the queue redelivers the unfinished
    items to another worker. Exit status: 0 after a stop by signal, 2 on a
    usage error.
    """
    settings = executor_settings(mode, workers, max_retries, backoff_base)
    output = open_result_file(output_path, "--output")
    failed = open_result_file(failed_path, "--failed")
    writer = ResultWriter(output, failed)
    reporter = ProgressReporter(RunCounts(), enabled=progress)
    configure_logging(reporter.console)

    try:
        outcome = asyncio.run(_serve(queue_url, handler, settings, writer, reporter))
    finally:
        writer.close()

    reporter.message(
        format_summary(outcome.counts, outcome.elapsed, stop_signal=outcome.stop_signal)
    )


async def _serve(
    queue_url: str,
    handler: Handler,
    settings: ExecutorSettings,
    writer: ResultWriter,
    reporter: ProgressReporter,
) -> RunOutcome:
    async with _opened(queue_url) as queue:
        logger.info("worker started on %s with handler %s", redact_url(queue_url), handler.path)
        pipeline = Pipeline(handler, settings, writer, reporter, reporter.counts, name="worker")
        outcome = await pipeline.serve(queue)
    logger.info("worker stopped")
    return outcome


@click.command()
@queue_url_option
@click.argument(
    "inputs",
    nargs=-1,
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    metavar="[INPUT]...",
)
@format_option
@progress_option
def enqueue(
    queue_url: str, inputs: tuple[str, ...], input_format: InputFormat, progress: bool
) -> None:
    """Put each item of the INPUT files, or of stdin, into the queue at URL.

    Items are read as by `run`. Invalid lines are reported on stderr and
    skipped. The first SIGINT or SIGTERM stops reading and puts the items
    already read. Exit status: 0 when every line was put, 1 when some lines
    were invalid or a put failed, 2 on a usage error, 128 + the signal
    number when a signal stopped the input.
    """
    counts = RunCounts()
    reporter = ProgressReporter(counts, enabled=progress)
    configure_logging(reporter.console)

    stop_signal, status = asyncio.run(_enqueue(queue_url, inputs, input_format, reporter))

    elapsed = reporter.elapsed
    summary = (
        f"enqueued {format_count(counts.succeeded, 'items')}, "
        f"{format_count(counts.invalid, 'invalid input lines')} skipped, "
        f"in {elapsed:.2f} s ({format_rate(counts.succeeded, elapsed)} items/s)"
    )
    if stop_signal is not None:
        summary = f"stopped by {stop_signal}: {summary}"
    reporter.message(summary)
    sys.exit(status)


async def _enqueue(
    queue_url: str,
    inputs: tuple[str, ...],
    input_format: InputFormat,
    reporter: ProgressReporter,
) -> tuple[str | None, int]:
    """Put the input items into the queue at `queue_url`.

    Returns:
        The name of the signal that stopped the input, or None, and the exit
        status.
    """
    async with _opened(queue_url) as queue:
        return await _enqueue_into(queue, inputs, input_format, reporter)


async def _enqueue_into(
    queue: Queue[Any],
    inputs: tuple[str, ...],
    input_format: InputFormat,
    reporter: ProgressReporter,
) -> tuple[str | None, int]:
    counts = reporter.counts
    buffer: InMemoryQueue[Any] = InMemoryQueue(maxsize=_ENQUEUE_BUFFER_SIZE)

    def record_invalid(record: Record) -> None:
        counts.invalid += 1
        counts.failed += 1
        reporter.message(f"{record.location}: {record.error}")

    feeder = QueueFeeder(buffer, [iter_records(inputs, input_format)], record_invalid)
    signals = StopSignals(lambda name, number: _abort_enqueue(reporter, name, number))
    put_error: BaseException | None = None

    async def put_items() -> None:
        nonlocal put_error
        while True:
            try:
                item = await buffer.get()
            except QueueClosedError:
                return
            try:
                await queue.put(item)
            except Exception as exc:
                logger.error("putting %.80r into the queue failed: %s", item, exc)
                put_error = exc
                return
            counts.succeeded += 1

    signals.install()
    try:
        reporter.start()
        feeder.start()
        putter = asyncio.create_task(put_items(), name="prefactor-enqueue")
        await wait_first(feeder.finished.wait(), signals.requested.wait(), asyncio.shield(putter))
        if not feeder.finished.is_set():
            await asyncio.to_thread(feeder.stop)
        await buffer.close()
        await putter
    finally:
        signals.uninstall()
        await reporter.stop()

    if put_error is not None:
        reporter.message(f"enqueue failed after {counts.succeeded} items: {put_error}")
        return signals.signal_name, 1
    if signals.signal_number is not None and not feeder.exhausted:
        return signals.signal_name, 128 + signals.signal_number
    if counts.invalid or feeder.error is not None:
        return signals.signal_name, 1
    return signals.signal_name, 0


def _abort_enqueue(reporter: ProgressReporter, signal_name: str, signal_number: int) -> None:
    reporter.abandon()
    reporter.message(
        f"aborted by a second {signal_name} after "
        f"{format_count(reporter.counts.succeeded, 'items')} were enqueued"
    )
    abort_process(signal_number)


@contextlib.asynccontextmanager
async def _opened(url: str) -> AsyncIterator[Queue[Any]]:
    """Open the queue at `url` for the body and release its connections after it.

    A queue with `async with` support is entered, so a queue that connects
    on entry reports an unreachable service before any work starts.

    Raises:
        click.BadParameter: The URL is invalid or its queue class is missing.
        click.ClickException: Entering the queue failed; the exit status is 1.
    """
    queue = _open_queue(url)
    if not hasattr(queue, "__aenter__"):
        try:
            yield queue
        finally:
            await _release(queue)
        return

    context = cast("contextlib.AbstractAsyncContextManager[Queue[Any]]", queue)
    try:
        entered = await context.__aenter__()
    except Exception as exc:
        raise click.ClickException(
            f"cannot open the queue at {redact_url(url)}: {type(exc).__name__}: {exc}"
        ) from exc
    try:
        yield entered
    finally:
        await context.__aexit__(None, None, None)


async def _release(queue: Queue[Any]) -> None:
    """Release the queue's connections, for queue classes that have `aclose`."""
    aclose = getattr(queue, "aclose", None)
    if aclose is not None:
        await aclose()
