"""Retry failed attempts with exponential backoff, and report items that end in failure.

A handler calls a pretend service that fails in three ways: a transient
error that goes away, a transient error that never does, and a permanent
error that `is_retryable` refuses to retry. One worker handles them all, so
the example also shows that an item waiting for its retry does not hold the
worker. Run it with `python docs/examples/retries.py`.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import time

from prefactor_core.queue import (
    InMemoryQueue,
    RetryPolicy,
    TaskExecutor,
    current_delivery,
)

BACKOFF_BASE = 0.2
BACKOFF_MAX = 0.5
MAX_RETRIES = 3

attempt_times: dict[str, list[float]] = collections.defaultdict(list)
finished: list[str] = []


async def call_service(item: str) -> str:
    """Pretend to call a service. The item's name decides how the call goes."""
    attempt_times[item].append(time.monotonic())
    attempt = len(attempt_times[item])
    if item == "flaky" and attempt <= 2:
        raise ConnectionError(f"service unavailable (attempt {attempt})")
    if item == "down":
        raise ConnectionError("service unavailable")
    if item == "invalid":
        raise ValueError("the service rejected the request as malformed")
    return f"{item}: ok"


def is_transient(exc: BaseException) -> bool:
    """Return True for network errors, which can go away by themselves."""
    return isinstance(exc, (ConnectionError, TimeoutError))


def show_backoff_schedule() -> None:
    """Print and check the default delays: 1, 2, 4 ... s, capped at 60 s."""
    policy = RetryPolicy(max_retries=8, backoff_base=1.0, backoff_max=60.0)
    ceilings = [policy.base_delay(retry) for retry in range(1, 9)]
    assert ceilings == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]

    # Jitter takes up to 10% off, and never adds to the delay.
    for retry, ceiling in enumerate(ceilings, start=1):
        for _ in range(100):
            assert 0.9 * ceiling <= policy.delay(retry) <= ceiling
    print(
        "default backoff before jitter:",
        ", ".join(f"{delay:g} s" for delay in ceilings),
    )


async def main() -> None:
    show_backoff_schedule()

    outcomes: dict[str, tuple[str, int]] = {}

    def on_success(item: str, result: str) -> None:
        # current_delivery().attempts counts the failed attempts before this one.
        outcomes[item] = ("succeeded", current_delivery().attempts)
        finished.append(item)

    def on_failure(item: str, exc: BaseException) -> None:
        # Here it counts every attempt that was made.
        outcomes[item] = (f"failed: {type(exc).__name__}", current_delivery().attempts)
        finished.append(item)

    queue: InMemoryQueue[str] = InMemoryQueue()
    executor = TaskExecutor(
        queue,
        call_service,
        num_workers=1,
        max_retries=MAX_RETRIES,
        is_retryable=is_transient,
        backoff_base=BACKOFF_BASE,
        backoff_max=BACKOFF_MAX,
        on_success=on_success,
        on_failure=on_failure,
    )
    async with executor:
        for item in ("flaky", "down", "invalid", "quick-1", "quick-2"):
            await queue.put(item)
        await executor.drain()

    for item, (outcome, attempts) in outcomes.items():
        print(f"{item:8} {outcome} (attempts counted: {attempts})")

    # "flaky" failed twice and then succeeded: two retries.
    assert outcomes["flaky"] == ("succeeded", 2)
    # "down" got the first attempt and MAX_RETRIES retries, then on_failure.
    assert outcomes["down"] == ("failed: ConnectionError", MAX_RETRIES + 1)
    # is_retryable refused ValueError, so "invalid" got a single attempt.
    assert outcomes["invalid"] == ("failed: ValueError", 1)

    # Retry n waited backoff_base * 2**(n-1) seconds, capped at backoff_max,
    # minus up to 10% jitter: 0.2, 0.4 and then 0.5 instead of 0.8.
    times = attempt_times["down"]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    for retry, gap in enumerate(gaps, start=1):
        ceiling = min(BACKOFF_BASE * 2 ** (retry - 1), BACKOFF_MAX)
        assert gap >= 0.9 * ceiling - 0.01, (retry, gap)
        print(f"retry {retry} of 'down' came {gap:.2f} s after the previous attempt")

    # With a single worker, the quick items still finished while "flaky"
    # and "down" were waiting for their retries.
    assert finished.index("quick-2") < finished.index("flaky")

    stats = executor.statistics()
    assert (stats.succeeded, stats.failed, stats.retried) == (3, 2, 2 + MAX_RETRIES)


if __name__ == "__main__":
    asyncio.run(main())
