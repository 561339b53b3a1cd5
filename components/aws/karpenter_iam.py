"""The Karpenter controller's IAM policies and its node role's managed policies, as upstream publishes them.

Policy for policy and statement for statement (Sid, actions, resources, conditions) these are the controller's
managed policies of the getting-started CloudFormation template of aws/karpenter-provider-aws
(``website/content/en/docs/getting-started/getting-started-with-karpenter/cloudformation.yaml`` at tag v1.14.1),
which since 1.9 splits the controller policy into :data:`CONTROLLER_POLICIES`; the stack puts each on the controller
role as an inline policy of the same statements. EC2 launches and deletions are scoped by the cluster's
``kubernetes.io/cluster/<name>``, ``eks:eks-cluster-name`` and ``karpenter.sh/nodepool`` tags, instance-profile
changes by the cluster, ``topology.kubernetes.io/region`` and ``karpenter.k8s.aws/ec2nodeclass`` tags Karpenter puts
on the profiles it creates, and ``iam:ListInstanceProfiles`` lets its garbage collection find them. Launches may
name placement groups (``placement-group/*``, ``ec2:DescribePlacementGroups``: an EC2NodeClass's
``placementGroupSelector``, since 1.11), and the interruption controller reads instance status (1.12).
"""

from __future__ import annotations

import pulumi_aws as aws

from .iam import PARTITION

__all__ = ["CONTROLLER_POLICIES", "NODE_ROLE_POLICIES", "controller_policies"]

NODE_ROLE_POLICIES = (
    "AmazonEKS_CNI_Policy",
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonSSMManagedInstanceCore",
)
"""AWS managed policies of the role Karpenter's nodes run as (upstream ``KarpenterNodeRole``)."""
CONTROLLER_POLICIES: dict[str, str] = {
    "NodeLifecyclePolicy": "node-lifecycle",
    "IAMIntegrationPolicy": "iam-integration",
    "EKSIntegrationPolicy": "eks-integration",
    "InterruptionPolicy": "interruption",
    "ZonalShiftPolicy": "zonal-shift",
    "ResourceDiscoveryPolicy": "resource-discovery",
}
"""The controller's policies: upstream's resource name -> the suffix of the stack's inline policy
(``<name>-controller-<suffix>``)."""

_Condition = aws.iam.GetPolicyDocumentStatementConditionArgs
_Statement = aws.iam.GetPolicyDocumentStatementArgs


def _cond(test: str, variable: str, *values: str) -> _Condition:
    return _Condition(test=test, variable=variable, values=list(values))


def _stmt(sid: str, actions: list[str], resources: list[str], *conditions: _Condition) -> _Statement:
    return _Statement(
        sid=sid, effect="Allow", actions=actions, resources=resources, conditions=list(conditions) or None
    )


def controller_policies(
    region: str, account_id: str, cluster_name: str, queue_arn: str, node_role_arn: str
) -> dict[str, list[aws.iam.GetPolicyDocumentStatementArgs]]:
    """The statements of each of upstream's controller policies (:data:`CONTROLLER_POLICIES`) for this cluster,
    region, queue and node role."""
    ec2 = f"arn:{PARTITION}:ec2:{region}"
    profiles = [f"arn:{PARTITION}:iam::{account_id}:instance-profile/*"]
    cluster_tag = f"kubernetes.io/cluster/{cluster_name}"

    def request_tags_of_the_cluster() -> list[_Condition]:
        return [
            _cond("StringEquals", f"aws:RequestTag/{cluster_tag}", "owned"),
            _cond("StringEquals", "aws:RequestTag/eks:eks-cluster-name", cluster_name),
        ]

    owned = _cond("StringEquals", f"aws:ResourceTag/{cluster_tag}", "owned")
    in_region = _cond("StringEquals", "aws:ResourceTag/topology.kubernetes.io/region", region)
    of_a_node_pool = _cond("StringLike", "aws:ResourceTag/karpenter.sh/nodepool", "*")
    of_a_node_class = _cond("StringLike", "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass", "*")
    launched = [
        f"{ec2}:*:{kind}/*"
        for kind in ("fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request")
    ]
    cluster_arn = f"arn:{PARTITION}:eks:{region}:{account_id}:cluster/{cluster_name}"
    node_lifecycle = [
        _stmt(
            "AllowScopedEC2InstanceAccessActions",
            ["ec2:RunInstances", "ec2:CreateFleet"],
            [
                f"{ec2}::image/*",
                f"{ec2}::snapshot/*",
                f"{ec2}:*:security-group/*",
                f"{ec2}:*:subnet/*",
                f"{ec2}:*:capacity-reservation/*",
                f"{ec2}:*:placement-group/*",
            ],
        ),
        _stmt(
            "AllowScopedEC2LaunchTemplateAccessActions",
            ["ec2:RunInstances", "ec2:CreateFleet"],
            [f"{ec2}:*:launch-template/*"],
            owned,
            of_a_node_pool,
        ),
        _stmt(
            "AllowScopedEC2InstanceActionsWithTags",
            ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
            launched,
            *request_tags_of_the_cluster(),
            _cond("StringLike", "aws:RequestTag/karpenter.sh/nodepool", "*"),
        ),
        _stmt(
            "AllowScopedResourceCreationTagging",
            ["ec2:CreateTags"],
            launched,
            *request_tags_of_the_cluster(),
            _cond("StringEquals", "ec2:CreateAction", "RunInstances", "CreateFleet", "CreateLaunchTemplate"),
            _cond("StringLike", "aws:RequestTag/karpenter.sh/nodepool", "*"),
        ),
        _stmt(
            "AllowScopedResourceTagging",
            ["ec2:CreateTags"],
            [f"{ec2}:*:instance/*"],
            owned,
            of_a_node_pool,
            _cond("StringEqualsIfExists", "aws:RequestTag/eks:eks-cluster-name", cluster_name),
            _cond("ForAllValues:StringEquals", "aws:TagKeys", "eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"),
        ),
        _stmt(
            "AllowScopedDeletion",
            ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
            [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
            owned,
            of_a_node_pool,
        ),
    ]
    iam_integration = [
        _stmt(
            "AllowPassingInstanceRole",
            ["iam:PassRole"],
            [node_role_arn],
            _cond("StringEquals", "iam:PassedToService", "ec2.amazonaws.com", "ec2.amazonaws.com.cn"),
        ),
        _stmt(
            "AllowScopedInstanceProfileCreationActions",
            ["iam:CreateInstanceProfile"],
            profiles,
            *request_tags_of_the_cluster(),
            _cond("StringEquals", "aws:RequestTag/topology.kubernetes.io/region", region),
            _cond("StringLike", "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass", "*"),
        ),
        _stmt(
            "AllowScopedInstanceProfileTagActions",
            ["iam:TagInstanceProfile"],
            profiles,
            owned,
            in_region,
            *request_tags_of_the_cluster(),
            _cond("StringEquals", "aws:RequestTag/topology.kubernetes.io/region", region),
            of_a_node_class,
            _cond("StringLike", "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass", "*"),
        ),
        _stmt(
            "AllowScopedInstanceProfileActions",
            ["iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"],
            profiles,
            owned,
            in_region,
            of_a_node_class,
        ),
    ]
    resource_discovery = [
        _stmt(
            "AllowRegionalReadActions",
            [
                "ec2:DescribeCapacityReservations",
                "ec2:DescribeImages",
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceStatus",
                "ec2:DescribeInstanceTypeOfferings",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplates",
                "ec2:DescribePlacementGroups",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSpotPriceHistory",
                "ec2:DescribeSubnets",
            ],
            ["*"],
            _cond("StringEquals", "aws:RequestedRegion", region),
        ),
        _stmt("AllowSSMReadActions", ["ssm:GetParameter"], [f"arn:{PARTITION}:ssm:{region}::parameter/aws/service/*"]),
        _stmt("AllowPricingReadActions", ["pricing:GetProducts"], ["*"]),
        _stmt("AllowUnscopedInstanceProfileListAction", ["iam:ListInstanceProfiles"], ["*"]),
        _stmt("AllowInstanceProfileReadActions", ["iam:GetInstanceProfile"], profiles),
    ]
    return {
        "NodeLifecyclePolicy": node_lifecycle,
        "IAMIntegrationPolicy": iam_integration,
        "EKSIntegrationPolicy": [_stmt("AllowAPIServerEndpointDiscovery", ["eks:DescribeCluster"], [cluster_arn])],
        "InterruptionPolicy": [
            _stmt(
                "AllowInterruptionQueueActions",
                ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
                [queue_arn],
            )
        ],
        "ZonalShiftPolicy": [
            _stmt(
                "AllowZonalShiftStatusReadOnly",
                ["arc-zonal-shift:GetManagedResource"],
                ["*"],
                _cond("StringEquals", "arc-zonal-shift:ResourceIdentifier", cluster_arn),
            )
        ],
        "ResourceDiscoveryPolicy": resource_discovery,
    }
