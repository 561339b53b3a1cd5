"""GCP components: network, GKE, GPU node pools, registries, stores and identity."""

from .cluster import GkeCluster, GkeClusterArgs
from .container_registry import ContainerRegistry, ContainerRegistryArgs
from .gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from .identity import WorkloadIdentities, WorkloadIdentitiesArgs
from .network import Network, NetworkArgs
from .node_identity import NodeServiceAccount, NodeServiceAccountArgs
from .online_store import OnlineStore, OnlineStoreArgs
from .platform import GcpPlatform, GcpPlatformArgs
from .private_services import PrivateServiceAccess, PrivateServiceAccessArgs
from .registry_buckets import RegistryBuckets, RegistryBucketsArgs
from .secret import ManagedSecret, ManagedSecretArgs
from .services import ProjectServices, ProjectServicesArgs
from .tracking_store import TrackingStore, TrackingStoreArgs

__all__ = [
    "ContainerRegistry",
    "ContainerRegistryArgs",
    "GcpPlatform",
    "GcpPlatformArgs",
    "GkeCluster",
    "GkeClusterArgs",
    "GpuNodePool",
    "GpuNodePoolArgs",
    "ManagedSecret",
    "ManagedSecretArgs",
    "Network",
    "NetworkArgs",
    "NodeServiceAccount",
    "NodeServiceAccountArgs",
    "OnlineStore",
    "OnlineStoreArgs",
    "PrivateServiceAccess",
    "PrivateServiceAccessArgs",
    "ProjectServices",
    "ProjectServicesArgs",
    "RegistryBuckets",
    "RegistryBucketsArgs",
    "TrackingStore",
    "TrackingStoreArgs",
    "WorkloadIdentities",
    "WorkloadIdentitiesArgs",
]
