"""The `init` and `dead` commands, which manage a persistent queue at a URL.

`init` creates the queue's storage, and `dead list` and `dead requeue` show
and revive the items that ended in failure. They work with any queue class
that has `create_schema`, `list_dead` and `requeue_dead`, such as
`PostgresQueue`. setup.cfg registers them in the `prefactor_core.commands`
entry points, which `prefactor_core.cli.app.main` loads.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from prefactor_core.queue import Queue

from .queue_commands import queue_url_option
from .queue_url import QueueURLError, open_queue, redact_url

__all__ = ["dead", "init"]

R = TypeVar("R")

_POSTGRES_SCHEMES = ("postgresql", "postgres")
_MAX_SHOWN_CHARS = 200  # characters of an item or error shown per dead item


def _open(url: str, *, create_schema: bool) -> Queue[Any]:
    options: dict[str, Any] = {}
    if url.split("://", 1)[0].lower() in _POSTGRES_SCHEMES:
        options["create_schema"] = create_schema
    try:
        return open_queue(url, **options)
    except QueueURLError as exc:
        raise click.BadParameter(str(exc), param_hint="'--queue'") from exc


def _run(url: str, action: str, step: Callable[[Any], Awaitable[R]], *, create: bool = False) -> R:
    """Open the queue at `url`, run `step` on it, and close it.

    Raises:
        click.ClickException: The queue class lacks `action`, or the step
            failed; the message names the queue with its password hidden.
    """
    queue = _open(url, create_schema=create)
    if not callable(getattr(queue, action, None)):
        raise click.ClickException(
            f"the queue at {redact_url(url)} ({type(queue).__name__}) does not support {action}"
        )

    async def run() -> R:
        async with queue:  # type: ignore[attr-defined]
            return await step(queue)

    try:
        return asyncio.run(run())
    except click.ClickException:
        raise
    except Exception as exc:
        hint = ""
        if type(exc).__name__ == "UndefinedTableError":
            hint = f"; create it with: prefactor-core init --queue {redact_url(url)}"
        raise click.ClickException(
            f"{action} failed on the queue at {redact_url(url)}: {exc}{hint}"
        ) from exc


def _shorten(text: str) -> str:
    if len(text) <= _MAX_SHOWN_CHARS:
        return text
    return text[: _MAX_SHOWN_CHARS - 3] + "..."


@click.command()
@queue_url_option
def init(queue_url: str) -> None:
    """Create the storage of the queue at URL if it is missing.

    Safe to run again and from several machines at once.
    """

    async def create(queue: Any) -> None:
        await queue.create_schema()

    _run(queue_url, "create_schema", create, create=True)
    click.echo(f"queue ready at {redact_url(queue_url)}")


@click.group()
def dead() -> None:
    """List and re-queue the items that ended in failure."""


@dead.command("list")
@queue_url_option
@click.option(
    "--limit",
    default=100,
    show_default=True,
    type=click.IntRange(min=1),
    help="Maximum number of dead items to show, the oldest first.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object per line instead of text."
)
def list_dead(queue_url: str, limit: int, as_json: bool) -> None:
    """Show the dead items of the queue at URL with their error text."""

    async def fetch(queue: Any) -> list[Any]:
        items: list[Any] = await queue.list_dead(limit)
        return items

    for item in _run(queue_url, "list_dead", fetch):
        dead_at = item.dead_at.isoformat() if item.dead_at is not None else None
        if as_json:
            record = {
                "id": item.id,
                "attempts": item.attempts,
                "dead_at": dead_at,
                "error": item.error,
                "item": item.item,
            }
            click.echo(json.dumps(record, default=repr))
            continue
        click.echo(
            f"{item.id}\tattempts={item.attempts}\tdead_at={dead_at}\t"
            f"error={_shorten(str(item.error))}\titem={_shorten(repr(item.item))}"
        )


@dead.command("requeue")
@queue_url_option
@click.option(
    "--id",
    "ids",
    multiple=True,
    type=click.IntRange(min=1),
    help="Id of a dead item to re-queue, as `dead list` shows it; repeat for several.",
)
@click.option("--all", "requeue_all", is_flag=True, help="Re-queue every dead item.")
def requeue_dead(queue_url: str, ids: tuple[int, ...], requeue_all: bool) -> None:
    """Make dead items of the queue at URL ready again, with their attempts reset."""
    if bool(ids) == requeue_all:
        raise click.UsageError("pass either --id ID (one or more times) or --all")

    async def revive(queue: Any) -> int:
        count: int = await queue.requeue_dead(None if requeue_all else list(ids))
        return count

    count = _run(queue_url, "requeue_dead", revive)
    click.echo(f"re-queued {count} dead item{'' if count == 1 else 's'}")
