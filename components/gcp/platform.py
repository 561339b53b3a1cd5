"""The whole platform on GCP, composed from the GCP components and driven by ``PlatformSpec``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp

from pulumi_mlops.spec import PlatformSpec

from .registry_buckets import RegistryBuckets, RegistryBucketsArgs

__all__ = ["GcpPlatform", "GcpPlatformArgs"]


@dataclass
class GcpPlatformArgs:
    """Inputs of :class:`GcpPlatform`."""

    spec: PlatformSpec
    """The validated environment spec (``cloud: gcp``)."""


class GcpPlatform(pulumi.ComponentResource):
    """Every GCP resource of one environment. ``exports`` holds what the stack exports."""

    exports: dict[str, Any]

    def __init__(self, name: str, args: GcpPlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:gcp:Platform", name, None, opts)
        spec = args.spec
        assert spec.gcp_project is not None  # guaranteed by PlatformSpec for cloud gcp
        provider = gcp.Provider(
            f"{name}-gcp",
            project=spec.gcp_project,
            region=spec.region,
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, providers={"gcp": provider})

        buckets = RegistryBuckets(
            f"{name}-buckets",
            RegistryBucketsArgs(spec=spec.buckets, project=spec.gcp_project, location=spec.region, labels=spec.labels),
            opts=child,
        )
        self.exports = {
            "cloud": "gcp",
            "region": spec.region,
            "project": spec.gcp_project,
            "bucketNames": buckets.bucket_names,
        }
        self.register_outputs(self.exports)
