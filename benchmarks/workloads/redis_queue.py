"""Shared queue on Redis: end-to-end items per second of RedisQueue, arq and rq."""

from __future__ import annotations

from ..harness import PEERS, Comparison, Metric, Program, Target, Workload
from .services import check_redis

WORKLOAD = Workload(
    name="redis_queue",
    title="Shared queue on Redis",
    description=(
        "Puts `items` items (per system) into a queue on the Redis server at "
        "127.0.0.1:6379 with each library's own enqueue call, then times 2 worker "
        "processes in burst mode with a no-op handler, from the first worker being ready "
        "until the last one exits after the queue ran empty. RedisQueue runs under "
        '`TaskExecutor(mode="async")` with 3 workers per process; arq runs its `Worker` '
        "with `burst=True` and `poll_delay=0.1`; rq runs its `SimpleWorker` and its "
        "forking `Worker`, which starts one process per job. The slower peers get fewer "
        "items so that 5 repeats of the workload take about 2 minutes on 2 cores. "
        "`redis-benchmark` sending `xadd_requests` XADD requests (50 connections, no "
        "pipelining) gives the ceiling. arq and rq run in the virtual environment "
        "`benchmarks/.venvs/peers/`, which `--quick` and `--no-reference` skip."
    ),
    programs=(
        Program(
            "prefactor_core",
            "RedisQueue + TaskExecutor (this tree)",
            "redis_queues",
            "measure",
            params={"system": "prefactor"},
        ),
        Program("arq", "arq", "redis_queues", "measure", PEERS, {"system": "arq"}),
        Program(
            "rq_simple",
            "rq SimpleWorker",
            "redis_queues",
            "measure",
            PEERS,
            {"system": "rq-simple"},
        ),
        Program(
            "rq", "rq Worker (fork per job)", "redis_queues", "measure", PEERS, {"system": "rq"}
        ),
        Program("xadd_ceiling", "redis-benchmark XADD", "redis_queues", "xadd_ceiling"),
    ),
    metrics=(
        Metric("items_per_s", "median items/s", 0),
        Metric("us_per_item", "median µs per item", 1),
    ),
    comparisons=(
        Comparison(
            name="vs_arq",
            subject="prefactor_core",
            peer="arq",
            metric="us_per_item",
            higher_is_better=True,
            target=Target(">=", 2.0),
            description="items/s relative to arq",
        ),
        Comparison(
            name="vs_rq_simple",
            subject="prefactor_core",
            peer="rq_simple",
            metric="us_per_item",
            higher_is_better=True,
            target=None,
            description="items/s relative to rq's SimpleWorker",
        ),
        Comparison(
            name="vs_rq",
            subject="prefactor_core",
            peer="rq",
            metric="us_per_item",
            higher_is_better=True,
            target=None,
            description="items/s relative to rq's forking Worker",
        ),
        Comparison(
            name="vs_xadd_ceiling",
            subject="prefactor_core",
            peer="xadd_ceiling",
            metric="us_per_item",
            higher_is_better=True,
            target=None,
            description="items/s as a fraction of the XADD requests/s of redis-benchmark",
        ),
    ),
    sizes={
        "items": {"prefactor": 20_000, "arq": 3_000, "rq-simple": 1_000, "rq": 100},
        "xadd_requests": 100_000,
    },
    quick_sizes={
        "items": {"prefactor": 300, "arq": 30, "rq-simple": 30, "rq": 5},
        "xadd_requests": 2_000,
    },
    check_services=check_redis,
)
