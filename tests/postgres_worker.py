"""Worker process for the PostgresQueue fault tests.

Usage: python postgres_worker.py URL OUTPUT [--slow ITEM] [--slow-seconds S] [--batch N]

Receives items from the queue at URL and appends a line per event to OUTPUT:
"start ITEM" before handling and "done ITEM" after, both flushed before the
item is acknowledged. The item named by --slow takes --slow-seconds to
handle. SIGTERM closes the queue, and the process exits 0 once the
deliveries it has taken are settled.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import TextIO

from prefactor_core.queue import PostgresQueue, QueueClosedError


async def run(url: str, log: TextIO, slow: str | None, slow_seconds: float, batch: int) -> None:
    queue = PostgresQueue.from_url(url)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: loop.create_task(queue.close()))
    async with queue:
        while True:
            try:
                deliveries = await queue.receive_batch(batch)
            except QueueClosedError:
                break
            for delivery in deliveries:
                item = str(delivery.item)
                log.write(f"start {item}\n")
                log.flush()
                if item == slow:
                    await asyncio.sleep(slow_seconds)
                log.write(f"done {item}\n")
                log.flush()
                await queue.ack(delivery)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("output")
    parser.add_argument("--slow")
    parser.add_argument("--slow-seconds", type=float, default=0.0)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    with open(args.output, "a", encoding="utf-8") as log:
        asyncio.run(run(args.url, log, args.slow, args.slow_seconds, args.batch))


if __name__ == "__main__":
    main()
