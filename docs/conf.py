"""Sphinx configuration of the prefactor-core documentation.

Build with `sphinx-build -W -b html docs docs/_build/html`, so that every
warning fails the build. `tests/test_docs.py` runs the same command.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

# Document the package of this checkout, even where another version is installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import prefactor_core
import prefactor_core.queue

project = "prefactor-core"
author = "the prefactor-core authors"
copyright = "the prefactor-core authors"
release = prefactor_core.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "examples", "Thumbs.db", ".DS_Store"]

html_theme = "furo"
html_title = f"prefactor-core {release}"

# Docstrings write names in single backticks, such as `Queue`, so make those
# Python cross-references rather than italics. Names that resolve to nothing
# render as code, without a warning.
default_role = "py:obj"

# Google-style docstrings only.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

autodoc_member_order = "bysource"
autodoc_default_options = {"show-inheritance": True}
autodoc_typehints = "signature"
# Put each parameter of a long signature on a line of its own.
python_maximum_signature_line_length = 88

myst_enable_extensions = ["colon_fence", "deflist", "substitution"]
myst_heading_anchors = 3

highlight_language = "text"

_GUIDES = Path(__file__).parent / "guides"

# Guides to the queues that workers on several machines can share. The
# landing page links to those that this checkout has, so that the site
# builds with or without them.
_SHARED_QUEUE_GUIDES = {"redis.md": "Redis", "postgres.md": "PostgreSQL"}


def _shared_queue_links() -> str:
    links = [
        f"[{label}](guides/{name})"
        for name, label in _SHARED_QUEUE_GUIDES.items()
        if (_GUIDES / name).exists()
    ]
    if not links:
        return (
            "This build includes no shared queue yet. A queue that implements "
            "the delivery step of the [queue contract](api/base.md) can be shared, "
            "and the executor drives it like any other queue."
        )
    return (
        "Use a queue that keeps its items in a server, so that executors on "
        f"several machines take work from one queue: see the {' and '.join(links)} "
        "guides for delivery guarantees, dead letters and running the workers."
    )


myst_substitutions = {"shared_queue_guides": _shared_queue_links()}

_EXAMPLE_HEADER = re.compile(r"^(\s*)Examples?:\s*$")


def _examples_as_code(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Turn the body of an `Example:` section of a docstring into a Python code block.

    Napoleon copies such a section as plain text, so indented code lines
    would read as a definition list. This runs before napoleon and puts a
    `code-block` directive between the header and the code.
    """
    index = 0
    while index < len(lines):
        match = _EXAMPLE_HEADER.match(lines[index])
        if match is None:
            index += 1
            continue

        indent = len(match.group(1))
        end = index + 1
        while end < len(lines) and (
            not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent
        ):
            end += 1
        body = lines[index + 1 : end]
        while body and not body[-1].strip():
            body.pop()
        if not body:
            index = end
            continue

        body_indent = min(len(line) - len(line.lstrip()) for line in body if line.strip())
        block = [" " * body_indent + ".. code-block:: python", ""]
        block += ["    " + line if line.strip() else "" for line in body]
        block.append("")
        lines[index + 1 : end] = block
        index += 1 + len(block)


def _diagrams_as_literal(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Show the indented diagram that follows a line ending in a colon as written.

    Module docstrings draw the data flow as an indented block after a line
    such as "How items flow:". In reStructuredText that block is only a
    literal block when the line ends with a double colon, so add the second
    colon. Other docstrings are left alone, because napoleon reads their
    "Args:" and "Raises:" headers.
    """
    if what != "module":
        return
    for index, line in enumerate(lines):
        if not line.rstrip().endswith(":") or line.rstrip().endswith("::"):
            continue
        following = [later for later in lines[index + 1 :] if later.strip()]
        if not following:
            continue
        indent = len(line) - len(line.lstrip())
        if len(following[0]) - len(following[0].lstrip()) > indent:
            lines[index] = line.rstrip() + ":"


def _resolve_public_name(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: Any
) -> Any:
    """Resolve `prefactor_core.queue.Name` and a bare `Name` to the submodule entry.

    The API pages document each public class under the submodule that
    defines it (`prefactor_core.queue.memory.InMemoryQueue`), while users
    and docstrings write the name that they import. Targets that name no
    member of `prefactor_core.queue.__all__` stay unresolved.
    """
    if node.get("refdomain") != "py":
        return None
    target = str(node["reftarget"]).removeprefix("~").removeprefix("prefactor_core.queue.")
    first, _, rest = target.partition(".")
    if first not in prefactor_core.queue.__all__:
        return None

    obj = getattr(prefactor_core.queue, first)
    canonical = f"{obj.__module__}.{obj.__qualname__}"
    if rest:
        canonical = f"{canonical}.{rest}"
    domain = env.get_domain("py")
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], canonical, node, contnode
    )


def setup(app: Sphinx) -> dict[str, Any]:
    # Napoleon listens with the default priority of 500, and lower numbers run first.
    app.connect("autodoc-process-docstring", _examples_as_code, priority=400)
    app.connect("autodoc-process-docstring", _diagrams_as_literal, priority=400)
    app.connect("missing-reference", _resolve_public_name)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
