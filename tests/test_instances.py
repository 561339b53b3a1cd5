"""The capacity table and the allocatable each cloud's node bootstrap leaves to pods."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pulumi_mlops.preview import PreviewResult
from pulumi_mlops.spec import PROFILE_DEFAULTS
from pulumi_mlops.spec.instances import (
    DEFAULT_SYSTEM_TYPE,
    INSTANCE_TYPES,
    KARPENTER_VM_MEMORY_OVERHEAD,
    eks_allocatable,
    fit_problem,
    gke_allocatable,
    gpu_count_mismatches,
    instance_type,
    reserved_cpu_milli,
)

STACKS = ("dev", "staging", "prod", "gcp-dev", "gcp-prod")


@pytest.mark.parametrize(("vcpus", "reserved"), [(1, 60), (2, 70), (4, 80), (8, 90), (48, 190), (96, 310)])
def test_kube_reserved_cpu_ladder(vcpus: int, reserved: int) -> None:
    """6% of the first core, 1% of the second, 0.5% of cores 3-4, 0.25% above (nodeadm, GKE)."""
    assert reserved_cpu_milli(vcpus) == reserved


def test_eks_node_allocatable_follows_the_al2023_bootstrap() -> None:
    m6i = instance_type("aws", "m6i.large")
    assert m6i is not None
    allocatable = eks_allocatable(m6i)
    assert allocatable.cpu_milli == 1930, "about 1.93 CPU"
    assert allocatable.memory_mib == 8192 - (255 + 11 * 29) - 100
    assert allocatable.pods == 29


@pytest.mark.parametrize(
    ("name", "cpu_milli", "memory_mib"),
    [
        ("m6i.large", 1930, 6903),
        ("g6.xlarge", 3920, 14162),
        ("g5.12xlarge", 47810, 173400),
        ("p5.48xlarge", 191450, 1938410),
    ],
)
def test_karpenter_allocatable_matches_its_published_reference(name: str, cpu_milli: int, memory_mib: int) -> None:
    itype = instance_type("aws", name)
    assert itype is not None
    allocatable = eks_allocatable(itype, vm_memory_overhead=KARPENTER_VM_MEMORY_OVERHEAD)
    assert (allocatable.cpu_milli, allocatable.memory_mib) == (cpu_milli, memory_mib)


def test_gke_node_allocatable_follows_the_reservation_table() -> None:
    e2 = instance_type("gcp", "e2-standard-4")
    assert e2 is not None
    plain = gke_allocatable(e2)
    assert plain.cpu_milli == 3920
    assert plain.memory_mib == 16384 - 2663 - 100, "25% of 4 GiB + 20% of 4 GiB + 10% of 8 GiB, then eviction"
    streaming = gke_allocatable(e2, image_streaming=True)
    assert streaming.memory_mib == 16384 - 3728 - 100, "image streaming adds 10/8/4% over the same bands"


def test_gpu_counts_agree_with_the_accelerator_table() -> None:
    assert gpu_count_mismatches() == []


def test_every_type_the_stacks_profiles_and_defaults_use_is_known(previews: Callable[[str], PreviewResult]) -> None:
    used = {(cloud, name) for cloud, name in DEFAULT_SYSTEM_TYPE.items()}
    for stack in STACKS:
        spec = previews(stack).spec
        used.add((spec.cloud, spec.cluster.system_instance_type or DEFAULT_SYSTEM_TYPE[spec.cloud]))
        used |= {(spec.cloud, p.instance_type) for p in spec.gpu_pools}
    for profile in PROFILE_DEFAULTS.values():
        system = profile["cluster"].get("system_instance_type")
        if system:
            used |= {(cloud, system) for cloud in INSTANCE_TYPES if system in INSTANCE_TYPES[cloud]}
    assert sorted(t for t in used if instance_type(*t) is None) == []


def test_the_default_system_pool_fits_the_platforms_own_jobs(previews: Callable[[str], PreviewResult]) -> None:
    for cloud in ("aws", "gcp"):
        assert fit_problem(cloud, DEFAULT_SYSTEM_TYPE[cloud], "2", "4Gi", 0, image_streaming=cloud == "gcp") is None
    system = previews("dev").graph.named("mlops-cluster-system")
    assert system.inputs["instanceTypes"] == [DEFAULT_SYSTEM_TYPE["aws"]]


def test_fit_problem_names_the_type_and_its_allocatable() -> None:
    problem = fit_problem("aws", "m6i.large", "2", "4Gi", 0)
    assert problem is not None
    assert "requests (2 CPU, 4Gi) exceed what one m6i.large node leaves to pods (1.93 CPU, 7518 Mi" in problem
    assert fit_problem("gcp", "n1-standard-8", "1", "2Gi", 2, node_gpus=2) is None, "N1 GPUs are guest accelerators"
    assert fit_problem("aws", "x9.huge", "64", "1Ti", 0) is None, "unknown types are the policy pack's to report"
