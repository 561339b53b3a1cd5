"""The whole platform on AWS, composed from the AWS components and driven by ``PlatformSpec``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from pulumi_mlops.spec import PlatformSpec

from .registry_buckets import RegistryBuckets, RegistryBucketsArgs

__all__ = ["AwsPlatform", "AwsPlatformArgs"]


@dataclass
class AwsPlatformArgs:
    """Inputs of :class:`AwsPlatform`."""

    spec: PlatformSpec
    """The validated environment spec (``cloud: aws``)."""


class AwsPlatform(pulumi.ComponentResource):
    """Every AWS resource of one environment. ``exports`` holds what the stack exports."""

    exports: dict[str, Any]

    def __init__(self, name: str, args: AwsPlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:aws:Platform", name, None, opts)
        spec = args.spec
        provider = aws.Provider(f"{name}-aws", region=spec.region, opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, providers={"aws": provider})

        buckets = RegistryBuckets(
            f"{name}-buckets", RegistryBucketsArgs(spec=spec.buckets, tags=spec.labels), opts=child
        )
        self.exports = {
            "cloud": "aws",
            "region": spec.region,
            "bucketNames": buckets.bucket_names,
            "bucketsKmsKeyArn": buckets.kms_key_arn,
        }
        self.register_outputs(self.exports)
