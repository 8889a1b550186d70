"""The `prefactor-core` command line: `run`, `demo`, `worker` and `enqueue`.

`cli` is the click group; add a subcommand with `cli.add_command(command)`
or through an entry point in the group `prefactor_core.commands` (see
`prefactor_core.cli.main`).
"""

from __future__ import annotations

from .main import COMMANDS_ENTRY_POINT_GROUP, cli, main

__all__ = ["COMMANDS_ENTRY_POINT_GROUP", "cli", "main"]
