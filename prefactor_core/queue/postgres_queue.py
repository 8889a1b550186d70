"""A persistent, shared queue kept in one PostgreSQL table per queue.

Producers insert rows and send a NOTIFY. Workers claim rows with
`SELECT ... FOR UPDATE SKIP LOCKED` in a short statement that writes a lease
(the row's `run_at` becomes the lease expiry), process them outside any
transaction, and then delete (ack), reschedule (nack) or bury (dead_letter)
them. A background task keeps the leases of in-flight rows extended, so only
a worker that stops running loses its rows, and they come back when the
lease expires. Idle workers sleep until a notification arrives, the next row
falls due, or the fallback poll interval passes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime
import difflib
import json
import logging
import pickle
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, Literal, TypeAlias, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ModuleNotFoundError(
        "PostgresQueue needs the asyncpg driver: pip install 'prefactor-core[postgres]'",
        name="asyncpg",
    ) from exc

from ._postgres_sql import Statements, table_name_for
from .base import Delivery, Queue, QueueClosedError

__all__ = ["DeadItem", "PostgresQueue"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_LEASE_SECONDS = 30.0
DEFAULT_POLL_INTERVAL = 5.0  # seconds an idle worker waits without a notification
DEFAULT_POOL_SIZE = 4
DEFAULT_RECONNECT_TIMEOUT = 60.0  # seconds of failed attempts before an error is raised
_RECONNECT_FIRST_DELAY = 0.1  # seconds; doubles per attempt
_RECONNECT_MAX_DELAY = 5.0  # seconds
_MIN_IDLE_WAIT = 0.05  # seconds; floor of a wait for a row that is due already
_EXTENDS_PER_LEASE = 3  # lease extensions per lease period, so two can fail in a row
_MAX_ERROR_TEXT = 4000  # characters of error text stored with a failed row
_BACKLOG_COUNT_LIMIT = 1000  # due rows that a claim counts at most, for size()
_RECENT_CLAIMS = 64  # finished claims remembered to correct size(); > concurrent claims

# json.dumps writes NUL as \u0000. An even run of backslashes before it
# belongs to the text itself, as in the item "\\u0000".
_JSON_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")

_SCHEMES = ("postgresql", "postgres")
_URL_OPTIONS = {
    "queue": str,
    "serializer": str,
    "lease": float,
    "poll_interval": float,
    "pool_size": int,
    "reconnect_timeout": float,
}

# Errors that mean the connection, not the statement, failed. AdminShutdown
# (pg_terminate_backend) and CannotConnectNow (server starting) are
# OperatorInterventionError; a refused connection is an OSError. asyncpg 0.32
# raises InternalClientError ("cannot switch to state ...") when a statement
# starts on a pooled connection whose backend was terminated while idle.
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)
_EXTEND_ERRORS: tuple[type[BaseException], ...] = (*_CONNECTION_ERRORS, asyncpg.PostgresError)


_Connection: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"


@dataclasses.dataclass(frozen=True)
class DeadItem:
    """A row that ended in failure, as returned by `PostgresQueue.list_dead`.

    Attributes:
        id: Row id, the value to pass to `requeue_dead`.
        item: The decoded item, or None when the row could not be decoded.
        attempts: Failed attempts made on the item.
        error: Error text of the last failure.
        dead_at: When the row was marked dead, in UTC.
    """

    id: int
    item: Any
    attempts: int
    error: str | None
    dead_at: datetime.datetime | None


class _MalformedRowError(ValueError):
    pass


def redact_dsn(dsn: str) -> str:
    """Return `dsn` with any password replaced by `***`, for logs and reprs."""
    parts = urlsplit(dsn)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostinfo = netloc.rpartition("@")
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = userinfo + "@" + hostinfo
    query = [
        (key, "***" if key.lower() == "password" else value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*"), ""))


def _short_ids(rows: Sequence[tuple[int, object]], limit: int = 10) -> str:
    ids = ", ".join(str(row_id) for row_id, _ in rows[:limit])
    return ids + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


def _error_text(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text[:_MAX_ERROR_TEXT]


class PostgresQueue(Queue[T]):
    """Persistent queue shared by processes and machines through PostgreSQL.

    Delivery is at least once: an item is deleted only by `ack`, and an item
    whose worker stopped returns after its lease expires. Items are stored as
    jsonb by default, so they must be JSON values. jsonb does not keep the
    order of object keys and cannot hold the NUL character. Pass
    `serializer="pickle"` to store any picklable object instead, which is
    safe only when every producer is trusted.

    The connection pool opens on first use. Call `aclose()` or use
    `async with` to release it.

    Args:
        dsn: libpq connection URL, such as
            ``postgresql://postgres@127.0.0.1:5432/test``.
        name: Queue name; the table is ``prefactor_queue_<name>``.
        serializer: "json" (default) or "pickle".
        lease_seconds: Lease (visibility timeout) of a claimed item. A live
            queue extends the leases of its in-flight items every third of
            this period, so only a stopped worker lets a lease expire.
        poll_interval: Seconds an idle receiver waits before looking at the
            table again when no notification arrives.
        pool_size: Maximum connections in the pool, besides the one that
            listens for notifications.
        reconnect_timeout: Seconds an operation keeps reconnecting after a
            connection failure before it raises the error.
        create_schema: Create the table on first use if it is missing.

    Raises:
        ValueError: An argument is invalid, such as a hostile queue name.
    """

    # Every claim is a round trip, so executors in mode "async" should claim
    # many rows at once.
    preferred_batch = 100
    shared = True

    def __init__(
        self,
        dsn: str,
        name: str,
        *,
        serializer: Literal["json", "pickle"] = "json",
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        pool_size: int = DEFAULT_POOL_SIZE,
        reconnect_timeout: float = DEFAULT_RECONNECT_TIMEOUT,
        create_schema: bool = True,
    ) -> None:
        self._sql = Statements(table_name_for(name))
        if serializer not in ("json", "pickle"):
            raise ValueError(f"serializer must be 'json' or 'pickle', got {serializer!r}")
        if not lease_seconds > 0:
            raise ValueError(f"lease_seconds must be > 0, got {lease_seconds!r}")
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be > 0, got {poll_interval!r}")
        if pool_size < 1:
            raise ValueError(f"pool_size must be >= 1, got {pool_size!r}")
        if reconnect_timeout < 0:
            raise ValueError(f"reconnect_timeout must be >= 0, got {reconnect_timeout!r}")

        self._dsn = dsn
        self._safe_dsn = redact_dsn(dsn)
        self._name = name
        self._serializer = serializer
        self._lease_seconds = float(lease_seconds)
        self._poll_interval = float(poll_interval)
        self._pool_size = pool_size
        self._reconnect_timeout = float(reconnect_timeout)
        self._create_schema = create_schema

        self._pool: asyncpg.Pool | None = None
        self._open_lock: asyncio.Lock | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._released = False
        self._wakeup = asyncio.Event()
        self._pending_acks: list[tuple[int, uuid.UUID]] = []
        self._ack_writer: asyncio.Task[None] | None = None
        self._in_flight: set[tuple[int, uuid.UUID]] = set()

        # Inputs of size(); see its docstring.
        self._rows_added = 0
        self._added_mark = 0
        self._due_ids: set[int] = set()
        self._scheduled = 0
        self._claim_sequence = 0
        self._recent_claims: collections.deque[tuple[int, set[int]]] = collections.deque(
            maxlen=_RECENT_CLAIMS
        )

    @classmethod
    def from_url(cls, url: str, **options: Any) -> PostgresQueue[Any]:
        """Open a queue from ``postgresql://USER@HOST:PORT/DB?queue=NAME``.

        The query parameters `queue`, `serializer`, `lease`, `poll_interval`,
        `pool_size` and `reconnect_timeout` set the constructor arguments of
        the same meaning. The others, such as `sslmode` or
        `application_name`, stay in the DSN. Keyword `options` override the
        URL.

        Raises:
            ValueError: The scheme is not postgresql or postgres, the queue
                name is missing or invalid, or an option has a bad value.
        """
        parts = urlsplit(url)
        if parts.scheme not in _SCHEMES:
            raise ValueError(
                f"invalid PostgreSQL queue URL {redact_dsn(url)!r}: the scheme must be "
                "postgresql:// or postgres://"
            )
        kwargs: dict[str, Any] = {}
        kept: list[tuple[str, str]] = []
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            convert = _URL_OPTIONS.get(key)
            if convert is None:
                # Other parameters belong to the connection (sslmode, for
                # example), but a near miss of a queue option is a typo.
                close = difflib.get_close_matches(key, _URL_OPTIONS, n=1, cutoff=0.8)
                if close:
                    raise ValueError(
                        f"unknown option {key!r} in the PostgreSQL queue URL "
                        f"{redact_dsn(url)!r}; did you mean {close[0]!r}?"
                    )
                kept.append((key, value))
                continue
            try:
                kwargs[key] = convert(value)
            except ValueError:
                raise ValueError(
                    f"invalid value {value!r} for {key!r} in the PostgreSQL queue URL"
                ) from None
        kwargs.update(options)
        name = kwargs.pop("queue", None)
        if not name:
            raise ValueError(
                f"missing queue name in {redact_dsn(url)!r}: add ?queue=NAME to the URL"
            )
        if "lease" in kwargs:
            kwargs["lease_seconds"] = kwargs.pop("lease")
        dsn = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), ""))
        return cls(dsn, name, **kwargs)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<PostgresQueue name={self._name!r} table={self._sql.table!r} "
            f"dsn={self._safe_dsn!r} serializer={self._serializer!r} {state}>"
        )

    @property
    def name(self) -> str:
        """Queue name."""
        return self._name

    @property
    def table(self) -> str:
        """Name of the table that stores the items."""
        return self._sql.table

    @property
    def closed(self) -> bool:
        """Whether `close` or `aclose` has been called."""
        return self._closed

    # Opening, closing and reconnecting.

    async def __aenter__(self) -> PostgresQueue[T]:
        await self._retry("connect", self._open)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def create_schema(self) -> None:
        """Create the queue's table and index if they are missing.

        Safe to call from several processes at once: an advisory lock makes
        them take turns.
        """
        await self._with_reconnect("create the table", self._create_tables)

    async def _create_tables(self, connection: _Connection) -> None:
        async with connection.transaction():
            await connection.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", self._sql.lock_key
            )
            for statement in self._sql.create:
                await connection.execute(statement)

    async def _open(self) -> asyncpg.Pool:
        """Return the pool, creating it, the table and the background tasks once.

        Makes one attempt; callers retry through `_retry`.
        """
        if self._released:
            raise QueueClosedError(f"queue {self._name!r} has been released by aclose()")
        if self._pool is not None:
            return self._pool
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            if self._pool is not None:
                return self._pool
            # min_size=0: the pool opens connections on demand, so after an
            # outage only this queue's retry loop reconnects, not a pool task too.
            pool = await asyncpg.create_pool(self._dsn, min_size=0, max_size=self._pool_size)
            try:
                async with pool.acquire() as connection:
                    if self._create_schema:
                        await self._create_tables(connection)
                    # Seed size() with the rows already waiting, so that an
                    # executor's drain() does not return before they are handled.
                    figures = await connection.fetchrow(
                        self._sql.claim, 0, uuid.uuid4(), 0.0, _BACKLOG_COUNT_LIMIT
                    )
                    assert figures is not None  # the figures row is always there
                    self._record_claim(set(), figures[4], figures[5], 0, 0)
            except BaseException:
                await pool.close()
                raise
            self._pool = pool
            self._tasks = [
                asyncio.create_task(self._listen(), name=f"{self._sql.table}-listen"),
                asyncio.create_task(self._extend_leases(), name=f"{self._sql.table}-leases"),
            ]
            logger.info("opened queue %r at %s", self._name, self._safe_dsn)
            return pool

    async def _retry(
        self, action: str, operation: Callable[[], Awaitable[R]], *, receiving: bool = False
    ) -> R:
        """Run `operation`, retrying connection failures with backoff.

        Raises:
            QueueClosedError: `aclose` was called while waiting to retry, or
                `close` when `receiving` is true.
            The last connection error once `reconnect_timeout` has passed.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._reconnect_timeout
        attempt = 0
        while True:
            try:
                return await operation()
            except _CONNECTION_ERRORS as exc:
                if self._released or (receiving and self._closed):
                    raise QueueClosedError(f"queue {self._name!r} is closed") from exc
                attempt += 1
                delay = min(_RECONNECT_MAX_DELAY, _RECONNECT_FIRST_DELAY * 2 ** (attempt - 1))
                if loop.time() + delay > deadline:
                    logger.error(
                        "queue %r could not %s at %s after %d attempts: %r",
                        self._name,
                        action,
                        self._safe_dsn,
                        attempt,
                        exc,
                    )
                    raise
                logger.warning(
                    "queue %r could not %s at %s (attempt %d): %r; reconnecting in %.2f s",
                    self._name,
                    action,
                    self._safe_dsn,
                    attempt,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)

    async def _with_reconnect(
        self,
        action: str,
        operation: Callable[[_Connection], Awaitable[R]],
        *,
        receiving: bool = False,
    ) -> R:
        async def attempt() -> R:
            pool = await self._open()
            async with pool.acquire() as connection:
                return await operation(connection)

        return await self._retry(action, attempt, receiving=receiving)

    async def close(self, num_waiters: int = 1) -> None:
        """Reject further puts and receives, and wake every blocked receiver.

        Receivers blocked in `receive`, `receive_batch` or `get` raise
        `QueueClosedError` promptly. `ack`, `nack` and `dead_letter` keep
        working for deliveries already handed out, and the connections stay
        open until `aclose`.

        Args:
            num_waiters: Ignored; every receiver is woken.
        """
        self._closed = True
        self._wakeup.set()

    async def aclose(self) -> None:
        """Close the queue, flush pending acks and release every connection.

        Leases of deliveries that were not acknowledged stay in the table and
        expire, so those items are delivered again to another worker.
        """
        await self.close()
        if self._released:
            return
        await self.flush_acks()
        self._released = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        logger.info("released queue %r", self._name)

    # Producing.

    async def put(self, item: T) -> None:
        """Insert one item and notify idle receivers.

        Blocks until the row has committed. After a connection failure the
        insert is retried, so an item whose commit reply was lost can be
        stored twice (at-least-once delivery allows it).

        Raises:
            QueueClosedError: The queue is closed.
            TypeError, ValueError: The item cannot be serialized.
        """
        await self.put_many([item])

    async def put_many(self, items: Iterable[T]) -> None:
        """Insert several items in one statement and one transaction.

        Raises:
            QueueClosedError: The queue is closed.
            TypeError, ValueError: An item cannot be serialized; none is stored.
        """
        if self._closed:
            raise QueueClosedError(f"queue {self._name!r} is closed")
        texts: list[str | None] = []
        blobs: list[bytes | None] = []
        for item in items:
            text, blob = self._encode(item)
            texts.append(text)
            blobs.append(blob)
        if not texts:
            return

        async def insert(connection: _Connection) -> None:
            await connection.fetchval(self._sql.insert, texts, blobs, self._sql.channel)

        await self._with_reconnect("insert items", insert)
        self._rows_added += len(texts)

    def _encode(self, item: Any) -> tuple[str | None, bytes | None]:
        if self._serializer == "pickle":
            return None, pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            text = json.dumps(item, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise type(exc)(
                f"cannot store {item!r:.200} as JSON ({exc}); pass JSON values or open "
                "the queue with serializer='pickle'"
            ) from exc
        if _JSON_NUL_ESCAPE.search(text):
            raise ValueError(
                f"cannot store {item!r:.200}: jsonb cannot hold the NUL character; "
                "open the queue with serializer='pickle'"
            )
        return text, None

    def _decode(self, text: str | None, blob: bytes | None) -> Any:
        if blob is not None:
            if self._serializer != "pickle":
                raise _MalformedRowError(
                    "malformed row: it contains a pickled payload, but the queue was opened "
                    "with serializer='json'"
                )
            try:
                return pickle.loads(blob)
            except Exception as exc:
                raise _MalformedRowError(
                    f"malformed row: cannot unpickle the payload: {_error_text(exc)}"
                ) from exc
        if text is None:
            raise _MalformedRowError("malformed row: both payload columns are NULL")
        return json.loads(text)

    # Consuming.

    def size(self) -> int:
        """Return an estimate, without I/O, of the items waiting to be claimed.

        Every claim also reads the ids of up to 1000 due rows and counts the
        unleased rows waiting for a later `run_at` (scheduled retries), up to
        1000. The estimate takes those figures from the claim that finished
        last. It drops the ids that receivers of this object have claimed
        since that claim began. It adds the items put, retried or re-queued
        through this object since then, and the scheduled retries. Rows that
        other processes add or claim after the claim are not reflected, and
        rows held by a worker and dead rows are never counted.

        So it reads 0 while receivers are blocked because nothing is
        deliverable, unless this object has put an item that no receiver has
        claimed yet or a retry is scheduled.

        NOTE: due rows that another process claims after this object's
        latest claim began stay in the estimate until this object claims
        again. When other processes take the last rows that way,
        `TaskExecutor.drain()` in this process keeps waiting until another
        item arrives, because the executor looks at size() only when its own
        workers change state.
        """
        added = self._rows_added - self._added_mark
        return len(self._due_ids) + self._scheduled + added

    async def receive(self) -> Delivery[T]:
        """Claim the next item, waiting until one is due.

        Raises:
            QueueClosedError: The queue is closed.
        """
        return (await self.receive_batch(1))[0]

    async def receive_batch(self, max_items: int) -> list[Delivery[T]]:
        """Claim between 1 and `max_items` due items, waiting only for the first.

        Each claimed item is leased to this queue object. Malformed rows are
        marked dead with the reason and never returned.

        Raises:
            ValueError: `max_items` is below 1.
            QueueClosedError: The queue is closed, also when it closes while
                this call waits.
        """
        if max_items < 1:
            raise ValueError(f"max_items must be >= 1, got {max_items!r}")
        while True:
            if self._closed:
                raise QueueClosedError(f"queue {self._name!r} is closed")
            wakeup = self._wakeup

            try:
                deliveries, claimed_rows, next_in = await self._claim(max_items)
            except QueueClosedError:
                raise QueueClosedError(f"queue {self._name!r} is closed") from None
            if deliveries:
                return deliveries
            if claimed_rows:
                continue  # every claimed row was malformed and is now dead

            timeout = self._poll_interval
            if next_in is not None:
                timeout = min(timeout, max(_MIN_IDLE_WAIT, next_in))
            if self._closed:
                raise QueueClosedError(f"queue {self._name!r} is closed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wakeup.wait(), timeout)

    async def _claim(self, max_items: int) -> tuple[list[Delivery[T]], int, float | None]:
        """Claim up to `max_items` rows and record the figures for `size`.

        `max_items` 0 claims nothing and only records the figures.

        Returns:
            The deliveries, the number of rows claimed (malformed ones
            included), and the seconds until the earliest `run_at`, or None
            when no row is ready.
        """
        lease = uuid.uuid4()
        added_before = self._rows_added
        sequence_before = self._claim_sequence

        async def claim(connection: _Connection) -> list[asyncpg.Record]:
            return await connection.fetch(
                self._sql.claim, max_items, lease, self._lease_seconds, _BACKLOG_COUNT_LIMIT
            )

        rows = await self._with_reconnect("claim items", claim, receiving=True)
        # The figures come in the one row without an id.
        figures = next(row for row in rows if row[0] is None)
        _, _, _, _, due_ids, scheduled, next_in = figures
        rows = sorted((row for row in rows if row[0] is not None), key=lambda row: row[0])
        self._record_claim(
            {row[0] for row in rows}, due_ids, scheduled, added_before, sequence_before
        )

        deliveries: list[Delivery[T]] = []
        for row_id, text, blob, attempts, *_ in rows:
            try:
                item = self._decode(text, blob)
            except _MalformedRowError as exc:
                await self._bury_malformed(row_id, lease, str(exc))
                continue
            self._in_flight.add((row_id, lease))
            deliveries.append(Delivery(item, attempts, (row_id, lease)))
        return deliveries, len(rows), None if next_in is None else float(next_in)

    def _record_claim(
        self,
        claimed: set[int],
        due_ids: list[int],
        scheduled: int,
        added_before: int,
        sequence_before: int,
    ) -> None:
        """Replace the figures behind `size` with those of a finished claim.

        Claims of this object that finished while this one ran may already
        hold rows that this claim's snapshot saw as due, so their ids are
        dropped too. Ids are exact, so dropping one that was not counted
        changes nothing.
        """
        self._claim_sequence += 1
        self._recent_claims.append((self._claim_sequence, claimed))
        due = set(due_ids) - claimed
        for sequence, ids in self._recent_claims:
            if sequence > sequence_before:
                due -= ids
        self._due_ids = due
        self._scheduled = scheduled
        self._added_mark = added_before

    async def _bury_malformed(self, row_id: int, lease: uuid.UUID, error: str) -> None:
        logger.error("queue %r: row %d is dead: %s", self._name, row_id, error)

        async def bury(connection: _Connection) -> None:
            await connection.execute(self._sql.bury_malformed, row_id, lease, error)

        await self._with_reconnect("mark a malformed row dead", bury)

    async def get(self) -> T:
        """Claim the next item and acknowledge it before returning it.

        Delivery is at most once from here on: the item is gone even if the
        caller fails to handle it.

        Raises:
            QueueClosedError: The queue is closed.
        """
        delivery = await self.receive()
        await self.ack(delivery)
        return delivery.item

    # Settling deliveries.

    def _receipt(self, delivery: Delivery[T]) -> tuple[int, uuid.UUID]:
        receipt = delivery.receipt
        if (
            not isinstance(receipt, tuple)
            or len(receipt) != 2
            or not isinstance(receipt[1], uuid.UUID)
        ):
            raise ValueError(f"invalid receipt {receipt!r}: pass a Delivery returned by this queue")
        return receipt[0], receipt[1]

    async def ack(self, delivery: Delivery[T]) -> None:
        """Mark the delivery done; its row is deleted on the next loop step.

        Returns without waiting for the database, so acks made one after
        another, as an executor settles a batch, share one DELETE. The lease
        stays extended until that DELETE commits. If the process dies first,
        or the DELETE fails for longer than `reconnect_timeout`, the lease
        expires and the item is delivered again: a repeat, never a loss.
        `flush_acks` and `aclose` wait for the DELETE. When the lease was
        lost (it expired and another worker claimed the row), the row is left
        alone and a warning is logged because the item may be processed again.

        Raises:
            ValueError: The delivery did not come from a PostgresQueue.
            QueueClosedError: `aclose` has released the connections.
        """
        row_id, lease = self._receipt(delivery)
        if self._released:
            raise QueueClosedError(f"queue {self._name!r} has been released by aclose()")
        self._pending_acks.append((row_id, lease))
        if self._ack_writer is None or self._ack_writer.done():
            self._ack_writer = asyncio.create_task(
                self._write_acks(), name=f"{self._sql.table}-acks"
            )

    async def flush_acks(self) -> None:
        """Wait until the rows of every `ack` made so far are deleted or given up."""
        while self._ack_writer is not None and not self._ack_writer.done():
            await asyncio.shield(self._ack_writer)

    async def _write_acks(self) -> None:
        await asyncio.sleep(0)  # let the acks of this loop step join the batch
        while self._pending_acks:
            batch, self._pending_acks = self._pending_acks, []
            try:
                deleted = await self._delete_rows(batch)
            except Exception as exc:
                logger.error(
                    "queue %r: could not delete %d acknowledged rows (ids %s): %r; they "
                    "will be delivered again when their leases expire",
                    self._name,
                    len(batch),
                    _short_ids(batch),
                    exc,
                )
                continue
            finally:
                self._in_flight.difference_update(batch)
            lost = [row_id for row_id, _ in batch if row_id not in deleted]
            if lost:
                logger.warning(
                    "queue %r: ack found no row under its lease for ids %s; the lease "
                    "expired and the item may be processed again",
                    self._name,
                    _short_ids([(row_id, None) for row_id in lost]),
                )

    async def _delete_rows(self, batch: list[tuple[int, uuid.UUID]]) -> set[int]:
        ids = [row_id for row_id, _ in batch]
        leases = [lease for _, lease in batch]

        async def delete(connection: _Connection) -> set[int]:
            rows = await connection.fetch(self._sql.delete, ids, leases)
            return {row[0] for row in rows}

        return await self._with_reconnect("acknowledge items", delete)

    async def nack(self, delivery: Delivery[T], *, delay: float, error: BaseException) -> bool:
        """Schedule the item again `delay` seconds from now with one more attempt.

        The row keeps its place in the table with `run_at` set to the retry
        time, so no worker is held while it waits.

        Returns:
            True: the queue owns the retry.
        """
        row_id, lease = self._receipt(delivery)

        async def retry(connection: _Connection) -> int:
            count: int = await connection.fetchval(
                self._sql.retry,
                row_id,
                lease,
                max(0.0, float(delay)),
                _error_text(error),
                self._sql.channel,
                column=1,
            )
            return count

        try:
            updated = await self._with_reconnect("schedule a retry", retry)
        finally:
            self._in_flight.discard((row_id, lease))
        if updated:
            self._rows_added += 1  # counted by size() until the next claim counts it
        else:
            logger.warning(
                "queue %r: nack of row %d found no row under its lease; the lease expired",
                self._name,
                row_id,
            )
        self._wakeup_receivers()
        return True

    async def dead_letter(self, delivery: Delivery[T], error: BaseException) -> None:
        """Mark the row dead with the error text; it stays until re-queued.

        Dead rows are never delivered; `list_dead` shows them and
        `requeue_dead` makes them ready again.
        """
        row_id, lease = self._receipt(delivery)
        text = _error_text(error)

        async def bury(connection: _Connection) -> Any:
            return await connection.fetchval(self._sql.bury, row_id, lease, text)

        try:
            buried = await self._with_reconnect("mark an item dead", bury)
        finally:
            self._in_flight.discard((row_id, lease))
        if buried is None:
            logger.warning(
                "queue %r: dead_letter of row %d found no row under its lease; the lease expired",
                self._name,
                row_id,
            )

    # Dead items.

    async def list_dead(self, limit: int = 100) -> list[DeadItem]:
        """Return up to `limit` dead items, the oldest first."""

        async def fetch(connection: _Connection) -> list[asyncpg.Record]:
            return await connection.fetch(self._sql.list_dead, limit)

        dead: list[DeadItem] = []
        for row_id, text, blob, attempts, error, dead_at in await self._with_reconnect(
            "list dead items", fetch
        ):
            try:
                item = self._decode(text, blob)
            except _MalformedRowError:
                item = None
            dead.append(DeadItem(row_id, item, attempts, error, dead_at))
        return dead

    async def requeue_dead(self, ids: Sequence[int] | None = None) -> int:
        """Make dead items ready again with their attempts reset to 0.

        Args:
            ids: Row ids from `list_dead`; None re-queues every dead item.

        Returns:
            The number of items re-queued. Ids that are not dead are skipped.
        """
        id_list = None if ids is None else [int(row_id) for row_id in ids]

        async def revive(connection: _Connection) -> int:
            count: int = await connection.fetchval(
                self._sql.requeue_dead, id_list, self._sql.channel, column=1
            )
            return count

        count = await self._with_reconnect("re-queue dead items", revive)
        self._rows_added += count
        logger.info("queue %r: re-queued %d dead items", self._name, count)
        return count

    # Background tasks.

    def _wakeup_receivers(self) -> None:
        self._wakeup.set()
        if not self._closed:
            self._wakeup = asyncio.Event()

    async def _listen(self) -> None:
        """Keep one connection listening on the queue's channel, reconnecting."""
        lost = asyncio.Event()

        def on_notify(*_: object) -> None:
            self._wakeup_receivers()

        def on_lost(_: object) -> None:
            lost.set()

        while True:
            try:
                connection = await self._retry(
                    "listen for notifications", lambda: asyncpg.connect(self._dsn)
                )
            except Exception as exc:
                logger.error("queue %r: listening failed: %r", self._name, exc)
                await asyncio.sleep(self._poll_interval)
                continue
            lost.clear()
            try:
                connection.add_termination_listener(on_lost)
                await connection.add_listener(self._sql.channel, on_notify)
                self._wakeup_receivers()  # notifications may have been missed
                await lost.wait()
                logger.warning(
                    "queue %r: lost the notification connection to %s; reconnecting",
                    self._name,
                    self._safe_dsn,
                )
            except _CONNECTION_ERRORS as exc:
                logger.warning("queue %r: LISTEN failed: %r; reconnecting", self._name, exc)
            finally:
                with contextlib.suppress(Exception):
                    await connection.close(timeout=1)

    async def _extend_leases(self) -> None:
        """Push the leases of in-flight deliveries forward until `aclose`."""
        period = self._lease_seconds / _EXTENDS_PER_LEASE
        while True:
            await asyncio.sleep(period)
            held = list(self._in_flight)
            if not held:
                continue
            if self._pool is None:
                continue
            try:
                async with self._pool.acquire() as connection:
                    await connection.execute(
                        self._sql.extend,
                        [row_id for row_id, _ in held],
                        [lease for _, lease in held],
                        self._lease_seconds,
                    )
            except _EXTEND_ERRORS as exc:
                logger.warning(
                    "queue %r: could not extend %d leases: %r", self._name, len(held), exc
                )
