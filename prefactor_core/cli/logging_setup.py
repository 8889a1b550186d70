"""Logging of the commands: warnings by default, everything with `--verbose`.

On a terminal the records go through the same rich console as the progress
bar, so the two do not overwrite each other.
"""

from __future__ import annotations

import logging
import sys

import click
from rich.console import Console
from rich.logging import RichHandler

__all__ = ["configure_logging"]

_PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_RICH_FORMAT = "%(name)s: %(message)s"


def configure_logging(console: Console) -> None:
    """Send log records to stderr, replacing the root logger's handlers.

    The level is INFO when the root command got `--verbose`, else WARNING.
    """
    context = click.get_current_context(silent=True)
    verbose = bool(context is not None and context.find_root().params.get("verbose"))

    handler: logging.Handler
    if console.is_terminal:
        # RichHandler draws the time and the level itself.
        handler = RichHandler(console=console, show_path=False)
        handler.setFormatter(logging.Formatter(_RICH_FORMAT))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_PLAIN_FORMAT))
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, handlers=[handler], force=True
    )
