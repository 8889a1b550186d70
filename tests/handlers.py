"""Module-level handlers for the tests: process mode needs them importable by name."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def double(item: int) -> int:
    return item * 2


def fail_on_negative(item: int) -> int:
    if item < 0:
        raise ValueError(f"negative item {item}")
    return item


def exit_once(item: tuple[str, int]) -> int:
    """Kill the worker process with os._exit the first time it receives item 0."""
    marker_dir, value = item
    marker = Path(marker_dir) / f"exited-{value}"
    if value == 0 and not marker.exists():
        marker.touch()
        os._exit(7)
    return value


def exit_on_zero(item: int) -> int:
    """Kill the worker process with os._exit whenever it receives item 0."""
    if item == 0:
        os._exit(9)
    return item


def kill_once(item: tuple[str, int]) -> int:
    """Kill the worker process with SIGKILL the first time it receives item 0."""
    marker_dir, value = item
    marker = Path(marker_dir) / f"killed-{value}"
    if value == 0 and not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return value


def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def record_pid(item: int) -> int:
    time.sleep(0.01)
    return os.getpid()


class NeedsTwoArguments(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code


def raise_unpicklable_exception(item: int) -> None:
    raise NeedsTwoArguments(item, "cannot be rebuilt from args")


def return_lambda(item: int) -> object:
    return lambda: item
