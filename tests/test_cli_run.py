"""`prefactor-core run` in a subprocess: input formats, modes, failures, exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .cli_process import read_jsonl, run_cli

pytestmark = pytest.mark.timeout(90)


def test_run_lines_input_succeeds(tmp_path: Path) -> None:
    (tmp_path / "words.txt").write_text("alpha\n\nbeta\r\ngamma\n")

    completed = run_cli(
        "run", "tests.cli_handlers:shout", "words.txt", "--output", "out.jsonl", cwd=tmp_path
    )

    assert completed.returncode == 0, completed.stderr
    records = sorted(read_jsonl(tmp_path / "out.jsonl"), key=lambda record: record["item"])
    assert records == [
        {"item": "alpha", "result": "ALPHA"},
        {"item": "beta", "result": "BETA"},
        {"item": "gamma", "result": "GAMMA"},
    ]
    summary = completed.stderr.strip().splitlines()[-1]
    assert re.fullmatch(
        r"3 items: 3 succeeded, 0 failed in \d+\.\d\d s \(\d+\.\d items/s\)", summary
    )


def test_run_reads_stdin_without_inputs(tmp_path: Path) -> None:
    completed = run_cli(
        "run",
        "tests.cli_handlers:shout",
        "--output",
        "out.jsonl",
        cwd=tmp_path,
        stdin="one\ntwo\n",
    )

    assert completed.returncode == 0, completed.stderr
    results = sorted(record["result"] for record in read_jsonl(tmp_path / "out.jsonl"))
    assert results == ["ONE", "TWO"]


@pytest.mark.parametrize(
    ("mode", "handler"),
    [
        ("async", "tests.cli_handlers:double_async"),
        ("thread", "tests.cli_handlers:double"),
        ("process", "tests.cli_handlers:double"),
    ],
)
def test_run_jsonl_in_each_mode(tmp_path: Path, mode: str, handler: str) -> None:
    lines = [json.dumps({"n": number}) for number in range(1, 51)]
    (tmp_path / "items.jsonl").write_text("\n".join(lines) + "\n")

    completed = run_cli(
        "run",
        handler,
        "items.jsonl",
        "--format",
        "jsonl",
        "--mode",
        mode,
        "--workers",
        "2",
        "--output",
        "out.jsonl",
        cwd=tmp_path,
    )

    assert completed.returncode == 0, completed.stderr
    records = read_jsonl(tmp_path / "out.jsonl")
    assert len(records) == 50
    assert sorted(record["result"] for record in records) == list(range(2, 101, 2))
    assert all(record["result"] == record["item"]["n"] * 2 for record in records)


def test_run_failures_go_to_failed(tmp_path: Path) -> None:
    (tmp_path / "numbers.txt").write_text("".join(f"{number}\n" for number in range(1, 7)))

    completed = run_cli(
        "run",
        "tests.cli_handlers:fail_on_odd",
        "numbers.txt",
        "--max-retries",
        "1",
        "--backoff-base",
        "0",
        "--output",
        "out.jsonl",
        "--failed",
        "failed.jsonl",
        cwd=tmp_path,
    )

    assert completed.returncode == 1, completed.stderr
    succeeded = sorted(record["item"] for record in read_jsonl(tmp_path / "out.jsonl"))
    assert succeeded == ["2", "4", "6"]
    failures = sorted(read_jsonl(tmp_path / "failed.jsonl"), key=lambda record: record["item"])
    assert [failure["item"] for failure in failures] == ["1", "3", "5"]
    assert failures[0]["error"] == "ValueError: odd number 1"
    assert all(failure["attempts"] == 2 for failure in failures)
    assert "6 items: 3 succeeded, 3 failed" in completed.stderr


def test_run_invalid_json_line_continues(tmp_path: Path) -> None:
    lines = [json.dumps({"n": number}) for number in range(1, 21)]
    lines[16] = '{"n": '
    (tmp_path / "items.jsonl").write_text("\n".join(lines) + "\n")

    completed = run_cli(
        "run",
        "tests.cli_handlers:double",
        "items.jsonl",
        "--format",
        "jsonl",
        "--output",
        "out.jsonl",
        "--failed",
        "failed.jsonl",
        cwd=tmp_path,
    )

    assert completed.returncode == 1, completed.stderr
    error_lines = [line for line in completed.stderr.splitlines() if "invalid JSON" in line]
    assert len(error_lines) == 1
    assert error_lines[0].startswith("items.jsonl:17: invalid JSON: Expecting value")
    failures = read_jsonl(tmp_path / "failed.jsonl")
    assert [failure["item"] for failure in failures] == ['{"n": ']
    assert failures[0]["attempts"] == 0
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 19
    assert "20 items: 19 succeeded, 1 failed (1 invalid input line)" in completed.stderr


def test_run_unknown_handler_exits_2(tmp_path: Path) -> None:
    (tmp_path / "words.txt").write_text("alpha\n")

    completed = run_cli("run", "pkg.mod:func", "words.txt", cwd=tmp_path)

    assert completed.returncode == 2
    assert "cannot import 'pkg.mod:func': no module named 'pkg'" in completed.stderr


def test_run_missing_attribute_exits_2(tmp_path: Path) -> None:
    completed = run_cli("run", "tests.cli_handlers:missing", cwd=tmp_path, stdin="")

    assert completed.returncode == 2
    assert "module 'tests.cli_handlers' has no attribute 'missing'" in completed.stderr


def test_run_unpicklable_process_handler_exits_2(tmp_path: Path) -> None:
    (tmp_path / "words.txt").write_text("alpha\n")

    completed = run_cli(
        "run",
        "tests.cli_handlers:unpicklable",
        "words.txt",
        "--mode",
        "process",
        "--output",
        "out.jsonl",
        cwd=tmp_path,
    )

    assert completed.returncode == 2
    assert "cannot run 'tests.cli_handlers:unpicklable'" in completed.stderr
    assert "pickled" in completed.stderr


def test_run_missing_input_exits_2(tmp_path: Path) -> None:
    completed = run_cli("run", "tests.cli_handlers:shout", "absent.txt", cwd=tmp_path)

    assert completed.returncode == 2
    assert "absent.txt" in completed.stderr


def test_run_plain_lines_without_progress(tmp_path: Path) -> None:
    (tmp_path / "words.txt").write_text("alpha\n")

    completed = run_cli(
        "run", "tests.cli_handlers:shout", "words.txt", "--no-progress", cwd=tmp_path
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stderr.splitlines()[-1].startswith("1 item: 1 succeeded, 0 failed")
    assert "\x1b[" not in completed.stderr
