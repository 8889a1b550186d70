"""Shared queue on PostgreSQL: items per second of PostgresQueue, pgqueuer and procrastinate."""

from __future__ import annotations

from ..harness import PEERS, Comparison, Metric, Program, Target, Workload
from .services import check_postgres

WORKLOAD = Workload(
    name="postgres_queue",
    title="Shared queue on PostgreSQL",
    description=(
        "Creates a fresh database on the PostgreSQL server at 127.0.0.1:5432 (user "
        "postgres, trust authentication) for each run, starts 2 worker processes with a "
        "no-op async handler, and times from both workers being ready until no "
        "unfinished job is left, while the parent puts `items` items (per library) in "
        "chunks of 500 with each library's bulk enqueue call. PostgresQueue runs under "
        '`TaskExecutor(mode="async")` with 4 workers per process; a second program '
        "calls `receive_batch(100)` in 4 coroutines per process and acknowledges each "
        "batch concurrently, without the executor. pgqueuer runs with `batch_size=100`, "
        "procrastinate with `concurrency=50`. procrastinate handled 70 to 350 items/s "
        "on a 2-core machine, so it gets fewer items, to keep 5 repeats within about 3 "
        "minutes there. The target is at least the rate of the faster peer, so both ratios must "
        "be >= 1. pgqueuer and procrastinate run in the virtual environment "
        "`benchmarks/.venvs/peers/`, which `--quick` and `--no-reference` skip."
    ),
    programs=(
        Program(
            "prefactor_core",
            "PostgresQueue + TaskExecutor (this tree)",
            "postgres_queues",
            "measure",
            params={"library": "prefactor"},
        ),
        Program(
            "prefactor_core_loop",
            "PostgresQueue, receive_batch loop",
            "postgres_queues",
            "measure",
            params={"library": "prefactor_loop"},
        ),
        Program(
            "pgqueuer", "pgqueuer", "postgres_queues", "measure", PEERS, {"library": "pgqueuer"}
        ),
        Program(
            "procrastinate",
            "procrastinate",
            "postgres_queues",
            "measure",
            PEERS,
            {"library": "procrastinate"},
        ),
    ),
    metrics=(
        Metric("items_per_s", "median items/s", 0),
        Metric("us_per_item", "median µs per item", 1),
    ),
    comparisons=(
        Comparison(
            name="vs_pgqueuer",
            subject="prefactor_core",
            peer="pgqueuer",
            metric="us_per_item",
            higher_is_better=True,
            target=Target(">=", 1.0),
            description="items/s relative to pgqueuer",
        ),
        Comparison(
            name="vs_procrastinate",
            subject="prefactor_core",
            peer="procrastinate",
            metric="us_per_item",
            higher_is_better=True,
            target=Target(">=", 1.0),
            description="items/s relative to procrastinate",
        ),
        Comparison(
            name="loop_vs_pgqueuer",
            subject="prefactor_core_loop",
            peer="pgqueuer",
            metric="us_per_item",
            higher_is_better=True,
            target=None,
            description="the same for the receive_batch loop without TaskExecutor",
        ),
    ),
    sizes={
        "items": {
            "prefactor": 20_000,
            "prefactor_loop": 20_000,
            "pgqueuer": 10_000,
            "procrastinate": 1_500,
        },
    },
    quick_sizes={
        "items": {"prefactor": 200, "prefactor_loop": 200, "pgqueuer": 20, "procrastinate": 20},
    },
    check_services=check_postgres,
)
