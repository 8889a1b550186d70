"""Queue URLs of `worker` and `enqueue`: scheme dispatch, errors, password redaction."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from prefactor_core.cli import cli
from prefactor_core.cli.queue_url import (
    QueueURLError,
    _Engine,
    _import_queue_class,
    redact_url,
    register_queue_scheme,
)

from .cli_process import run_cli


@pytest.mark.timeout(60)
def test_worker_unsupported_scheme_exits_2(tmp_path: Path) -> None:
    completed = run_cli(
        "worker", "--queue", "http://127.0.0.1/", "tests.cli_handlers:shout", cwd=tmp_path
    )

    assert completed.returncode == 2
    assert "unsupported queue URL scheme 'http://'" in completed.stderr
    assert "redis://" in completed.stderr


@pytest.mark.timeout(60)
def test_enqueue_url_without_scheme_exits_2(tmp_path: Path) -> None:
    completed = run_cli("enqueue", "--queue", "localhost:6379", cwd=tmp_path, stdin="a\n")

    assert completed.returncode == 2
    assert "invalid queue URL 'localhost:6379'" in completed.stderr


@pytest.mark.timeout(60)
def test_worker_error_hides_password(tmp_path: Path) -> None:
    completed = run_cli(
        "worker",
        "--queue",
        "amqp://user:hunter2@127.0.0.1/",
        "tests.cli_handlers:shout",
        cwd=tmp_path,
    )

    assert completed.returncode == 2
    assert "hunter2" not in completed.stderr
    assert "amqp://user:***@127.0.0.1/" in completed.stderr


def test_redact_url_replaces_password() -> None:
    assert redact_url("redis://:pw@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert redact_url("postgresql://me:pw@127.0.0.1/test") == "postgresql://me:***@127.0.0.1/test"


def test_redact_url_keeps_url_without_password() -> None:
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_missing_queue_module_is_reported() -> None:
    engine = _Engine("prefactor_core.queue.no_such_engine", "NoSuchQueue", "nosuch")

    with pytest.raises(QueueURLError, match="NoSuchQueue is not available"):
        _import_queue_class(engine)


def test_missing_driver_names_the_extra() -> None:
    engine = _Engine("tests.cli_missing_driver", "FakeQueue", "fake")

    with pytest.raises(QueueURLError, match=r"pip install 'prefactor-core\[fake\]'"):
        _import_queue_class(engine)


def test_added_command_runs_in_group() -> None:
    @click.command("hello-test")
    def hello() -> None:
        click.echo("hello from a plugin")

    cli.add_command(hello)
    try:
        result = CliRunner().invoke(cli, ["hello-test"])
    finally:
        cli.commands.pop("hello-test")

    assert result.exit_code == 0
    assert result.output == "hello from a plugin\n"


def test_register_queue_scheme_rejects_bad_path() -> None:
    with pytest.raises(ValueError, match=re.escape("expected 'package.module:ClassName'")):
        register_queue_scheme("myqueue", "no_colon_here")


def test_register_queue_scheme_rejects_bad_scheme() -> None:
    with pytest.raises(ValueError, match="invalid URL scheme '1queue'"):
        register_queue_scheme("1queue", "package.module:Queue")
