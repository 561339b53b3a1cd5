"""Karpenter as the node provisioner (``autoscaler: karpenter``): its CRDs (the ``karpenter-crd`` chart, which,
unlike the controller chart's ``crds/`` folder, Helm upgrades with the release), the controller with Pod Identity and
upstream's IAM policies, interruption handling, node repair (the ``NodeRepair`` feature gate), a CPU NodePool for
general workloads, one GPU NodePool per GPU pool, and for EFA pools the EFA security group, a cluster placement group
per pool and the EFA device plugin.

The NodePool and EC2NodeClass specs are :mod:`.karpenter_pools`; the controller policies are :mod:`.karpenter_iam`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from pulumi_mlops.components.k8s.context import GpuScheduling

from pulumi_mlops.spec import GpuPoolSpec, KarpenterSpec, TrainingJobSpec

from .device_plugin import HelmChart
from .efa import EFA_DEVICE_PLUGIN_CHART, efa_device_plugin_values, efa_placement_group, efa_security_group
from .iam import aws_managed_policy, service_trust_policy
from .karpenter_iam import CONTROLLER_POLICIES, NODE_ROLE_POLICIES, controller_policies
from .karpenter_pools import CPU_POOL, cpu_node_class, cpu_node_pool, gpu_node_class, gpu_node_pool
from .node_health import KARPENTER_FEATURE_GATES

__all__ = [
    "INTERRUPTION_EVENTS",
    "KARPENTER_CHART",
    "KARPENTER_CRD_CHART",
    "KARPENTER_KUBERNETES_RANGE",
    "Karpenter",
    "KarpenterArgs",
]

KARPENTER_CHART = HelmChart("karpenter", "1.14.1", "oci://public.ecr.aws/karpenter")
KARPENTER_CRD_CHART = HelmChart("karpenter-crd", KARPENTER_CHART.version, KARPENTER_CHART.repo)
"""Karpenter's CRDs at the controller's version (upstream's upgrade guide: the controller chart's ``crds/`` are only
installed with the first release, never upgraded)."""
KARPENTER_KUBERNETES_RANGE = ("1.26", "1.36")
"""Oldest and newest Kubernetes minor versions the pinned Karpenter release supports (Karpenter's
compatibility matrix, ``hack/docs/compatibilitymatrix_gen/compatibility.yaml``: 1.14.x runs on 1.26 to 1.36;
1.36 needs 1.13 or later)."""
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "karpenter"

INTERRUPTION_EVENTS: dict[str, dict[str, Any]] = {
    "health": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
    "capacity-reservation": {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Capacity Reservation Instance Interruption Warning"],
    },
}
"""EventBridge patterns forwarded to the interruption queue."""


_Statements = list[aws.iam.GetPolicyDocumentStatementArgs]


def _statements_of(policy: str) -> Callable[[dict[str, _Statements]], _Statements]:
    def pick(by_policy: dict[str, _Statements]) -> _Statements:
        return by_policy[policy]

    return pick


def _gpu_class_spec(pool: GpuPoolSpec, tags: Mapping[str, str]) -> Callable[[list[Any]], dict[str, Any]]:
    def build(v: list[Any]) -> dict[str, Any]:
        return gpu_node_class(pool, v[0], v[1], v[2], tags, placement_group=v[3])

    return build


def _gpu_pool_spec(
    pool: GpuPoolSpec, gpu: GpuScheduling, jobs: Sequence[TrainingJobSpec]
) -> Callable[[str | None], dict[str, Any]]:
    def build(zone: str | None) -> dict[str, Any]:
        return gpu_node_pool(pool, gpu, jobs, zone if pool.single_zone else None)

    return build


@dataclass
class KarpenterArgs:
    """Inputs of :class:`Karpenter`."""

    pools: Sequence[GpuPoolSpec]
    """GPU pools, one NodePool and EC2NodeClass each (besides the CPU pool's)."""
    cluster_name: pulumi.Input[str]
    """Name of the EKS cluster as the cluster resource's Output (so access entry and associations wait for it)."""
    region: str
    """Region of the cluster (policy ARNs)."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private subnets the nodes are launched in."""
    security_group_id: pulumi.Input[str]
    """Cluster security group the nodes carry."""
    vpc_id: pulumi.Input[str]
    """VPC of the subnets (the EFA security group)."""
    subnet_zones: Sequence[pulumi.Input[str]] = ()
    """Availability zone of each of ``subnet_ids``, in order; ``single_zone`` pools launch in the first subnet
    and carry its zone (required when a pool is ``single_zone``)."""
    cpu_pool: KarpenterSpec = field(default_factory=KarpenterSpec)
    """Categories, capacity type and vCPU limit of the CPU NodePool."""
    cpu_arch: str = "amd64"
    """Architecture of the CPU NodePool's nodes (the system pool's: the CPU images are built for it)."""
    training: Sequence[TrainingJobSpec] = ()
    """The stack's training jobs: the NodePools their pods land on get training-window budgets and a grace period
    that covers their deadline."""
    gpu: GpuScheduling = field(default_factory=GpuScheduling)
    """Taint and pool label of the GPU nodes."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags put on AWS resources and on the instances Karpenter launches."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources the Kubernetes objects wait for (system nodes, add-ons)."""
    controller_replicas: int = 2
    """Controller replicas; the chart spreads them over distinct system nodes, so keep it at most the pool size."""


class Karpenter(pulumi.ComponentResource):
    """Karpenter controller, interruption handling, the CPU NodePool and a GPU NodePool + EC2NodeClass per pool.

    Pass the AWS and Kubernetes providers in ``opts.providers``.

    Outputs: ``node_role``, ``controller_role``, ``queue_url``, ``crds`` and ``release`` (the CRD and controller
    releases), ``placement_groups`` and ``max_gpus`` by pool, and ``ready`` (what workloads wait for: the release,
    the node classes and pools, the EFA device plugin).
    """

    node_role: aws.iam.Role
    controller_role: aws.iam.Role
    crds: k8s.helm.v3.Release
    release: k8s.helm.v3.Release
    placement_groups: dict[str, aws.ec2.PlacementGroup]
    max_gpus: dict[str, int]
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: KarpenterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:aws:Karpenter", name, None, opts)
        tags = dict(args.tags)
        on_aws = pulumi.ResourceOptions(parent=self)
        on_k8s = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))

        self.node_role = aws.iam.Role(
            f"{name}-node-role", assume_role_policy=service_trust_policy("ec2.amazonaws.com"), tags=tags, opts=on_aws
        )
        for policy in NODE_ROLE_POLICIES:
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
        policies = pulumi.Output.all(identity.account_id, args.cluster_name, queue.arn, self.node_role.arn).apply(
            lambda v: controller_policies(args.region, v[0], v[1], v[2], v[3])
        )
        self.controller_role = aws.iam.Role(
            f"{name}-controller",
            description="Karpenter controller",
            assume_role_policy=service_trust_policy("pods.eks.amazonaws.com", ("sts:AssumeRole", "sts:TagSession")),
            tags=tags,
            opts=on_aws,
        )
        controller_policies_created = [
            aws.iam.RolePolicy(
                f"{name}-controller-{suffix}",
                role=self.controller_role.id,
                policy=aws.iam.get_policy_document_output(statements=policies.apply(_statements_of(policy))).json,
                opts=pulumi.ResourceOptions(parent=self.controller_role),
            )
            for policy, suffix in CONTROLLER_POLICIES.items()
        ]
        association = aws.eks.PodIdentityAssociation(
            f"{name}-controller-association",
            cluster_name=args.cluster_name,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            role_arn=self.controller_role.arn,
            tags=tags,
            opts=on_aws,
        )

        # Takes over the CRDs an earlier controller release installed from its crds/ folder.
        self.crds = k8s.helm.v3.Release(
            f"{name}-crds",
            name=KARPENTER_CRD_CHART.name,
            chart=f"{KARPENTER_CRD_CHART.repo}/{KARPENTER_CRD_CHART.name}",
            version=KARPENTER_CRD_CHART.version,
            namespace=NAMESPACE,
            take_ownership=True,
            atomic=True,
            opts=on_k8s,
        )
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name="karpenter",
            chart=f"{KARPENTER_CHART.repo}/{KARPENTER_CHART.name}",
            version=KARPENTER_CHART.version,
            namespace=NAMESPACE,
            skip_crds=True,
            values={
                "replicas": args.controller_replicas,
                "serviceAccount": {"name": SERVICE_ACCOUNT},
                "settings": {
                    "clusterName": args.cluster_name,
                    "interruptionQueue": queue.name,
                    # Replace nodes the node monitoring agent marks unhealthy (GPU Xid faults among them).
                    "featureGates": dict(KARPENTER_FEATURE_GATES),
                },
                "controller": {
                    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}
                },
                "nodeSelector": {"pulumi-mlops.io/pool": "system"},
            },
            atomic=True,
            opts=pulumi.ResourceOptions.merge(
                on_k8s, pulumi.ResourceOptions(depends_on=[association, self.crds, *controller_policies_created])
            ),
        )

        self.ready = [self.release, *self._node_pools(name, args, tags, on_k8s)]
        self.register_outputs({"queue_url": queue.url, "controller_role": self.controller_role.arn})

    def _node_pools(
        self, name: str, args: KarpenterArgs, tags: Mapping[str, str], on_k8s: pulumi.ResourceOptions
    ) -> list[pulumi.Resource]:
        """EC2NodeClass + NodePool of the CPU pool and of every GPU pool; for EFA pools their security group, a
        cluster placement group each (their EC2NodeClass selects it, so it exists first and goes last) and the EFA
        device plugin."""
        self.max_gpus = {}
        self.placement_groups = {}
        on_crds = pulumi.ResourceOptions.merge(on_k8s, pulumi.ResourceOptions(depends_on=[self.release]))

        def custom(resource: str, kind: str, object_name: str, spec: pulumi.Input[Any]) -> pulumi.Resource:
            group = "karpenter.k8s.aws/v1" if kind == "EC2NodeClass" else "karpenter.sh/v1"
            return k8s.apiextensions.CustomResource(
                resource,
                api_version=group,
                kind=kind,
                metadata=k8s.meta.v1.ObjectMetaArgs(name=object_name),
                spec=spec,
                opts=on_crds,
            )

        created: list[pulumi.Resource] = []
        cluster_sg: list[pulumi.Input[str]] = [args.security_group_id]
        network = pulumi.Output.all(self.node_role.name, args.subnet_ids, cluster_sg)
        created.append(
            custom(
                f"{name}-{CPU_POOL}-nodeclass",
                "EC2NodeClass",
                CPU_POOL,
                network.apply(lambda v: cpu_node_class(v[0], v[1], v[2], tags)),
            )
        )
        created.append(
            custom(
                f"{name}-{CPU_POOL}-nodepool",
                "NodePool",
                CPU_POOL,
                cpu_node_pool(args.cpu_pool, args.cpu_arch, args.training),
            )
        )

        efa_pools = [p for p in args.pools if p.efa]
        efa_groups: list[pulumi.Input[str]] = []
        if efa_pools:
            efa_groups = [efa_security_group(name, args.vpc_id, tags, pulumi.ResourceOptions(parent=self)).id]
        zone: pulumi.Input[str | None] = None
        if any(p.single_zone for p in args.pools):
            if not args.subnet_zones:
                raise ValueError("single_zone GPU pools need KarpenterArgs.subnet_zones")
            zone = args.subnet_zones[0]
        for pool in args.pools:
            groups = cluster_sg + efa_groups if pool.efa else cluster_sg
            placement_group: pulumi.Input[str | None] = None
            if pool.efa:
                self.placement_groups[pool.name] = efa_placement_group(
                    name, pool.name, args.cluster_name, tags, pulumi.ResourceOptions(parent=self)
                )
                placement_group = self.placement_groups[pool.name].name
            pool_network = pulumi.Output.all(self.node_role.name, args.subnet_ids, groups, placement_group)
            created.append(
                custom(
                    f"{name}-{pool.name}-nodeclass",
                    "EC2NodeClass",
                    pool.name,
                    pool_network.apply(_gpu_class_spec(pool, tags)),
                )
            )
            created.append(
                custom(
                    f"{name}-{pool.name}-nodepool",
                    "NodePool",
                    pool.name,
                    pulumi.Output.from_input(zone).apply(_gpu_pool_spec(pool, args.gpu, args.training)),
                )
            )
            self.max_gpus[pool.name] = pool.max_gpus
        if efa_pools:
            created.append(
                k8s.helm.v3.Release(
                    f"{name}-{EFA_DEVICE_PLUGIN_CHART.name}",
                    name=EFA_DEVICE_PLUGIN_CHART.name,
                    chart=EFA_DEVICE_PLUGIN_CHART.name,
                    version=EFA_DEVICE_PLUGIN_CHART.version,
                    repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=EFA_DEVICE_PLUGIN_CHART.repo),
                    namespace=NAMESPACE,
                    values=efa_device_plugin_values(args.pools, args.gpu),
                    atomic=True,
                    opts=on_k8s,
                )
            )
        return created
