"""AWS components: network, EKS, GPU node pools, registries, stores and identity."""

from .platform import AwsPlatform, AwsPlatformArgs
from .registry_buckets import RegistryBuckets, RegistryBucketsArgs

__all__ = ["AwsPlatform", "AwsPlatformArgs", "RegistryBuckets", "RegistryBucketsArgs"]
