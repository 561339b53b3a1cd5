"""Helpers of the AWS component tests: secret unwrapping, IAM JSON, and platform runs from stack variants."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml
from pulumi_mlops.components.aws import AwsPlatform, AwsPlatformArgs

from pulumi_mlops.preview import ResourceGraph, run_program
from pulumi_mlops.preview.graph import CapturedResource, is_secret
from pulumi_mlops.preview.graph import plain as unwrap
from pulumi_mlops.preview.mocks import PlatformMocks
from pulumi_mlops.spec import CONFIG_KEY, PlatformSpec, parse_spec

__all__ = ["is_secret", "one", "props", "run_platform", "stack_raw", "statements", "untagged", "unwrap"]

ROOT = Path(__file__).resolve().parents[2]
LABELS = {"owner", "cost-center", "environment", "managed-by"}


NOT_TAGGABLE = {
    "aws:ec2/routeTableAssociation:RouteTableAssociation",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:kms/alias:Alias",
    "aws:ecr/lifecyclePolicy:LifecyclePolicy",
    "aws:secretsmanager/secretVersion:SecretVersion",
    "aws:autoscaling/tag:Tag",
    "aws:cloudwatch/eventTarget:EventTarget",
    "aws:sqs/queuePolicy:QueuePolicy",
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
}
"""AWS resource types that take no tags; every other AWS resource must carry the spec labels."""


def untagged(graph: ResourceGraph, labels: dict[str, str]) -> list[str]:
    """Names of taggable AWS resources that lack any of ``labels``."""
    missing = []
    for res in graph.resources.values():
        if not res.custom or not res.type.startswith("aws:") or res.type in NOT_TAGGABLE:
            continue
        tags = props(res).get("tags") or {}
        if {k: tags.get(k) for k in labels} != labels or not set(tags) >= LABELS:
            missing.append(f"{res.name} ({res.type})")
    return missing


def props(res: CapturedResource) -> dict[str, Any]:
    return res.props


def statements(document: str) -> list[dict[str, Any]]:
    """Statements of an IAM JSON document, with Action/Resource always lists."""
    doc = json.loads(document)
    out = []
    for st in doc["Statement"]:
        st = dict(st)
        for key in ("Action", "Resource"):
            if key in st and isinstance(st[key], str):
                st[key] = [st[key]]
        out.append(st)
    return out


def stack_raw(stack: str = "dev") -> dict[str, Any]:
    """The ``platform`` mapping of a stack file (a fresh copy to vary)."""
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    raw: dict[str, Any] = copy.deepcopy(doc["config"][CONFIG_KEY])
    return raw


def run_platform(
    raw: dict[str, Any], config: dict[str, Any] | None = None
) -> tuple[PlatformSpec, ResourceGraph, AwsPlatform]:
    """Validate ``raw`` and run :class:`AwsPlatform` alone under mocks; returns the spec, graph and component."""
    spec = parse_spec(raw)
    built: list[AwsPlatform] = []
    graph = run_program(
        lambda: built.append(AwsPlatform(spec.name, AwsPlatformArgs(spec=spec))),
        config=config or {},
        stack=spec.environment,
        mocks=PlatformMocks(region=spec.region),
    )
    return spec, graph, built[0]


def one(graph: ResourceGraph, type_: str) -> CapturedResource:
    found = graph.of_type(type_)
    assert len(found) == 1, f"{len(found)} resources of type {type_}"
    return found[0]
