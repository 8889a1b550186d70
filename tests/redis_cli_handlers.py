"""Handlers that the RedisQueue command-line tests run in `prefactor-core worker`.

The tests put the repository root on PYTHONPATH, so the worker imports this
module as `tests.redis_cli_handlers`.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

SLOW_SECONDS = 60.0  # long enough for the test to kill the worker first


def _append_line(path: Path, line: str) -> None:
    with path.open("a") as file:
        file.write(f"{line}\n")


async def mark_then_echo(item: Any) -> Any:
    """Append the item to the file in $REDIS_CLI_TEST_STARTED, then return it.

    When $REDIS_CLI_TEST_SLOW names this item, sleep for SLOW_SECONDS first,
    so that the test can kill the worker in the middle of it.
    """
    _append_line(Path(os.environ["REDIS_CLI_TEST_STARTED"]), str(item))
    if os.environ.get("REDIS_CLI_TEST_SLOW") == item:
        await asyncio.sleep(SLOW_SECONDS)
    return item
