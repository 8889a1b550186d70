"""Run one timed program in this process and print its figures as one JSON line.

Usage: python -I run.py [--sys-path DIR] MODULE FUNCTION PARAMS_JSON

MODULE is a module of this folder, imported by its top-level name so that
worker processes started with "spawn" or "forkserver" can import it too.
FUNCTION returns a dict of figures; a coroutine function is run with
`asyncio.run`. `--sys-path` puts a source tree first on `sys.path`, so the
child imports the same `prefactor_core` as the parent that started it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import json
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sys-path", help="directory to put first on sys.path")
    parser.add_argument("module", help="module of the programs folder, such as async_path")
    parser.add_argument("function", help="function of that module to run")
    parser.add_argument("params", help="keyword arguments of the function, as a JSON object")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    if args.sys_path:
        sys.path.insert(0, args.sys_path)

    module = importlib.import_module(args.module)
    function = getattr(module, args.function)
    params = json.loads(args.params)
    if inspect.iscoroutinefunction(function):
        figures = asyncio.run(function(**params))
    else:
        figures = function(**params)

    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
