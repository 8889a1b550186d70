"""Input reading: items parsed lazily from files or stdin, fed to a bounded queue.

`iter_records` turns input lines into `Record`s one at a time and never reads
ahead of its consumer. `QueueFeeder` runs record streams on producer threads
and puts the items into an `InMemoryQueue` through its thread face, so a
bounded queue keeps memory flat whatever the input size, and a stop request
ends the reading within one put attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import queue as std_queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, BinaryIO, Literal

from prefactor_core.queue import InMemoryQueue, QueueClosedError

__all__ = [
    "INPUT_FORMATS",
    "STDIN",
    "InputFormat",
    "QueueFeeder",
    "Record",
    "count_records",
    "iter_records",
]

logger = logging.getLogger(__name__)

InputFormat = Literal["lines", "jsonl"]
INPUT_FORMATS: tuple[InputFormat, ...] = ("lines", "jsonl")

STDIN = "-"
"""Input name that stands for standard input, as in most Unix tools."""

_STDIN_NAME = "<stdin>"

# A producer blocked on a full queue wakes up this often to see whether a
# stop was requested, which bounds how long `QueueFeeder.stop` waits.
_PUT_POLL_SECONDS = 0.1


@dataclasses.dataclass(frozen=True)
class Record:
    """One input line, parsed.

    Attributes:
        source: File name as given, or `<stdin>`.
        line_number: 1-based physical line number in `source`.
        item: The parsed item. When `error` is set, the line's text instead.
        error: Why the line could not be parsed, such as
            `invalid JSON: Expecting value: column 1`, or None.
    """

    source: str
    line_number: int
    item: Any
    error: str | None = None

    @property
    def location(self) -> str:
        """Position of the line as `source:line_number`."""
        return f"{self.source}:{self.line_number}"


def iter_records(inputs: Sequence[str], input_format: InputFormat) -> Iterator[Record]:
    """Yield one record per non-blank line of `inputs`, in order.

    Each input is a file path or `STDIN`; no inputs means stdin. Lines are
    decoded as UTF-8 with their line ending removed. Blank lines (only ASCII
    whitespace) are skipped but still counted in line numbers. A line that is
    not valid UTF-8, or not valid JSON in the `jsonl` format, becomes a
    record with `error` set instead of raising.

    Raises:
        OSError: An input file cannot be opened or read.
    """
    for name in inputs or [STDIN]:
        if name == STDIN:
            with _open_stdin() as stream:
                yield from _parse_stream(stream, _STDIN_NAME, input_format)
            continue
        with open(name, "rb") as stream:
            yield from _parse_stream(stream, name, input_format)


@contextlib.contextmanager
def _open_stdin() -> Iterator[BinaryIO]:
    """Open a binary reader of standard input that the interpreter does not own.

    A producer thread may still block in a read of stdin when the command
    exits. If that read went through `sys.stdin`, the interpreter would abort
    at shutdown, because closing `sys.stdin` needs the lock that the blocked
    read holds. A reader over a duplicate of the file descriptor avoids that.
    """
    try:
        descriptor = os.dup(sys.stdin.fileno())
    except (AttributeError, OSError, ValueError):
        # No real file descriptor, as under test runners that replace stdin.
        yield sys.stdin.buffer
        return
    with os.fdopen(descriptor, "rb") as stream:
        yield stream


def count_records(paths: Sequence[str], cancelled: threading.Event | None = None) -> int | None:
    """Return how many records `iter_records` would yield for the files `paths`.

    Blank lines are skipped by the same rule, so the count matches the
    records one by one. Blocks while it reads every file to the end.

    Returns:
        The count, or None when `cancelled` was set before the end.

    Raises:
        OSError: A file cannot be opened or read.
    """
    count = 0
    for path in paths:
        with open(path, "rb") as stream:
            for line_number, line in enumerate(stream):
                if line.strip():
                    count += 1
                if cancelled is not None and line_number % 65536 == 0 and cancelled.is_set():
                    return None
    return count


def _parse_stream(stream: BinaryIO, source: str, input_format: InputFormat) -> Iterator[Record]:
    for line_number, raw in enumerate(stream, start=1):
        if not raw.strip():
            continue
        yield _parse_line(raw.rstrip(b"\r\n"), source, line_number, input_format)


def _parse_line(raw: bytes, source: str, line_number: int, input_format: InputFormat) -> Record:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Record(
            source,
            line_number,
            raw.decode("utf-8", errors="replace"),
            f"invalid UTF-8: {exc.reason} at byte {exc.start + 1}",
        )

    if input_format == "lines":
        return Record(source, line_number, text)

    try:
        return Record(source, line_number, json.loads(text))
    except json.JSONDecodeError as exc:
        return Record(source, line_number, text, f"invalid JSON: {exc.msg}: column {exc.colno}")


class QueueFeeder:
    """Producer threads that put record items into a queue's thread face.

    Each stream of records gets one daemon thread. An item is *accepted* once
    `put` returned. A record with an error is accepted too, but it goes to
    `on_invalid`, called on the event loop, instead of the queue. So every
    accepted record ends either in the queue or in the failure report, and
    `accepted` counts them exactly.

    Producers put under one lock, and `stop` takes that lock, so once `stop`
    returns no further item enters the queue and `accepted` is final. A
    producer blocked in a read (stdin without data, for example) keeps
    blocking, but it puts nothing after `stop`.
    """

    def __init__(
        self,
        queue: InMemoryQueue[Any],
        streams: Sequence[Iterable[Record]],
        on_invalid: Callable[[Record], None],
        *,
        thread_name: str = "prefactor-input",
    ) -> None:
        self._sync_q = queue.sync_q
        self._streams = streams
        self._on_invalid = on_invalid
        self._thread_name = thread_name
        self._gate = threading.Lock()
        self._stop_requested = False
        self._running = len(streams)
        self._all_complete = True
        self._loop: asyncio.AbstractEventLoop | None = None
        self.accepted = 0
        self.exhausted = False
        self.error: BaseException | None = None
        self.finished = asyncio.Event()

    def start(self) -> None:
        """Start one producer thread per stream; call it from the event loop."""
        self._loop = asyncio.get_running_loop()
        if not self._streams:
            self.exhausted = True
            self.finished.set()
            return
        for index, stream in enumerate(self._streams):
            thread = threading.Thread(
                target=self._produce,
                args=(stream,),
                name=f"{self._thread_name}-{index}",
                daemon=True,
            )
            thread.start()

    def stop(self) -> None:
        """Stop the producers from putting more items; blocks for one put attempt.

        Call it from a thread (for example with `asyncio.to_thread`), because
        it waits for a producer that is inside a put attempt.
        """
        self._stop_requested = True
        with self._gate:
            pass

    def _produce(self, records: Iterable[Record]) -> None:
        complete = False
        try:
            for record in records:
                if not self._offer(record):
                    return
            complete = True
        except Exception as exc:
            logger.error("reading input failed on %s: %s", threading.current_thread().name, exc)
            self.error = exc
        finally:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._producer_ended, complete)

    def _offer(self, record: Record) -> bool:
        """Accept one record; return False when the feeder was stopped."""
        while True:
            with self._gate:
                if self._stop_requested:
                    return False

                if record.error is not None:
                    self.accepted += 1
                    assert self._loop is not None
                    self._loop.call_soon_threadsafe(self._on_invalid, record)
                    return True

                try:
                    self._sync_q.put(record.item, timeout=_PUT_POLL_SECONDS)
                except std_queue.Full:
                    continue
                except QueueClosedError:
                    self._stop_requested = True
                    return False
                self.accepted += 1
                return True

    def _producer_ended(self, complete: bool) -> None:
        self._running -= 1
        if not complete:
            # One producer that stopped early, by request or by a read error,
            # ends the input for all of them.
            self._all_complete = False
            self._stop_requested = True
        if self._running == 0:
            self.exhausted = self._all_complete
            self.finished.set()
