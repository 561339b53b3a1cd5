"""One autoscaled GKE node pool of GPU machines, with GKE-managed NVIDIA drivers and device plugin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from pulumi_mlops.spec import GpuPoolSpec

from .cluster import CLOUD_PLATFORM_SCOPE, gke_metadata, shielded_nodes

__all__ = [
    "ACCELERATOR_LABEL",
    "COMPUTE_CLASS_LABEL",
    "GPU_SHARING_CLIENTS_LABEL",
    "GPU_SHARING_STRATEGY_LABEL",
    "GPU_TAINT_KEY",
    "GPU_TAINT_VALUE",
    "POOL_LABEL",
    "SHARING_STRATEGIES",
    "TAINT_EFFECTS",
    "GpuNodePool",
    "GpuNodePoolArgs",
    "sharing_labels",
]

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
COMPUTE_CLASS_LABEL = "cloud.google.com/compute-class"
"""Node label and taint key of a ComputeClass: GKE's way to let a class use a manually created node pool."""
GPU_SHARING_STRATEGY_LABEL = "cloud.google.com/gke-gpu-sharing-strategy"
"""Node label GKE sets on shared-GPU nodes (``time-sharing`` or ``mps``); pods that share a GPU select it."""
GPU_SHARING_CLIENTS_LABEL = "cloud.google.com/gke-max-shared-clients-per-gpu"
"""Node label GKE sets on shared-GPU nodes: containers per GPU."""
SHARING_STRATEGIES = {"time-sharing": "TIME_SHARING", "mps": "MPS"}
"""GPU sharing strategies as the GKE API spells them."""


def sharing_labels(pool: GpuPoolSpec) -> dict[str, str]:
    """The node labels GKE puts on the pool's shared-GPU nodes (empty when its GPUs are not shared)."""
    sharing = pool.gke.gpu_sharing
    if sharing is None:
        return {}
    return {
        GPU_SHARING_STRATEGY_LABEL: sharing.strategy,
        GPU_SHARING_CLIENTS_LABEL: str(sharing.max_shared_clients_per_gpu),
    }


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
    zones: Sequence[str] = ()
    """Zones the nodes run in (``node_locations``); empty: the cluster's."""
    compact: bool = False
    """Place the nodes close together (COMPACT placement policy; one zone), for multi-node training."""
    compute_class: str | None = None
    """ComputeClass that uses this pool as one of its priorities: the nodes carry its label and taint."""


class GpuNodePool(pulumi.ComponentResource):
    """A GPU node pool: guest accelerators with a GKE-installed driver (optionally shared between containers),
    scale-to-zero autoscaling across its zones (``location_policy=ANY``), the ``nvidia.com/gpu=present:NoSchedule``
    taint, pool labels, image streaming; compactly placed for multi-node training; with DWS queued provisioning
    (``gke.queued_provisioning``) it scales for ProvisioningRequests only, on flex-start capacity.

    Outputs: ``node_pool`` (the resource, for ``depends_on``) and ``max_gpus``.
    """

    node_pool: gcp.container.NodePool
    max_gpus: int

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:gcp:GpuNodePool", name, None, opts)
        pool = args.pool
        gke = pool.gke
        queued = gke.queued_provisioning
        taints = [
            gcp.container.NodePoolNodeConfigTaintArgs(key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE, effect="NO_SCHEDULE")
        ] + [
            gcp.container.NodePoolNodeConfigTaintArgs(key=t.key, value=t.value, effect=TAINT_EFFECTS[t.effect])
            for t in pool.taints
        ]
        labels = {**pool.labels, ACCELERATOR_LABEL: pool.accelerator, POOL_LABEL: pool.name}
        if args.compute_class:
            labels[COMPUTE_CLASS_LABEL] = args.compute_class
            taints.append(
                gcp.container.NodePoolNodeConfigTaintArgs(
                    key=COMPUTE_CLASS_LABEL, value=args.compute_class, effect="NO_SCHEDULE"
                )
            )
        sharing = gke.gpu_sharing
        # On-demand pools consume matching reservations first; spot and DWS (queued) capacity never does.
        affinity = "NO_RESERVATION" if queued or pool.spot else "ANY_RESERVATION"
        self.node_pool = gcp.container.NodePool(
            f"{name}-pool",
            name=f"gpu-{pool.name}",
            project=args.project,
            location=args.region,
            cluster=args.cluster,
            node_locations=list(args.zones) or None,
            initial_node_count=pool.min_nodes,
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=pool.min_nodes,
                total_max_node_count=pool.max_nodes,
                location_policy="ANY",
            ),
            management=gcp.container.NodePoolManagementArgs(auto_repair=not queued, auto_upgrade=True),
            queued_provisioning=gcp.container.NodePoolQueuedProvisioningArgs(enabled=True) if queued else None,
            placement_policy=gcp.container.NodePoolPlacementPolicyArgs(type="COMPACT") if args.compact else None,
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
                        gpu_sharing_config=(
                            gcp.container.NodePoolNodeConfigGuestAcceleratorGpuSharingConfigArgs(
                                gpu_sharing_strategy=SHARING_STRATEGIES[sharing.strategy],
                                max_shared_clients_per_gpu=sharing.max_shared_clients_per_gpu,
                            )
                            if sharing is not None
                            else None
                        ),
                    )
                ],
                spot=pool.spot,
                flex_start=True if queued else None,
                reservation_affinity=gcp.container.NodePoolNodeConfigReservationAffinityArgs(
                    consume_reservation_type=affinity
                ),
                service_account=args.node_service_account,
                oauth_scopes=[CLOUD_PLATFORM_SCOPE],
                image_type="COS_CONTAINERD",
                disk_size_gb=pool.disk_gb,
                disk_type="pd-balanced",
                gcfs_config=gcp.container.NodePoolNodeConfigGcfsConfigArgs(enabled=True),
                gvnic=gcp.container.NodePoolNodeConfigGvnicArgs(enabled=True),
                labels=labels,
                taints=taints,
                resource_labels={**args.labels, "gpu-pool": pool.name},
                workload_metadata_config=gke_metadata(),
                shielded_instance_config=shielded_nodes(),
            ),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["initialNodeCount"]),
        )
        self.max_gpus = pool.max_gpus
        self.register_outputs({"name": self.node_pool.name, "max_gpus": self.max_gpus})
