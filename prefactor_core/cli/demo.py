"""The `demo` command: hash and compress every file of a directory tree.

Producer threads walk the directory and put file paths into an
`InMemoryQueue` through its thread face. Async workers take the paths and
run `digest_file` in a process pool. Then the same handler runs serially in
this process over the same files, and the summary shows the speedup.
"""

from __future__ import annotations

import asyncio
import os
import sys
import sysconfig
import threading
import time
from collections.abc import Iterator, Sequence

import click

from .file_digest import digest_file
from .handler_path import Handler
from .inputs import Record
from .logging_setup import configure_logging
from .options import progress_option
from .pipeline import ExecutorSettings, Pipeline, RunOutcome
from .reporting import (
    ProgressReporter,
    ResultWriter,
    RunCounts,
    format_count,
    format_rate,
    format_summary,
    open_result_file,
)
from .signals import StopSignals

__all__ = ["DEFAULT_OUTPUT", "demo", "walk_files"]

DEFAULT_OUTPUT = "prefactor-core-demo.jsonl"
"""Results file of the demo, in the current directory."""

_DEFAULT_PRODUCERS = 2

# Folders under the standard library that are not part of it: installed
# packages and bytecode caches. They are skipped only in the default folder.
_NOT_STDLIB = frozenset({"site-packages", "dist-packages", "__pycache__"})

_LISTED_FAILURES = 10

# A path is cheap to queue and an average stdlib file takes about 2 ms, so
# a deeper queue than `run` uses lets the pool take larger batches. Measured
# on the stdlib with 2 workers, the parent's CPU time fell from about 9% to
# 2% of the handlers' time. A stop then drains at most this many paths per
# worker.
_QUEUE_SLOTS_PER_WORKER = 32

_HANDLER = Handler(f"{digest_file.__module__}:{digest_file.__name__}", digest_file)


@click.command()
@click.argument(
    "directory",
    required=False,
    type=click.Path(exists=True, file_okay=False),
)
@click.option(
    "--output",
    "output_path",
    type=click.Path(dir_okay=False, writable=True),
    default=DEFAULT_OUTPUT,
    show_default=True,
    metavar="FILE",
    help='Results file: {"item", "result"} as a JSON line per file read.',
)
@click.option(
    "--failed",
    "failed_path",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    metavar="FILE",
    help='Write {"item", "error", "attempts"} as a JSON line for each file that failed.',
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes. Default: the number of CPUs.",
)
@click.option(
    "--producers",
    type=click.IntRange(min=1),
    default=_DEFAULT_PRODUCERS,
    show_default=True,
    help="Threads that walk the directory.",
)
@click.option(
    "--serial/--no-serial",
    default=True,
    show_default=True,
    help="Also run the handler serially in this process over the same files, "
    "to measure the speedup.",
)
@progress_option
def demo(
    directory: str | None,
    output_path: str,
    failed_path: str | None,
    workers: int | None,
    producers: int,
    serial: bool,
    progress: bool,
) -> None:
    """Hash and compress each file under DIRECTORY in a process pool.

    DIRECTORY defaults to the standard library of the running Python,
    without installed packages and bytecode caches. Files that cannot be
    read count as failures and are listed. Exit status: 0 when the walk
    finished, 2 on a usage error, 128 + the signal number when a signal
    stopped it.
    """
    skipped = frozenset[str]()
    if directory is None:
        directory = sysconfig.get_paths()["stdlib"]
        skipped = _NOT_STDLIB
    cpus = os.cpu_count() or 1
    workers = workers or cpus
    settings = ExecutorSettings(
        mode="process",
        workers=workers,
        max_retries=0,
        backoff_base=0.0,
        queue_size=workers * _QUEUE_SLOTS_PER_WORKER,
    )

    output = open_result_file(output_path, "--output")
    failed = open_result_file(failed_path, "--failed")
    writer = ResultWriter(output, failed, kept_failures=_LISTED_FAILURES)
    reporter = ProgressReporter(
        RunCounts(), enabled=progress, unit="files", description="process pool"
    )
    configure_logging(reporter.console)
    reporter.message(
        f"demo: {format_count(settings.workers, 'worker processes')}, "
        f"{format_count(producers, 'producer threads')}, "
        f"walking {directory}"
    )

    try:
        outcome = asyncio.run(
            _run_parallel(directory, skipped, producers, settings, writer, reporter)
        )
    finally:
        writer.close()

    counts = outcome.counts
    reporter.message(
        format_summary(counts, outcome.elapsed, unit="files", stop_signal=outcome.stop_signal)
    )
    if outcome.stop_signal_number is not None and not outcome.input_complete:
        sys.exit(128 + outcome.stop_signal_number)

    if serial:
        _report_serial(directory, skipped, outcome, settings.workers, cpus, progress, reporter)
    _list_failures(writer, counts, reporter, failed_path)
    reporter.message(f"results: {os.path.abspath(output_path)}")


async def _run_parallel(
    directory: str,
    skipped: frozenset[str],
    producers: int,
    settings: ExecutorSettings,
    writer: ResultWriter,
    reporter: ProgressReporter,
) -> RunOutcome:
    pipeline = Pipeline(_HANDLER, settings, writer, reporter, reporter.counts, name="demo")
    streams = [
        _walk_records(roots, skipped) for roots in _split_roots(directory, skipped, producers)
    ]
    # The producers walk only as fast as the workers take paths, so a
    # separate walk that only counts gives the progress bar its total early.
    cancel_count = threading.Event()
    counting = asyncio.create_task(
        asyncio.to_thread(_count_files, directory, skipped, reporter.counts, cancel_count)
    )
    try:
        return await pipeline.run(streams, thread_name="walker")
    finally:
        cancel_count.set()
        await counting


def _count_files(
    directory: str, skipped: frozenset[str], counts: RunCounts, cancelled: threading.Event
) -> None:
    """Set `counts.total` to the number of files, unless cancelled or already set."""
    total = 0
    for _ in walk_files(_top_level_entries(directory, skipped), skipped):
        if cancelled.is_set():
            return
        total += 1
    if counts.total is None:
        counts.total = total


def walk_files(roots: Sequence[str], skipped: frozenset[str] = frozenset()) -> Iterator[str]:
    """Yield the path of every non-directory entry under `roots`, in walk order.

    A root may be a file, which is yielded as it is. Folders named in
    `skipped` are not entered. Symbolic links to folders are skipped, as
    `os.walk` does. Other symbolic links, broken ones too, are yielded like
    files.
    """
    for root in roots:
        if os.path.isdir(root) and os.path.islink(root):
            continue
        if not os.path.isdir(root):
            yield root
            continue
        for folder, subfolders, files in os.walk(root):
            subfolders[:] = sorted(name for name in subfolders if name not in skipped)
            for name in sorted(files):
                yield os.path.join(folder, name)


def _walk_records(roots: Sequence[str], skipped: frozenset[str]) -> Iterator[Record]:
    for number, path in enumerate(walk_files(roots, skipped), start=1):
        yield Record(source="walk", line_number=number, item=path)


def _top_level_entries(directory: str, skipped: frozenset[str]) -> list[str]:
    return sorted(
        entry.path
        for entry in os.scandir(directory)
        if not (entry.is_dir(follow_symlinks=False) and entry.name in skipped)
    )


def _split_roots(directory: str, skipped: frozenset[str], producers: int) -> list[list[str]]:
    """Deal the top-level entries of `directory` to `producers` walkers in turn."""
    entries = _top_level_entries(directory, skipped)
    shares: list[list[str]] = [[] for _ in range(producers)]
    for index, path in enumerate(entries):
        shares[index % producers].append(path)
    return [share for share in shares if share]


def _report_serial(
    directory: str,
    skipped: frozenset[str],
    parallel: RunOutcome,
    workers: int,
    cpus: int,
    progress: bool,
    parent: ProgressReporter,
) -> None:
    """Run the handler serially over the same files and print the speedup."""
    counts = RunCounts(total=parallel.counts.finished)
    reporter = ProgressReporter(counts, enabled=progress, unit="files", description="serial")
    stopped, elapsed = asyncio.run(_run_serial(directory, skipped, counts, reporter))
    if stopped is not None:
        parent.message(f"serial run stopped by {stopped} after {counts.finished} files")
        return

    parallel_rate = parallel.counts.finished / parallel.elapsed if parallel.elapsed else 0.0
    serial_rate = counts.finished / elapsed if elapsed else 0.0
    speedup = f"{parallel_rate / serial_rate:.2f}x" if serial_rate else "n/a"
    parent.message(
        f"serial run in this process: {counts.finished} files in {elapsed:.2f} s "
        f"({format_rate(counts.finished, elapsed)} files/s); speedup over serial: {speedup} "
        f"with {format_count(workers, 'worker processes')} on {format_count(cpus, 'CPUs')}"
    )


async def _run_serial(
    directory: str, skipped: frozenset[str], counts: RunCounts, reporter: ProgressReporter
) -> tuple[str | None, float]:
    """Return the name of the signal that stopped the run, or None, and its seconds."""
    cancelled = threading.Event()
    signals = StopSignals(lambda name, number: os._exit(128 + number))
    signals.install()
    reporter.start()
    try:
        stop_wait = asyncio.create_task(signals.requested.wait())
        stop_wait.add_done_callback(lambda _: cancelled.set())
        elapsed = await asyncio.to_thread(_digest_serially, directory, skipped, counts, cancelled)
        stop_wait.cancel()
    finally:
        signals.uninstall()
        await reporter.stop()
    return signals.signal_name, elapsed


def _digest_serially(
    directory: str, skipped: frozenset[str], counts: RunCounts, cancelled: threading.Event
) -> float:
    """Run `digest_file` over the walk in this thread and return the seconds it took.

    Counts are updated from this thread, and the progress display only reads
    them.
    """
    started = time.perf_counter()
    for path in walk_files(_top_level_entries(directory, skipped), skipped):
        if cancelled.is_set():
            break
        try:
            digest_file(path)
        except OSError:
            counts.failed += 1
            continue
        counts.succeeded += 1
    return time.perf_counter() - started


def _list_failures(
    writer: ResultWriter, counts: RunCounts, reporter: ProgressReporter, failed_path: str | None
) -> None:
    if not counts.failed:
        return
    reporter.message(f"failed files ({counts.failed}):")
    for item, error in writer.failures:
        reporter.message(f"  {item}: {error}")
    hidden = counts.failed - len(writer.failures)
    if hidden > 0:
        where = f"; all are in {failed_path}" if failed_path else "; use --failed FILE to keep all"
        reporter.message(f"  ... and {hidden} more{where}")
