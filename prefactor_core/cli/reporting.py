"""Output of the commands: result files, progress on stderr and the summary line.

`ResultWriter` writes the `--output` and `--failed` JSONL files. `RunCounts`
contains the counts that the executor callbacks update. `ProgressReporter` shows
them on stderr, as a rich progress bar on a terminal and as plain lines
elsewhere, and prints messages so that they do not break the bar.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sys
import time
from typing import IO, Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

__all__ = [
    "ProgressReporter",
    "ResultWriter",
    "RunCounts",
    "format_count",
    "format_rate",
    "format_summary",
    "open_result_file",
]

_BAR_REFRESH_SECONDS = 0.2
_LOG_INTERVAL_SECONDS = 5.0


def open_result_file(path: str | None, option: str) -> IO[str] | None:
    """Open `path` for writing JSONL, truncating it; None stays None.

    Raises:
        click.BadParameter: The file cannot be created, so the command exits
            with status 2 before it starts.
    """
    if path is None:
        return None
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as exc:
        raise click.BadParameter(
            f"cannot open {path!r} for writing: {exc.strerror}", param_hint=option
        ) from exc


class ResultWriter:
    """Writers of one JSON object per line for successes and failures.

    Successes are written as `{"item", "result"}` and failures as
    `{"item", "error", "attempts"}`. A result that JSON cannot encode is
    written as its `repr`. Files are flushed by `flush` and `close`.
    """

    def __init__(
        self, output: IO[str] | None, failed: IO[str] | None, *, kept_failures: int = 0
    ) -> None:
        self._output = output
        self._failed = failed
        self._kept_failures = kept_failures
        self.failures: list[tuple[Any, str]] = []
        """The first `kept_failures` failures as `(item, error)`, for listing."""

    @property
    def keeps_failures(self) -> bool:
        """Whether failures go to a file."""
        return self._failed is not None

    def write_success(self, item: Any, result: Any) -> None:
        """Append one success record to the output file, if there is one."""
        if self._output is not None:
            self._output.write(_to_json({"item": item, "result": result}) + "\n")

    def write_failure(self, item: Any, error: str, attempts: int) -> None:
        """Append one failure record to the failed file, if there is one."""
        if len(self.failures) < self._kept_failures:
            self.failures.append((item, error))
        if self._failed is not None:
            record = {"item": item, "error": error, "attempts": attempts}
            self._failed.write(_to_json(record) + "\n")

    def flush(self) -> None:
        """Flush both files to the operating system."""
        for stream in (self._output, self._failed):
            if stream is not None:
                stream.flush()

    def close(self) -> None:
        """Flush and close both files."""
        for stream in (self._output, self._failed):
            if stream is not None:
                stream.close()


def _to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=repr)


@dataclasses.dataclass
class RunCounts:
    """Counts of one run, updated on the event loop.

    Attributes:
        accepted: Items taken from the input: queued, or recorded as invalid.
        succeeded: Items whose handler call returned.
        failed: Items that ended in failure, invalid input lines included.
        invalid: Input lines that could not be parsed.
        total: Items in the whole input, when known.
    """

    accepted: int = 0
    succeeded: int = 0
    failed: int = 0
    invalid: int = 0
    total: int | None = None

    @property
    def finished(self) -> int:
        """Items that ended, in success or failure."""
        return self.succeeded + self.failed

    @property
    def unfinished(self) -> int:
        """Accepted items that have not ended yet."""
        return self.accepted - self.finished


def format_rate(count: int, seconds: float) -> str:
    """Format `count / seconds` as items per second with one decimal."""
    return f"{count / seconds:.1f}" if seconds > 0 else "0.0"


class _RateColumn(ProgressColumn):
    """Items per second since the start, from the task's completed count."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self._unit = unit

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        return Text(f"{format_rate(int(task.completed), elapsed)} {self._unit}/s", style="cyan")


class _RemainingColumn(TimeRemainingColumn):
    """Estimated time left, or nothing while the total is unknown."""

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text("")
        return Text.assemble("ETA ", super().render(task))


class ProgressReporter:
    """Progress of a run on stderr.

    On a terminal it draws a rich progress bar with items done, items failed,
    the rate, and the ETA once the total is known. Elsewhere it writes one
    plain line every few seconds. With `enabled=False` it shows no progress
    at all. Messages and the summary always go to stderr.
    """

    def __init__(
        self,
        counts: RunCounts,
        *,
        enabled: bool,
        unit: str = "items",
        description: str | None = None,
    ) -> None:
        self._counts = counts
        self._unit = unit
        self._description = description or "progress"
        self._console = Console(stderr=True)
        self._terminal = self._console.is_terminal and enabled
        self._log_lines = enabled and not self._terminal
        self._started = time.monotonic()
        self._progress: Progress | None = None
        self._task_id: TaskID | None = None
        self._ticker: asyncio.Task[None] | None = None

    @property
    def counts(self) -> RunCounts:
        """The counts that the display shows."""
        return self._counts

    @property
    def console(self) -> Console:
        """The rich console on stderr, for log handlers that share the bar."""
        return self._console

    @property
    def elapsed(self) -> float:
        """Seconds since `start`."""
        return time.monotonic() - self._started

    def start(self) -> None:
        """Start the display; call it from the event loop."""
        self._started = time.monotonic()
        if self._terminal:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("[red]{task.fields[failed]} failed"),
                _RateColumn(self._unit),
                TimeElapsedColumn(),
                _RemainingColumn(),
                console=self._console,
                transient=False,
            )
            self._task_id = self._progress.add_task(self._description, total=None, failed=0)
            self._progress.start()
        if self._terminal or self._log_lines:
            self._ticker = asyncio.create_task(self._tick(), name="prefactor-progress")

    async def stop(self) -> None:
        """Draw the last state and stop the display."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        self._refresh()
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def abandon(self) -> None:
        """Stop drawing at once, without awaiting; used before an abort."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def message(self, text: str) -> None:
        """Write one line to stderr above the progress bar."""
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            click.echo(text, err=True)
            sys.stderr.flush()

    async def _tick(self) -> None:
        interval = _BAR_REFRESH_SECONDS if self._terminal else _LOG_INTERVAL_SECONDS
        while True:
            await asyncio.sleep(interval)
            self._refresh()
            if self._log_lines:
                self.message(self._progress_line())

    def _refresh(self) -> None:
        if self._progress is None or self._task_id is None:
            return
        self._progress.update(
            self._task_id,
            completed=self._counts.finished,
            total=self._counts.total,
            failed=self._counts.failed,
        )

    def _progress_line(self) -> str:
        counts = self._counts
        elapsed = self.elapsed
        done = f"{counts.finished}" if counts.total is None else f"{counts.finished}/{counts.total}"
        line = (
            f"{self._description}: {done} {self._unit} done, {counts.failed} failed, "
            f"{format_rate(counts.finished, elapsed)} {self._unit}/s"
        )
        if counts.total is not None and counts.finished > 0:
            remaining = (counts.total - counts.finished) * elapsed / counts.finished
            line += f", ETA {remaining:.0f} s"
        return line


def format_summary(
    counts: RunCounts,
    elapsed: float,
    *,
    unit: str = "items",
    stop_signal: str | None = None,
    unread: str | None = None,
) -> str:
    """Return the one-line summary of a run.

    Args:
        counts: The final counts.
        elapsed: Seconds that the run took.
        unit: Plural noun for the items, such as "files".
        stop_signal: Name of the signal that stopped the input, or None when
            the input was read to the end.
        unread: Description of the input left unread after a stop, such as
            "120 input lines left unread".
    """
    failed = f"{counts.failed} failed"
    if counts.invalid:
        failed += f" ({format_count(counts.invalid, 'invalid input lines')})"
    timing = f"in {elapsed:.2f} s ({format_rate(counts.finished, elapsed)} {unit}/s)"

    if stop_signal is None:
        finished = format_count(counts.finished, unit)
        return f"{finished}: {counts.succeeded} succeeded, {failed} {timing}"

    parts = [
        f"stopped by {stop_signal}: {format_count(counts.accepted, unit)} accepted",
        f"{counts.succeeded} succeeded",
        failed,
    ]
    if unread is not None:
        parts.append(unread)
    return ", ".join(parts) + f", {timing}"


def format_count(number: int, plural: str) -> str:
    """Return `number` followed by `plural`, made singular when `number` is 1.

    The singular drops the final "s", or "es" after "ss" ("processes").
    """
    singular = plural[:-2] if plural.endswith("sses") else plural[:-1]
    return f"{number} {singular if number == 1 else plural}"
