"""Description of the machine and the software that a benchmark run used."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
from pathlib import Path

__all__ = ["describe_machine", "load_average"]

_PEER_PACKAGES = ("janus", "aiologic")


def describe_machine() -> dict[str, str]:
    """Return the facts recorded at the top of docs/benchmarks.md, as strings."""
    facts = {
        "date (UTC)": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "platform": platform.platform(),
        "CPU model": _cpu_model(),
        "cores (os.cpu_count)": str(os.cpu_count()),
        "memory": _memory_total(),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
    }
    for package in _PEER_PACKAGES:
        try:
            facts[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            facts[package] = "not installed"
    return facts


def load_average() -> str:
    """Return the 1-minute load average with the core count, such as "3.10 on 2 cores".

    Other processes on the machine slow the programs unevenly, so the page
    records the load at the start and at the end of the run.
    """
    try:
        one_minute = os.getloadavg()[0]
    except OSError:
        return "unknown"
    return f"{one_minute:.2f} on {os.cpu_count()} cores"


def _cpu_model() -> str:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_total() -> str:
    try:
        meminfo = Path("/proc/meminfo").read_text()
    except OSError:
        return "unknown"
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            kibibytes = int(line.split()[1])
            return f"{kibibytes / 1024 / 1024:.1f} GiB"
    return "unknown"
