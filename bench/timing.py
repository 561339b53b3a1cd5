"""Timing shared by the benchmarks."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["best_of", "machine", "versions"]


def best_of(fn: Callable[[], Any], repeats: int) -> float:
    """The shortest wall time of ``repeats`` calls of ``fn``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def machine() -> dict[str, Any]:
    """The machine a result was measured on: CPU model, cores (all, and usable by this process), Python."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 1
    try:
        load = list(os.getloadavg())
    except OSError:
        load = []
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "load_average": load,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def versions(*packages: str) -> dict[str, str]:
    """Installed versions of ``packages`` in this interpreter."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in packages:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "absent"
    return found
