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
import contextlib
import dataclasses
import datetime
import json
import logging
import pickle
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, Literal, TypeAlias, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "PostgresQueue needs the asyncpg driver: pip install 'prefactor-core[postgres]'"
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


def _error_text(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text[:_MAX_ERROR_TEXT]


class _AckBatcher:
    """Group acknowledgements that arrive together into one DELETE.

    The first `ack` starts a flush on the next loop step; acks that arrive
    while a flush runs wait for the following one. Each `ack` returns only
    after the DELETE that contains it has committed.
    """

    def __init__(self, flush: Callable[[list[int], list[uuid.UUID]], Awaitable[set[int]]]) -> None:
        self._flush_rows = flush
        self._pending: list[tuple[int, uuid.UUID, asyncio.Future[bool]]] = []
        self._task: asyncio.Task[None] | None = None

    async def ack(self, row_id: int, lease: uuid.UUID) -> bool:
        """Delete the row when the next batch commits; False if its lease was lost."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((row_id, lease, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return await future

    async def wait_idle(self) -> None:
        """Wait until every acknowledgement handed in so far has been flushed."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _run(self) -> None:
        await asyncio.sleep(0)  # let the acks of this loop step join the batch
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                deleted = await self._flush_rows([b[0] for b in batch], [b[1] for b in batch])
            except BaseException as exc:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for row_id, _, future in batch:
                if not future.done():
                    future.set_result(row_id in deleted)


class PostgresQueue(Queue[T]):
    """Persistent queue shared by processes and machines through PostgreSQL.

    Delivery is at least once: an item is deleted only by `ack`, and an item
    whose worker stopped returns after its lease expires. Items are stored as
    jsonb by default, so they must be JSON values (jsonb does not keep the
    order of object keys and cannot hold the NUL character); pass
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
        self._acks = _AckBatcher(self._delete_rows)
        self._in_flight: set[tuple[int, uuid.UUID]] = set()

        # Inputs of size(); see its docstring.
        self._puts_committed = 0
        self._rows_claimed = 0
        self._backlog = 0
        self._puts_mark = 0
        self._claims_mark = 0

    @classmethod
    def from_url(cls, url: str, **options: Any) -> PostgresQueue[Any]:
        """Open a queue from ``postgresql://USER@HOST:PORT/DB?queue=NAME``.

        The query parameters `queue`, `serializer`, `lease`, `poll_interval`,
        `pool_size` and `reconnect_timeout` set the constructor arguments of
        the same meaning; the others (such as `sslmode` or
        `application_name`) stay in the DSN. Keyword `options` override the
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
                    else:
                        await connection.execute("SELECT 1")
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
        with contextlib.suppress(Exception):
            await self._acks.wait_idle()
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
        self._puts_committed += len(texts)

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
        if "\\u0000" in text:
            raise ValueError(
                f"cannot store {item!r:.200}: jsonb cannot hold the NUL character; "
                "open the queue with serializer='pickle'"
            )
        return text, None

    def _decode(self, text: str | None, blob: bytes | None) -> Any:
        if blob is not None:
            if self._serializer != "pickle":
                raise _MalformedRowError(
                    "malformed row: it holds a pickled payload, but the queue was opened "
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

        The estimate starts from the latest count a receiver of this object
        made. A claim that takes rows counts the due rows it left behind,
        up to 1000. A claim that takes nothing counts every ready row that no
        live lease holds, so scheduled retries are included. To that count
        the estimate adds the items put through this object since the claim
        began and subtracts the rows this object claimed since then, never
        going below 0. Rows that other processes put after the count are not
        included, and neither are rows held by a worker or dead rows.

        So it reads 0 while receivers are blocked because nothing is
        deliverable, unless this object has put an item that no receiver has
        looked for yet or a retry of this queue is scheduled.
        """
        added = self._puts_committed - self._puts_mark
        taken = self._rows_claimed - self._claims_mark
        return max(0, self._backlog + added - taken)

    def _record_backlog(self, backlog: int, puts_before: int) -> None:
        # Keep the count from the claim that began last, so a slow claim
        # that began earlier does not replace a newer count.
        if puts_before >= self._puts_mark:
            self._backlog = backlog
            self._puts_mark = puts_before
            self._claims_mark = self._rows_claimed

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
            puts_before = self._puts_committed

            try:
                deliveries, claimed_rows = await self._claim(max_items, puts_before)
            except QueueClosedError:
                raise QueueClosedError(f"queue {self._name!r} is closed") from None
            if deliveries:
                return deliveries
            if claimed_rows:
                continue  # every claimed row was malformed and is now dead

            waiting, due_in = await self._with_reconnect(
                "look at the table", self._look, receiving=True
            )
            self._record_backlog(waiting, puts_before)
            timeout = self._poll_interval
            if due_in is not None:
                timeout = min(timeout, max(_MIN_IDLE_WAIT, due_in))
            if self._closed:
                raise QueueClosedError(f"queue {self._name!r} is closed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wakeup.wait(), timeout)

    async def _claim(self, max_items: int, puts_before: int) -> tuple[list[Delivery[T]], int]:
        lease = uuid.uuid4()

        async def claim(connection: _Connection) -> list[asyncpg.Record]:
            return await connection.fetch(
                self._sql.claim, max_items, lease, self._lease_seconds, _BACKLOG_COUNT_LIMIT
            )

        rows = await self._with_reconnect("claim items", claim, receiving=True)
        due = int(rows[0][4]) if rows else 0
        rows = sorted((row for row in rows if row[0] is not None), key=lambda row: row[0])
        self._rows_claimed += len(rows)
        if rows:
            self._record_backlog(max(0, due - len(rows)), puts_before)
        deliveries: list[Delivery[T]] = []
        for row_id, text, blob, attempts, _ in rows:
            try:
                item = self._decode(text, blob)
            except _MalformedRowError as exc:
                await self._bury_malformed(row_id, lease, str(exc))
                continue
            self._in_flight.add((row_id, lease))
            deliveries.append(Delivery(item, attempts, (row_id, lease)))
        return deliveries, len(rows)

    async def _bury_malformed(self, row_id: int, lease: uuid.UUID, error: str) -> None:
        logger.error("queue %r: row %d is dead: %s", self._name, row_id, error)

        async def bury(connection: _Connection) -> None:
            await connection.execute(self._sql.bury_malformed, row_id, lease, error)

        await self._with_reconnect("mark a malformed row dead", bury)

    async def _look(self, connection: _Connection) -> tuple[int, float | None]:
        row = await connection.fetchrow(self._sql.look_ahead)
        assert row is not None  # an aggregate always returns one row
        due_in = None if row[1] is None else float(row[1])
        return int(row[0]), due_in

    async def get(self) -> T:
        """Claim the next item and delete it at once (at-most-once delivery).

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
        """Delete the delivered row; returns once the delete has committed.

        Acks that arrive together share one DELETE. When the lease was lost
        (it expired and another worker claimed the row), the row is left
        alone and a warning is logged: the item will be processed again.
        """
        row_id, lease = self._receipt(delivery)
        try:
            deleted = await self._acks.ack(row_id, lease)
        finally:
            self._in_flight.discard((row_id, lease))
        if not deleted:
            logger.warning(
                "queue %r: ack of row %d found no row under its lease; the lease expired "
                "and the item may be processed again",
                self._name,
                row_id,
            )

    async def _delete_rows(self, ids: list[int], leases: list[uuid.UUID]) -> set[int]:
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
        if not updated:
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
