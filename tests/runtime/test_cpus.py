"""Thread pools sized to the container's CPU limit (``runtime/cpus.py``): the cgroup quota, ``MLOPS_CPUS`` and the
affinity mask, and a real ``mlops`` process whose OpenMP pool follows them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pulumi_mlops.runtime.config import RuntimeSettings, SettingsError
from pulumi_mlops.runtime.cpus import THREAD_VARIABLES, available_cpus, cgroup_quota, limit_threads

from pulumi_mlops.local.pods import resource_field

AFFINITY = len(os.sched_getaffinity(0))


def _cgroup_v2(tmp_path: Path, quotas: dict[str, str]) -> tuple[Path, Path]:
    """A cgroup v2 tree with ``cpu.max`` files at the given paths and a ``/proc/self/cgroup`` naming the deepest."""
    root = tmp_path / "cgroup"
    for path, value in quotas.items():
        folder = root / path
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cpu.max").write_text(value + "\n")
    deepest = max(quotas, key=len)
    self_cgroup = tmp_path / "self-cgroup"
    self_cgroup.write_text(f"0::/{deepest}\n")
    return root, self_cgroup


def test_the_tightest_v2_quota_of_the_cgroup_and_its_parents_counts(tmp_path: Path) -> None:
    root, self_cgroup = _cgroup_v2(
        tmp_path, {"kubepods": "max 100000", "kubepods/pod1": "150000 100000", "kubepods/pod1/ctr": "400000 100000"}
    )
    assert cgroup_quota(root, self_cgroup) == 1.5
    # 1.5 cores of quota: two threads (rounded up, as the kubelet rounds limits.cpu for MLOPS_CPUS)
    assert available_cpus({}, root, self_cgroup) == min(2, AFFINITY)


def test_no_quota_leaves_the_affinity_mask(tmp_path: Path) -> None:
    root, self_cgroup = _cgroup_v2(tmp_path, {"user.slice": "max 100000"})
    assert cgroup_quota(root, self_cgroup) is None
    assert available_cpus({}, root, self_cgroup) == AFFINITY
    assert cgroup_quota(tmp_path / "absent", tmp_path / "absent-self") is None


def test_a_v1_quota_is_read_from_the_cpu_controller(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    folder = root / "cpu,cpuacct" / "kubepods" / "pod1"
    folder.mkdir(parents=True)
    (folder / "cpu.cfs_quota_us").write_text("50000\n")
    (folder / "cpu.cfs_period_us").write_text("100000\n")
    self_cgroup = tmp_path / "self-cgroup"
    self_cgroup.write_text("4:memory:/kubepods/pod1\n3:cpu,cpuacct:/kubepods/pod1\n")
    assert cgroup_quota(root, self_cgroup) == 0.5
    assert available_cpus({}, root, self_cgroup) == 1
    (folder / "cpu.cfs_quota_us").write_text("-1\n")  # v1's "no quota"
    assert cgroup_quota(root, self_cgroup) is None


def test_mlops_cpus_narrows_and_never_widens(tmp_path: Path) -> None:
    root, self_cgroup = _cgroup_v2(tmp_path, {"ctr": "100000 100000"})
    assert available_cpus({"MLOPS_CPUS": "64"}, root, self_cgroup) == 1
    no_quota = (tmp_path / "none", tmp_path / "none-self")
    assert available_cpus({"MLOPS_CPUS": "1"}, *no_quota) == 1
    # not a count: ignored here, reported by the settings with the variable's name
    assert available_cpus({"MLOPS_CPUS": "two"}, *no_quota) == AFFINITY
    with pytest.raises(SettingsError, match="MLOPS_CPUS"):
        RuntimeSettings.from_env({"MLOPS_CPUS": "0"})
    assert RuntimeSettings.from_env({"MLOPS_CPUS": "3"}).cpus == 3


def test_limit_threads_sets_only_what_the_user_left_unset(tmp_path: Path) -> None:
    env = {"MLOPS_CPUS": "1", "OMP_NUM_THREADS": "3"}
    chosen = limit_threads(env, tmp_path / "none", tmp_path / "none-self")
    assert env["OMP_NUM_THREADS"] == "3" and "OMP_NUM_THREADS" not in chosen
    assert chosen == {name: "1" for name in THREAD_VARIABLES if name != "OMP_NUM_THREADS"}
    assert all(env[name] == "1" for name in chosen)


_PROBE = """
import json, sys
import {entry}  # what the process imports first
import numpy, sklearn.ensemble  # OpenMP and BLAS load after it, as in every command
from threadpoolctl import threadpool_info
print(json.dumps({"pools": {i["user_api"]: i["num_threads"] for i in threadpool_info()},
                  "omp": __import__("os").environ.get("OMP_NUM_THREADS")}))
"""


def _probe(env: dict[str, str], entry: str = "pulumi_mlops.cli") -> dict[str, object]:
    base = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES and not k.startswith("MLOPS_")}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.replace("{entry}", entry)],
        env=base | env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_an_mlops_process_sizes_its_openmp_pool_from_mlops_cpus() -> None:
    found = _probe({"MLOPS_CPUS": "1"})
    assert found["omp"] == "1"
    pools = found["pools"]
    assert isinstance(pools, dict) and pools.get("openmp") == 1, pools
    # the user's own setting wins
    mine = _probe({"MLOPS_CPUS": "1", "OMP_NUM_THREADS": str(max(2, AFFINITY))})
    assert mine["omp"] == str(max(2, AFFINITY))


def test_the_torchrun_entry_sizes_its_pools_before_numpy_loads() -> None:
    # torchrun runs `python -m pulumi_mlops.runtime.training`: the package is imported before anything else
    found = _probe({"MLOPS_CPUS": "1"}, entry="pulumi_mlops.runtime.training")
    pools = found["pools"]
    assert found["omp"] == "1" and isinstance(pools, dict) and pools.get("openmp") == 1, found


def test_torchrun_ranks_of_one_pod_share_its_cores(tmp_path: Path) -> None:
    none = (tmp_path / "none", tmp_path / "none-self")
    assert limit_threads({"MLOPS_CPUS": "8", "LOCAL_WORLD_SIZE": "4"}, *none)["OMP_NUM_THREADS"] == str(
        max(1, min(8, AFFINITY) // 4)
    )
    assert limit_threads({"MLOPS_CPUS": "1", "LOCAL_WORLD_SIZE": "4"}, *none)["OMP_NUM_THREADS"] == "1"
    assert limit_threads({"MLOPS_CPUS": "1", "LOCAL_WORLD_SIZE": "junk"}, *none)["OMP_NUM_THREADS"] == "1"


@pytest.mark.parametrize(
    ("limits", "divisor", "expected"),
    [({"cpu": "1"}, "1", "1"), ({"cpu": "500m"}, "1", "1"), ({"cpu": "2500m"}, "1", "3"), ({"cpu": "2"}, "1m", "2000")],
)
def test_a_local_pod_resolves_limits_cpu_as_the_kubelet_does(
    limits: dict[str, str], divisor: str, expected: str
) -> None:
    container = {"resources": {"requests": {"cpu": "250m"}, "limits": limits}}
    assert resource_field(container, {"resource": "limits.cpu", "divisor": divisor}) == expected
    with pytest.raises(LookupError, match=r"limits\.memory"):
        resource_field(container, {"resource": "limits.memory"})
