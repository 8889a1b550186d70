"""Smoke test of `python -m benchmarks --quick`, so the benchmark scripts cannot rot.

It checks that every workload runs and writes both outputs; it asserts no
timing. prefactor-core 0.5.3 and the queue libraries (arq, rq, pgqueuer,
procrastinate) are skipped because installing them needs PyPI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Ratios of `--quick --no-reference`: every comparison except those with 0.5.3.
EXPECTED_RATIOS = {
    "async_path.vs_asyncio_queue",
    "thread_producers.vs_janus",
    "thread_producers.vs_aiologic",
    "thread_mode.vs_run_in_executor",
    "thread_mode.vs_thread_pool_map",
    "process_tiny.vs_run_in_executor",
    "process_tiny.vs_process_pool_map",
    "process_tiny.fork_vs_process_pool_map",
    "process_cpu.speedup_per_core",
    "process_cpu.fork_speedup_per_core",
    "memory.vs_asyncio_queue",
    "memory.vs_janus",
    "stop_cost.vs_asyncio_tasks",
}
SKIPPED_RATIOS = {
    "async_path.vs_prefactor_core_0_5_3",
    "stop_cost.vs_prefactor_core_0_5_3",
    "redis_queue.vs_arq",
    "redis_queue.vs_rq_simple",
    "redis_queue.vs_rq",
    "postgres_queue.vs_pgqueuer",
    "postgres_queue.vs_procrastinate",
    "postgres_queue.loop_vs_pgqueuer",
}
# Compares two programs of this project on the local Redis, so it has a
# figure only when Redis on 127.0.0.1:6379 accepts connections.
SERVICE_RATIOS = {"redis_queue.vs_xadd_ceiling"}


@pytest.mark.timeout(90)
def test_quick_run_writes_outputs(tmp_path: Path) -> None:
    markdown = tmp_path / "benchmarks.md"
    results = tmp_path / "results.json"

    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--no-reference",
            "--markdown",
            str(markdown),
            "--json",
            str(results),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=80,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    data = json.loads(results.read_text())
    ratios = data["ratios"]
    assert set(ratios) == EXPECTED_RATIOS | SKIPPED_RATIOS | SERVICE_RATIOS
    for name in EXPECTED_RATIOS:
        assert ratios[name] > 0, name
    for name in SKIPPED_RATIOS:
        assert ratios[name] is None, name
    for name in SERVICE_RATIOS:
        skipped = data["comparisons"][name]["skipped"]
        if skipped is None:
            assert ratios[name] > 0, name
        else:
            assert "does not accept connections" in skipped, name
    assert data["quick"] is True

    page = markdown.read_text()
    assert "python -m benchmarks --quick --no-reference" in page
    assert "## Summary" in page
    assert "| `thread_mode.vs_thread_pool_map` |" in page
