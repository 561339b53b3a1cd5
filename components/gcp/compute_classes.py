"""GPU capacity beyond the node pools: one ComputeClass per GPU pool, and the cluster-wide autoscaling limits.

Each pool's ComputeClass (``cloud.google.com/v1``, served by GKE 1.30.3+) lists where GKE gets the pool's nodes, in
the order the spec sets (``gpu_pools[].gke.obtainability``): the pool's own node pool for its capacity type, and a
node pool GKE creates on demand for every other type (a matching reservation, on-demand, DWS flex-start, spot), all
with the pool's machine type, GPUs, zones, labels and taints. The cluster's node auto-provisioning limits add up
to what the pools may reach (CPU, memory, and GPUs of each accelerator), and GKE counts every node pool against
them, so the auto-created pools never raise the spec's GPU caps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_mlops.components.k8s.context import GpuScheduling, JobQueueing, QueuedPool

from pulumi_mlops.spec import GpuPoolSpec, PlatformSpec
from pulumi_mlops.spec.gke import MAX_FLEX_START_SECONDS, obtainability, pool_zones
from pulumi_mlops.spec.instances import DEFAULT_SYSTEM_TYPE, instance_type

from .gpu_node_pool import (
    ACCELERATOR_LABEL,
    COMPUTE_CLASS_LABEL,
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    POOL_LABEL,
    sharing_labels,
)

__all__ = [
    "COMPUTE_CLASS_API_VERSION",
    "FLEX_START_RECYCLE_SECONDS",
    "QUEUED_PROVISIONING_CLASS",
    "ComputeClassArgs",
    "GpuComputeClass",
    "autoscaling_limits",
    "compute_class_name",
    "gpu_scheduling",
    "job_queueing",
    "priority_rules",
]

COMPUTE_CLASS_API_VERSION = "cloud.google.com/v1"
"""API version of GKE's ComputeClass."""
QUEUED_PROVISIONING_CLASS = "queued-provisioning.gke.io"
"""ProvisioningRequest class of GKE's Dynamic Workload Scheduler (flex-start with queued provisioning)."""
FLEX_START_RECYCLE_SECONDS = 3600
"""A flex-start node is replaced this long before it reaches its seven days, so pods move before it goes."""


def compute_class_name(pool: GpuPoolSpec) -> str:
    """``gpu-<pool>``: the name of a pool's ComputeClass (also its node pool's name)."""
    return f"gpu-{pool.name}"


def _machine(pool: GpuPoolSpec) -> dict[str, Any]:
    driver = pool.gpu_driver_version.lower()
    return {
        "machineType": pool.instance_type,
        "gpu": {"type": pool.accelerator, "count": pool.gpus_per_node, "driverVersion": driver},
        "storage": {"bootDiskSize": pool.disk_gb, "bootDiskType": "pd-balanced"},
    }


def priority_rules(pool: GpuPoolSpec) -> list[dict[str, Any]]:
    """The ComputeClass priorities of ``pool``, in its obtainability order; its own node pool stands for the first
    entry of its own capacity type (spot, or reservation and on-demand: it consumes matching reservations first)."""
    own = {"spot"} if pool.spot else {"reservation", "on_demand"}
    rules: list[dict[str, Any]] = []
    placed = False
    for capacity in obtainability(pool):
        if capacity in own:
            if not placed:
                rules.append({"nodepools": [compute_class_name(pool)]})
                placed = True
            continue
        rule = _machine(pool)
        if capacity == "reservation":
            rule |= {"reservations": {"affinity": "AnyBestEffort"}, "spot": False}
        elif capacity == "on_demand":
            rule |= {"spot": False}
        elif capacity == "spot":
            rule |= {"spot": True}
        else:
            rule |= {
                "flexStart": {"enabled": True, "nodeRecycling": {"leadTimeSeconds": FLEX_START_RECYCLE_SECONDS}},
                "maxRunDurationSeconds": MAX_FLEX_START_SECONDS,
            }
        rules.append(rule)
    return rules


def _gb(mib: float) -> int:
    return math.ceil(mib / 1024)


def autoscaling_limits(spec: PlatformSpec) -> list[tuple[str, int]]:
    """Node auto-provisioning limits ``(resource, maximum)``: the system pool and every GPU pool at their maxima
    (CPU cores, memory in GB, GPUs per accelerator type). GKE counts every node of the cluster against them."""
    system_name = spec.cluster.system_instance_type or DEFAULT_SYSTEM_TYPE["gcp"]
    counts: list[tuple[str, int]] = [(system_name, spec.cluster.system_max_nodes)]
    counts += [(p.instance_type, p.max_nodes) for p in spec.gpu_pools]
    cpu = memory = 0
    for name, nodes in counts:
        machine = instance_type("gcp", name)
        if machine is None:
            raise ValueError(
                f"machine type {name!r} is not in pulumi_mlops/spec/instances.py: add its vCPUs and memory there, so "
                "the cluster's node auto-provisioning limits can cover it"
            )
        cpu += machine.vcpus * nodes
        memory += _gb(machine.memory_mib) * nodes
    gpus: dict[str, int] = {}
    for pool in spec.gpu_pools:
        gpus[pool.accelerator] = gpus.get(pool.accelerator, 0) + pool.max_gpus
    return [("cpu", cpu), ("memory", memory), *sorted(gpus.items())]


@dataclass
class ComputeClassArgs:
    """Inputs of :class:`GpuComputeClass`."""

    spec: PlatformSpec
    """The platform (region, training jobs that decide compact placement)."""
    pool: GpuPoolSpec
    """The GPU pool the class provisions for."""
    node_service_account: pulumi.Input[str]
    """Email of the node service account the auto-created node pools use."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels of the ComputeClass object."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources the object waits for (the pool's own node pool)."""


class GpuComputeClass(pulumi.ComponentResource):
    """The ComputeClass of one GPU pool. Pass the cluster's Kubernetes provider in ``opts``.

    Outputs: ``name`` (what pods select with ``cloud.google.com/compute-class``), ``resource``.
    """

    name: str
    resource: k8s.apiextensions.CustomResource

    def __init__(self, name: str, args: ComputeClassArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:gcp:GpuComputeClass", name, None, opts)
        pool = args.pool
        rules = priority_rules(pool)
        auto = any("nodepools" not in r for r in rules)
        training = any(t.gpu_pool == pool.name for t in args.spec.training)
        config: dict[str, Any] = {
            "imageType": "cos_containerd",
            "serviceAccount": args.node_service_account,
            "nodeLabels": {**pool.labels, ACCELERATOR_LABEL: pool.accelerator, POOL_LABEL: pool.name},
            "imageStreaming": {"enabled": True},
        }
        if pool.taints:
            config["taints"] = [{"key": t.key, "value": t.value, "effect": t.effect} for t in pool.taints]
        spec: dict[str, Any] = {
            "priorities": rules,
            "priorityDefaults": {"location": {"zones": pool_zones(args.spec, pool)}},
            "nodePoolAutoCreation": {"enabled": auto},
            "nodePoolConfig": config,
            "whenUnsatisfiable": "DoNotScaleUp",
            # Moving pods back to a preferred rule would evict running training pods; serving pods move freely.
            "activeMigration": {"optimizeRulePriority": auto and not training},
        }
        self.name = compute_class_name(pool)
        self.resource = k8s.apiextensions.CustomResource(
            f"{name}-class",
            api_version=COMPUTE_CLASS_API_VERSION,
            kind="ComputeClass",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=self.name, labels=dict(args.labels)),
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.register_outputs({"name": self.name})


def gpu_scheduling(spec: PlatformSpec) -> GpuScheduling:
    """How pods land on the GPU pools: the GPU taint and pool label, each pool's own taints, and for pools with a
    ComputeClass its label and taint (and the GPU-sharing labels of shared pools), which their pods select."""
    taints: dict[str, list[tuple[str, str, str]]] = {}
    selectors: dict[str, dict[str, str]] = {}
    for pool in spec.gpu_pools:
        taints[pool.name] = [(t.key, t.value, t.effect) for t in pool.taints]
        selectors[pool.name] = sharing_labels(pool)
        if not pool.gke.queued_provisioning:
            taints[pool.name].append((COMPUTE_CLASS_LABEL, compute_class_name(pool), "NoSchedule"))
            selectors[pool.name][COMPUTE_CLASS_LABEL] = compute_class_name(pool)
    return GpuScheduling(
        taint_key=GPU_TAINT_KEY,
        taint_value=GPU_TAINT_VALUE,
        pool_label=POOL_LABEL,
        pool_taints=taints,
        pool_selectors=selectors,
    )


def job_queueing(spec: PlatformSpec) -> JobQueueing | None:
    """Kueue quotas of the queued pools (every node of each at its maximum), or ``None`` when no pool is queued."""
    pools = [p for p in spec.gpu_pools if p.gke.queued_provisioning]
    if not pools:
        return None
    queued: list[QueuedPool] = []
    for pool in pools:
        machine = instance_type("gcp", pool.instance_type)
        if machine is None:
            raise ValueError(f"machine type {pool.instance_type!r} is not in pulumi_mlops/spec/instances.py")
        queued.append(
            QueuedPool(
                pool=pool.name,
                cpu=str(machine.vcpus * pool.max_nodes),
                memory=f"{machine.memory_mib * pool.max_nodes}Mi",
                gpus=pool.max_gpus,
            )
        )
    deadlines = [t.active_deadline_seconds for t in spec.training if t.gpu_pool in {p.name for p in pools}]
    return JobQueueing(
        pools=queued, provisioning_class=QUEUED_PROVISIONING_CLASS, max_run_seconds=max(deadlines, default=3600)
    )
