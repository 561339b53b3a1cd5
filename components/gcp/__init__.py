"""GCP components: network, GKE, GPU node pools, registries, stores and identity."""

from .platform import GcpPlatform, GcpPlatformArgs
from .registry_buckets import RegistryBuckets, RegistryBucketsArgs

__all__ = ["GcpPlatform", "GcpPlatformArgs", "RegistryBuckets", "RegistryBucketsArgs"]
