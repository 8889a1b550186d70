"""`RedisQueue`: a queue on a Redis stream that many processes and machines share.

How data flows, for a stream named ``jobs`` and the default key names:

    put ──XADD──▶ jobs ──XREADGROUP──▶ receive ──▶ handler ──┬─ ack: XACK + XDEL
                  ▲  ▲                                       │
                  │  └─ XAUTOCLAIM: entries idle past the    ├─ nack: ZADD jobs:delayed,
                  │     visibility timeout (dead consumer)   │        XACK + XDEL
                  │                                          │
                  └── due retries ── jobs:delayed ◀──────────┤
                                                             └─ dead_letter: XADD jobs:dead,
                                                                             XACK + XDEL

An entry stays in the group's pending entries list from XREADGROUP until its
delivery ends, so an item whose worker died is reclaimed instead of lost. Each
entry carries the item's payload (``d``), its encoding (``e``) and the failed
attempts so far (``a``), so retry counts survive restarts. The steps that touch
two keys run as Lua scripts (see `redis_scripts`) and are atomic.
"""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import json
import logging
import os
import pickle
import re
import reprlib
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from prefactor_core.queue import redis_scripts
from prefactor_core.queue.base import Delivery, Queue, QueueClosedError

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["RedisQueue", "RedisUnavailableError", "redact_url"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

Serializer = Literal["json", "pickle"]

DEFAULT_URL = "redis://127.0.0.1:6379/0"
DEFAULT_GROUP = "prefactor"
DEFAULT_VISIBILITY_TIMEOUT = 30.0  # seconds an entry may sit idle before others reclaim it
DEFAULT_RETRY_TIMEOUT = 30.0  # seconds put and acknowledgements retry an unreachable Redis
DEFAULT_POLL_INTERVAL = 1.0  # seconds a receiver blocks in XREADGROUP before looking again
DEFAULT_MAX_DELIVERIES = 10  # deliveries without an acknowledgement before dead-lettering

RECONNECT_DELAY_MIN = 0.05  # seconds before the first reconnection attempt
RECONNECT_DELAY_MAX = 5.0  # seconds between attempts once the backoff has grown
MAX_CLAIM_INTERVAL = 5.0  # seconds between two XAUTOCLAIM scans at most
PREFERRED_BATCH = 100  # max deliveries per receive_batch call of TaskExecutor in async mode
MAX_GROUP_REPAIRS = 3  # times one call recreates a missing consumer group before raising
MOVE_BATCH = 1000  # due retries moved back to the stream per receive pass at most
MAX_ERROR_TEXT = 4000  # characters of error text kept in a dead-letter entry
SOCKET_CONNECT_TIMEOUT = 5.0  # seconds to open a connection to Redis
# Seconds a reply may take beyond the XREADGROUP block time before the
# connection is treated as dead.
SOCKET_TIMEOUT_MARGIN = 10.0
READ_END_MARGIN = 2.0  # seconds aclose waits for a blocked read beyond poll_interval

# Errors after which the same command may succeed once Redis is back. A wrong
# password is final, so AuthenticationError is raised at once.
_RETRYABLE_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)

_ENCODINGS: frozenset[str] = frozenset({"json", "pickle"})
_URL_OPTIONS: dict[str, Callable[[str], Any]] = {
    "stream": str,
    "group": str,
    "consumer": str,
    "serializer": str,
    "dead_letter_stream": str,
    "delayed_key": str,
    "visibility_timeout": float,
    "poll_interval": float,
    "max_deliveries": lambda text: None if text.lower() in ("", "none") else int(text),
    "retry_timeout": lambda text: None if text.lower() in ("", "none") else float(text),
}

_short_repr = reprlib.Repr()
_short_repr.maxstring = 80
_short_repr.maxother = 80


class RedisUnavailableError(ConnectionError):
    """Raised when Redis stays unreachable for longer than ``retry_timeout``."""


@dataclasses.dataclass(frozen=True)
class _Receipt:
    """Handle for ending one delivery: the entry id and the raw payload to retry or dead-letter."""

    queue_id: int
    entry_id: bytes
    payload: bytes
    encoding: bytes


def redact_url(url: str) -> str:
    """Return `url` without its password and query string, for logs and reprs.

    The query string is dropped because redis-py also reads a password from it.
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostinfo = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:***@{hostinfo}" if user else f":***@{hostinfo}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _entry_id_text(entry_id: bytes | str) -> str:
    return entry_id.decode() if isinstance(entry_id, bytes) else entry_id


def _parse_entry_id(entry_id: bytes | str) -> tuple[int, int]:
    milliseconds, _, sequence = _entry_id_text(entry_id).partition("-")
    return int(milliseconds), int(sequence or 0)


def _is_missing_group(error: ResponseError) -> bool:
    # A pipeline wraps the server's message in text of its own, which
    # differs between redis-py 5 ("caused error: ('NOGROUP ...") and 8
    # ("caused error: NOGROUP ..."), so look for the error code as a word.
    return re.search(r"(?<![A-Z])NOGROUP ", str(error)) is not None


def _error_text(error: BaseException | str) -> str:
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return text[:MAX_ERROR_TEXT]


class RedisQueue(Queue[T]):
    """Queue on a Redis stream whose consumer group many processes share.

    Delivery is at least once: an entry is acknowledged only by `ack`,
    `nack` (after the retry is stored) or `dead_letter` (after the
    dead-letter entry is written). When a consumer dies, its entries are
    reclaimed by another consumer once they have been idle for
    ``visibility_timeout`` seconds, so an item can be handled twice but is not
    lost. While a delivery is in flight, a background task of this client
    resets its idle time every third of the visibility timeout, so a slow
    handler keeps its items as long as the event loop runs.

    Keys, for a stream named ``jobs``: ``jobs`` (the stream), ``jobs:delayed``
    (retries waiting for their due time, a sorted set) and ``jobs:dead``
    (dead letters, a stream). One consumer group reads the stream, and
    acknowledged entries are deleted, so do not attach other groups to it.

    Items are stored as JSON unless ``serializer="pickle"``. Unpickling runs
    arbitrary code, so use pickle only when no untrusted party can write to
    the stream. A JSON queue dead-letters pickled entries instead of loading
    them.

    The client reconnects with exponential backoff when Redis is unreachable
    and logs each attempt. Receivers retry until the queue is closed; `put`,
    `ack`, `nack` and `dead_letter` retry for ``retry_timeout`` seconds and
    then raise `RedisUnavailableError` (None retries for ever).

    Use one instance from one event loop. Redis Cluster is not supported,
    because the scripts touch the stream and its sorted set in one call.
    """

    #: Deliveries per XREADGROUP when the executor runs coroutine handlers;
    #: each receive is a network round trip, so larger batches pay it less often.
    preferred_batch = PREFERRED_BATCH
    shared = True

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        stream: str,
        group: str = DEFAULT_GROUP,
        consumer: str | None = None,
        serializer: Serializer = "json",
        visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT,
        retry_timeout: float | None = DEFAULT_RETRY_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_deliveries: int | None = DEFAULT_MAX_DELIVERIES,
        dead_letter_stream: str | None = None,
        delayed_key: str | None = None,
        **redis_options: Any,
    ) -> None:
        """Create a queue on `stream`; the connection opens on first use.

        Args:
            url: Redis URL, as redis-py's ``from_url`` reads it.
            stream: Name of the stream that contains the items.
            group: Consumer group shared by all workers of this stream.
            consumer: This client's consumer name, unique within the group.
                Defaults to host name, process id and a random suffix.
            serializer: ``"json"`` (default) or ``"pickle"``.
            visibility_timeout: Seconds an entry may stay idle in a
                consumer's pending list before another consumer reclaims it.
            retry_timeout: Seconds that `put`, `ack`, `nack` and
                `dead_letter` retry while Redis is unreachable before raising
                `RedisUnavailableError`, or None to retry for ever.
            poll_interval: Seconds a receiver blocks in XREADGROUP before it
                looks for due retries and idle entries again.
            max_deliveries: Times an entry may be delivered without being
                acknowledged (its first delivery and each reclaim after a
                visibility timeout) before a reclaim dead-letters it instead,
                or None for no limit. Failed attempts do not count here:
                `nack` stores a new entry.
            dead_letter_stream: Stream for dead letters, ``STREAM:dead`` by
                default.
            delayed_key: Sorted set for scheduled retries,
                ``STREAM:delayed`` by default.
            **redis_options: Passed to ``redis.asyncio.from_url``.

        Raises:
            ValueError: An option is out of range.
        """
        if not stream:
            raise ValueError("stream must be a non-empty name, got ''")
        if serializer not in _ENCODINGS:
            raise ValueError(f"serializer must be 'json' or 'pickle', got {serializer!r}")
        if visibility_timeout <= 0:
            raise ValueError(f"visibility_timeout must be > 0, got {visibility_timeout}")
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be > 0, got {poll_interval}")
        if max_deliveries is not None and max_deliveries < 1:
            raise ValueError(f"max_deliveries must be >= 1 or None, got {max_deliveries}")
        if retry_timeout is not None and retry_timeout < 0:
            raise ValueError(f"retry_timeout must be >= 0 or None, got {retry_timeout}")

        self._safe_url = redact_url(url)
        self._stream = stream
        self._group = group
        self._consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._serializer: Serializer = serializer
        self._visibility_ms = max(1, int(visibility_timeout * 1000))
        self._retry_timeout = retry_timeout
        self._poll_ms = max(1, int(poll_interval * 1000))
        self._max_deliveries = max_deliveries
        self._dead_stream = dead_letter_stream or f"{stream}:dead"
        self._delayed_key = delayed_key or f"{stream}:delayed"

        redis_options.setdefault("socket_connect_timeout", SOCKET_CONNECT_TIMEOUT)
        redis_options.setdefault("socket_timeout", poll_interval + SOCKET_TIMEOUT_MARGIN)
        self._redis: aioredis.Redis = aioredis.from_url(url, **redis_options)  # type: ignore[no-untyped-call, unused-ignore]
        self._ack_script = self._redis.register_script(redis_scripts.ACK)
        self._nack_script = self._redis.register_script(redis_scripts.NACK)
        self._dead_letter_script = self._redis.register_script(redis_scripts.DEAD_LETTER)
        self._move_script = self._redis.register_script(redis_scripts.MOVE_DUE)
        self._lease_script = self._redis.register_script(redis_scripts.KEEP_LEASES)
        self._remove_consumer_script = self._redis.register_script(redis_scripts.REMOVE_CONSUMER)

        self._closed = False
        self._released = False
        self._closed_future: asyncio.Future[None] | None = None
        self._group_ready = False
        self._in_flight: set[bytes] = set()
        self._lease_task: asyncio.Task[None] | None = None
        self._receive_tasks: set[asyncio.Future[list[Delivery[T]]]] = set()
        self._release_tasks: set[asyncio.Future[None]] = set()
        self._claim_cursor = b"0-0"
        self._next_claim_at = 0.0
        self._retry_wait_ms = -1  # ms until the next retry is due, as of `_retry_wait_at`
        self._retry_wait_at = 0.0
        # The figures behind size(), as counted by the latest MOVE_DUE run
        # (server time in microseconds), and this client's puts and nacks
        # that the count may not include yet.
        self._waiting_estimate = 0
        self._estimate_known = False
        self._estimate_time_us = 0
        self._counted_last_id = (0, 0)
        # Both lists are sorted, so the counted ones form a prefix.
        self._unseen_puts: list[tuple[int, int]] = []
        self._unseen_nacks: list[int] = []
        self._receiving = 0  # receive_batch calls under way
        self._receive_attempts_logged = 0  # reconnection attempts of receivers logged so far

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Self:
        """Create a queue from ``redis://[:PASSWORD@]HOST:PORT/DB?stream=NAME&...``.

        The query may set ``stream`` (required), ``group``, ``consumer``,
        ``serializer``, ``visibility_timeout``, ``poll_interval``,
        ``retry_timeout`` (``none`` to retry for ever), ``max_deliveries``
        (``none`` for no limit), ``dead_letter_stream``
        and ``delayed_key``. Other query parameters go to redis-py. Keyword
        `options` override the query.

        Raises:
            ValueError: The stream name is missing or an option is invalid.
        """
        parts = urlsplit(url)
        queue_options: dict[str, Any] = {}
        redis_query = []
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            parse = _URL_OPTIONS.get(name)
            if parse is None:
                redis_query.append((name, value))
                continue
            try:
                queue_options[name] = parse(value)
            except ValueError:
                raise ValueError(
                    f"invalid {name} in queue URL {redact_url(url)}: {value!r} is not a number"
                ) from None
        queue_options.update(options)
        if "stream" not in queue_options:
            raise ValueError(
                f"missing stream in queue URL {redact_url(url)}: add ?stream=NAME to the URL"
            )
        redis_url = urlunsplit(parts._replace(query=urlencode(redis_query)))
        return cls(redis_url, **queue_options)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<RedisQueue {self._safe_url} stream={self._stream!r} group={self._group!r}"
            f" consumer={self._consumer!r} {state} in_flight={len(self._in_flight)}>"
        )

    @property
    def stream(self) -> str:
        """Name of the stream that contains the items."""
        return self._stream

    @property
    def dead_letter_stream(self) -> str:
        """Name of the stream that contains the dead letters."""
        return self._dead_stream

    @property
    def delayed_key(self) -> str:
        """Name of the sorted set that contains the scheduled retries."""
        return self._delayed_key

    @property
    def consumer(self) -> str:
        """This client's consumer name within the group."""
        return self._consumer

    @property
    def redis(self) -> aioredis.Redis:
        """The redis-py client, for inspection and cleanup."""
        return self._redis

    @property
    def closed(self) -> bool:
        """Whether `close` has been called."""
        return self._closed

    # Serialization.

    def _encode(self, item: T) -> bytes:
        if self._serializer == "pickle":
            try:
                return pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                raise TypeError(
                    f"item {_short_repr.repr(item)} cannot be pickled ({exc}): put a"
                    " module-level object or plain data instead"
                ) from exc
        try:
            return json.dumps(item, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"item {_short_repr.repr(item)} is not a JSON value ({exc}); RedisQueue stores"
                " items as JSON: convert it, or pass serializer='pickle' if only trusted"
                " parties can write to the stream"
            ) from exc

    def _decode(self, fields: dict[bytes, bytes]) -> tuple[Any, int, bytes, bytes]:
        """Return item, attempts, payload and encoding of an entry.

        Raises:
            ValueError: The entry is malformed. The message names the fault.
        """
        payload = fields.get(b"d")
        if payload is None:
            names = sorted(name.decode(errors="replace") for name in fields)
            raise ValueError(f"malformed entry: missing field 'd' (fields: {names})")
        encoding = fields.get(b"e", b"json")
        attempts_text = fields.get(b"a", b"0")
        try:
            attempts = int(attempts_text)
        except ValueError:
            raise ValueError(
                f"malformed entry: attempts field 'a' must be an integer, got {attempts_text!r}"
            ) from None
        if attempts < 0:
            raise ValueError(f"malformed entry: attempts field 'a' must be >= 0, got {attempts}")

        if encoding == b"json":
            try:
                return json.loads(payload), attempts, payload, encoding
            except ValueError as exc:
                raise ValueError(f"malformed entry: payload is not valid JSON ({exc})") from None
        if encoding == b"pickle":
            if self._serializer != "pickle":
                raise ValueError(
                    "rejected entry: payload is pickled but this queue reads JSON only;"
                    " pass serializer='pickle' if only trusted parties can write to the stream"
                )
            try:
                return pickle.loads(payload), attempts, payload, encoding
            except Exception as exc:
                raise ValueError(
                    f"malformed entry: payload cannot be unpickled ({type(exc).__name__}: {exc})"
                ) from None
        raise ValueError(f"malformed entry: unknown encoding {encoding!r} in field 'e'")

    # Connection handling.

    async def _retrying(
        self, operation: str, call: Callable[[], Awaitable[R]], timeout: float | None
    ) -> R:
        """Run `call`, retrying with backoff while Redis is unreachable.

        A missing consumer group (the server restarted without persistence)
        is created again before the next attempt.

        Raises:
            RedisUnavailableError: Redis stayed unreachable for `timeout` s.
            AuthenticationError: Redis rejected the password.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        attempt = 0
        group_repairs = 0
        while True:
            if attempt and operation == "receive" and self._closed:
                raise QueueClosedError(f"receive on closed {self!r}")
            try:
                result = await call()
            except AuthenticationError:
                raise
            except _RETRYABLE_ERRORS as exc:
                if operation == "receive" and self._closed:
                    raise QueueClosedError(f"receive on closed {self!r}") from exc
                attempt += 1
                delay = min(RECONNECT_DELAY_MAX, RECONNECT_DELAY_MIN * 2 ** (attempt - 1))
                elapsed = loop.time() - started
                if timeout is not None and elapsed + delay > timeout:
                    raise RedisUnavailableError(
                        f"{operation} timed out after {elapsed:.1f} s: Redis at {self._safe_url}"
                        f" is unreachable ({exc}); start Redis or raise retry_timeout"
                    ) from exc
                # Concurrent receivers fail together, so only the first to
                # reach each attempt number logs it.
                if operation != "receive" or attempt > self._receive_attempts_logged:
                    if operation == "receive":
                        self._receive_attempts_logged = attempt
                    logger.warning(
                        "Redis at %s unreachable during %s on stream %r (attempt %d): %s;"
                        " reconnecting in %.2f s",
                        self._safe_url,
                        operation,
                        self._stream,
                        attempt,
                        exc,
                        delay,
                    )
                await asyncio.sleep(delay)
                continue
            except ResponseError as exc:
                if not _is_missing_group(exc) or group_repairs >= MAX_GROUP_REPAIRS:
                    raise
                group_repairs += 1
                logger.warning(
                    "consumer group %r of stream %r is missing during %s; creating it again",
                    self._group,
                    self._stream,
                    operation,
                )
                self._group_ready = False
                await self._ensure_group()
                continue
            if attempt and operation == "receive":
                first_to_recover = self._receive_attempts_logged > 0
                self._receive_attempts_logged = 0
            else:
                first_to_recover = True
            if attempt and first_to_recover:
                logger.info(
                    "Redis at %s reachable again for %s on stream %r after %d attempts",
                    self._safe_url,
                    operation,
                    self._stream,
                    attempt,
                )
            return result

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            # Id 0 makes the group read entries put before any worker started.
            await self._redis.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise
        self._group_ready = True

    # Producing.

    async def put(self, item: T) -> None:
        """Append `item` to the stream.

        Waits while Redis is unreachable, up to ``retry_timeout`` seconds. If
        the connection drops after Redis stored the entry but before it
        replied, the retry stores it a second time, as at-least-once allows.

        Raises:
            QueueClosedError: `close` was called on this client.
            TypeError: The item is not a JSON value (default serializer).
            RedisUnavailableError: Redis stayed unreachable.
        """
        await self.put_many((item,))

    async def put_many(self, items: Iterable[T]) -> None:
        """Append `items` to the stream in one round trip.

        Raises the same errors as `put`; a TypeError means none was added.
        """
        if self._closed:
            raise QueueClosedError(f"put on closed {self!r}: create a new queue to add items")
        fields = [self._entry_fields(item) for item in items]
        if not fields:
            return

        async def add() -> list[bytes]:
            async with self._redis.pipeline(transaction=False) as pipe:
                for entry in fields:
                    pipe.xadd(self._stream, entry)  # type: ignore[arg-type]
                entry_ids: list[bytes] = await pipe.execute()
                return entry_ids

        entry_ids = await self._retrying("put", add, self._retry_timeout)
        # A receive pass may have counted these entries while this call
        # waited for the reply.
        for entry_id in map(_parse_entry_id, entry_ids):
            if entry_id > self._counted_last_id:
                bisect.insort(self._unseen_puts, entry_id)

    def _entry_fields(self, item: T) -> dict[bytes, bytes]:
        return {b"d": self._encode(item), b"e": self._serializer.encode(), b"a": b"0"}

    # Consuming.

    async def get(self) -> T:
        """Take the next item and acknowledge it before returning it.

        The item is no longer in Redis when this returns, so it is lost if the
        caller fails to handle it. Use `receive` and `ack` to keep it until
        it is handled.

        Raises:
            QueueClosedError: The queue is closed.
        """
        delivery = await self.receive()
        await self.ack(delivery)
        return delivery.item

    async def receive(self) -> Delivery[T]:
        """Take the next item, waiting until one arrives.

        Raises:
            QueueClosedError: The queue is closed, also while waiting.
        """
        return (await self.receive_batch(1))[0]

    async def receive_batch(self, max_items: int) -> list[Delivery[T]]:
        """Take between 1 and `max_items` deliveries, waiting only for the first.

        Each pass moves due retries back to the stream, reclaims entries that
        other consumers left idle for longer than the visibility timeout, and
        reads new entries with XREADGROUP. Malformed entries are
        dead-lettered and skipped. Waits while Redis is unreachable.

        Raises:
            ValueError: `max_items` is below 1.
            QueueClosedError: The queue is closed, also while waiting.
        """
        if max_items < 1:
            raise ValueError(f"max_items must be >= 1, got {max_items}")
        closed = self._closed_signal()
        self._receiving += 1
        try:
            return await self._receive_until_closed(max_items, closed)
        finally:
            self._receiving -= 1

    async def _receive_until_closed(
        self, max_items: int, closed: asyncio.Future[None]
    ) -> list[Delivery[T]]:
        while True:
            if self._closed:
                raise QueueClosedError(f"receive on closed {self!r}")
            task = asyncio.ensure_future(
                self._retrying("receive", lambda: self._receive_pass(max_items), None)
            )
            self._receive_tasks.add(task)
            task.add_done_callback(self._receive_tasks.discard)
            try:
                await asyncio.wait((task, closed), return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                # NOTE: entries that XREADGROUP delivered to a read that the
                # caller cancelled stay pending and are reclaimed after the
                # visibility timeout.
                task.cancel()
                raise
            if not task.done():
                # Closed while the read blocks. Cancelling it could lose the
                # reply to an XREADGROUP that already took entries, so the
                # read ends by itself within poll_interval and hands back
                # what it took.
                task.add_done_callback(self._release_late_batch)
                raise QueueClosedError(f"receive on closed {self!r}")
            batch = task.result()
            if batch:
                self._start_leases()
                return batch

    def _release_late_batch(self, task: asyncio.Future[list[Delivery[T]]]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            if not isinstance(error, QueueClosedError):
                logger.warning(
                    "consumer %s: receive failed while closing: %r", self._consumer, error
                )
            return
        entry_ids = [delivery.receipt.entry_id for delivery in task.result()]
        if not entry_ids:
            return
        self._in_flight.difference_update(entry_ids)
        release = asyncio.ensure_future(self._release_entries(entry_ids))
        self._release_tasks.add(release)
        release.add_done_callback(self._release_tasks.discard)

    async def _release_entries(self, entry_ids: list[bytes]) -> None:
        """Make entries that this client took but will not hand out reclaimable at once.

        XCLAIM with IDLE sets their idle time to the visibility timeout, so
        the next XAUTOCLAIM of any consumer takes them.
        """
        try:
            await self._redis.xclaim(
                self._stream,
                self._group,
                self._consumer,
                0,
                list[Any](entry_ids),
                idle=self._visibility_ms,
                justid=True,
            )
        except (*_RETRYABLE_ERRORS, ResponseError) as exc:
            logger.warning(
                "consumer %s could not release %d entries read while closing: %s;"
                " they are redelivered after the visibility timeout",
                self._consumer,
                len(entry_ids),
                exc,
            )
            return
        logger.info(
            "consumer %s released %d entries of stream %r read while closing",
            self._consumer,
            len(entry_ids),
            self._stream,
        )

    def _closed_signal(self) -> asyncio.Future[None]:
        if self._closed_future is None:
            self._closed_future = asyncio.get_running_loop().create_future()
            if self._closed:
                self._closed_future.set_result(None)
        return self._closed_future

    async def _receive_pass(self, max_items: int) -> list[Delivery[T]]:
        await self._ensure_group()
        loop = asyncio.get_running_loop()

        if loop.time() >= self._next_claim_at:
            claimed = await self._reclaim_idle(max_items)
            if claimed:
                return claimed

        block_ms = self._poll_ms
        if not self._estimate_known:
            # Read the figures for size() at once instead of after a full block.
            block_ms = 1
        elif self._retry_wait_ms >= 0:
            elapsed_ms = int((loop.time() - self._retry_wait_at) * 1000)
            block_ms = max(1, min(block_ms, self._retry_wait_ms - elapsed_ms))

        # MOVE_DUE runs after the read, so the figures it returns already
        # exclude the entries that this read took. Retries it moves are read
        # by the next pass.
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xreadgroup(
                self._group, self._consumer, {self._stream: ">"}, count=max_items, block=block_ms
            )
            await self._move_script(
                keys=[self._delayed_key, self._stream], args=[MOVE_BATCH, self._group], client=pipe
            )
            reply, figures = await pipe.execute()

        self._retry_wait_ms = int(figures[1])
        self._retry_wait_at = loop.time()
        self._update_estimate(figures)
        entries = reply[0][1] if reply else []
        return await self._deliveries(entries)

    def _update_estimate(self, figures: list[Any]) -> None:
        _moved, _wait_ms, undelivered, delayed, last_id, now_us = figures
        if now_us < self._estimate_time_us:
            return  # a newer pass has already counted
        self._estimate_time_us = now_us
        self._waiting_estimate = int(undelivered) + int(delayed)
        self._estimate_known = True

        last = _parse_entry_id(last_id)
        self._counted_last_id = max(self._counted_last_id, last)
        del self._unseen_puts[: bisect.bisect_right(self._unseen_puts, last)]
        del self._unseen_nacks[: bisect.bisect_right(self._unseen_nacks, now_us)]

    async def _reclaim_idle(self, max_items: int) -> list[Delivery[T]]:
        loop = asyncio.get_running_loop()
        reply = await self._redis.xautoclaim(
            self._stream,
            self._group,
            self._consumer,
            min_idle_time=self._visibility_ms,
            start_id=self._claim_cursor,
            count=max_items,
        )
        self._claim_cursor = reply[0]
        if self._claim_cursor in (b"0-0", "0-0"):
            # The scan reached the end: look again after a pause.
            claim_interval = min(MAX_CLAIM_INTERVAL, self._visibility_ms / 2000)
            self._next_claim_at = loop.time() + claim_interval

        # Redis 6.2 returns deleted entries as (None, None); Redis 7 lists
        # their ids separately and drops them from the pending list itself.
        entries = [(entry_id, fields) for entry_id, fields in reply[1] if entry_id is not None]
        if entries and self._max_deliveries is not None:
            entries = await self._drop_redelivered(entries, self._max_deliveries)
        if entries:
            logger.warning(
                "consumer %s reclaimed %d entries of stream %r idle for over %.1f s: %s",
                self._consumer,
                len(entries),
                self._stream,
                self._visibility_ms / 1000,
                _short_repr.repr([_entry_id_text(entry_id) for entry_id, _ in entries]),
            )
        return await self._deliveries(entries)

    async def _drop_redelivered(
        self, entries: list[tuple[bytes, dict[bytes, bytes]]], max_deliveries: int
    ) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """Dead-letter the reclaimed entries delivered more than `max_deliveries` times.

        Such an entry was taken and never acknowledged again and again, most
        likely because its handler kills the worker process.
        """
        pending = await self._redis.xpending_range(
            self._stream,
            self._group,
            min=entries[0][0],
            max=entries[-1][0],
            count=len(entries) + len(self._in_flight),
            consumername=self._consumer,
        )
        deliveries = {row["message_id"]: int(row["times_delivered"]) for row in pending}

        kept = []
        for entry_id, fields in entries:
            count = deliveries.get(entry_id, 0)
            if count <= max_deliveries:
                kept.append((entry_id, fields))
                continue
            await self._dead_letter_entry(
                entry_id,
                fields,
                f"delivered {count} times without being acknowledged, more than"
                f" max_deliveries={max_deliveries}; a worker may crash on this item",
            )
        return kept

    async def _deliveries(
        self, entries: list[tuple[bytes, dict[bytes, bytes]]]
    ) -> list[Delivery[T]]:
        batch: list[Delivery[T]] = []
        for entry_id, fields in entries:
            try:
                item, attempts, payload, encoding = self._decode(fields)
            except ValueError as exc:
                await self._dead_letter_entry(entry_id, fields, str(exc))
                continue
            receipt = _Receipt(id(self), entry_id, payload, encoding)
            self._in_flight.add(entry_id)
            batch.append(Delivery(item, attempts, receipt))
        return batch

    async def _dead_letter_entry(
        self, entry_id: bytes, fields: dict[bytes, bytes], reason: str
    ) -> None:
        logger.error(
            "consumer %s dead-lettered entry %s of stream %r to %r: %s",
            self._consumer,
            _entry_id_text(entry_id),
            self._stream,
            self._dead_stream,
            reason,
        )
        record: list[bytes | str] = []
        for name, value in fields.items():
            record += [b"orig:" + name, value]
        record += self._dead_letter_record(entry_id, reason, attempts=0)
        await self._dead_letter_script(
            keys=[self._stream, self._dead_stream], args=[self._group, entry_id, *record]
        )

    def _dead_letter_record(self, entry_id: bytes, error: str, attempts: int) -> list[bytes | str]:
        return [
            "error",
            error,
            "attempts",
            str(attempts),
            "entry_id",
            entry_id,
            "stream",
            self._stream,
            "consumer",
            self._consumer,
        ]

    # Ending deliveries.

    def _receipt(self, delivery: Delivery[T]) -> _Receipt:
        receipt = delivery.receipt
        if not isinstance(receipt, _Receipt) or receipt.queue_id != id(self):
            raise ValueError(
                f"delivery {_short_repr.repr(delivery.item)} was not received from {self!r}"
            )
        return receipt

    async def ack(self, delivery: Delivery[T]) -> None:
        """Acknowledge and delete the delivery's entry.

        Works after `close`. Waits while Redis is unreachable, up to
        ``retry_timeout``; if it gives up, the entry is redelivered after the
        visibility timeout.

        Raises:
            ValueError: The delivery came from another queue.
            RedisUnavailableError: Redis stayed unreachable.
        """
        receipt = self._receipt(delivery)
        try:
            await self._retrying(
                "ack",
                lambda: self._ack_script(keys=[self._stream], args=[self._group, receipt.entry_id]),
                self._retry_timeout,
            )
        finally:
            # Also after a failure: the lease must lapse so that the entry
            # is redelivered instead of staying with this client.
            self._in_flight.discard(receipt.entry_id)

    async def nack(self, delivery: Delivery[T], *, delay: float, error: BaseException) -> bool:
        """Schedule the item again after `delay` seconds with one more attempt.

        The retry is written to the delayed set and the entry acknowledged in
        one atomic step, so a crash cannot lose or duplicate it. A receiver
        of any process moves it back to the stream when it is due.

        Returns:
            True: this queue always keeps the item.

        Raises:
            ValueError: The delivery came from another queue, or `delay` < 0.
            RedisUnavailableError: Redis stayed unreachable. The entry stays
                leased to this client, because `TaskExecutor` then retries
                the item itself and ends the same delivery later.
        """
        receipt = self._receipt(delivery)
        if delay < 0:
            raise ValueError(f"delay must be >= 0, got {delay}")
        attempts = delivery.attempts + 1
        member = b"\n".join(
            [uuid.uuid4().hex.encode(), str(attempts).encode(), receipt.encoding, receipt.payload]
        )
        delay_ms = int(delay * 1000)
        scheduled_us = await self._retrying(
            "nack",
            lambda: self._nack_script(
                keys=[self._stream, self._delayed_key],
                args=[self._group, receipt.entry_id, delay_ms, member],
            ),
            self._retry_timeout,
        )
        self._in_flight.discard(receipt.entry_id)
        if scheduled_us > self._estimate_time_us:
            bisect.insort(self._unseen_nacks, int(scheduled_us))

        # Wake this client's receivers in time for the retry.
        loop = asyncio.get_running_loop()
        elapsed_ms = int((loop.time() - self._retry_wait_at) * 1000)
        if self._retry_wait_ms < 0 or delay_ms < self._retry_wait_ms - elapsed_ms:
            self._retry_wait_ms = delay_ms
            self._retry_wait_at = loop.time()
        logger.info(
            "consumer %s scheduled entry %s of stream %r for attempt %d in %.2f s after %s",
            self._consumer,
            _entry_id_text(receipt.entry_id),
            self._stream,
            attempts + 1,
            delay,
            _error_text(error),
        )
        return True

    async def dead_letter(self, delivery: Delivery[T], error: BaseException) -> None:
        """Move the item to the dead-letter stream and acknowledge its entry.

        The dead-letter entry contains the payload (``d``), its encoding
        (``e``), ``error`` (type and message), ``attempts`` (attempts made,
        the failed last one included), the original ``entry_id``, ``stream``
        and ``consumer``. Writing it and acknowledging is one atomic step.

        Raises:
            ValueError: The delivery came from another queue.
            RedisUnavailableError: Redis stayed unreachable; the entry is
                then redelivered after the visibility timeout.
        """
        receipt = self._receipt(delivery)
        attempts = delivery.attempts + 1
        record: list[bytes | str] = ["d", receipt.payload, "e", receipt.encoding]
        record += self._dead_letter_record(receipt.entry_id, _error_text(error), attempts)
        try:
            await self._retrying(
                "dead_letter",
                lambda: self._dead_letter_script(
                    keys=[self._stream, self._dead_stream],
                    args=[self._group, receipt.entry_id, *record],
                ),
                self._retry_timeout,
            )
        finally:
            self._in_flight.discard(receipt.entry_id)

    # Leases.

    def _start_leases(self) -> None:
        if self._lease_task is None or self._lease_task.done():
            self._lease_task = asyncio.ensure_future(self._keep_leases())

    async def _keep_leases(self) -> None:
        """Reset the idle time of in-flight entries until the queue is released."""
        interval = self._visibility_ms / 3000
        while not self._released:
            await asyncio.sleep(interval)
            entry_ids = list(self._in_flight)
            if not entry_ids:
                continue
            try:
                lost = await self._lease_script(
                    keys=[self._stream], args=[self._group, self._consumer, *entry_ids]
                )
            except (*_RETRYABLE_ERRORS, ResponseError) as exc:
                logger.warning(
                    "consumer %s could not renew %d leases on stream %r: %s",
                    self._consumer,
                    len(entry_ids),
                    self._stream,
                    exc,
                )
                continue
            lost = [entry_id for entry_id in lost if entry_id in self._in_flight]
            # Stop renewing them; a later ack still acknowledges the entry.
            self._in_flight.difference_update(lost)
            if lost:
                logger.warning(
                    "consumer %s lost %d leases on stream %r to other consumers, which may"
                    " handle the same items: %s",
                    self._consumer,
                    len(lost),
                    self._stream,
                    _short_repr.repr([_entry_id_text(entry_id) for entry_id in lost]),
                )

    # Size and shutdown.

    def size(self) -> int:
        """Return this client's estimate of the items waiting to be received.

        The estimate adds up three counts. The first is the stream entries
        not yet delivered to the group plus the retries waiting for their due
        time, as counted right after this client's latest receive pass. The
        second is the items this client put after that count, and the third
        the retries it scheduled with `nack` after it.

        It does no network I/O, so it lags behind other clients: their puts
        show up after this client's next receive pass, and entries held by a
        dead consumer are not counted until they are reclaimed. Deliveries in
        flight are not counted. While receivers of this client wait on an
        empty stream with no retries scheduled, it reads 0. While the first
        receive pass of this client is under way, it reads at least 1,
        because the backlog is not known yet.
        """
        size = self._waiting_estimate + len(self._unseen_puts) + len(self._unseen_nacks)
        if not self._estimate_known and self._receiving:
            return max(1, size)
        return size

    async def close(self, num_waiters: int = 1) -> None:
        """Reject further puts and receives on this client and wake its receivers.

        Receivers blocked in `receive`, `receive_batch` or `get` raise
        `QueueClosedError`. `ack`, `nack` and `dead_letter` keep working, so
        workers can end the deliveries they took. Other clients of the same
        stream are not affected. Call `aclose` to release the connections.

        Args:
            num_waiters: Ignored: all receivers are woken.
        """
        if self._closed:
            return
        self._closed = True
        if self._closed_future is not None and not self._closed_future.done():
            self._closed_future.set_result(None)
        logger.info("closed %r", self)

    async def aclose(self) -> None:
        """Close the queue, stop renewing leases and release the connections.

        Waits up to ``poll_interval`` for reads still blocked in XREADGROUP,
        and makes the entries they took reclaimable by other consumers at
        once. Deliveries still in flight stay pending and are redelivered
        after the visibility timeout. The consumer is removed from the group when it
        owns no pending entry.
        """
        await self.close()
        if self._released:
            return
        self._released = True
        if self._lease_task is not None:
            self._lease_task.cancel()
        # Reads still blocked end within poll_interval. Entries they took are
        # released by `_release_late_batch` before the connections close.
        reads = [task for task in self._receive_tasks if not task.done()]
        if reads:
            _, stuck = await asyncio.wait(reads, timeout=self._poll_ms / 1000 + READ_END_MARGIN)
            for task in stuck:
                task.cancel()
            if stuck:
                await asyncio.wait(stuck)
        if self._release_tasks:
            await asyncio.wait(list(self._release_tasks))
        if self._in_flight:
            logger.warning(
                "released %r with %d deliveries in flight; they are redelivered after %.1f s",
                self,
                len(self._in_flight),
                self._visibility_ms / 1000,
            )
        try:
            if self._group_ready:
                await self._remove_consumer_script(
                    keys=[self._stream], args=[self._group, self._consumer]
                )
        except (*_RETRYABLE_ERRORS, ResponseError) as exc:
            logger.warning("could not remove consumer %s from the group: %s", self._consumer, exc)
        await self._redis.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
