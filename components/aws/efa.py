"""Elastic Fabric Adapter for multi-node training: the device plugin that advertises ``vpc.amazonaws.com/efa``, the
security group EFA needs (all traffic to and from itself), the cluster placement group that puts a pool's nodes on
one low-latency network segment, and how many interfaces a node of each instance type has (what the pods of a
multi-node job on an EFA pool request)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi_mlops.components.k8s.context import EFA_RESOURCE, EfaDevices, GpuScheduling

from pulumi_mlops.spec import GpuPoolSpec

from .device_plugin import HelmChart, gpu_tolerations

__all__ = [
    "EFA_DEVICE_PLUGIN_CHART",
    "EFA_INTERFACES",
    "EFA_NODE_LABEL",
    "EFA_RDMA_FAMILIES",
    "EFA_RESOURCE",
    "efa_device_plugin_values",
    "efa_devices",
    "efa_placement_group",
    "efa_security_group",
]

EFA_DEVICE_PLUGIN_CHART = HelmChart("aws-efa-k8s-device-plugin", "v0.5.30", "https://aws.github.io/eks-charts")
"""aws/eks-charts ``stable/aws-efa-k8s-device-plugin`` (image v0.5.20). Its DaemonSet keeps the chart's own node
affinity, the instance types that have EFA."""
EFA_NODE_LABEL = "pulumi-mlops.io/efa"
"""Node label (``"true"``) of the NodePools of pools with ``efa``; the device plugin runs on those nodes only."""

EFA_INTERFACES: dict[str, int] = {
    **dict.fromkeys(("g4dn.8xlarge", "g4dn.12xlarge", "g4dn.16xlarge", "g4dn.metal"), 1),
    **dict.fromkeys(("g5.8xlarge", "g5.12xlarge", "g5.16xlarge", "g5.24xlarge", "g5.48xlarge"), 1),
    **dict.fromkeys(("g6.8xlarge", "g6.12xlarge", "g6.16xlarge", "g6.24xlarge", "g6.48xlarge", "gr6.8xlarge"), 1),
    **dict.fromkeys(("g6e.8xlarge", "g6e.12xlarge", "g6e.16xlarge"), 1),
    "g6e.24xlarge": 2,
    "g6e.48xlarge": 4,
    "p4d.24xlarge": 4,
    "p4de.24xlarge": 4,
    "p5.4xlarge": 1,
    "p5.48xlarge": 32,
}
"""``vpc.amazonaws.com/efa`` of each instance type in ``EFA_INSTANCE_TYPES`` (Karpenter's instance-type reference,
aws/karpenter-provider-aws ``website/content/en/docs/reference/instance-types.md``). The EKS user guide's NCCL test
requests every interface of the node for a worker that takes all its GPUs."""
EFA_RDMA_FAMILIES = frozenset({"p4d", "p4de", "p5"})
"""Families with GPUDirect RDMA over EFA, where libfabric is told to use it (``FI_EFA_USE_DEVICE_RDMA=1``); on the
others NCCL's EFA transport copies through host memory."""


def efa_devices(pool: GpuPoolSpec) -> EfaDevices:
    """EFA interfaces, GPUs and RDMA of a node of an ``efa`` pool (its ``instance_type``: Karpenter launches only
    sizes that have at least the interfaces the pods request)."""
    if pool.instance_type not in EFA_INTERFACES:
        raise ValueError(f"GPU pool {pool.name!r}: {pool.instance_type} has no EFA interface; known: EFA_INTERFACES")
    return EfaDevices(
        interfaces=EFA_INTERFACES[pool.instance_type],
        gpus=pool.gpus_per_node,
        rdma=pool.instance_type.split(".")[0] in EFA_RDMA_FAMILIES,
    )


def efa_device_plugin_values(pools: Sequence[GpuPoolSpec], gpu: GpuScheduling) -> dict[str, Any]:
    """Helm values of the EFA device plugin: on the nodes of the EFA pools, tolerating their taints."""
    efa_pools = [p for p in pools if p.efa]
    return {
        "nodeSelector": {EFA_NODE_LABEL: "true"},
        "tolerations": gpu_tolerations(efa_pools, gpu),
    }


def efa_security_group(
    name: str, vpc_id: pulumi.Input[str], tags: Mapping[str, str], opts: pulumi.ResourceOptions
) -> aws.ec2.SecurityGroup:
    """``<name>-efa-sg``: all traffic in from and out to the group itself, which EFA's OS-bypass traffic needs
    (the nodes keep the cluster security group for everything else)."""
    return aws.ec2.SecurityGroup(
        f"{name}-efa-sg",
        description="EFA: all traffic between the nodes of EFA pools",
        vpc_id=vpc_id,
        ingress=[
            aws.ec2.SecurityGroupIngressArgs(
                protocol="-1", from_port=0, to_port=0, self=True, description="EFA from nodes in this group"
            )
        ],
        egress=[
            aws.ec2.SecurityGroupEgressArgs(
                protocol="-1", from_port=0, to_port=0, self=True, description="EFA to nodes in this group"
            )
        ],
        tags=dict(tags),
        opts=opts,
    )


def efa_placement_group(
    name: str, pool: str, cluster_name: pulumi.Input[str], tags: Mapping[str, str], opts: pulumi.ResourceOptions
) -> aws.ec2.PlacementGroup:
    """``<name>-<pool>-pg``: a ``cluster`` placement group named ``<cluster>-<pool>`` (unique in the account and
    region, the same after a destroy and re-create), which the pool's EC2NodeClass selects by name. A change that
    replaces it deletes the old group first: EC2 names are unique."""
    return aws.ec2.PlacementGroup(
        f"{name}-{pool}-pg",
        name=pulumi.Output.concat(cluster_name, "-", pool),
        strategy="cluster",
        tags=dict(tags),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(delete_before_replace=True)),
    )
