"""Share work through a Redis stream, retry a flaky item and dead-letter a bad one.

Needs a Redis server at 127.0.0.1:6379 (or the URL in PREFACTOR_REDIS_URL)
and the `redis` extra. The example uses a stream name of its own and
deletes its keys at the end. Run it with `python docs/examples/redis_queue.py`.
"""

from __future__ import annotations

import asyncio
import os
import uuid

from prefactor_core.queue import RedisQueue, TaskExecutor

SERVER = os.environ.get("PREFACTOR_REDIS_URL", "redis://127.0.0.1:6379/0")
STREAM = f"example-thumbnails-{uuid.uuid4().hex[:8]}"

attempts: dict[str, int] = {}
resized: list[str] = []
failed: list[str] = []


async def resize(job: dict[str, str]) -> None:
    image = job["image"]
    attempts[image] = attempts.get(image, 0) + 1
    if image == "flaky.png" and attempts[image] == 1:
        raise ConnectionError("storage busy")  # goes away on the retry
    if image == "broken.png":
        raise ValueError(f"{image} is not an image")
    resized.append(image)


async def main() -> None:
    url = f"{SERVER}?stream={STREAM}&visibility_timeout=30"
    async with RedisQueue.from_url(url) as queue:
        executor = TaskExecutor(
            queue,
            resize,
            num_workers=3,
            max_retries=2,
            backoff_base=0.1,
            on_failure=lambda job, exc: failed.append(job["image"]),
        )
        async with executor:
            for image in ("cat.png", "flaky.png", "broken.png"):
                await queue.put({"image": image})
            await executor.drain()

        # The dead-letter stream keeps the payload, the error and the
        # number of attempts, for a person to look at later.
        dead = await queue.redis.xrange(queue.dead_letter_stream)
        await queue.redis.delete(
            queue.stream, queue.delayed_key, queue.dead_letter_stream
        )

    assert sorted(resized) == ["cat.png", "flaky.png"]
    assert attempts["flaky.png"] == 2
    assert failed == ["broken.png"]
    assert dead[0][1][b"error"] == b"ValueError: broken.png is not an image"
    assert dead[0][1][b"attempts"] == b"3"
    print("resized:", sorted(resized), "dead letters:", len(dead))


asyncio.run(main())
