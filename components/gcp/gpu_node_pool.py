"""One autoscaled GKE node pool of GPU machines, with GKE-managed NVIDIA drivers and device plugin."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from pulumi_mlops.spec import GpuPoolSpec

from .cluster import CLOUD_PLATFORM_SCOPE, gke_metadata, shielded_nodes

__all__ = ["GPU_TAINT_KEY", "GPU_TAINT_VALUE", "POOL_LABEL", "TAINT_EFFECTS", "GpuNodePool", "GpuNodePoolArgs"]

GPU_TAINT_KEY = "nvidia.com/gpu"
"""Key of the taint every GPU node carries."""
GPU_TAINT_VALUE = "present"
"""Value of that taint on GKE."""
POOL_LABEL = "pulumi-mlops.io/gpu-pool"
"""Node label holding the pool name."""
ACCELERATOR_LABEL = "pulumi-mlops.io/accelerator"
"""Node label holding the accelerator name."""

TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}
"""Kubernetes taint effects as the GKE API spells them."""


@dataclass
class GpuNodePoolArgs:
    """Inputs of :class:`GpuNodePool`."""

    pool: GpuPoolSpec
    """Accelerator, machine type, node bounds, spot, disk, extra labels and taints, driver version."""
    project: str
    """GCP project id."""
    region: str
    """Cluster location."""
    cluster: pulumi.Input[str]
    """Cluster name."""
    node_service_account: pulumi.Input[str]
    """Email of the node service account."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """GCP labels put on the node VMs."""


class GpuNodePool(pulumi.ComponentResource):
    """A GPU node pool: guest accelerators with a GKE-installed driver, scale-to-zero autoscaling across zones
    (``location_policy=ANY``), the ``nvidia.com/gpu=present:NoSchedule`` taint, pool labels, image streaming.

    Outputs: ``node_pool`` (the resource, for ``depends_on``) and ``max_gpus``.
    """

    node_pool: gcp.container.NodePool
    max_gpus: int

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:gcp:GpuNodePool", name, None, opts)
        pool = args.pool
        taints = [
            gcp.container.NodePoolNodeConfigTaintArgs(key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE, effect="NO_SCHEDULE")
        ] + [
            gcp.container.NodePoolNodeConfigTaintArgs(key=t.key, value=t.value, effect=TAINT_EFFECTS[t.effect])
            for t in pool.taints
        ]
        self.node_pool = gcp.container.NodePool(
            f"{name}-pool",
            name=f"gpu-{pool.name}",
            project=args.project,
            location=args.region,
            cluster=args.cluster,
            initial_node_count=pool.min_nodes,
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=pool.min_nodes,
                total_max_node_count=pool.max_nodes,
                location_policy="ANY",
            ),
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=pool.instance_type,
                guest_accelerators=[
                    gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
                        type=pool.accelerator,
                        count=pool.gpus_per_node,
                        gpu_driver_installation_config=(
                            gcp.container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                                gpu_driver_version=pool.gpu_driver_version
                            )
                        ),
                    )
                ],
                spot=pool.spot,
                service_account=args.node_service_account,
                oauth_scopes=[CLOUD_PLATFORM_SCOPE],
                image_type="COS_CONTAINERD",
                disk_size_gb=pool.disk_gb,
                disk_type="pd-balanced",
                gcfs_config=gcp.container.NodePoolNodeConfigGcfsConfigArgs(enabled=True),
                gvnic=gcp.container.NodePoolNodeConfigGvnicArgs(enabled=True),
                labels={**pool.labels, ACCELERATOR_LABEL: pool.accelerator, POOL_LABEL: pool.name},
                taints=taints,
                resource_labels={**args.labels, "gpu-pool": pool.name},
                workload_metadata_config=gke_metadata(),
                shielded_instance_config=shielded_nodes(),
            ),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["initialNodeCount"]),
        )
        self.max_gpus = pool.max_gpus
        self.register_outputs({"name": self.node_pool.name, "max_gpus": self.max_gpus})
