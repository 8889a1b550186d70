"""The `prefactor-core` command group and its entry point.

Other modules add subcommands to `cli` in one of two ways:

* import it and call `cli.add_command(command)` before `main` runs, or
* declare an entry point in the group `prefactor_core.commands` whose value
  is a click command, for example in setup.cfg:

      [options.entry_points]
      prefactor_core.commands =
          dead = prefactor_core.queue.postgres_commands:dead

  `main` loads these when it starts. An editable install picks up a new
  entry point only after `pip install -e .` runs again.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

import click

from prefactor_core import __version__

from .demo import demo
from .queue_commands import enqueue, worker
from .run import run

__all__ = ["COMMANDS_ENTRY_POINT_GROUP", "cli", "main"]

logger = logging.getLogger(__name__)

COMMANDS_ENTRY_POINT_GROUP = "prefactor_core.commands"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="prefactor-core")
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level instead of WARNING.")
def cli(verbose: bool) -> None:
    """Run handlers over queued items with threads, coroutines or processes."""


cli.add_command(run)
cli.add_command(demo)
cli.add_command(worker)
cli.add_command(enqueue)


def load_plugin_commands(group: click.Group) -> None:
    """Add the commands declared in the `prefactor_core.commands` entry points.

    A command whose module fails to import is skipped with a warning, so one
    broken plugin does not take the other commands down.
    """
    for entry_point in entry_points(group=COMMANDS_ENTRY_POINT_GROUP):
        if entry_point.name in group.commands:
            continue
        try:
            command = entry_point.load()
        except Exception as exc:
            logger.warning(
                "skipped command %r from %s: %s", entry_point.name, entry_point.value, exc
            )
            continue
        if not isinstance(command, click.Command):
            logger.warning(
                "skipped command %r: %s is not a click command", entry_point.name, entry_point.value
            )
            continue
        group.add_command(command, entry_point.name)


def main() -> None:
    """Run the `prefactor-core` command line; the console script calls this."""
    load_plugin_commands(cli)
    cli(prog_name="prefactor-core")
