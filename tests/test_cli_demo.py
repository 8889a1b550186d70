"""`prefactor-core demo` on a small directory, and its handler."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from prefactor_core.cli.file_digest import digest_file

from .cli_process import read_jsonl, run_cli


def make_tree(root: Path) -> dict[str, bytes]:
    contents = {
        "a.txt": b"hello " * 1000,
        "empty": b"",
        "sub/b.bin": bytes(range(256)) * 40,
        "sub/deeper/c.py": b"print('c')\n",
        "__pycache__/kept.pyc": b"\x00" * 100,
    }
    for name, data in contents.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return {str(root / name): data for name, data in contents.items()}


def test_digest_file_hashes_and_compresses(tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.write_bytes(b"abc" * 1000)

    result = digest_file(str(path))

    assert result["bytes"] == 3000
    assert result["sha256"] == hashlib.sha256(b"abc" * 1000).hexdigest()
    assert result["compression_ratio"] > 10


def test_digest_file_empty_has_no_ratio(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")

    assert digest_file(str(path))["compression_ratio"] is None


@pytest.mark.timeout(90)
def test_demo_lists_unreadable_files(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    readable = make_tree(tree)
    unreadable = [str(tree / "sub" / "vanished")]
    os.symlink(tree / "no-such-target", unreadable[0])
    if os.geteuid() != 0:
        # Root reads files without permission bits, so this case needs a user.
        locked = tree / "locked.txt"
        locked.write_bytes(b"secret")
        locked.chmod(0)
        unreadable.append(str(locked))

    completed = run_cli(
        "demo",
        str(tree),
        "--output",
        "results.jsonl",
        "--failed",
        "failed.jsonl",
        "--workers",
        "2",
        "--no-progress",
        cwd=tmp_path,
    )

    assert completed.returncode == 0, completed.stderr
    records = read_jsonl(tmp_path / "results.jsonl")
    assert sorted(record["item"] for record in records) == sorted(readable)
    for record in records:
        data = readable[record["item"]]
        assert record["result"]["sha256"] == hashlib.sha256(data).hexdigest()
        assert record["result"]["bytes"] == len(data)

    failures = read_jsonl(tmp_path / "failed.jsonl")
    assert sorted(failure["item"] for failure in failures) == sorted(unreadable)
    assert f"failed files ({len(unreadable)}):" in completed.stderr
    assert f"  {unreadable[0]}: FileNotFoundError:" in completed.stderr
    assert f"{len(readable) + len(unreadable)} files: {len(readable)} succeeded" in (
        completed.stderr
    )
    assert "speedup over serial:" in completed.stderr
    assert f"results: {tmp_path / 'results.jsonl'}" in completed.stderr


@pytest.mark.timeout(60)
def test_demo_missing_directory_exits_2(tmp_path: Path) -> None:
    completed = run_cli("demo", str(tmp_path / "absent"), cwd=tmp_path)

    assert completed.returncode == 2
    assert "absent" in completed.stderr
