"""GCP components: network, GKE, GPU node pools, registries, stores and identity."""

from .ci_deployer import CiDeployer, CiDeployerArgs
from .cluster import GkeCluster, GkeClusterArgs
from .compute_classes import ComputeClassArgs, GpuComputeClass
from .container_registry import ContainerRegistry, ContainerRegistryArgs
from .gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from .identity import WorkloadIdentities, WorkloadIdentitiesArgs
from .ingress import GatewayCertificate, GatewayCertificateArgs
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
    "CiDeployer",
    "CiDeployerArgs",
    "ComputeClassArgs",
    "ContainerRegistry",
    "ContainerRegistryArgs",
    "GatewayCertificate",
    "GatewayCertificateArgs",
    "GcpPlatform",
    "GcpPlatformArgs",
    "GkeCluster",
    "GkeClusterArgs",
    "GpuComputeClass",
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
