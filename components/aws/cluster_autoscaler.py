"""Cluster-autoscaler for the GPU managed node groups: pinned chart, auto-discovery by tag, Pod Identity IAM."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from .device_plugin import HelmChart
from .iam import PARTITION, service_trust_policy

__all__ = [
    "AUTOSCALER_IMAGE_TAGS",
    "CLUSTER_AUTOSCALER_CHART",
    "ClusterAutoscaler",
    "ClusterAutoscalerArgs",
    "autoscaler_statements",
]

CLUSTER_AUTOSCALER_CHART = HelmChart("cluster-autoscaler", "9.59.0", "https://kubernetes.github.io/autoscaler")
"""Chart whose RBAC covers what autoscaler 1.34+ reads (DRA resource slices, pod templates, capacity buffers)."""
AUTOSCALER_IMAGE_TAGS = {"1.34": "v1.34.5", "1.35": "v1.35.2"}
"""Cluster-autoscaler image per Kubernetes minor version (the autoscaler's minor must match the cluster's):
the latest ``cluster-autoscaler-1.x.y`` release of kubernetes/autoscaler for each minor."""
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cluster-autoscaler"


def autoscaler_statements(
    region: str, account_id: str, cluster_name: str
) -> list[aws.iam.GetPolicyDocumentStatementArgs]:
    """Scale only the groups tagged as owned by this cluster; describe calls have no resource-level permissions."""
    return [
        aws.iam.GetPolicyDocumentStatementArgs(
            sid="ScaleOwnedGroups",
            effect="Allow",
            actions=["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
            resources=[f"arn:{PARTITION}:autoscaling:{region}:{account_id}:autoScalingGroup:*:autoScalingGroupName/*"],
            conditions=[
                aws.iam.GetPolicyDocumentStatementConditionArgs(
                    test="StringEquals",
                    variable=f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}",
                    values=["owned"],
                )
            ],
        ),
        aws.iam.GetPolicyDocumentStatementArgs(
            sid="DescribeNodeGroups",
            effect="Allow",
            actions=["eks:DescribeNodegroup"],
            resources=[f"arn:{PARTITION}:eks:{region}:{account_id}:nodegroup/{cluster_name}/*"],
        ),
        aws.iam.GetPolicyDocumentStatementArgs(
            sid="RegionalReadActions",
            effect="Allow",
            actions=[
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeAutoScalingInstances",
                "autoscaling:DescribeLaunchConfigurations",
                "autoscaling:DescribeScalingActivities",
                "autoscaling:DescribeTags",
                "ec2:DescribeImages",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplateVersions",
                "ec2:GetInstanceTypesFromInstanceRequirements",
            ],
            resources=["*"],
            conditions=[
                aws.iam.GetPolicyDocumentStatementConditionArgs(
                    test="StringEquals", variable="aws:RequestedRegion", values=[region]
                )
            ],
        ),
    ]


@dataclass
class ClusterAutoscalerArgs:
    """Inputs of :class:`ClusterAutoscaler`."""

    cluster_name: pulumi.Input[str]
    """Name of the EKS cluster as the cluster resource's Output (so the association waits for the cluster)."""
    region: str
    """Region of the cluster."""
    kubernetes_version: str
    """Cluster minor version; selects the autoscaler image."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags put on the IAM role and association."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources the release waits for (system nodes, add-ons, node groups)."""


class ClusterAutoscaler(pulumi.ComponentResource):
    """Helm release of cluster-autoscaler with a scoped IAM role bound by Pod Identity.

    Pass the AWS and Kubernetes providers in ``opts.providers``. Outputs: ``role`` and ``release``.
    """

    role: aws.iam.Role
    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: ClusterAutoscalerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:aws:ClusterAutoscaler", name, None, opts)
        tags = dict(args.tags)
        try:
            image_tag = AUTOSCALER_IMAGE_TAGS[args.kubernetes_version]
        except KeyError:
            raise ValueError(
                f"no pinned cluster-autoscaler image for Kubernetes {args.kubernetes_version}: known are "
                f"{', '.join(sorted(AUTOSCALER_IMAGE_TAGS))}"
            ) from None
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        document = aws.iam.get_policy_document_output(
            statements=pulumi.Output.all(identity.account_id, args.cluster_name).apply(
                lambda v: autoscaler_statements(args.region, v[0], v[1])
            )
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            description="cluster-autoscaler",
            assume_role_policy=service_trust_policy("pods.eks.amazonaws.com", ("sts:AssumeRole", "sts:TagSession")),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicy(
            f"{name}-policy", role=self.role.id, policy=document.json, opts=pulumi.ResourceOptions(parent=self.role)
        )
        association = aws.eks.PodIdentityAssociation(
            f"{name}-association",
            cluster_name=args.cluster_name,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            role_arn=self.role.arn,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self.role),
        )
        chart = CLUSTER_AUTOSCALER_CHART
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name=chart.name,
            chart=chart.name,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo),
            namespace=NAMESPACE,
            values={
                "cloudProvider": "aws",
                "awsRegion": args.region,
                "autoDiscovery": {"clusterName": args.cluster_name},
                "image": {"tag": image_tag},
                "rbac": {"serviceAccount": {"create": True, "name": SERVICE_ACCOUNT}},
                "extraArgs": {
                    "balance-similar-node-groups": True,
                    "expander": "least-waste",
                    "scale-down-unneeded-time": "10m",
                    "skip-nodes-with-local-storage": False,
                },
                "nodeSelector": {"pulumi-mlops.io/pool": "system"},
            },
            atomic=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, association]),
        )
        self.register_outputs({"role": self.role.arn, "release": self.release.status})
