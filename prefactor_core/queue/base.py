"""The queue contract that every engine implements and `TaskExecutor` consumes.

`Queue` keeps the five members of prefactor-core 0.5 (`put`, `get`, `close`,
`closed`, `size`) and adds a delivery step (`receive`, `ack`, `nack`,
`dead_letter`) so that persistent queues can offer at-least-once delivery. The
defaults of the delivery step suit an in-memory queue, where an item that was
taken is already gone.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

__all__ = ["Delivery", "Queue", "QueueClosedError"]

T = TypeVar("T")


class QueueClosedError(Exception):
    """Raised by `put` on a closed queue, and by `get` once it is also empty."""


@dataclasses.dataclass(eq=False, slots=True)
class Delivery(Generic[T]):
    """One item handed to a consumer, with the state that the queue stores for it.

    Attributes:
        item: The value that was put.
        attempts: Failed attempts already made on this item, on any worker.
            Persistent queues store it with the item, so it survives restarts.
        receipt: Handle that the queue needs to acknowledge this delivery,
            such as a stream entry id or a row id. None for in-memory queues.
    """

    item: T
    attempts: int = 0
    receipt: Any = None


class Queue(ABC, Generic[T]):
    """Abstract async queue consumed by `TaskExecutor`.

    Subclasses implement `put`, `get`, `close`, `closed` and `size`. Queues
    that keep items until they are acknowledged also override `receive`,
    `ack`, `nack` and `dead_letter`: the executor calls exactly one of `ack`,
    `nack` or `dead_letter` for every delivery that `receive` returned.
    """

    #: Largest batch that an executor in mode "async" takes per `receive_batch`.
    #: Queues whose every receive is a network round trip raise it; the
    #: executor still shares a short queue among its workers.
    preferred_batch: int = 1

    #: Whether consumers in other processes take items from the same queue.
    #: Then `size()` can fall without this executor's workers noticing, so
    #: `TaskExecutor.drain()` re-checks it every second.
    shared: bool = False

    @abstractmethod
    async def put(self, item: T) -> None:
        """Add an item and return without waiting for a worker to take it.

        A bounded queue may wait for free space (backpressure).

        Raises:
            QueueClosedError: The queue is closed.
        """

    @abstractmethod
    async def get(self) -> T:
        """Remove and return the next item, waiting until one arrives.

        After `close`, the remaining items are still returned.

        Raises:
            QueueClosedError: The queue is closed and empty.
        """

    @abstractmethod
    def size(self) -> int:
        """Return the number of items waiting to be taken, without I/O.

        It is synchronous and cheap, and it reads 0 while receivers are
        blocked because nothing is deliverable. Implementations document
        exactly what they count.
        """

    @abstractmethod
    async def close(self, num_waiters: int = 1) -> None:
        """Reject further puts and wake consumers blocked in `get`.

        Afterwards `put` raises `QueueClosedError`, and `get`, `receive` and
        `receive_batch` raise it once nothing is left, also in callers that
        are already blocked. `ack`, `nack` and `dead_letter` keep working for
        deliveries already handed out. Calling it again does nothing.

        Args:
            num_waiters: Number of blocked consumers to wake. Implementations
                in this package wake all of them and ignore the value, which
                is kept for compatibility with prefactor-core 0.5.
        """

    @property
    @abstractmethod
    def closed(self) -> bool:
        """True once `close` has been called."""

    # The delivery step. The defaults delegate to `get` and do nothing on
    # acknowledgement, which is right for a queue that drops an item as
    # soon as it is taken.

    async def receive(self) -> Delivery[T]:
        """Take the next item as a `Delivery`, waiting until one arrives.

        Raises:
            QueueClosedError: The queue is closed and empty.
        """
        return Delivery(await self.get())

    def receive_nowait(self) -> Delivery[T] | None:
        """Take the next delivery if one is ready at once, else return None.

        Executors try it before awaiting `receive`, which saves a coroutine
        per item under load. The default always returns None.

        Raises:
            QueueClosedError: The queue is closed and empty.
        """
        return None

    async def receive_batch(self, max_items: int) -> list[Delivery[T]]:
        """Take between 1 and `max_items` deliveries, waiting only for the first.

        Executors call this to move many small items per round trip. The
        default takes one delivery.

        Raises:
            QueueClosedError: The queue is closed and empty.
        """
        return [await self.receive()]

    async def ack(self, delivery: Delivery[T]) -> None:
        """Record that the item was handled successfully, so it is never delivered again.

        It works after `close`, for deliveries handed out before it.
        """

    async def nack(self, delivery: Delivery[T], *, delay: float, error: BaseException) -> bool:
        """Offer to redeliver a failed item after `delay` seconds.

        Args:
            delivery: The delivery whose attempt failed.
            delay: Seconds to wait before the next attempt.
            error: The exception that the attempt raised.

        Returns:
            True when the queue stores the item and redelivers it through
            `receive` with `attempts` increased by one. False when the caller
            must keep the item and retry it itself; that is the default.
        """
        return False

    async def dead_letter(self, delivery: Delivery[T], error: BaseException) -> None:
        """Record that the item ended in failure after its last attempt.

        Persistent queues move it to a dead-letter store and acknowledge it.
        The default does nothing, because the executor has already reported
        the failure through `on_failure` or the log.
        """
