"""Build the documentation site and run every program that the guides show.

The site is built once per test session with `sphinx-build -W`, so any
warning fails it. The examples in docs/examples/ are the files that the
guides include, and each checks its own claims with `assert`.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import prefactor_core.queue

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = sorted((DOCS / "examples").glob("*.py"))

# Seconds for the whole Sphinx build, and for one example program. Both are
# far above what they take on a 2-core machine, so that a slow CI run fails
# only when something hangs.
BUILD_TIMEOUT = 240
EXAMPLE_TIMEOUT = 90


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Build the HTML site into a temporary folder and return the run and the folder."""
    html = tmp_path_factory.mktemp("html")
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-b", "html", str(DOCS), str(html)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    return build, html


@pytest.mark.timeout(BUILD_TIMEOUT + 30)
def test_sphinx_build_passes(site: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    build, html = site
    assert build.returncode == 0, f"sphinx-build -W failed:\n{build.stdout}\n{build.stderr}"
    assert (html / "index.html").is_file()


def _api_page(module: str) -> str:
    """Return the API page, relative to the site, that documents `module`."""
    submodule = module.removeprefix("prefactor_core.queue.").split(".")[0]
    return f"api/{submodule}.html"


def _public_members(cls: type) -> list[str]:
    """Return the public methods and properties that `cls` defines itself."""
    return sorted(
        name
        for name, value in vars(cls).items()
        if not name.startswith("_") and (inspect.isfunction(value) or isinstance(value, property))
    )


@pytest.mark.timeout(BUILD_TIMEOUT + 30)
def test_api_pages_document_public_names(
    site: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    build, html = site
    assert build.returncode == 0, "the site did not build; see test_sphinx_build_passes"

    missing = []
    for name in prefactor_core.queue.__all__:
        obj = getattr(prefactor_core.queue, name)
        canonical = f"{obj.__module__}.{obj.__qualname__}"
        page = (html / _api_page(obj.__module__)).read_text(encoding="utf-8")
        anchors = [canonical]
        if inspect.isclass(obj):
            anchors += [f"{canonical}.{member}" for member in _public_members(obj)]
        missing += [anchor for anchor in anchors if f'id="{anchor}"' not in page]
    assert missing == []


@pytest.mark.timeout(BUILD_TIMEOUT + 30)
def test_package_page_links_submodules(
    site: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    build, html = site
    assert build.returncode == 0, "the site did not build; see test_sphinx_build_passes"

    page = (html / "api" / "index.html").read_text(encoding="utf-8")
    public = prefactor_core.queue.__all__
    modules = {getattr(prefactor_core.queue, name).__module__ for name in public}
    for module in sorted(modules):
        link = _api_page(module).removeprefix("api/")
        assert f'href="{link}"' in page, f"api/index.html has no link to {link}"


def test_every_example_is_shown() -> None:
    pages = "\n".join(path.read_text(encoding="utf-8") for path in DOCS.rglob("*.md"))
    included = set(re.findall(r"literalinclude\}\s+\S*?examples/(\S+\.py)", pages))
    assert included == {path.name for path in EXAMPLES}


@pytest.mark.timeout(EXAMPLE_TIMEOUT + 30)
def test_readme_example_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [program] = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    run = subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT,
    )
    assert run.returncode == 0, f"the README program failed:\n{run.stderr}"


@pytest.mark.timeout(EXAMPLE_TIMEOUT + 30)
@pytest.mark.parametrize("example", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_guide_example_runs(example: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(example)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT,
    )
    assert run.returncode == 0, f"{example.name} failed:\n{run.stdout}\n{run.stderr}"
