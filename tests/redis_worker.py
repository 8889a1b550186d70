"""Worker process for the RedisQueue fault tests: receives, handles and ends deliveries.

By default it drives the queue through the delivery protocol the way
`TaskExecutor` does; with ``--executor`` it runs a `TaskExecutor`. It appends
one JSON line per event to ``--events`` so the test can see what each process
did. SIGTERM closes the queue and lets the worker finish the deliveries it
took.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from typing import Any

from prefactor_core.queue import QueueClosedError, RedisQueue, TaskExecutor, current_delivery

NACK_DELAY = 0.2  # seconds before a failed item is retried


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="queue URL for RedisQueue.from_url")
    parser.add_argument("--events", required=True, help="file to append JSON event lines to")
    parser.add_argument("--batch", type=int, default=1, help="max deliveries per receive")
    parser.add_argument("--fail", action="store_true", help="make every attempt fail")
    parser.add_argument("--max-retries", type=int, default=3, help="retries before dead-letter")
    parser.add_argument("--exit-after-nacks", type=int, default=0, help="exit after N nacks")
    parser.add_argument("--slow-item", default=None, help="item whose handling sleeps")
    parser.add_argument("--slow-seconds", type=float, default=0.0, help="sleep for --slow-item")
    parser.add_argument("--item-seconds", type=float, default=0.0, help="sleep for every item")
    parser.add_argument("--executor", action="store_true", help="run a TaskExecutor")
    return parser.parse_args()


class EventLog:
    """Appends one JSON object per line, flushed at once so a SIGKILL keeps it."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "a", buffering=1)  # noqa: SIM115

    def write(self, event: str, **fields: Any) -> None:
        self._file.write(json.dumps({"event": event, "pid": os.getpid(), **fields}) + "\n")
        self._file.flush()


async def handle(args: argparse.Namespace, events: EventLog, item: Any, **fields: Any) -> None:
    events.write("start", item=item, **fields)
    if args.slow_item is not None and item == args.slow_item:
        await asyncio.sleep(args.slow_seconds)
    if args.item_seconds:
        await asyncio.sleep(args.item_seconds)
    if args.fail:
        raise RuntimeError(f"failed on purpose: {item!r}")


async def run_executor(args: argparse.Namespace) -> None:
    events = EventLog(args.events)
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)

    async def handler(item: Any) -> None:
        await handle(args, events, item)

    def on_success(item: Any, result: Any) -> None:
        events.write("done", item=item, attempts=current_delivery().attempts)

    async with RedisQueue.from_url(args.url) as queue:
        executor = TaskExecutor(
            queue,
            handler,
            max_retries=args.max_retries,
            backoff_base=NACK_DELAY,
            on_success=on_success,
        )
        events.write("ready")
        async with executor:
            await stopping.wait()
    events.write("exit")


async def run(args: argparse.Namespace) -> None:
    events = EventLog(args.events)
    queue: RedisQueue[Any] = RedisQueue.from_url(args.url)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(queue.close()))
    nacks = 0
    events.write("ready")
    async with queue:
        while True:
            try:
                batch = await queue.receive_batch(args.batch)
            except QueueClosedError:
                break
            for delivery in batch:
                try:
                    await handle(args, events, delivery.item, attempts=delivery.attempts)
                except RuntimeError as exc:
                    if delivery.attempts + 1 <= args.max_retries:
                        await queue.nack(delivery, delay=NACK_DELAY, error=exc)
                        events.write("nack", item=delivery.item, attempts=delivery.attempts)
                        nacks += 1
                    else:
                        await queue.dead_letter(delivery, exc)
                        events.write("dead", item=delivery.item, attempts=delivery.attempts)
                    continue
                await queue.ack(delivery)
                events.write("done", item=delivery.item, attempts=delivery.attempts)
            if args.exit_after_nacks and nacks >= args.exit_after_nacks:
                await queue.close()
    events.write("exit")


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s"
    )
    args = parse_args()
    asyncio.run(run_executor(args) if args.executor else run(args))


if __name__ == "__main__":
    main()
