"""Karpenter as the GPU autoscaler: controller with Pod Identity, interruption queue, one NodePool per GPU pool."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from pulumi_mlops.components.k8s.context import GpuScheduling

from pulumi_mlops.spec import GpuPoolSpec

from .device_plugin import BOTTLEROCKET, HelmChart
from .gpu_node_pool import pool_labels, pool_taints
from .iam import PARTITION, aws_managed_policy, service_trust_policy

__all__ = [
    "CONSOLIDATE_AFTER",
    "INTERRUPTION_EVENTS",
    "KARPENTER_CHART",
    "KARPENTER_KUBERNETES_RANGE",
    "Karpenter",
    "KarpenterArgs",
    "controller_statements",
    "ec2_node_class",
    "node_pool",
]

KARPENTER_CHART = HelmChart("karpenter", "1.9.2", "oci://public.ecr.aws/karpenter")
KARPENTER_KUBERNETES_RANGE = ("1.26", "1.35")
"""Oldest and newest Kubernetes minor versions the pinned Karpenter release supports (Karpenter's
compatibility matrix: 1.9.x runs on 1.26 to 1.35; 1.35 needs 1.9 or later)."""
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "karpenter"
CONSOLIDATE_AFTER = "15m"
"""How long a GPU node must be empty or underused before Karpenter removes it."""

INTERRUPTION_EVENTS: dict[str, dict[str, Any]] = {
    "health": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
}
"""EventBridge patterns forwarded to the interruption queue."""

_AMI_ALIAS = {"AL2023_x86_64_NVIDIA": "al2023@latest", BOTTLEROCKET: "bottlerocket@latest"}
_ROOT_DEVICE = {"AL2023_x86_64_NVIDIA": "/dev/xvda", BOTTLEROCKET: "/dev/xvdb"}


def node_pool(pool: GpuPoolSpec, gpu: GpuScheduling) -> dict[str, Any]:
    """The ``karpenter.sh/v1`` NodePool of one GPU pool (spec only)."""
    return {
        "template": {
            "metadata": {"labels": pool_labels(pool, gpu)},
            "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": pool.name},
                "requirements": [
                    {"key": "karpenter.k8s.aws/instance-gpu-manufacturer", "operator": "In", "values": ["nvidia"]},
                    {
                        "key": "karpenter.sh/capacity-type",
                        "operator": "In",
                        "values": ["spot" if pool.spot else "on-demand"],
                    },
                    {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [pool.instance_type]},
                    {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                ],
                "taints": [{"key": k, "value": v, "effect": e} for k, v, e in pool_taints(pool, gpu)],
                "expireAfter": "720h",
            },
        },
        "limits": {"nvidia.com/gpu": str(pool.max_gpus)},
        "disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": CONSOLIDATE_AFTER},
    }


def ec2_node_class(
    pool: GpuPoolSpec, role_name: str, subnet_ids: Sequence[str], security_group_id: str, tags: Mapping[str, str]
) -> dict[str, Any]:
    """The ``karpenter.k8s.aws/v1`` EC2NodeClass of one GPU pool (spec only)."""
    return {
        "role": role_name,
        "amiSelectorTerms": [{"alias": _AMI_ALIAS[pool.ami_type]}],
        "subnetSelectorTerms": [{"id": s} for s in subnet_ids],
        "securityGroupSelectorTerms": [{"id": security_group_id}],
        "metadataOptions": {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1},
        "blockDeviceMappings": [
            {
                "deviceName": _ROOT_DEVICE[pool.ami_type],
                "ebs": {
                    "volumeSize": f"{pool.disk_gb}Gi",
                    "volumeType": "gp3",
                    "encrypted": True,
                    "deleteOnTermination": True,
                },
            }
        ],
        "tags": dict(tags),
    }


def controller_statements(
    region: str, account_id: str, cluster_name: str, cluster_arn: str, queue_arn: str, node_role_arn: str
) -> list[aws.iam.GetPolicyDocumentStatementArgs]:
    """Karpenter controller permissions, scoped to this cluster's tag and region wherever EC2 allows it."""
    ec2 = f"arn:{PARTITION}:ec2:{region}"
    owned = f"aws:RequestTag/kubernetes.io/cluster/{cluster_name}"
    tagged = f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}"

    def cond(test: str, variable: str, *values: str) -> aws.iam.GetPolicyDocumentStatementConditionArgs:
        return aws.iam.GetPolicyDocumentStatementConditionArgs(test=test, variable=variable, values=list(values))

    def stmt(
        sid: str, actions: list[str], resources: list[str], *conditions: aws.iam.GetPolicyDocumentStatementConditionArgs
    ) -> aws.iam.GetPolicyDocumentStatementArgs:
        return aws.iam.GetPolicyDocumentStatementArgs(
            sid=sid, effect="Allow", actions=actions, resources=resources, conditions=list(conditions) or None
        )

    created = [
        f"{ec2}:{account_id}:{kind}/*"
        for kind in ("fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request")
    ]
    return [
        stmt(
            "ScopedEC2InstanceAccessActions",
            ["ec2:RunInstances", "ec2:CreateFleet"],
            [
                f"{ec2}::image/*",
                f"{ec2}::snapshot/*",
                f"{ec2}:*:security-group/*",
                f"{ec2}:*:subnet/*",
                f"{ec2}:*:capacity-reservation/*",
            ],
        ),
        stmt(
            "ScopedEC2LaunchTemplateAccessActions",
            ["ec2:RunInstances", "ec2:CreateFleet"],
            [f"{ec2}:*:launch-template/*"],
            cond("StringEquals", tagged, "owned"),
        ),
        stmt(
            "ScopedEC2InstanceActionsWithTags",
            ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
            created,
            cond("StringEquals", owned, "owned"),
        ),
        stmt(
            "ScopedResourceCreationTagging",
            ["ec2:CreateTags"],
            created,
            cond("StringEquals", owned, "owned"),
            cond("StringEquals", "ec2:CreateAction", "RunInstances", "CreateFleet", "CreateLaunchTemplate"),
        ),
        stmt(
            "ScopedResourceTagging",
            ["ec2:CreateTags"],
            [f"{ec2}:{account_id}:instance/*"],
            cond("StringEquals", tagged, "owned"),
        ),
        stmt(
            "ScopedDeletion",
            ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
            [f"{ec2}:{account_id}:instance/*", f"{ec2}:{account_id}:launch-template/*"],
            cond("StringEquals", tagged, "owned"),
        ),
        stmt(
            "RegionalReadActions",
            [
                "ec2:DescribeAvailabilityZones",
                "ec2:DescribeImages",
                "ec2:DescribeInstanceTypeOfferings",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeInstances",
                "ec2:DescribeLaunchTemplates",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSpotPriceHistory",
                "ec2:DescribeSubnets",
                "ec2:DescribeCapacityReservations",
            ],
            ["*"],
            cond("StringEquals", "aws:RequestedRegion", region),
        ),
        stmt("SSMReadActions", ["ssm:GetParameter"], [f"arn:{PARTITION}:ssm:{region}::parameter/aws/service/*"]),
        stmt("PricingReadActions", ["pricing:GetProducts"], ["*"]),
        stmt("InterruptionQueueActions", ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"], [queue_arn]),
        stmt(
            "PassNodeIAMRole",
            ["iam:PassRole"],
            [node_role_arn],
            cond("StringEquals", "iam:PassedToService", "ec2.amazonaws.com"),
        ),
        stmt(
            "InstanceProfileActions",
            [
                "iam:AddRoleToInstanceProfile",
                "iam:CreateInstanceProfile",
                "iam:DeleteInstanceProfile",
                "iam:GetInstanceProfile",
                "iam:RemoveRoleFromInstanceProfile",
                "iam:TagInstanceProfile",
            ],
            [f"arn:{PARTITION}:iam::{account_id}:instance-profile/*"],
        ),
        stmt("EKSClusterEndpointLookup", ["eks:DescribeCluster"], [cluster_arn]),
    ]


def _node_class_spec(pool: GpuPoolSpec, tags: Mapping[str, str]) -> Callable[[list[Any]], dict[str, Any]]:
    def build(v: list[Any]) -> dict[str, Any]:
        return ec2_node_class(pool, v[0], v[1], v[2], tags)

    return build


@dataclass
class KarpenterArgs:
    """Inputs of :class:`Karpenter`."""

    pools: Sequence[GpuPoolSpec]
    """GPU pools, one NodePool and EC2NodeClass each."""
    cluster_name: pulumi.Input[str]
    """Name of the EKS cluster as the cluster resource's Output (so access entry and associations wait for it)."""
    region: str
    """Region of the cluster (policy ARNs)."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private subnets GPU nodes are launched in."""
    security_group_id: pulumi.Input[str]
    """Cluster security group the nodes carry."""
    gpu: GpuScheduling = field(default_factory=GpuScheduling)
    """Taint and pool label of the GPU nodes."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags put on AWS resources and on the instances Karpenter launches."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources the Kubernetes objects wait for (system nodes, add-ons)."""
    controller_replicas: int = 2
    """Controller replicas; the chart spreads them over distinct system nodes, so keep it at most the pool size."""


class Karpenter(pulumi.ComponentResource):
    """Karpenter controller, interruption handling and a GPU NodePool + EC2NodeClass per pool.

    Pass the AWS and Kubernetes providers in ``opts.providers``.

    Outputs: ``node_role``, ``controller_role``, ``queue_url``, ``release`` and ``max_gpus`` by pool.
    """

    node_role: aws.iam.Role
    controller_role: aws.iam.Role
    release: k8s.helm.v3.Release
    max_gpus: dict[str, int]

    def __init__(self, name: str, args: KarpenterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:aws:Karpenter", name, None, opts)
        tags = dict(args.tags)
        on_aws = pulumi.ResourceOptions(parent=self)
        on_k8s = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))

        self.node_role = aws.iam.Role(
            f"{name}-node-role", assume_role_policy=service_trust_policy("ec2.amazonaws.com"), tags=tags, opts=on_aws
        )
        for policy in (
            "AmazonEKSWorkerNodePolicy",
            "AmazonEKS_CNI_Policy",
            "AmazonEC2ContainerRegistryReadOnly",
            "AmazonSSMManagedInstanceCore",
        ):
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}",
                role=self.node_role.name,
                policy_arn=aws_managed_policy(policy),
                opts=pulumi.ResourceOptions(parent=self.node_role),
            )
        aws.eks.AccessEntry(
            f"{name}-node-access",
            cluster_name=args.cluster_name,
            principal_arn=self.node_role.arn,
            type="EC2_LINUX",
            tags=tags,
            opts=on_aws,
        )

        queue = aws.sqs.Queue(
            f"{name}-interruptions",
            name=pulumi.Output.concat(args.cluster_name, "-karpenter"),
            message_retention_seconds=300,
            sqs_managed_sse_enabled=True,
            tags=tags,
            opts=on_aws,
        )
        queue_policy = aws.iam.get_policy_document_output(
            statements=queue.arn.apply(
                lambda arn: [
                    aws.iam.GetPolicyDocumentStatementArgs(
                        sid="EventBridgeDelivery",
                        effect="Allow",
                        actions=["sqs:SendMessage"],
                        resources=[arn],
                        principals=[
                            aws.iam.GetPolicyDocumentStatementPrincipalArgs(
                                type="Service", identifiers=["events.amazonaws.com", "sqs.amazonaws.com"]
                            )
                        ],
                    ),
                    aws.iam.GetPolicyDocumentStatementArgs(
                        sid="DenyHTTP",
                        effect="Deny",
                        actions=["sqs:*"],
                        resources=[arn],
                        principals=[aws.iam.GetPolicyDocumentStatementPrincipalArgs(type="*", identifiers=["*"])],
                        conditions=[
                            aws.iam.GetPolicyDocumentStatementConditionArgs(
                                test="Bool", variable="aws:SecureTransport", values=["false"]
                            )
                        ],
                    ),
                ]
            )
        )
        aws.sqs.QueuePolicy(
            f"{name}-interruptions-policy",
            queue_url=queue.url,
            policy=queue_policy.json,
            opts=pulumi.ResourceOptions(parent=queue),
        )
        for rule_name, pattern in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(
                f"{name}-{rule_name}",
                description=f"Karpenter interruption handling: {rule_name}",
                event_pattern=pulumi.Output.json_dumps(pattern),
                tags=tags,
                opts=on_aws,
            )
            aws.cloudwatch.EventTarget(
                f"{name}-{rule_name}-target",
                rule=rule.name,
                arn=queue.arn,
                target_id="karpenter-interruption-queue",
                opts=pulumi.ResourceOptions(parent=rule),
            )

        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        cluster_arn = pulumi.Output.all(identity.account_id, args.cluster_name).apply(
            lambda v: f"arn:{PARTITION}:eks:{args.region}:{v[0]}:cluster/{v[1]}"
        )
        controller_doc = aws.iam.get_policy_document_output(
            statements=pulumi.Output.all(
                identity.account_id, args.cluster_name, cluster_arn, queue.arn, self.node_role.arn
            ).apply(lambda v: controller_statements(args.region, v[0], v[1], v[2], v[3], v[4]))
        )
        self.controller_role = aws.iam.Role(
            f"{name}-controller",
            description="Karpenter controller",
            assume_role_policy=service_trust_policy("pods.eks.amazonaws.com", ("sts:AssumeRole", "sts:TagSession")),
            tags=tags,
            opts=on_aws,
        )
        aws.iam.RolePolicy(
            f"{name}-controller-policy",
            role=self.controller_role.id,
            policy=controller_doc.json,
            opts=pulumi.ResourceOptions(parent=self.controller_role),
        )
        association = aws.eks.PodIdentityAssociation(
            f"{name}-controller-association",
            cluster_name=args.cluster_name,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            role_arn=self.controller_role.arn,
            tags=tags,
            opts=on_aws,
        )

        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name="karpenter",
            chart=f"{KARPENTER_CHART.repo}/{KARPENTER_CHART.name}",
            version=KARPENTER_CHART.version,
            namespace=NAMESPACE,
            values={
                "replicas": args.controller_replicas,
                "serviceAccount": {"name": SERVICE_ACCOUNT},
                "settings": {"clusterName": args.cluster_name, "interruptionQueue": queue.name},
                "controller": {
                    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}
                },
                "nodeSelector": {"pulumi-mlops.io/pool": "system"},
            },
            atomic=True,
            opts=pulumi.ResourceOptions.merge(on_k8s, pulumi.ResourceOptions(depends_on=[association])),
        )

        self.max_gpus = {}
        on_crds = pulumi.ResourceOptions.merge(on_k8s, pulumi.ResourceOptions(depends_on=[self.release]))
        network = pulumi.Output.all(self.node_role.name, args.subnet_ids, args.security_group_id)
        for pool in args.pools:
            k8s.apiextensions.CustomResource(
                f"{name}-{pool.name}-nodeclass",
                api_version="karpenter.k8s.aws/v1",
                kind="EC2NodeClass",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=pool.name),
                spec=network.apply(_node_class_spec(pool, tags)),
                opts=on_crds,
            )
            k8s.apiextensions.CustomResource(
                f"{name}-{pool.name}-nodepool",
                api_version="karpenter.sh/v1",
                kind="NodePool",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=pool.name),
                spec=node_pool(pool, args.gpu),
                opts=on_crds,
            )
            self.max_gpus[pool.name] = pool.max_gpus
        self.register_outputs({"queue_url": queue.url, "controller_role": self.controller_role.arn})
