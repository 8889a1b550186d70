"""Handler paths: import the callable named by `package.module:function`.

`run` and `worker` take the handler as such a path. The errors name the path
and the missing piece, and the command turns them into exit status 2.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

import click

__all__ = ["Handler", "HandlerPathError", "handler_argument", "load_handler"]


class HandlerPathError(ValueError):
    """Raised when a handler path is malformed or does not name a callable."""


def load_handler(path: str) -> Callable[..., Any]:
    """Import the module of `path` and return the callable that it names.

    The part after the colon may be dotted, as in `package.module:Class.method`.
    The current directory is put first on `sys.path` before the import, so a
    module next to the user's shell is found even when the command runs from
    a console script.

    Raises:
        HandlerPathError: The path has no `module:attribute` form, the module
            cannot be imported, the attribute is missing or not callable.
    """
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise HandlerPathError(f"invalid handler path {path!r}: expected 'package.module:function'")

    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())

    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        raise HandlerPathError(f"cannot import {path!r}: no module named {missing!r}") from exc
    except Exception as exc:
        # The module exists but failed while it ran (syntax error, failing
        # import-time code); show that error instead of a traceback.
        raise HandlerPathError(
            f"cannot import {path!r}: importing {module_name!r} raised {type(exc).__name__}: {exc}"
        ) from exc

    names = attribute.split(".")
    for depth, name in enumerate(names, start=1):
        try:
            target = getattr(target, name)
        except AttributeError:
            dotted = ".".join(names[:depth])
            raise HandlerPathError(
                f"cannot import {path!r}: module {module_name!r} has no attribute {dotted!r}"
            ) from None

    if not callable(target):
        raise HandlerPathError(
            f"invalid handler {path!r}: {type(target).__name__} object is not callable"
        )
    return target  # type: ignore[no-any-return]


@dataclasses.dataclass(frozen=True)
class Handler:
    """A handler callable with the path that it was imported from."""

    path: str
    function: Callable[..., Any]


def handler_argument(context: click.Context, parameter: click.Parameter, value: str) -> Handler:
    """Click callback that imports the handler path given as an argument.

    A failed import becomes a usage error, so the command exits with status 2
    before it reads any input.

    Raises:
        click.BadParameter: The path does not name a callable.
    """
    try:
        return Handler(value, load_handler(value))
    except HandlerPathError as exc:
        raise click.BadParameter(str(exc), context, parameter) from exc
