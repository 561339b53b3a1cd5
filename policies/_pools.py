"""Node pools and pod demand as the scheduler sees them, read from a stack's resource graph.

A :class:`~._node_shapes.NodePool` is an EKS managed node group (read here), a Karpenter ``NodePool``
with its ``EC2NodeClass`` (:mod:`._karpenter_nodes`), a GKE node pool, or GKE node auto-provisioning
when the cluster enables it (:mod:`._gke_nodes`). Each pool offers one or more node shapes: an
instance or machine type with the allocatable CPU, memory and GPUs its cloud leaves to pods
(:mod:`pulumi_mlops.spec.instances`) and the labels its nodes carry, the ones the pool declares plus
those the cloud adds, and the taints that keep pods off them.
"""

from __future__ import annotations

from collections.abc import Sequence

from pulumi_policy import PolicyResource

from pulumi_mlops.spec.instances import eks_allocatable, instance_type

from ._base import as_list, get
from ._gke_nodes import gke_auto_provisioning, gke_pool
from ._graph import DAEMON_SET, StackGraph
from ._karpenter_nodes import karpenter_pool, vm_overhead
from ._node_shapes import NodePool, NodeShape, fixed_labels, int_or, taints_of
from ._pods import Labels, PodDemand

__all__ = [
    "EKS_CLUSTER",
    "EKS_NODE_GROUP",
    "GKE_CLUSTER",
    "GKE_NODE_POOL",
    "KARPENTER_NODE_CLASS",
    "KARPENTER_NODE_POOL",
    "POOL_TYPES",
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


def _eks_pool(res: PolicyResource) -> NodePool:
    props = res.props
    ami = str(get(props, "amiType", "AL2023_x86_64_STANDARD"))
    capacity = str(get(props, "capacityType", "ON_DEMAND"))
    group_name = get(props, "nodeGroupName")
    shapes = []
    for name in [str(t) for t in as_list(get(props, "instanceTypes"))] or ["t3.medium"]:
        itype = instance_type("aws", name)
        labels: Labels = {
            **fixed_labels(get(props, "labels")),
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
    max_nodes = int_or(get(props, "scalingConfig.maxSize"))
    per_node = min((s.allocatable.gpus for s in shapes if s.allocatable), default=0)
    return NodePool(
        res=res,
        kind="eks",
        shapes=shapes,
        taints=taints_of(get(props, "taints")),
        min_nodes=int_or(get(props, "scalingConfig.minSize"), 0) or 0,
        max_nodes=max_nodes,
        max_gpus=max_nodes * per_node if max_nodes is not None else None,
    )


def node_pools(graph: StackGraph) -> list[NodePool]:
    """Every node pool the stack declares, in graph order."""
    node_classes = {str(get(r.props, "metadata.name", r.name)): r for r in graph.of_type(KARPENTER_NODE_CLASS)}
    overhead = vm_overhead(graph)
    pools: list[NodePool] = []
    for res in graph.resources:
        if res.resource_type == EKS_NODE_GROUP:
            pools.append(_eks_pool(res))
        elif res.resource_type == KARPENTER_NODE_POOL:
            pools.append(karpenter_pool(res, node_classes, overhead))
        elif res.resource_type == GKE_NODE_POOL:
            pools.append(gke_pool(res))
    for res in graph.of_type(GKE_CLUSTER):
        nap = gke_auto_provisioning(res, pools)
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
