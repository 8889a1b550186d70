"""The `prefactor-core` command line: `run`, `demo`, `worker` and `enqueue`.

`cli` is the click group. Add a subcommand with `cli.add_command(command)`
or through an entry point in the group `prefactor_core.commands` (see
`prefactor_core.cli.app`).

The names are imported on first access, so that worker processes which
import the demo's handler from this package skip click and rich.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import COMMANDS_ENTRY_POINT_GROUP, cli, main

__all__ = ["COMMANDS_ENTRY_POINT_GROUP", "cli", "main"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module(".app", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
