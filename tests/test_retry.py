"""RetryPolicy: backoff math, the cap, jitter and the retry decision."""

from __future__ import annotations

import math

import pytest

from prefactor_core.queue import RetryPolicy


def test_default_delays_are_one_two_four_seconds() -> None:
    policy = RetryPolicy()
    assert [policy.base_delay(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    for retry, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0)):
        delay = policy.delay(retry)
        assert 0.9 * ceiling <= delay <= ceiling


def test_delay_formula_uses_base() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=1000.0)
    assert policy.base_delay(1) == 0.5
    assert policy.base_delay(4) == 4.0
    assert policy.base_delay(9) == 128.0


def test_delay_is_capped() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_max=10.0)
    assert policy.base_delay(4) == 8.0
    assert policy.base_delay(5) == 10.0
    assert policy.base_delay(50) == 10.0


@pytest.mark.parametrize("retry", [1_000, 1_025, 10**6, 10**18])
def test_huge_attempt_numbers_do_not_overflow(retry: int) -> None:
    policy = RetryPolicy(backoff_base=2.5, backoff_max=60.0)
    assert policy.base_delay(retry) == 60.0
    delay = policy.delay(retry)
    assert math.isfinite(delay)
    assert 54.0 <= delay <= 60.0


def test_jitter_never_exceeds_cap() -> None:
    policy = RetryPolicy(backoff_base=3.0, backoff_max=7.0)
    delays = [policy.delay(retry) for retry in range(1, 200) for _ in range(20)]
    assert max(delays) <= 7.0
    assert min(delays) >= 0.9 * 3.0


def test_jitter_spreads_delays() -> None:
    policy = RetryPolicy()
    delays = {policy.delay(3) for _ in range(50)}
    assert len(delays) > 1


def test_zero_base_means_no_wait() -> None:
    policy = RetryPolicy(backoff_base=0.0)
    assert policy.delay(5) == 0.0


def test_should_retry_counts_attempts() -> None:
    policy = RetryPolicy(max_retries=2)
    error = ValueError("boom")
    assert policy.should_retry(error, attempts=1)
    assert policy.should_retry(error, attempts=2)
    assert not policy.should_retry(error, attempts=3)


def test_max_retries_zero_means_one_attempt() -> None:
    policy = RetryPolicy(max_retries=0)
    assert not policy.should_retry(ValueError(), attempts=1)


def test_is_retryable_decides() -> None:
    policy = RetryPolicy(is_retryable=lambda exc: isinstance(exc, ConnectionError))
    assert policy.should_retry(ConnectionError(), attempts=1)
    assert not policy.should_retry(ValueError(), attempts=1)


def test_base_exceptions_are_not_retried() -> None:
    policy = RetryPolicy()
    assert not policy.should_retry(KeyboardInterrupt(), attempts=1)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"max_retries": -1}, ValueError, "max_retries must be >= 0, got -1"),
        ({"max_retries": 1.5}, TypeError, "max_retries must be an int"),
        ({"backoff_base": -0.1}, ValueError, "backoff_base must be a finite number"),
        ({"backoff_max": -5}, ValueError, "backoff_max must be a finite number"),
        ({"backoff_base": float("nan")}, ValueError, "backoff_base"),
        ({"backoff_max": float("inf")}, ValueError, "backoff_max"),
        ({"backoff_base": "1"}, TypeError, "backoff_base must be a number"),
        ({"is_retryable": 3}, TypeError, "is_retryable must be a callable"),
        ({"jitter": 2.0}, ValueError, "jitter must be between 0 and 1"),
    ],
)
def test_invalid_policy_is_rejected(
    arguments: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        RetryPolicy(**arguments)  # type: ignore[arg-type]
