"""Tagging: every taggable resource carries the environment, owner and cost-center tags/labels."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import Policy, ResourceValidationArgs

from ._base import ADVISORY, as_list, config_value, get, resource_policy

Report = Callable[[str], None]

AWS_TAGGABLE: tuple[str, ...] = (
    "aws:acm/certificate:Certificate",
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:ec2/eip:Eip",
    "aws:ec2/internetGateway:InternetGateway",
    "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:ec2/natGateway:NatGateway",
    "aws:ec2/placementGroup:PlacementGroup",
    "aws:ec2/routeTable:RouteTable",
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:ec2/subnet:Subnet",
    "aws:ec2/vpc:Vpc",
    "aws:ec2/vpcEndpoint:VpcEndpoint",
    "aws:ecr/repository:Repository",
    "aws:eks/accessEntry:AccessEntry",
    "aws:eks/addon:Addon",
    "aws:eks/cluster:Cluster",
    "aws:eks/nodeGroup:NodeGroup",
    "aws:eks/podIdentityAssociation:PodIdentityAssociation",
    "aws:elasticache/parameterGroup:ParameterGroup",
    "aws:elasticache/replicationGroup:ReplicationGroup",
    "aws:elasticache/subnetGroup:SubnetGroup",
    "aws:iam/instanceProfile:InstanceProfile",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
    "aws:iam/policy:Policy",
    "aws:iam/role:Role",
    "aws:kms/key:Key",
    "aws:lb/loadBalancer:LoadBalancer",
    "aws:rds/instance:Instance",
    "aws:rds/parameterGroup:ParameterGroup",
    "aws:rds/subnetGroup:SubnetGroup",
    "aws:route53/zone:Zone",
    "aws:s3/bucket:Bucket",
    "aws:secretsmanager/secret:Secret",
    "aws:sqs/queue:Queue",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:cloudwatch/eventRule:EventRule",
)
"""AWS resource types whose schema has a ``tags`` input."""

GCP_LABEL_PATHS: dict[str, str] = {
    "gcp:artifactregistry/repository:Repository": "labels",
    "gcp:compute/address:Address": "labels",
    "gcp:compute/globalAddress:GlobalAddress": "labels",
    "gcp:container/cluster:Cluster": "resourceLabels",
    "gcp:container/nodePool:NodePool": "nodeConfig.resourceLabels",
    "gcp:kms/cryptoKey:CryptoKey": "labels",
    "gcp:redis/instance:Instance": "labels",
    "gcp:secretmanager/secret:Secret": "labels",
    "gcp:sql/databaseInstance:DatabaseInstance": "settings.userLabels",
    "gcp:storage/bucket:Bucket": "labels",
}
"""GCP resource types with labels, and where the labels sit in the inputs."""

KUBERNETES_LABELLED: tuple[str, ...] = (
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    "kubernetes:batch/v1:CronJob",
    "kubernetes:batch/v1:Job",
    "kubernetes:core/v1:ConfigMap",
    "kubernetes:core/v1:Namespace",
    "kubernetes:core/v1:PersistentVolumeClaim",
    "kubernetes:core/v1:Secret",
    "kubernetes:core/v1:Service",
    "kubernetes:core/v1:ServiceAccount",
    "kubernetes:gateway.networking.k8s.io/v1:Gateway",
    "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
    "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
    "kubernetes:monitoring.coreos.com/v1:ServiceMonitor",
    "kubernetes:networking.k8s.io/v1:Ingress",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    "kubernetes:policy/v1:PodDisruptionBudget",
)
"""Kubernetes kinds the platform creates; all take ``metadata.labels``."""

RESOURCE_TYPES: tuple[str, ...] = (*AWS_TAGGABLE, *GCP_LABEL_PATHS, *KUBERNETES_LABELLED)
"""Every resource type a policy of this module checks."""

POLICIES: list[Policy] = []


def _as_map(value: Any) -> Mapping[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, Mapping) else {}


def resource_tags(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
    """The tags/labels a resource gets (provider default tags/labels merged in); ``None`` if not taggable."""
    provider_props = args.provider.props if args.provider is not None else {}
    if args.resource_type in AWS_TAGGABLE:
        defaults = _as_map(get(_as_map(get(provider_props, "defaultTags")), "tags"))
        return {**defaults, **_as_map(get(args.props, "tags"))}
    if args.resource_type in GCP_LABEL_PATHS:
        defaults = _as_map(get(provider_props, "defaultLabels"))
        return {**defaults, **_as_map(get(args.props, GCP_LABEL_PATHS[args.resource_type]))}
    if args.resource_type in KUBERNETES_LABELLED:
        return _as_map(get(args.props, "metadata.labels"))
    return None


def _where(resource_type: str) -> str:
    if resource_type in AWS_TAGGABLE:
        return "tags"
    if resource_type in GCP_LABEL_PATHS:
        return GCP_LABEL_PATHS[resource_type]
    return "metadata.labels"


@resource_policy(
    "required-tags",
    "Every taggable AWS/GCP resource carries the environment, owner and cost-center tags or labels.",
    (*AWS_TAGGABLE, *GCP_LABEL_PATHS),
    config=("requiredTags",),
    registry=POLICIES,
)
def _required(args: ResourceValidationArgs, report: Report) -> None:
    _check_required(args, report)


@resource_policy(
    "kubernetes-required-labels",
    "Every Kubernetes object the platform creates carries the environment, owner and cost-center labels.",
    KUBERNETES_LABELLED,
    config=("requiredTags",),
    registry=POLICIES,
)
def _required_k8s(args: ResourceValidationArgs, report: Report) -> None:
    _check_required(args, report)


def _check_required(args: ResourceValidationArgs, report: Report) -> None:
    tags = resource_tags(args)
    if tags is None:
        return
    required = [str(k) for k in as_list(config_value(args, "requiredTags"))]
    missing = [k for k in required if not tags.get(k)]
    if missing:
        report(f"{_where(args.resource_type)} lacks {', '.join(missing)}: pass PlatformSpec.labels")


@resource_policy(
    "environment-tag-matches",
    "The environment tag/label names the stack's environment.",
    RESOURCE_TYPES,
    level=ADVISORY,
    config=("environment",),
    registry=POLICIES,
)
def _env_matches(args: ResourceValidationArgs, report: Report) -> None:
    expected = str(config_value(args, "environment") or "")
    tags = resource_tags(args)
    if not expected or not tags or "environment" not in tags:
        return
    if str(tags["environment"]) != expected:
        report(f"environment is {tags['environment']!r}, expected {expected!r}")
