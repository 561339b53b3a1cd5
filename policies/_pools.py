"""Node pools and pod demand as the scheduler sees them, read from a stack's resource graph.

A :class:`NodePool` is an EKS managed node group, a Karpenter ``NodePool`` (with its
``EC2NodeClass``), a GKE node pool, or GKE node auto-provisioning when the cluster enables it. Each
pool offers one or more node shapes: an instance or machine type with the allocatable CPU, memory and
GPUs its cloud leaves to pods (:mod:`pulumi_mlops.spec.instances`) and the labels its nodes carry,
the ones the pool declares plus those the cloud adds, and the taints that keep pods off them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyResource
from pulumi_policy.proxy import UnknownValueError

from pulumi_mlops.spec.instances import (
    INSTANCE_TYPES,
    KARPENTER_VM_MEMORY_OVERHEAD,
    Allocatable,
    InstanceType,
    eks_allocatable,
    gke_allocatable,
    instance_type,
)

from ._base import as_list, get, is_true, iter_dicts
from ._graph import DAEMON_SET, HELM_RELEASE, StackGraph, helm_chart, plain
from ._pods import GPU, Labels, PodDemand, Taint, quantity
from .compute import _gke_max_nodes

__all__ = [
    "EKS_CLUSTER",
    "EKS_NODE_GROUP",
    "GKE_CLUSTER",
    "GKE_NODE_POOL",
    "KARPENTER_NODE_CLASS",
    "KARPENTER_NODE_POOL",
    "POOL_TYPES",
    "NodePool",
    "NodeShape",
    "daemon_overhead",
    "node_pools",
]

EKS_CLUSTER = "aws:eks/cluster:Cluster"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
GKE_NODE_POOL = "gcp:container/nodePool:NodePool"
KARPENTER_NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
KARPENTER_NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
POOL_TYPES = (EKS_NODE_GROUP, KARPENTER_NODE_POOL, GKE_NODE_POOL)

_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
_ARM_FAMILIES = re.compile(r"^(a1|[a-z]+\d+g[a-z]*|t2a|c4a)$")


@dataclass
class NodeShape:
    """One kind of node a pool starts: its type, what pods may use of it, its labels."""

    type_name: str
    itype: InstanceType | None
    allocatable: Allocatable | None
    labels: Labels
    max_nodes: int | None = None
    """Nodes of this shape the pool may run (``None``: unbounded)."""


@dataclass
class NodePool:
    """A group of nodes the cluster autoscaler (or Karpenter, or GKE) sizes between bounds."""

    res: PolicyResource
    kind: str
    """``eks``, ``karpenter``, ``gke`` or ``gke-nap``."""
    shapes: list[NodeShape]
    taints: list[Taint]
    min_nodes: int
    max_nodes: int | None
    max_gpus: int | None
    """Most GPUs the pool can hold at once (``None``: unbounded)."""
    any_shape: bool = False
    """Karpenter and auto-provisioning pick a shape that fits; a node group may launch any of its types."""

    @property
    def name(self) -> str:
        return self.res.name

    @property
    def gpus_per_node(self) -> int:
        return max((s.allocatable.gpus for s in self.shapes if s.allocatable), default=0)

    def describe(self) -> str:
        shapes = ", ".join(
            f"{s.type_name}: {s.allocatable.describe()}" if s.allocatable else f"{s.type_name}: unknown"
            for s in self.shapes[:4]
        )
        more = f" (+{len(self.shapes) - 4} types)" if len(self.shapes) > 4 else ""
        return f"{self.name} ({shapes}{more})"


# --- node pools -------------------------------------------------------------------------------


def _taints(value: Any) -> list[Taint]:
    found = []
    for t in iter_dicts(value):
        effect = str(get(t, "effect"))
        found.append(Taint(str(get(t, "key", "")), str(get(t, "value", "") or ""), _EFFECTS.get(effect, effect)))
    return found


def _fixed(labels: Any) -> Labels:
    return {str(k): frozenset({str(v)}) for k, v in labels.items()} if isinstance(labels, Mapping) else {}


def _arch(name: str, cloud: str) -> str:
    family = name.split(".")[0] if cloud == "aws" else name.split("-")[0]
    return "arm64" if _ARM_FAMILIES.match(family) else "amd64"


def _int(value: Any, default: int | None = None) -> int | None:
    return int(float(value)) if value is not None else default


def _eks_pool(res: PolicyResource) -> NodePool:
    props = res.props
    ami = str(get(props, "amiType", "AL2023_x86_64_STANDARD"))
    capacity = str(get(props, "capacityType", "ON_DEMAND"))
    group_name = get(props, "nodeGroupName")
    shapes = []
    for name in [str(t) for t in as_list(get(props, "instanceTypes"))] or ["t3.medium"]:
        itype = instance_type("aws", name)
        labels: Labels = {
            **_fixed(get(props, "labels")),
            "node.kubernetes.io/instance-type": frozenset({name}),
            "kubernetes.io/arch": frozenset({"arm64" if "ARM" in ami else "amd64"}),
            "kubernetes.io/os": frozenset({"linux"}),
            "eks.amazonaws.com/capacityType": frozenset({capacity}),
            "eks.amazonaws.com/nodegroup": frozenset({str(group_name)}) if group_name else None,
            "topology.kubernetes.io/region": None,
            "topology.kubernetes.io/zone": None,
            "kubernetes.io/hostname": None,
        }
        shapes.append(NodeShape(name, itype, eks_allocatable(itype) if itype else None, labels))
    max_nodes = _int(get(props, "scalingConfig.maxSize"))
    per_node = min((s.allocatable.gpus for s in shapes if s.allocatable), default=0)
    return NodePool(
        res=res,
        kind="eks",
        shapes=shapes,
        taints=_taints(get(props, "taints")),
        min_nodes=_int(get(props, "scalingConfig.minSize"), 0) or 0,
        max_nodes=max_nodes,
        max_gpus=max_nodes * per_node if max_nodes is not None else None,
    )


_KARPENTER_ATTRS = {
    "node.kubernetes.io/instance-type": lambda t: t.name,
    "karpenter.k8s.aws/instance-family": lambda t: t.family,
    "karpenter.k8s.aws/instance-size": lambda t: t.size,
    "karpenter.k8s.aws/instance-category": lambda t: re.sub(r"\d.*$", "", t.family),
    "karpenter.k8s.aws/instance-generation": lambda t: re.sub(r"^[a-z]+(\d+).*$", r"\1", t.family),
    "karpenter.k8s.aws/instance-cpu": lambda t: str(t.vcpus),
    "karpenter.k8s.aws/instance-memory": lambda t: str(t.memory_mib),
    "karpenter.k8s.aws/instance-gpu-count": lambda t: str(t.gpus),
    "karpenter.k8s.aws/instance-gpu-manufacturer": lambda t: "nvidia" if t.gpus else "",
    "kubernetes.io/arch": lambda t: t.arch,
}
"""Well-known Karpenter requirement keys, as attributes of an instance type."""


def _requirement_ok(op: str, values: set[str], actual: str) -> bool:
    if op == "In":
        return actual in values
    if op == "NotIn":
        return actual not in values
    if op == "Exists":
        return actual != ""
    if op == "DoesNotExist":
        return actual == ""
    if op in ("Gt", "Lt") and values and re.fullmatch(r"\d+", actual):
        bound = float(next(iter(values)))
        return float(actual) > bound if op == "Gt" else float(actual) < bound
    return False


def _karpenter_pool(res: PolicyResource, node_classes: Mapping[str, PolicyResource], overhead: float) -> NodePool:
    props = res.props
    requirements = list(iter_dicts(get(props, "spec.template.spec.requirements")))
    pool_name = str(get(props, "metadata.name", res.name))
    kubelet = _kubelet(node_classes.get(str(get(props, "spec.template.spec.nodeClassRef.name", ""))))
    named = [
        str(v)
        for r in requirements
        if get(r, "key") == "node.kubernetes.io/instance-type" and get(r, "operator") == "In"
        for v in as_list(get(r, "values"))
    ]
    candidates: list[tuple[str, InstanceType | None]] = [(n, instance_type("aws", n)) for n in named]
    if not named:
        candidates = [(t.name, t) for t in INSTANCE_TYPES["aws"].values()]
    base: Labels = {
        **_fixed(get(props, "spec.template.metadata.labels")),
        "karpenter.sh/nodepool": frozenset({pool_name}),
        "karpenter.sh/capacity-type": frozenset({"on-demand"}),
        "kubernetes.io/os": frozenset({"linux"}),
        "topology.kubernetes.io/zone": None,
        "topology.kubernetes.io/region": None,
        "kubernetes.io/hostname": None,
    }
    for r in requirements:
        key, op = str(get(r, "key", "")), str(get(r, "operator", "In"))
        if key in _KARPENTER_ATTRS:
            continue
        base[key] = frozenset(str(v) for v in as_list(get(r, "values"))) if op == "In" else None
    limits = get(props, "spec.limits")
    limits = limits if isinstance(limits, Mapping) else {}
    shapes = []
    for name, itype in candidates:
        if itype is not None and not all(
            _requirement_ok(
                str(get(r, "operator", "In")),
                {str(v) for v in as_list(get(r, "values"))},
                _KARPENTER_ATTRS[str(get(r, "key"))](itype),
            )
            for r in requirements
            if str(get(r, "key")) in _KARPENTER_ATTRS
        ):
            continue
        allocatable = None
        if itype is not None:
            allocatable = eks_allocatable(
                itype,
                max_pods=_int(get(kubelet, "maxPods")),
                vm_memory_overhead=overhead,
                kube_reserved_cpu_milli=_int_quantity(get(kubelet, "kubeReserved.cpu"), 1000),
                kube_reserved_memory_mib=_int_quantity(get(kubelet, "kubeReserved.memory"), 1 / 2**20),
            )
        cap = _karpenter_cap(itype, limits)
        if cap == 0:
            continue  # one node of this type would exceed the pool's limits: Karpenter never launches it
        labels = {**base, **{k: frozenset({f(itype)}) for k, f in _KARPENTER_ATTRS.items() if itype and f(itype)}}
        labels.setdefault("node.kubernetes.io/instance-type", frozenset({name}))
        shapes.append(NodeShape(name, itype, allocatable, labels, max_nodes=cap))
    gpu_limit = limits.get(GPU)
    return NodePool(
        res=res,
        kind="karpenter",
        shapes=shapes,
        taints=_taints(get(props, "spec.template.spec.taints")),
        min_nodes=0,
        max_nodes=None,
        max_gpus=int(quantity(gpu_limit)) if gpu_limit is not None else None,
        any_shape=True,
    )


def _kubelet(node_class: PolicyResource | None) -> Any:
    """``spec.kubelet`` of an EC2NodeClass; ``None`` when absent or built from values unknown during preview
    (subnets, roles), where Karpenter's kubelet defaults apply."""
    if node_class is None:
        return None
    try:
        return plain(get(node_class.props, "spec.kubelet"))
    except UnknownValueError:
        return None


def _int_quantity(value: Any, scale: float) -> int | None:
    return int(quantity(value) * scale) if value is not None else None


def _karpenter_cap(itype: InstanceType | None, limits: Mapping[str, Any]) -> int | None:
    """Nodes of a type the pool's ``spec.limits`` allow (``None``: unbounded)."""
    if itype is None:
        return None
    caps = []
    for key, per_node in (("cpu", itype.vcpus), ("memory", itype.memory_mib * 2**20), (GPU, itype.gpus)):
        if key in limits and per_node:
            caps.append(int(quantity(limits[key]) // per_node))
    return min(caps) if caps else None


def _gke_pool(res: PolicyResource) -> NodePool:
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
            max_pods=_int(get(props, "maxPodsPerNode")),
        )
    zones = [str(z) for z in as_list(get(props, "nodeLocations"))]
    labels: Labels = {
        **_fixed(get(props, "nodeConfig.labels")),
        "cloud.google.com/gke-nodepool": frozenset({str(get(props, "name"))}) if get(props, "name") else None,
        "cloud.google.com/machine-family": frozenset({machine.split("-")[0]}),
        "node.kubernetes.io/instance-type": frozenset({machine}),
        "kubernetes.io/arch": frozenset({_arch(machine, "gcp")}),
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
    taints = _taints(get(props, "nodeConfig.taints"))
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
        min_nodes=_int(minimum, 0) or 0,
        max_nodes=max_nodes,
        max_gpus=max_nodes * per_node if max_nodes is not None else None,
    )


def _gke_auto_provisioning(res: PolicyResource, pools: Sequence[NodePool]) -> NodePool | None:
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


def _vm_overhead(graph: StackGraph) -> float:
    for release in graph.of_type(HELM_RELEASE):
        if helm_chart(release) == "karpenter":
            value = get(release.props, "values.settings.vmMemoryOverheadPercent")
            if value is not None:
                return float(value)
    return KARPENTER_VM_MEMORY_OVERHEAD


def node_pools(graph: StackGraph) -> list[NodePool]:
    """Every node pool the stack declares, in graph order."""
    node_classes = {str(get(r.props, "metadata.name", r.name)): r for r in graph.of_type(KARPENTER_NODE_CLASS)}
    overhead = _vm_overhead(graph)
    pools: list[NodePool] = []
    for res in graph.resources:
        if res.resource_type == EKS_NODE_GROUP:
            pools.append(_eks_pool(res))
        elif res.resource_type == KARPENTER_NODE_POOL:
            pools.append(_karpenter_pool(res, node_classes, overhead))
        elif res.resource_type == GKE_NODE_POOL:
            pools.append(_gke_pool(res))
    for res in graph.of_type(GKE_CLUSTER):
        nap = _gke_auto_provisioning(res, pools)
        if nap is not None:
            pools.append(nap)
    return pools


def daemon_overhead(pool: NodePool, daemons: Sequence[PodDemand]) -> tuple[float, float]:
    """CPU (milli) and memory (MiB) the DaemonSets landing on ``pool`` take from each of its nodes."""
    cpu = mem = 0.0
    for d in daemons:
        lands = not d.untolerated(pool.taints) and any(d.selects(s.labels) is None for s in pool.shapes)
        if d.template.owner.resource_type == DAEMON_SET and lands:
            cpu, mem = cpu + d.cpu_milli, mem + d.memory_mib
    return cpu, mem
