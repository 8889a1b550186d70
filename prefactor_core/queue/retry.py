"""Retry policy: how many attempts an item gets and how long to wait between them.

The policy is pure computation, so the executor and the persistent queues
share it and tests can check it without running anything.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["RetryPolicy", "retry_all"]

# 2**_MAX_EXPONENT seconds is about 35 years, far beyond any sensible
# backoff_max, and small enough that the float product never overflows.
_MAX_EXPONENT = 30


def retry_all(exc: BaseException) -> bool:
    """Return True for every `Exception`: the default `is_retryable`."""
    return isinstance(exc, Exception)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, and the decision whether to retry.

    The delay before retry `n` (1 for the first retry) is
    `backoff_base * 2**(n - 1)`, capped at `backoff_max`. Jitter then picks
    a delay between 90% and 100% of that figure, so the result never
    exceeds the cap and retries of many items do not arrive in step.

    Attributes:
        max_retries: Retries after the first attempt; 0 means one attempt.
        backoff_base: Seconds before the first retry, before jitter.
        backoff_max: Upper bound of any delay, in seconds.
        is_retryable: Predicate that decides whether a failure is retried.
        jitter: Fraction of the delay that may be taken off at random.
    """

    max_retries: int = 3
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    is_retryable: Callable[[BaseException], bool] = retry_all
    jitter: float = 0.1
    _random: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_int("max_retries", self.max_retries, minimum=0)
        _check_seconds("backoff_base", self.backoff_base)
        _check_seconds("backoff_max", self.backoff_max)
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter!r}")
        if not callable(self.is_retryable):
            raise TypeError(
                f"is_retryable must be a callable taking an exception, got {self.is_retryable!r}"
            )

    def base_delay(self, retry: int) -> float:
        """Return the delay before retry number `retry` (1-based), without jitter.

        Raises:
            ValueError: `retry` is below 1.
        """
        if retry < 1:
            raise ValueError(f"retry must be >= 1, got {retry}")
        exponent = min(retry - 1, _MAX_EXPONENT)
        return min(self.backoff_base * 2.0**exponent, self.backoff_max)

    def delay(self, retry: int) -> float:
        """Return the jittered delay in seconds before retry number `retry` (1-based).

        Raises:
            ValueError: `retry` is below 1.
        """
        ceiling = self.base_delay(retry)
        return ceiling * (1.0 - self.jitter * self._random.random())

    def should_retry(self, exc: BaseException, attempts: int) -> bool:
        """Return whether an item that failed `attempts` times gets another attempt.

        The predicate `is_retryable` is called only when retries are left.
        Exceptions that are not `Exception` subclasses, such as
        `KeyboardInterrupt`, are never retried.
        """
        if attempts > self.max_retries:
            return False
        if not isinstance(exc, Exception):
            return False
        return bool(self.is_retryable(exc))


def _check_int(name: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def _check_seconds(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
