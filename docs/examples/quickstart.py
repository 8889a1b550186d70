"""Square ten numbers with three async workers: a complete first program."""

import asyncio

from prefactor_core.queue import InMemoryQueue, TaskExecutor


async def square(number: int) -> int:
    await asyncio.sleep(0.01)  # stands in for I/O, such as an HTTP request
    return number * number


async def main() -> None:
    queue: InMemoryQueue[int] = InMemoryQueue()
    results: list[int] = []
    # on_success(item, result) runs on the event loop after each successful attempt.
    executor = TaskExecutor(queue, square, on_success=lambda item, result: results.append(result))
    async with executor:  # starts the workers, and stops them on the way out
        for number in range(10):
            await queue.put(number)
        await executor.drain()  # returns once every item has been handled
    assert sorted(results) == [number * number for number in range(10)]
    print(sorted(results))


asyncio.run(main())
