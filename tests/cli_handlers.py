"""Handlers that the command-line tests run in a subprocess.

The tests put the repository root on PYTHONPATH, so the subprocess imports
this module as `tests.cli_handlers`.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any


def shout(item: Any) -> str:
    """Return the item as upper-case text."""
    return str(item).upper()


async def shout_async(item: Any) -> str:
    """Return the item as upper-case text, after yielding to the event loop."""
    await asyncio.sleep(0)
    return str(item).upper()


def double(item: Any) -> Any:
    """Return the JSON item's `n` field times two."""
    return item["n"] * 2


def fail_on_odd(item: Any) -> int:
    """Return the number, or raise ValueError when it is odd."""
    number = int(item)
    if number % 2:
        raise ValueError(f"odd number {number}")
    return number


async def double_async(item: Any) -> Any:
    """Return the JSON item's `n` field times two, as a coroutine."""
    await asyncio.sleep(0)
    return item["n"] * 2


def started_slow_echo(item: Any) -> Any:
    """Return the item after 20 ms; the first call creates the file $CLI_TEST_STARTED.

    The signal tests wait for that file, so they signal a run that is
    surely past its start-up.
    """
    marker = os.environ.get("CLI_TEST_STARTED")
    if marker:
        with open(marker, "a"):
            pass
    time.sleep(0.02)
    return item


def started_sleep(item: Any) -> Any:
    """Return the item after 2 s, creating $CLI_TEST_STARTED first as above."""
    marker = os.environ.get("CLI_TEST_STARTED")
    if marker:
        with open(marker, "a"):
            pass
    time.sleep(2.0)
    return item


# A lambda cannot be pickled by reference, so process mode rejects it.
unpicklable = lambda item: item  # noqa: E731
