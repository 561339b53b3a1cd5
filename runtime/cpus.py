"""How many CPU cores a runtime process may use, and thread pools sized to match.

OpenMP (scikit-learn's histogram gradient boosting, LightGBM, XGBoost), BLAS, PyTorch and ONNX Runtime size their
thread pools from the cores the machine has, not from the container's CPU limit: a pod limited to two cores on a
64-core node starts 64 threads per pool, and the kernel's CFS quota then throttles it. Two such processes on one
machine measured 4x slower each than alone (``bench/batch.py``). So every ``mlops`` command, and the training
package torchrun starts, calls :func:`limit_threads` before those libraries load; it sets ``OMP_NUM_THREADS``
and its siblings to :func:`available_cpus` unless they are set already.

The cores are the smallest of: ``MLOPS_CPUS`` (the platform sets it from the container's ``limits.cpu`` through the
Downward API, rounded up to whole cores), the cgroup's CPU quota (cgroup v2 ``cpu.max``, or v1
``cpu.cfs_quota_us`` over ``cpu.cfs_period_us``, rounded up), and the CPUs the process may run on
(``sched_getaffinity``), whichever is smallest.
"""

from __future__ import annotations

import math
import os
from collections.abc import MutableMapping
from pathlib import Path

__all__ = ["CPUS_VARIABLE", "THREAD_VARIABLES", "available_cpus", "cgroup_quota", "limit_threads"]

CPUS_VARIABLE = "MLOPS_CPUS"
"""Cores the process may use, as a whole number (``RuntimeSettings.cpus``)."""
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
"""Pool sizes read by OpenMP, OpenBLAS, MKL, Accelerate and numexpr when they load (PyTorch reads OpenMP's)."""
_CGROUP = Path("/sys/fs/cgroup")


def _v2_quota(directory: Path) -> float | None:
    try:
        quota, period = (directory / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" or float(period) <= 0 else float(quota) / float(period)


def _v1_quota(directory: Path) -> float | None:
    try:
        quota = int((directory / "cpu.cfs_quota_us").read_text())
        period = int((directory / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else quota / period


def cgroup_quota(root: Path = _CGROUP, self_cgroup: Path = Path("/proc/self/cgroup")) -> float | None:
    """Cores of CPU time per second the process's cgroup allows (the tightest of it and its parents under
    ``root``); None where no quota is set or no cgroup filesystem is mounted."""
    try:
        lines = self_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    candidates: list[Path] = []
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":  # cgroup v2
            candidates.append(root / path.lstrip("/"))
        elif "cpu" in controllers.split(","):  # cgroup v1, mounted at cpu or cpu,cpuacct
            for mount in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
                candidates.append(root / mount / path.lstrip("/"))
    candidates += [root, root / "cpu", root / "cpu,cpuacct"]  # a container sees its own cgroup at the root
    quotas: list[float] = []
    for directory in candidates:
        current = directory
        while True:
            for quota in (_v2_quota(current), _v1_quota(current)):
                if quota is not None:
                    quotas.append(quota)
            if current == root or root not in current.parents:
                break
            current = current.parent
    return min(quotas) if quotas else None


def _affinity() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def available_cpus(
    environ: MutableMapping[str, str] | None = None, root: Path = _CGROUP, self_cgroup: Path = Path("/proc/self/cgroup")
) -> int:
    """Whole cores this process may use (module docstring); at least 1. A ``MLOPS_CPUS`` that is not a whole
    number of at least 1 is left to :class:`~pulumi_mlops.runtime.config.RuntimeSettings` to report."""
    env = os.environ if environ is None else environ
    limits = [_affinity()]
    quota = cgroup_quota(root, self_cgroup)
    if quota is not None:
        limits.append(max(1, math.ceil(quota)))
    given = env.get(CPUS_VARIABLE, "").strip()
    if given.isdigit() and int(given) >= 1:
        limits.append(int(given))
    return max(1, min(limits))


def limit_threads(
    environ: MutableMapping[str, str] | None = None, root: Path = _CGROUP, self_cgroup: Path = Path("/proc/self/cgroup")
) -> dict[str, str]:
    """Set each of :data:`THREAD_VARIABLES` that is unset to :func:`available_cpus` (divided among torchrun's
    ``LOCAL_WORLD_SIZE`` processes of the pod); returns what it set.

    Call it before numpy, scikit-learn or torch are imported: the pools read these variables once, when they load.
    The ``mlops`` command calls it first thing, and so does ``pulumi_mlops.runtime.training`` (torchrun's entry).
    """
    env = os.environ if environ is None else environ
    ranks = env.get("LOCAL_WORLD_SIZE", "1")  # torchrun: the processes of this pod share its cores
    share = max(1, available_cpus(env, root, self_cgroup) // (int(ranks) if ranks.isdigit() and int(ranks) else 1))
    cpus = str(share)
    chosen = {name: cpus for name in THREAD_VARIABLES if not env.get(name)}
    env.update(chosen)
    return chosen
