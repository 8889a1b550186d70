"""The `run` command: a handler over the items of files or stdin.

It reads the input lazily on one producer thread, runs the handler through a
`TaskExecutor` and writes results and failures as JSON lines. The exit status
is 0 when all items succeeded, 1 when some failed, 2 on a usage error, and
128 + the signal number when a signal stopped the run before the end of the
input.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import stat
import sys
import threading

import click

from .handler_path import Handler, handler_argument
from .inputs import STDIN, InputFormat, count_records, iter_records
from .logging_setup import configure_logging
from .options import (
    executor_options,
    executor_settings,
    format_option,
    progress_option,
    result_options,
)
from .pipeline import QUEUE_SLOTS_PER_WORKER, ExecutorSettings, Pipeline, RunOutcome
from .reporting import (
    ProgressReporter,
    ResultWriter,
    RunCounts,
    format_summary,
    open_result_file,
)

__all__ = ["exit_status", "run"]

EXIT_OK = 0
EXIT_FAILED = 1


@click.command()
@click.argument("handler", callback=handler_argument)
@click.argument(
    "inputs",
    nargs=-1,
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    metavar="[INPUT]...",
)
@format_option
@executor_options
@click.option(
    "--queue-size",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help=f"Maximum items read ahead of the workers. Default: {QUEUE_SLOTS_PER_WORKER} per "
    "worker. A larger queue speeds up trivial handlers and lengthens the drain after a stop.",
)
@result_options
@progress_option
def run(
    handler: Handler,
    inputs: tuple[str, ...],
    input_format: InputFormat,
    mode: str | None,
    workers: int,
    max_retries: int,
    backoff_base: float,
    queue_size: int | None,
    output_path: str | None,
    failed_path: str | None,
    progress: bool,
) -> None:
    """Run HANDLER over each item of the INPUT files, or of stdin without INPUT.

    HANDLER is 'package.module:function', a sync or async function that
    takes one item. Each non-blank input line is one item. The first SIGINT
    or SIGTERM stops reading and finishes the items already accepted, and a
    second one aborts at once.

    Exit status: 0 when every item succeeded, 1 when some failed, 2 on a
    usage error, 128 + the signal number when a signal stopped the input.
    """
    settings = dataclasses.replace(
        executor_settings(mode, workers, max_retries, backoff_base), queue_size=queue_size
    )
    output = open_result_file(output_path, "--output")
    failed = open_result_file(failed_path, "--failed")
    writer = ResultWriter(output, failed)
    reporter = ProgressReporter(RunCounts(), enabled=progress)
    configure_logging(reporter.console)

    try:
        outcome = asyncio.run(_run(handler, inputs, input_format, settings, writer, reporter))
    finally:
        writer.close()

    if outcome.input_error is not None:
        reporter.message(f"reading the input failed: {outcome.input_error}")
    reporter.message(
        format_summary(
            outcome.counts,
            outcome.elapsed,
            stop_signal=outcome.stop_signal,
            unread=_describe_unread(inputs, outcome),
        )
    )
    sys.exit(exit_status(outcome))


def exit_status(outcome: RunOutcome) -> int:
    """Return the exit status for a run that was not a usage error."""
    if outcome.stop_signal_number is not None and not outcome.input_complete:
        return 128 + outcome.stop_signal_number
    if outcome.input_error is not None or outcome.counts.failed > 0:
        return EXIT_FAILED
    return EXIT_OK


async def _run(
    handler: Handler,
    inputs: tuple[str, ...],
    input_format: InputFormat,
    settings: ExecutorSettings,
    writer: ResultWriter,
    reporter: ProgressReporter,
) -> RunOutcome:
    pipeline = Pipeline(handler, settings, writer, reporter, reporter.counts, name="run")
    cancel_count = threading.Event()
    count_task = _start_count(inputs, cancel_count, reporter.counts)

    try:
        outcome = await pipeline.run([iter_records(inputs, input_format)], thread_name="input")
        if outcome.stop_signal is not None and count_task is not None:
            # The unread figure needs the total. The count is usually done
            # long before the drain, so waiting here costs little.
            await count_task
        return outcome
    finally:
        cancel_count.set()
        if count_task is not None and not count_task.done():
            count_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await count_task


def _start_count(
    inputs: tuple[str, ...], cancelled: threading.Event, counts: RunCounts
) -> asyncio.Task[None] | None:
    """Count the input items in a thread when every input is a regular file."""
    if not inputs or any(name == STDIN or not _is_regular_file(name) for name in inputs):
        return None

    async def count() -> None:
        with contextlib.suppress(OSError):
            counts.total = await asyncio.to_thread(count_records, inputs, cancelled)

    return asyncio.create_task(count(), name="prefactor-count-input")


def _is_regular_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _describe_unread(inputs: tuple[str, ...], outcome: RunOutcome) -> str | None:
    if outcome.input_complete:
        return None
    total = outcome.counts.total
    if total is not None:
        unread = total - outcome.counts.accepted
        return f"{unread} input {'line' if unread == 1 else 'lines'} left unread"
    if not inputs or STDIN in inputs:
        return "the rest of stdin left unread"
    return "the rest of the input left unread"
