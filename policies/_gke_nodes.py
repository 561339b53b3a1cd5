"""GKE node pools and node auto-provisioning as node pools: machine, accelerators, sharing, labels, taints."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyResource

from pulumi_mlops.spec.instances import Allocatable, gke_allocatable, instance_type

from ._base import as_list, get, is_true, iter_dicts
from ._node_shapes import NodePool, NodeShape, arch_of, fixed_labels, int_or, taints_of
from ._pods import GPU, Labels, Taint
from .compute import _gke_max_nodes

__all__ = ["gke_auto_provisioning", "gke_pool"]


def gke_pool(res: PolicyResource) -> NodePool:
    props = res.props
    machine = str(get(props, "nodeConfig.machineType", "e2-medium"))
    itype = instance_type("gcp", machine)
    accelerators = list(iter_dicts(get(props, "nodeConfig.guestAccelerators")))
    # A shared GPU (time-sharing, MPS) is advertised as max_shared_clients_per_gpu nvidia.com/gpu.
    sharing = [get(a, "gpuSharingConfig") for a in accelerators]
    clients = [int(float(get(c, "maxSharedClientsPerGpu", 1))) if isinstance(c, Mapping) else 1 for c in sharing]
    gpus = sum(int(float(get(a, "count", 1))) * n for a, n in zip(accelerators, clients, strict=True)) or None
    image = str(get(props, "nodeConfig.imageType", "COS_CONTAINERD")).upper()
    allocatable = None
    if itype is not None:
        allocatable = gke_allocatable(
            itype,
            gpus=gpus,
            image_streaming=is_true(get(props, "nodeConfig.gcfsConfig.enabled")),
            max_pods=int_or(get(props, "maxPodsPerNode")),
        )
    zones = [str(z) for z in as_list(get(props, "nodeLocations"))]
    labels: Labels = {
        **fixed_labels(get(props, "nodeConfig.labels")),
        "cloud.google.com/gke-nodepool": frozenset({str(get(props, "name"))}) if get(props, "name") else None,
        "cloud.google.com/machine-family": frozenset({machine.split("-")[0]}),
        "node.kubernetes.io/instance-type": frozenset({machine}),
        "kubernetes.io/arch": frozenset({arch_of(machine, "gcp")}),
        "kubernetes.io/os": frozenset({"linux"}),
        "cloud.google.com/gke-os-distribution": frozenset({"cos" if image.startswith("COS") else "ubuntu"}),
        "topology.kubernetes.io/region": None,
        "topology.kubernetes.io/zone": frozenset(zones) if zones else None,
        "kubernetes.io/hostname": None,
    }
    if accelerators:
        labels["cloud.google.com/gke-accelerator"] = frozenset(str(get(a, "type")) for a in accelerators)
    for config in sharing:
        if isinstance(config, Mapping):  # GKE labels shared-GPU nodes with the strategy and the clients per GPU
            strategy = str(get(config, "gpuSharingStrategy", "")).lower().replace("_", "-")
            labels["cloud.google.com/gke-gpu-sharing-strategy"] = frozenset({strategy})
            labels["cloud.google.com/gke-max-shared-clients-per-gpu"] = frozenset(
                {str(int(float(get(config, "maxSharedClientsPerGpu", 1))))}
            )
    for key, flag in (("cloud.google.com/gke-spot", "spot"), ("cloud.google.com/gke-preemptible", "preemptible")):
        if is_true(get(props, f"nodeConfig.{flag}")):
            labels[key] = frozenset({"true"})
    taints = taints_of(get(props, "nodeConfig.taints"))
    if accelerators and not any(t.key == GPU for t in taints):
        taints.append(Taint(GPU, "present", "NoSchedule"))  # GKE taints GPU pools of mixed clusters itself
    max_nodes = _gke_max_nodes(props)
    per_node = allocatable.gpus if allocatable else (gpus or 0)
    minimum = get(props, "autoscaling.totalMinNodeCount", get(props, "autoscaling.minNodeCount"))
    if minimum is None and get(props, "autoscaling") is None:
        minimum = get(props, "nodeCount", get(props, "initialNodeCount", 0))
    return NodePool(
        res=res,
        kind="gke",
        shapes=[NodeShape(machine, itype, allocatable, labels)],
        taints=taints,
        min_nodes=int_or(minimum, 0) or 0,
        max_nodes=max_nodes,
        max_gpus=max_nodes * per_node if max_nodes is not None else None,
    )


def gke_auto_provisioning(res: PolicyResource, pools: Sequence[NodePool]) -> NodePool | None:
    """Node auto-provisioning: any machine within what the cluster's resource limits leave once every node pool of
    the cluster is at its maximum (GKE counts all node pools against the limits), labelled as pods ask."""
    if not is_true(get(res.props, "clusterAutoscaling.enabled")):
        return None
    limits = {
        str(get(r, "resourceType")): float(get(r, "maximum", 0))
        for r in iter_dicts(get(res.props, "clusterAutoscaling.resourceLimits"))
    }
    cpu, memory_gb = limits.get("cpu", 0.0), limits.get("memory", 0.0)
    gpus = {k: v for k, v in limits.items() if k.startswith("nvidia-")}
    for pool in pools:
        if pool.kind != "gke" or pool.max_nodes is None or not pool.shapes or pool.shapes[0].itype is None:
            continue
        itype = pool.shapes[0].itype
        cpu -= itype.vcpus * pool.max_nodes
        memory_gb -= math.ceil(itype.memory_mib / 1024) * pool.max_nodes
        for accelerator in pool.shapes[0].labels.get("cloud.google.com/gke-accelerator") or ():
            if accelerator in gpus:
                gpus[accelerator] -= itype.gpus * pool.max_nodes
    free_gpus = int(sum(max(0.0, v) for v in gpus.values()))
    allocatable = Allocatable(
        cpu_milli=int(max(0.0, cpu) * 1000), memory_mib=int(max(0.0, memory_gb) * 1024), gpus=free_gpus, pods=110
    )
    return NodePool(
        res=res,
        kind="gke-nap",
        shapes=[NodeShape("auto-provisioned", None, allocatable, _AnyLabels())],
        taints=[],
        min_nodes=0,
        max_nodes=None,
        max_gpus=free_gpus,
        any_shape=True,
    )


class _AnyLabels(dict[str, frozenset[str] | None]):
    """Labels of auto-provisioned nodes: GKE creates a pool carrying whatever labels a pod selects."""

    def __contains__(self, key: object) -> bool:
        return True

    def get(self, key: str, default: Any = None) -> frozenset[str] | None:
        return None

    def __getitem__(self, key: str) -> frozenset[str] | None:
        return None
