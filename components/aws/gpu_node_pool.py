"""One EKS managed node group of GPU nodes per ``GpuPoolSpec``, discoverable by cluster-autoscaler from zero and
auto-repaired by EKS when the node monitoring agent reports a GPU (Xid) or node fault."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
from pulumi_mlops.components.k8s.context import GpuScheduling

from pulumi_mlops.spec import GpuPoolSpec

from .node_health import node_repair_config

__all__ = [
    "AWS_GPU_LABEL",
    "EKS_TAINT_EFFECTS",
    "GpuNodePool",
    "GpuNodePoolArgs",
    "autoscaler_tags",
    "pool_labels",
    "pool_taints",
]

EKS_TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "NoExecute": "NO_EXECUTE", "PreferNoSchedule": "PREFER_NO_SCHEDULE"}
"""Kubernetes taint effect to the EKS API's spelling."""

_CA = "k8s.io/cluster-autoscaler"


AWS_GPU_LABEL = "k8s.amazonaws.com/accelerator"
"""Node label cluster-autoscaler's AWS cloud provider treats as "this node has GPUs"."""


def pool_labels(pool: GpuPoolSpec, gpu: GpuScheduling) -> dict[str, str]:
    """Node labels of a GPU pool: accelerator, pool name, GPU presence, then the pool's extra labels.

    ``k8s.amazonaws.com/accelerator`` is the label cluster-autoscaler's AWS provider reads to know a node has
    GPUs (``GPULabel`` in cloudprovider/aws): without it, it keeps scaling up while the device plugin starts."""
    return {
        **pool.labels,
        "accelerator": pool.accelerator,
        AWS_GPU_LABEL: pool.accelerator,
        gpu.pool_label: pool.name,
        "nvidia.com/gpu.present": "true",
    }


def pool_taints(pool: GpuPoolSpec, gpu: GpuScheduling) -> list[tuple[str, str, str]]:
    """(key, value, Kubernetes effect) of every taint of the pool; the GPU taint comes first."""
    taints = [(gpu.taint_key, gpu.taint_value, gpu.taint_effect)]
    taints += [(t.key, t.value, t.effect) for t in pool.taints if t.key != gpu.taint_key]
    return taints


def autoscaler_tags(cluster_name: str, pool: GpuPoolSpec, gpu: GpuScheduling) -> dict[str, str]:
    """Cluster-autoscaler auto-discovery and node-template tags, so an empty pool can scale up from zero."""
    tags = {f"{_CA}/enabled": "true", f"{_CA}/{cluster_name}": "owned"}
    for key, value in pool_labels(pool, gpu).items():
        tags[f"{_CA}/node-template/label/{key}"] = value
    for key, value, effect in pool_taints(pool, gpu):
        tags[f"{_CA}/node-template/taint/{key}"] = f"{value}:{effect}"
    tags[f"{_CA}/node-template/resources/nvidia.com/gpu"] = str(pool.gpus_per_node)
    return tags


@dataclass
class GpuNodePoolArgs:
    """Inputs of :class:`GpuNodePool`."""

    pool: GpuPoolSpec
    """Instance type, size bounds, capacity type, disk, image, labels and taints of the pool."""
    cluster_name: str
    """Physical name of the EKS cluster (part of the autoscaler discovery tags)."""
    node_role_arn: pulumi.Input[str]
    """IAM role the nodes run as."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private subnets the nodes are placed in."""
    gpu: GpuScheduling = field(default_factory=GpuScheduling)
    """Taint and pool label every GPU node carries."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags put on the node group."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources the node group waits for (the cluster's add-ons)."""


class GpuNodePool(pulumi.ComponentResource):
    """A tainted, labelled, auto-repaired GPU node group whose size cluster-autoscaler owns.

    Outputs: ``node_group`` and ``max_gpus`` (the pool's GPU ceiling at max nodes).
    """

    node_group: aws.eks.NodeGroup
    max_gpus: int

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:aws:GpuNodePool", name, None, opts)
        pool, gpu = args.pool, args.gpu
        ca_tags = autoscaler_tags(args.cluster_name, pool, gpu)

        self.node_group = aws.eks.NodeGroup(
            f"{name}-nodes",
            cluster_name=args.cluster_name,
            node_role_arn=args.node_role_arn,
            subnet_ids=args.subnet_ids,
            ami_type=pool.ami_type,
            capacity_type="SPOT" if pool.spot else "ON_DEMAND",
            instance_types=[pool.instance_type],
            disk_size=pool.disk_gb,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=pool.min_nodes, max_size=pool.max_nodes, desired_size=pool.min_nodes
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            node_repair_config=node_repair_config(),
            labels=pool_labels(pool, gpu),
            taints=[
                aws.eks.NodeGroupTaintArgs(key=key, value=value, effect=EKS_TAINT_EFFECTS[effect])
                for key, value, effect in pool_taints(pool, gpu)
            ],
            tags={**args.tags, **ca_tags},
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=list(args.depends_on), ignore_changes=["scalingConfig.desiredSize"]
            ),
        )
        asg_name = self.node_group.resources.apply(lambda rs: rs[0].autoscaling_groups[0].name)  # type: ignore[index]
        for key, value in ca_tags.items():
            aws.autoscaling.Tag(
                f"{name}-asg-{key.removeprefix(_CA + '/').replace('/', '-')}",
                autoscaling_group_name=asg_name,
                tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                opts=pulumi.ResourceOptions(parent=self.node_group),
            )
        self.max_gpus = pool.max_gpus
        self.register_outputs({"node_group": self.node_group.arn, "max_gpus": self.max_gpus})
