"""The workloads that `python -m benchmarks` runs, in this order.

To add a workload, write a module that defines `WORKLOAD` (a
`benchmarks.harness.Workload`) and add its import path here.
"""

from __future__ import annotations

import importlib

from .harness import Workload

__all__ = ["WORKLOAD_MODULES", "load_workloads"]

WORKLOAD_MODULES = (
    "benchmarks.workloads.async_path",
    "benchmarks.workloads.thread_producers",
    "benchmarks.workloads.thread_mode",
    "benchmarks.workloads.process_tiny",
    "benchmarks.workloads.process_cpu",
    "benchmarks.workloads.memory",
    "benchmarks.workloads.stop_cost",
    "benchmarks.workloads.redis_queue",
    "benchmarks.workloads.postgres_queue",
)


def load_workloads() -> list[Workload]:
    """Import every module of `WORKLOAD_MODULES` and return their workloads.

    Raises:
        ImportError: A module is missing.
        AttributeError: A module defines no `WORKLOAD`.
    """
    return [importlib.import_module(name).WORKLOAD for name in WORKLOAD_MODULES]
