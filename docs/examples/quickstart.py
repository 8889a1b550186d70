"""Square ten numbers with three async workers: a complete first program."""

import asyncio

from prefactor_core.queue import InMemoryQueue, TaskExecutor

results: list[int] = []


async def square(number: int) -> None:
    await asyncio.sleep(0.01)  # simulates I/O, such as an HTTP request
    results.append(number * number)


async def main() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    async with TaskExecutor(queue, square, num_workers=3) as executor:
        for number in range(10):
            await queue.put(number)
        await executor.drain()  # returns once every item has been handled
    print(sorted(results))
    assert sorted(results) == [number * number for number in range(10)]


asyncio.run(main())
