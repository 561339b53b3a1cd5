"""What the spec says about Karpenter (``autoscaler: karpenter``, AWS): the CPU NodePool, and the rules that tie the
Karpenter-only fields of GPU pools to the autoscaler, the accelerator and the network."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from pulumi_mlops.runtime.config import StrictModel

from .accelerators import ACCELERATORS, EFA_INSTANCE_TYPES

if TYPE_CHECKING:
    from .platform import PlatformSpec

__all__ = ["CPU_CATEGORIES", "CPU_POOL", "KARPENTER_POOL_FIELDS", "CpuCategory", "KarpenterSpec", "karpenter_problems"]

CPU_POOL = "general"
"""Name of Karpenter's CPU NodePool (and its EC2NodeClass); no GPU pool may take it."""
CpuCategory = Literal["c", "m", "r"]
"""EC2 instance categories of CPU nodes: compute optimized, general purpose, memory optimized."""
CPU_CATEGORIES: tuple[CpuCategory, ...] = ("c", "m", "r")
KARPENTER_POOL_FIELDS = ("instance_families", "single_zone", "efa")
"""``GpuPoolSpec`` fields only Karpenter NodePools read."""


class KarpenterSpec(StrictModel):
    """Karpenter's CPU NodePool for general workloads (read with ``autoscaler: karpenter``). The system node group
    keeps the controllers; the GPU pools are ``gpu_pools``."""

    cpu_spot: bool = False
    """Let the CPU NodePool launch spot capacity; Karpenter falls back to on-demand when no spot offering fits
    (dev and staging)."""
    cpu_categories: list[CpuCategory] = Field(default_factory=lambda: list(CPU_CATEGORIES), min_length=1)
    """EC2 instance categories the CPU NodePool launches (compute, general purpose, memory optimized), of
    generation 6 or newer, in the system pool's architecture."""
    cpu_max_vcpus: int = Field(default=64, ge=2, le=100000)
    """vCPUs all nodes of the CPU NodePool may add up to (its ``spec.limits.cpu``)."""


def _size_order(type_name: str) -> tuple[int, str]:
    """``g6.8xlarge`` before ``g6.12xlarge``: by the multiplier of the size, then by name."""
    digits = re.match(r"\d*", type_name.split(".", 1)[-1])
    return int(digits.group() or 0) if digits else 0, type_name


def karpenter_problems(spec: PlatformSpec) -> list[str]:
    """Errors of the Karpenter-only fields of the GPU pools, with the path and the fix (empty when consistent)."""
    errors: list[str] = []
    karpenter = spec.autoscaler == "karpenter"
    for i, pool in enumerate(spec.gpu_pools):
        where = f"gpu_pools[{i}] ({pool.name})"
        used = [f for f in KARPENTER_POOL_FIELDS if getattr(pool, f)]
        if not karpenter:
            if used:
                errors.append(
                    f"{where}: {', '.join(used)} shape Karpenter NodePools only: set autoscaler: karpenter (AWS) "
                    "or remove them"
                )
            continue
        if pool.min_nodes > 0:
            errors.append(
                f"{where}.min_nodes: Karpenter keeps no minimum node count (its nodes follow the pods, and the "
                "endpoints' min_replicas hold the serving floor): set min_nodes to 0, or autoscaler: "
                "cluster-autoscaler for a managed node group with a minimum"
            )
        if pool.name == CPU_POOL:
            errors.append(f"{where}: {CPU_POOL!r} is the CPU NodePool's name under autoscaler: karpenter; rename it")
        accelerator = ACCELERATORS["aws"].get(pool.accelerator)
        if accelerator is not None:
            for family in pool.instance_families:
                if family not in accelerator.families:
                    errors.append(
                        f"{where}.instance_families: {family!r} does not carry {pool.accelerator}; families that do: "
                        f"{', '.join(accelerator.families)}"
                    )
        if pool.single_zone and spec.cluster.existing is not None:
            errors.append(
                f"{where}.single_zone: needs the subnets this stack creates, and cluster.existing is set: remove "
                "single_zone (and efa)"
            )
        if pool.efa and not pool.single_zone:
            errors.append(f"{where}.efa: EFA traffic does not cross availability zones: set single_zone: true")
        if pool.efa and pool.instance_type not in EFA_INSTANCE_TYPES:
            family = pool.instance_type.split(".")[0]
            with_efa = sorted((t for t in EFA_INSTANCE_TYPES if t.split(".")[0] == family), key=_size_order)
            errors.append(
                f"{where}.efa: {pool.instance_type} has no EFA interface; sizes of {family} with EFA: "
                f"{', '.join(with_efa) or 'none'}"
            )
    return errors
