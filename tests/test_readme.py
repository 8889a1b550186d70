"""The README's example program runs and prints what it promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_opens_with_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) >= 2
    assert "prefactor-core demo" in blocks[0]
    assert "pytest" in blocks[1]
    assert text.index(blocks[1]) < text.index("## ")


@pytest.mark.timeout(60)
def test_readme_example_runs(tmp_path: Path) -> None:
    blocks = python_blocks()
    assert blocks, "README has no python example"
    script = tmp_path / "readme_example.py"
    script.write_text(blocks[0])

    completed = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=50, cwd=ROOT
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == (
        "[('https://example.org/a', 21), ('https://example.org/b', 21)]"
    )
