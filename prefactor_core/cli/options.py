"""Click options shared by several commands, with their help text in one place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import click

from prefactor_core.queue.executor import Mode

from .inputs import INPUT_FORMATS
from .pipeline import ExecutorSettings

__all__ = [
    "DEFAULT_WORKERS",
    "executor_options",
    "executor_settings",
    "format_option",
    "progress_option",
    "result_options",
]

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_WORKERS = 3
"""Worker count when `--workers` is not given, as in `TaskExecutor`."""

_DEFAULT_MAX_RETRIES = 3
_DEFAULT_BACKOFF_BASE = 1.0  # seconds


def executor_options(function: F) -> F:
    """Add `--mode`, `--workers`, `--max-retries` and `--backoff-base`."""
    decorators = [
        click.option(
            "--mode",
            type=click.Choice(["async", "thread", "process"]),
            default=None,
            help="Where the handler runs: on the event loop, in a thread pool or in a "
            "process pool. Default: async for a coroutine function, thread otherwise.",
        ),
        click.option(
            "--workers",
            type=click.IntRange(min=1),
            default=DEFAULT_WORKERS,
            show_default=True,
            help="Number of items handled at the same time.",
        ),
        click.option(
            "--max-retries",
            type=click.IntRange(min=0),
            default=_DEFAULT_MAX_RETRIES,
            show_default=True,
            help="Attempts after the first one before an item counts as failed.",
        ),
        click.option(
            "--backoff-base",
            type=click.FloatRange(min=0.0),
            default=_DEFAULT_BACKOFF_BASE,
            show_default=True,
            metavar="SECONDS",
            help="Delay before the first retry; it doubles with each further retry.",
        ),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def executor_settings(
    mode: str | None, workers: int, max_retries: int, backoff_base: float
) -> ExecutorSettings:
    """Collect the values of `executor_options` into `ExecutorSettings`."""
    return ExecutorSettings(
        mode=cast("Mode | None", mode),
        workers=workers,
        max_retries=max_retries,
        backoff_base=backoff_base,
    )


def result_options(function: F) -> F:
    """Add `--output` and `--failed`."""
    function = click.option(
        "--failed",
        "failed_path",
        type=click.Path(dir_okay=False, writable=True),
        default=None,
        metavar="FILE",
        help='Write {"item", "error", "attempts"} as a JSON line for each item that failed.',
    )(function)
    return click.option(
        "--output",
        "output_path",
        type=click.Path(dir_okay=False, writable=True),
        default=None,
        metavar="FILE",
        help='Write {"item", "result"} as a JSON line for each item that succeeded.',
    )(function)


def format_option(function: F) -> F:
    """Add `--format lines|jsonl`."""
    return click.option(
        "--format",
        "input_format",
        type=click.Choice(INPUT_FORMATS),
        default="lines",
        show_default=True,
        help="Input format: each line is one item as text (lines) or one JSON value (jsonl).",
    )(function)


def progress_option(function: F) -> F:
    """Add `--progress/--no-progress`."""
    return click.option(
        "--progress/--no-progress",
        default=True,
        show_default=True,
        help="Show progress on stderr: a bar on a terminal, a line every 5 seconds elsewhere.",
    )(function)
