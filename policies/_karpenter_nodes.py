"""Karpenter ``NodePool``s as node pools: the instance types their requirements and limits admit.

Each admitted type becomes a node shape whose allocatable follows the ``EC2NodeClass``'s kubelet
settings and the chart's ``settings.vmMemoryOverheadPercent``, and whose labels are Karpenter's
well-known instance labels.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyResource
from pulumi_policy.proxy import UnknownValueError

from pulumi_mlops.spec.instances import (
    INSTANCE_TYPES,
    KARPENTER_VM_MEMORY_OVERHEAD,
    InstanceType,
    eks_allocatable,
    instance_type,
)

from ._base import as_list, get, iter_dicts
from ._graph import HELM_RELEASE, StackGraph, helm_chart, plain
from ._node_shapes import NodePool, NodeShape, fixed_labels, int_or, taints_of
from ._pods import GPU, Labels, quantity

__all__ = ["karpenter_pool", "vm_overhead"]

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


def karpenter_pool(res: PolicyResource, node_classes: Mapping[str, PolicyResource], overhead: float) -> NodePool:
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
        **fixed_labels(get(props, "spec.template.metadata.labels")),
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
                max_pods=int_or(get(kubelet, "maxPods")),
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
        taints=taints_of(get(props, "spec.template.spec.taints")),
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


def vm_overhead(graph: StackGraph) -> float:
    for release in graph.of_type(HELM_RELEASE):
        if helm_chart(release) == "karpenter":
            value = get(release.props, "values.settings.vmMemoryOverheadPercent")
            if value is not None:
                return float(value)
    return KARPENTER_VM_MEMORY_OVERHEAD
