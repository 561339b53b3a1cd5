"""The specs of Karpenter's NodePools and EC2NodeClasses (``karpenter.sh/v1``, ``karpenter.k8s.aws/v1``).

One GPU NodePool per ``GpuPoolSpec``, over diversified instance families and sizes: every size of the pool's
families with ``gpus_per_node`` GPUs of its accelerator and at least the vCPUs and memory of its ``instance_type``.
Spot pools prefer spot and, with ``on_demand_fallback``, fall back to on-demand. One CPU NodePool (``general``)
takes the CPU workloads the system node group has no room for.

Disruption (Karpenter v1 ``spec.disruption``): consolidation ``WhenEmptyOrUnderutilized`` after
:data:`CONSOLIDATE_AFTER`; a budget bounds how many nodes Karpenter disrupts at once (serving replicas move one
node at a time, within their PodDisruptionBudgets), and during every scheduled training run of the pool's jobs a
``nodes: "0"`` budget stops consolidation and drift. Training pods carry ``karpenter.sh/do-not-disrupt``, and the
pool's ``terminationGracePeriod`` covers its longest training deadline, so expiry and drift let a run finish.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_mlops.components.k8s.context import GpuScheduling

from pulumi_mlops.spec import GpuPoolSpec, KarpenterSpec, TrainingJobSpec
from pulumi_mlops.spec.accelerators import ACCELERATORS
from pulumi_mlops.spec.instances import instance_type
from pulumi_mlops.spec.karpenter import CPU_POOL

from .device_plugin import BOTTLEROCKET
from .efa import EFA_NODE_LABEL
from .gpu_node_pool import pool_labels, pool_taints

__all__ = [
    "CONSOLIDATE_AFTER",
    "CPU_DISK_GB",
    "CPU_DISRUPTION_NODES",
    "CPU_POOL",
    "CPU_POOL_LABEL",
    "DEFAULT_TERMINATION_GRACE",
    "EXPIRE_AFTER",
    "GPU_DISRUPTION_NODES",
    "TRAINING_MARGIN_SECONDS",
    "TRAINING_REASONS",
    "capacity_types",
    "cpu_node_class",
    "cpu_node_pool",
    "duration",
    "gpu_name",
    "gpu_node_class",
    "gpu_node_pool",
    "gpu_requirements",
    "instance_families",
    "training_jobs_on",
]

CONSOLIDATE_AFTER = "15m"
"""How long a node must be empty or underused before Karpenter consolidates it."""
EXPIRE_AFTER = "720h"
"""Node lifetime before Karpenter replaces it (picks up new AMIs); Karpenter's default, stated."""
GPU_DISRUPTION_NODES = "1"
"""GPU nodes of a pool Karpenter may disrupt at once (consolidation, drift, emptiness)."""
CPU_DISRUPTION_NODES = "10%"
"""Share of the CPU NodePool's nodes Karpenter may disrupt at once (Karpenter's default, stated)."""
TRAINING_REASONS = ["Underutilized", "Drifted"]
"""Disruption reasons a training window's ``nodes: "0"`` budget blocks (empty nodes run nothing)."""
TRAINING_MARGIN_SECONDS = 300
"""Added to a training job's ``active_deadline_seconds`` for its window and the pool's grace period: the time
the CronJob controller and the pod's own termination take."""
DEFAULT_TERMINATION_GRACE = "1h"
"""How long a node drain waits for pods that PodDisruptionBudgets block, on pools without training jobs."""
CPU_DISK_GB = 50
"""Root volume of the CPU NodePool's nodes."""
CPU_POOL_LABEL = "pulumi-mlops.io/pool"
"""Node label naming the kind of node (``system`` on the system node group, ``general`` on the CPU NodePool)."""

_AMI_ALIAS = {"AL2023_x86_64_NVIDIA": "al2023@latest", BOTTLEROCKET: "bottlerocket@latest"}
_ROOT_DEVICE = {"AL2023_x86_64_NVIDIA": "/dev/xvda", BOTTLEROCKET: "/dev/xvdb"}
_NODE_CLASS = {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass"}
_METADATA_OPTIONS = {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1}


def _req(key: str, operator: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": operator, "values": list(values)}


def capacity_types(pool: GpuPoolSpec) -> list[str]:
    """``karpenter.sh/capacity-type`` values: Karpenter launches spot when the list has it, on-demand otherwise."""
    if not pool.spot:
        return ["on-demand"]
    return ["spot", "on-demand"] if pool.on_demand_fallback else ["spot"]


def gpu_name(accelerator: str) -> str:
    """``karpenter.k8s.aws/instance-gpu-name`` of an AWS accelerator (``nvidia-l4`` -> ``l4``)."""
    return accelerator.removeprefix("nvidia-")


def instance_families(pool: GpuPoolSpec) -> list[str]:
    """The pool's ``instance_families``, or every family that carries its accelerator."""
    return list(pool.instance_families or ACCELERATORS["aws"][pool.accelerator].families)


def training_jobs_on(pool: str | None, jobs: Sequence[TrainingJobSpec]) -> list[TrainingJobSpec]:
    """Training jobs whose pods run on GPU pool ``pool``; ``None``: the jobs that request no GPU (CPU nodes)."""
    if pool is None:
        return [j for j in jobs if j.resources.gpus == 0]
    return [j for j in jobs if j.resources.gpus > 0 and j.gpu_pool == pool]


def duration(seconds: int) -> str:
    """Seconds as a Karpenter budget duration (hours and minutes only, rounded up: ``5400`` -> ``1h30m``)."""
    hours, minutes = divmod(math.ceil(seconds / 60), 60)
    return "".join(part for part in (f"{hours}h" if hours else "", f"{minutes}m" if minutes else "") if part) or "1m"


def _disruption(nodes: str, jobs: Sequence[TrainingJobSpec]) -> dict[str, Any]:
    budgets: list[dict[str, Any]] = [{"nodes": nodes}]
    for job in jobs:
        window = {
            "nodes": "0",
            "schedule": job.schedule,
            "duration": duration(job.active_deadline_seconds + TRAINING_MARGIN_SECONDS),
            "reasons": list(TRAINING_REASONS),
        }
        if window not in budgets:
            budgets.append(window)
    return {
        "consolidationPolicy": "WhenEmptyOrUnderutilized",
        "consolidateAfter": CONSOLIDATE_AFTER,
        "budgets": budgets,
    }


def _termination_grace(jobs: Sequence[TrainingJobSpec]) -> str:
    longest = max((j.active_deadline_seconds + TRAINING_MARGIN_SECONDS for j in jobs), default=0)
    return duration(longest) if longest > 3600 else DEFAULT_TERMINATION_GRACE


def gpu_requirements(pool: GpuPoolSpec, zone: str | None = None) -> list[dict[str, Any]]:
    """Requirements of a GPU NodePool: families, GPU model and count, at least ``instance_type``'s vCPUs and memory
    (when the instance table knows it), capacity types, architecture, and the zone of a ``single_zone`` pool."""
    reference = instance_type("aws", pool.instance_type)
    requirements = [
        _req("karpenter.k8s.aws/instance-family", "In", *instance_families(pool)),
        _req("karpenter.k8s.aws/instance-gpu-manufacturer", "In", "nvidia"),
        _req("karpenter.k8s.aws/instance-gpu-name", "In", gpu_name(pool.accelerator)),
        _req("karpenter.k8s.aws/instance-gpu-count", "In", str(pool.gpus_per_node)),
    ]
    if reference is not None:
        requirements += [
            _req("karpenter.k8s.aws/instance-cpu", "Gt", str(reference.vcpus - 1)),
            _req("karpenter.k8s.aws/instance-memory", "Gt", str(reference.memory_mib - 1)),
        ]
    requirements += [
        _req("karpenter.sh/capacity-type", "In", *capacity_types(pool)),
        _req("kubernetes.io/arch", "In", reference.arch if reference is not None else "amd64"),
    ]
    if pool.single_zone:
        if zone is None:
            raise ValueError(f"GPU pool {pool.name!r} is single_zone but no zone was given")
        requirements.append(_req("topology.kubernetes.io/zone", "In", zone))
    return requirements


def gpu_node_pool(
    pool: GpuPoolSpec, gpu: GpuScheduling, jobs: Sequence[TrainingJobSpec] = (), zone: str | None = None
) -> dict[str, Any]:
    """The ``karpenter.sh/v1`` NodePool spec of one GPU pool; ``jobs``: every training job of the stack."""
    on_pool = training_jobs_on(pool.name, jobs)
    labels = pool_labels(pool, gpu)
    if pool.efa:
        labels[EFA_NODE_LABEL] = "true"
    return {
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "nodeClassRef": {**_NODE_CLASS, "name": pool.name},
                "requirements": gpu_requirements(pool, zone),
                "taints": [{"key": k, "value": v, "effect": e} for k, v, e in pool_taints(pool, gpu)],
                "expireAfter": EXPIRE_AFTER,
                "terminationGracePeriod": _termination_grace(on_pool),
            },
        },
        "limits": {"nvidia.com/gpu": str(pool.max_gpus)},
        "disruption": _disruption(GPU_DISRUPTION_NODES, on_pool),
    }


def cpu_node_pool(spec: KarpenterSpec, arch: str, jobs: Sequence[TrainingJobSpec] = ()) -> dict[str, Any]:
    """The NodePool spec of the CPU pool: current-generation c/m/r types in the system pool's architecture."""
    on_pool = training_jobs_on(None, jobs)
    return {
        "template": {
            "metadata": {"labels": {CPU_POOL_LABEL: CPU_POOL}},
            "spec": {
                "nodeClassRef": {**_NODE_CLASS, "name": CPU_POOL},
                "requirements": [
                    _req("karpenter.k8s.aws/instance-category", "In", *spec.cpu_categories),
                    _req("karpenter.k8s.aws/instance-generation", "Gt", "5"),
                    _req(
                        "karpenter.sh/capacity-type", "In", *(["spot", "on-demand"] if spec.cpu_spot else ["on-demand"])
                    ),
                    _req("kubernetes.io/arch", "In", arch),
                    _req("kubernetes.io/os", "In", "linux"),
                ],
                "expireAfter": EXPIRE_AFTER,
                "terminationGracePeriod": _termination_grace(on_pool),
            },
        },
        "limits": {"cpu": str(spec.cpu_max_vcpus)},
        "disruption": _disruption(CPU_DISRUPTION_NODES, on_pool),
    }


def _node_class(
    alias: str,
    role_name: str,
    subnet_ids: Sequence[str],
    security_group_ids: Sequence[str],
    device: str,
    disk_gb: int,
    tags: Mapping[str, str],
) -> dict[str, Any]:
    return {
        "role": role_name,
        "amiSelectorTerms": [{"alias": alias}],
        "subnetSelectorTerms": [{"id": s} for s in subnet_ids],
        "securityGroupSelectorTerms": [{"id": g} for g in security_group_ids],
        "metadataOptions": dict(_METADATA_OPTIONS),
        "blockDeviceMappings": [
            {
                "deviceName": device,
                "ebs": {
                    "volumeSize": f"{disk_gb}Gi",
                    "volumeType": "gp3",
                    "encrypted": True,
                    "deleteOnTermination": True,
                },
            }
        ],
        "tags": dict(tags),
    }


def gpu_node_class(
    pool: GpuPoolSpec,
    role_name: str,
    subnet_ids: Sequence[str],
    security_group_ids: Sequence[str],
    tags: Mapping[str, str],
    placement_group: str | None = None,
) -> dict[str, Any]:
    """The ``karpenter.k8s.aws/v1`` EC2NodeClass spec of one GPU pool: its image, an encrypted root volume, and the
    instance's NVMe disks as one RAID0 array under the kubelet and containerd (fast ephemeral storage for images,
    model caches and datasets). A ``single_zone`` pool launches in the first of ``subnet_ids`` only; with
    ``placement_group`` (a name) every node goes into that placement group."""
    subnets = list(subnet_ids)[:1] if pool.single_zone else list(subnet_ids)
    spec = _node_class(
        _AMI_ALIAS[pool.ami_type],
        role_name,
        subnets,
        security_group_ids,
        _ROOT_DEVICE[pool.ami_type],
        pool.disk_gb,
        tags,
    )
    spec["instanceStorePolicy"] = "RAID0"
    if placement_group is not None:
        spec["placementGroupSelector"] = {"name": placement_group}
    return spec


def cpu_node_class(
    role_name: str, subnet_ids: Sequence[str], security_group_ids: Sequence[str], tags: Mapping[str, str]
) -> dict[str, Any]:
    """The EC2NodeClass spec of the CPU pool: Amazon Linux 2023 on every private subnet."""
    return _node_class("al2023@latest", role_name, subnet_ids, security_group_ids, "/dev/xvda", CPU_DISK_GB, tags)
