"""AWS components: network, EKS, GPU node pools, registries, stores and identity."""

from .ci_deployer import CiDeployer, CiDeployerArgs
from .cluster import EksCluster, EksClusterArgs
from .cluster_autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from .container_registry import ContainerRegistry, ContainerRegistryArgs
from .device_plugin import NvidiaGpuAddons, NvidiaGpuAddonsArgs
from .gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from .identity import WorkloadIdentity, WorkloadIdentityArgs
from .karpenter import Karpenter, KarpenterArgs
from .network import Network, NetworkArgs
from .online_store import OnlineStore, OnlineStoreArgs
from .platform import AwsPlatform, AwsPlatformArgs
from .registry_buckets import RegistryBuckets, RegistryBucketsArgs
from .tracking_store import TrackingStore, TrackingStoreArgs

__all__ = [
    "AwsPlatform",
    "AwsPlatformArgs",
    "CiDeployer",
    "CiDeployerArgs",
    "ClusterAutoscaler",
    "ClusterAutoscalerArgs",
    "ContainerRegistry",
    "ContainerRegistryArgs",
    "EksCluster",
    "EksClusterArgs",
    "GpuNodePool",
    "GpuNodePoolArgs",
    "Karpenter",
    "KarpenterArgs",
    "Network",
    "NetworkArgs",
    "NvidiaGpuAddons",
    "NvidiaGpuAddonsArgs",
    "OnlineStore",
    "OnlineStoreArgs",
    "RegistryBuckets",
    "RegistryBucketsArgs",
    "TrackingStore",
    "TrackingStoreArgs",
    "WorkloadIdentity",
    "WorkloadIdentityArgs",
]
