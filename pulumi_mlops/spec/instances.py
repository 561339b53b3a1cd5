"""Capacity of the instance and machine types node pools run on, and what each cloud leaves to pods.

``INSTANCE_TYPES`` lists vCPUs, memory, GPUs and pod density per type; the allocatable functions
apply each node bootstrap's published reservations, so spec validation and the policy pack agree on
what fits a node:

- EKS (AL2023 ``nodeadm``, Bottlerocket): kube-reserved CPU 6% of the first core, 1% of the second,
  0.5% of cores 3-4 and 0.25% above; memory 255 MiB + 11 MiB per pod of the ENI-limited max pods;
  hard eviction at 100 MiB (awslabs/amazon-eks-ami ``nodeadm/internal/kubelet/config.go``).
- Karpenter computes the same reservations and first subtracts ``vmMemoryOverheadPercent`` (7.5% by
  default) of the memory (aws/karpenter-provider-aws ``pkg/providers/instancetype/types.go``).
- GKE: CPU as above; memory 25% of the first 4 GiB, 20% of the next 4, 10% of the next 8, 6% of
  the next 112 and 2% above 128 GiB (255 MiB under 1 GiB); eviction at 100 MiB; image streaming
  reserves a further 10/8/4/2.4/0.8% over the same bands (GKE "Plan node sizes", "Image streaming").

Figures of AWS types: Karpenter's instance-type reference (vCPUs, MiB, GPUs, ENI-limited pods);
GCP machine types: Compute Engine machine-family tables (memory in GiB).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .accelerators import ACCELERATORS

__all__ = [
    "DEFAULT_SYSTEM_TYPE",
    "EVICTION_HARD_MIB",
    "GKE_DEFAULT_MAX_PODS",
    "INSTANCE_TABLE",
    "INSTANCE_TYPES",
    "KARPENTER_VM_MEMORY_OVERHEAD",
    "Allocatable",
    "InstanceType",
    "eks_allocatable",
    "fit_problem",
    "gke_allocatable",
    "gpu_count_mismatches",
    "instance_type",
    "node_allocatable",
    "reserved_cpu_milli",
]

INSTANCE_TABLE = "pulumi_mlops/spec/instances.py INSTANCE_TYPES"
"""Where to add a row for a type the capacity checks do not know."""

DEFAULT_SYSTEM_TYPE = {"aws": "m6i.xlarge", "gcp": "e2-standard-4"}
"""Type of the CPU system pool when ``ClusterSpec.system_instance_type`` is empty: 4 vCPUs and 16 GiB,
so a node holds the platform's own 2-CPU jobs next to its services."""

EVICTION_HARD_MIB = 100
"""``memory.available`` hard eviction threshold of EKS and GKE nodes."""
GKE_DEFAULT_MAX_PODS = 110
"""Pods per node of a GKE Standard node pool unless ``maxPodsPerNode`` says otherwise."""
KARPENTER_VM_MEMORY_OVERHEAD = 0.075
"""Karpenter's default ``settings.vmMemoryOverheadPercent``."""


@dataclass(frozen=True)
class InstanceType:
    """One EC2 instance type or Compute Engine machine type."""

    cloud: str
    name: str
    vcpus: int
    memory_mib: int
    gpus: int
    """NVIDIA GPUs the type carries (0 for CPU types; N1 machines get theirs as guest accelerators)."""
    max_pods: int
    """Pods per node: ENI-limited on EKS (VPC CNI secondary IPs), 110 on GKE."""
    arch: str = "amd64"

    @property
    def family(self) -> str:
        return self.name.split(".")[0] if self.cloud == "aws" else self.name.split("-")[0]

    @property
    def size(self) -> str:
        return self.name.split(".", 1)[1] if self.cloud == "aws" else self.name.split("-", 1)[-1]


@dataclass(frozen=True)
class Allocatable:
    """What the scheduler may place on one node."""

    cpu_milli: int
    memory_mib: int
    gpus: int
    pods: int

    def describe(self) -> str:
        text = f"{self.cpu_milli / 1000:.2f} CPU, {self.memory_mib} Mi"
        return text + (f", {self.gpus} GPU" if self.gpus else "")


def _aws(name: str, vcpus: int, memory_mib: int, gpus: int, max_pods: int) -> InstanceType:
    return InstanceType("aws", name, vcpus, memory_mib, gpus, max_pods)


def _gcp(name: str, vcpus: int, memory_gib: float, gpus: int = 0) -> InstanceType:
    return InstanceType("gcp", name, vcpus, int(memory_gib * 1024), gpus, GKE_DEFAULT_MAX_PODS)


INSTANCE_TYPES: dict[str, dict[str, InstanceType]] = {
    "aws": {
        t.name: t
        for t in (
            _aws("m6i.large", 2, 8192, 0, 29),
            _aws("m6i.xlarge", 4, 16384, 0, 58),
            _aws("m6i.2xlarge", 8, 32768, 0, 58),
            _aws("m6i.4xlarge", 16, 65536, 0, 234),
            _aws("m7i.xlarge", 4, 16384, 0, 58),
            _aws("m7i.2xlarge", 8, 32768, 0, 58),
            _aws("g4dn.xlarge", 4, 16384, 1, 29),
            _aws("g4dn.2xlarge", 8, 32768, 1, 29),
            _aws("g4dn.4xlarge", 16, 65536, 1, 29),
            _aws("g4dn.8xlarge", 32, 131072, 1, 58),
            _aws("g4dn.12xlarge", 48, 196608, 4, 234),
            _aws("g4dn.16xlarge", 64, 262144, 1, 58),
            _aws("g5.xlarge", 4, 16384, 1, 58),
            _aws("g5.2xlarge", 8, 32768, 1, 58),
            _aws("g5.4xlarge", 16, 65536, 1, 234),
            _aws("g5.8xlarge", 32, 131072, 1, 234),
            _aws("g5.12xlarge", 48, 196608, 4, 737),
            _aws("g5.16xlarge", 64, 262144, 1, 234),
            _aws("g5.24xlarge", 96, 393216, 4, 737),
            _aws("g5.48xlarge", 192, 786432, 8, 345),
            _aws("g6.xlarge", 4, 16384, 1, 58),
            _aws("g6.2xlarge", 8, 32768, 1, 58),
            _aws("g6.4xlarge", 16, 65536, 1, 234),
            _aws("g6.8xlarge", 32, 131072, 1, 234),
            _aws("g6.12xlarge", 48, 196608, 4, 234),
            _aws("g6.16xlarge", 64, 262144, 1, 737),
            _aws("g6.24xlarge", 96, 393216, 4, 737),
            _aws("g6.48xlarge", 192, 786432, 8, 737),
            _aws("gr6.4xlarge", 16, 131072, 1, 234),
            _aws("gr6.8xlarge", 32, 262144, 1, 234),
            _aws("g6e.xlarge", 4, 32768, 1, 58),
            _aws("g6e.2xlarge", 8, 65536, 1, 58),
            _aws("g6e.4xlarge", 16, 131072, 1, 234),
            _aws("g6e.8xlarge", 32, 262144, 1, 234),
            _aws("g6e.12xlarge", 48, 393216, 4, 292),
            _aws("g6e.16xlarge", 64, 524288, 1, 737),
            _aws("g6e.24xlarge", 96, 786432, 4, 492),
            _aws("g6e.48xlarge", 192, 1572864, 8, 492),
            _aws("p4d.24xlarge", 96, 1179648, 8, 737),
            _aws("p4de.24xlarge", 96, 1179648, 8, 737),
            _aws("p5.4xlarge", 16, 262144, 1, 118),
            _aws("p5.48xlarge", 192, 2097152, 8, 100),
        )
    },
    "gcp": {
        t.name: t
        for t in (
            _gcp("e2-standard-2", 2, 8),
            _gcp("e2-standard-4", 4, 16),
            _gcp("e2-standard-8", 8, 32),
            _gcp("e2-standard-16", 16, 64),
            _gcp("n2-standard-4", 4, 16),
            _gcp("n2-standard-8", 8, 32),
            _gcp("n1-standard-4", 4, 15),
            _gcp("n1-standard-8", 8, 30),
            _gcp("g2-standard-4", 4, 16, 1),
            _gcp("g2-standard-8", 8, 32, 1),
            _gcp("g2-standard-12", 12, 48, 1),
            _gcp("g2-standard-16", 16, 64, 1),
            _gcp("g2-standard-24", 24, 96, 2),
            _gcp("g2-standard-32", 32, 128, 1),
            _gcp("g2-standard-48", 48, 192, 4),
            _gcp("g2-standard-96", 96, 384, 8),
            _gcp("a2-highgpu-1g", 12, 85, 1),
            _gcp("a2-highgpu-2g", 24, 170, 2),
            _gcp("a2-highgpu-4g", 48, 340, 4),
            _gcp("a2-highgpu-8g", 96, 680, 8),
            _gcp("a2-ultragpu-1g", 12, 170, 1),
            _gcp("a2-ultragpu-2g", 24, 340, 2),
            _gcp("a2-ultragpu-4g", 48, 680, 4),
            _gcp("a2-ultragpu-8g", 96, 1360, 8),
            _gcp("a3-highgpu-1g", 26, 234, 1),
            _gcp("a3-highgpu-2g", 52, 468, 2),
            _gcp("a3-highgpu-4g", 104, 936, 4),
            _gcp("a3-highgpu-8g", 208, 1872, 8),
            _gcp("a3-megagpu-8g", 208, 1872, 8),
            _gcp("a3-ultragpu-8g", 224, 2952, 8),
        )
    },
}
"""Every type the stacks, profiles and defaults use, and those the accelerator table names."""


def instance_type(cloud: str, name: str) -> InstanceType | None:
    """The row of ``name`` on ``cloud``; ``None`` when the table lacks it."""
    return INSTANCE_TYPES.get(cloud, {}).get(name)


def reserved_cpu_milli(vcpus: int) -> int:
    """kube-reserved CPU of EKS and GKE nodes: 6% of the first core, 1% of the second, 0.5% up to 4, 0.25% above."""
    total = vcpus * 1000
    reserved = 0
    for start, end, basis_points in ((0, 1000, 600), (1000, 2000, 100), (2000, 4000, 50), (4000, total, 25)):
        if total > start:
            reserved += (min(total, end) - start) * basis_points // 10000
    return reserved


def eks_allocatable(
    itype: InstanceType,
    *,
    max_pods: int | None = None,
    vm_memory_overhead: float = 0.0,
    kube_reserved_cpu_milli: int | None = None,
    kube_reserved_memory_mib: int | None = None,
    eviction_mib: int = EVICTION_HARD_MIB,
) -> Allocatable:
    """Allocatable of an EKS node (``nodeadm`` / Bottlerocket); Karpenter passes its VM memory overhead."""
    pods = max_pods if max_pods is not None else itype.max_pods
    memory = itype.memory_mib - math.ceil(itype.memory_mib * vm_memory_overhead)
    cpu_reserved = reserved_cpu_milli(itype.vcpus) if kube_reserved_cpu_milli is None else kube_reserved_cpu_milli
    mem_reserved = 11 * pods + 255 if kube_reserved_memory_mib is None else kube_reserved_memory_mib
    return Allocatable(
        cpu_milli=itype.vcpus * 1000 - cpu_reserved,
        memory_mib=memory - mem_reserved - eviction_mib,
        gpus=itype.gpus,
        pods=pods,
    )


_GKE_MEMORY_BANDS = ((4.0, 0.25), (4.0, 0.20), (8.0, 0.10), (112.0, 0.06), (math.inf, 0.02))
_STREAMING_BANDS = ((4.0, 0.10), (4.0, 0.08), (8.0, 0.04), (112.0, 0.024), (math.inf, 0.008))


def _banded(memory_gib: float, bands: tuple[tuple[float, float], ...]) -> float:
    left, reserved = memory_gib, 0.0
    for width, share in bands:
        part = min(left, width)
        reserved += part * share
        left -= part
        if left <= 0:
            break
    return reserved


def gke_allocatable(
    itype: InstanceType, *, gpus: int | None = None, image_streaming: bool = False, max_pods: int | None = None
) -> Allocatable:
    """Allocatable of a GKE Standard node; ``gpus`` overrides the type's (N1 guest accelerators)."""
    memory_gib = itype.memory_mib / 1024
    if memory_gib < 1:
        reserved_gib = 255 / 1024
    else:
        reserved_gib = _banded(memory_gib, _GKE_MEMORY_BANDS)
        if image_streaming:
            reserved_gib += _banded(memory_gib, _STREAMING_BANDS)
    return Allocatable(
        cpu_milli=itype.vcpus * 1000 - reserved_cpu_milli(itype.vcpus),
        memory_mib=int(itype.memory_mib - math.ceil(reserved_gib * 1024) - EVICTION_HARD_MIB),
        gpus=itype.gpus if gpus is None else gpus,
        pods=max_pods if max_pods is not None else itype.max_pods,
    )


def node_allocatable(
    cloud: str,
    type_name: str,
    *,
    karpenter: bool = False,
    image_streaming: bool = False,
    node_gpus: int | None = None,
) -> Allocatable | None:
    """Allocatable of one node of ``type_name`` as the platform's pools start it; ``None`` for an unknown type.

    ``node_gpus`` gives the GPUs of machines that take them as guest accelerators (GCP N1).
    """
    itype = instance_type(cloud, type_name)
    if itype is None:
        return None
    if cloud == "gcp":
        gpus = node_gpus if node_gpus is not None and not itype.gpus else None
        return gke_allocatable(itype, gpus=gpus, image_streaming=image_streaming)
    return eks_allocatable(itype, vm_memory_overhead=KARPENTER_VM_MEMORY_OVERHEAD if karpenter else 0.0)


_MEMORY_UNITS = {"Ki": 1 / 1024, "Mi": 1.0, "Gi": 1024.0, "Ti": 1024.0 * 1024}


def fit_problem(
    cloud: str,
    type_name: str,
    cpu: str,
    memory: str,
    gpus: int,
    *,
    karpenter: bool = False,
    image_streaming: bool = False,
    node_gpus: int | None = None,
) -> str | None:
    """Why a pod requesting ``cpu``/``memory``/``gpus`` fits no node of ``type_name`` (``None``: it fits, or the
    type is unknown and the policy pack reports that)."""
    allocatable = node_allocatable(
        cloud, type_name, karpenter=karpenter, image_streaming=image_streaming, node_gpus=node_gpus
    )
    if allocatable is None:
        return None
    cpu_milli = float(cpu[:-1]) if cpu.endswith("m") else float(cpu) * 1000
    unit = memory[-2:] if memory[-2:] in _MEMORY_UNITS else ""
    memory_mib = float(memory[: -len(unit)] if unit else memory) * _MEMORY_UNITS.get(unit, 1 / 2**20)
    if cpu_milli <= allocatable.cpu_milli and memory_mib <= allocatable.memory_mib and gpus <= allocatable.gpus:
        return None
    asked = f"{cpu} CPU, {memory}" + (f", {gpus} GPU" if gpus else "")
    return (
        f"requests ({asked}) exceed what one {type_name} node leaves to pods ({allocatable.describe()} after "
        "kube-reserved and the eviction threshold), so the pod never schedules"
    )


def gpu_count_mismatches() -> list[str]:
    """Types whose GPU count differs between this table and the accelerator table (empty when consistent)."""
    problems = []
    for cloud, accelerators in ACCELERATORS.items():
        for acc in accelerators.values():
            for name, gpus in acc.gpus_by_type.items():
                row = instance_type(cloud, name)
                if row is None or row.gpus != gpus:
                    problems.append(
                        f"{cloud} {name}: accelerators say {gpus}, instances say {row.gpus if row else None}"
                    )
    return problems
