"""The EKS cluster: control plane, add-ons, access entries, CPU system nodes and a Kubernetes provider.

With ``ClusterSpec.existing`` set, nothing of the cluster is created: the component looks the cluster
up, reads its kubeconfig from the secret stack config key the spec names, and creates only the
node IAM role that new node pools need.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from pulumi_mlops.spec import PROJECT, ClusterSpec
from pulumi_mlops.spec.instances import DEFAULT_SYSTEM_TYPE

from .iam import PARTITION, aws_managed_policy, service_trust_policy
from .node_health import NODE_MONITORING_AGENT, node_repair_config

__all__ = [
    "ADDON_CONFIGURATION",
    "ADDON_VERSIONS",
    "CLUSTER_ADMIN_POLICY",
    "CONTROL_PLANE_LOGS",
    "DEFAULT_STORAGE_CLASS",
    "DEFAULT_SYSTEM_INSTANCE_TYPE",
    "EksCluster",
    "EksClusterArgs",
    "addon_versions",
    "kubeconfig_json",
]

CONTROL_PLANE_LOGS = ("api", "audit", "authenticator", "controllerManager", "scheduler")
"""Control-plane log types sent to CloudWatch."""

CONTROL_PLANE_LOG_RETENTION_DAYS = 90
"""Retention of the control-plane log group."""

CLUSTER_ADMIN_POLICY = f"arn:{PARTITION}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
"""EKS access policy given to ``ClusterSpec.admin_principals``."""

DEFAULT_SYSTEM_INSTANCE_TYPE = DEFAULT_SYSTEM_TYPE["aws"]
"""Instance type of the system pool when the spec leaves it empty (4 vCPUs: the platform's 2-CPU jobs fit a node)."""

ADDON_VERSIONS: dict[str, dict[str, str]] = {
    "1.34": {
        "vpc-cni": "v1.21.1-eksbuild.7",
        "kube-proxy": "v1.34.6-eksbuild.2",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.2",
        "coredns": "v1.13.2-eksbuild.4",
        "aws-ebs-csi-driver": "v1.57.1-eksbuild.1",
        "metrics-server": "v0.8.1-eksbuild.6",
        "eks-node-monitoring-agent": "v1.7.0-eksbuild.1",
    },
    "1.35": {
        "vpc-cni": "v1.21.1-eksbuild.7",
        "kube-proxy": "v1.35.3-eksbuild.2",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.2",
        "coredns": "v1.13.2-eksbuild.4",
        "aws-ebs-csi-driver": "v1.60.0-eksbuild.1",
        "metrics-server": "v0.8.1-eksbuild.6",
        "eks-node-monitoring-agent": "v1.7.0-eksbuild.1",
    },
}
"""EKS add-on versions pinned per Kubernetes minor version, one row per ``SUPPORTED_KUBERNETES_VERSIONS`` entry
(``aws eks describe-addon-versions --kubernetes-version 1.35``; kube-proxy's minor is the cluster's)."""

_BEFORE_NODES = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")
"""Add-ons nodes need to become Ready; the others run as pods on those nodes."""

ADDON_CONFIGURATION: dict[str, dict[str, Any]] = {
    "vpc-cni": {"enableNetworkPolicy": "true"},
}
"""``configurationValues`` per add-on. The VPC CNI runs its network policy agent only when asked (EKS user guide,
"Restrict Pod network traffic with Kubernetes network policies"): without it NetworkPolicy objects are not enforced."""

DEFAULT_STORAGE_CLASS = "gp3"
"""The cluster's default StorageClass: encrypted gp3 on the EBS CSI driver (EKS 1.30+ marks no class default)."""

EBS_CSI_SERVICE_ACCOUNT = "ebs-csi-controller-sa"


def addon_versions(kubernetes_version: str) -> dict[str, str]:
    """Pinned add-on versions for ``kubernetes_version``; an unknown version is an error naming the known ones."""
    try:
        return ADDON_VERSIONS[kubernetes_version]
    except KeyError:
        known = ", ".join(sorted(ADDON_VERSIONS))
        raise ValueError(
            f"no pinned EKS add-on versions for Kubernetes {kubernetes_version}: known are {known}; "
            "add a row to components/aws/cluster.py ADDON_VERSIONS"
        ) from None


def _first_issuer(identities: Sequence[Any]) -> str:
    """OIDC issuer URL of a cluster's first identity (empty while unknown)."""
    for identity in identities or ():
        for oidc in identity.oidcs or ():
            return str(oidc.issuer or "")
    return ""


def kubeconfig_json(cluster_name: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig that authenticates with ``aws eks get-token`` (no static credentials)."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}
            ],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
            "current-context": cluster_name,
            "users": [
                {
                    "name": cluster_name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region],
                            "interactiveMode": "Never",
                        }
                    },
                }
            ],
        }
    )


@dataclass
class EksClusterArgs:
    """Inputs of :class:`EksCluster`."""

    spec: ClusterSpec
    """Version, endpoint access, admins and system pool size (from ``PlatformSpec.cluster``)."""
    cluster_name: str
    """Physical cluster name (ignored when ``spec.existing`` names the cluster)."""
    region: str
    """Region, for the kubeconfig's ``aws eks get-token``."""
    subnet_ids: Sequence[pulumi.Input[str]] = ()
    """Private subnets of the control-plane ENIs and the system nodes (unused for an existing cluster)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags put on every taggable resource."""


class EksCluster(pulumi.ComponentResource):
    """An EKS cluster with envelope-encrypted secrets, audit logs, access entries, pinned add-ons (metrics-server,
    the node monitoring agent and a VPC CNI that enforces NetworkPolicy among them), auto-repaired system nodes and a
    default encrypted gp3 StorageClass.

    Outputs: ``cluster_name``, ``security_group_id`` (the cluster security group every managed node carries),
    ``subnet_ids``, ``oidc_issuer``, ``node_role`` (for node pools), ``kubeconfig`` (secret), ``provider`` and
    ``ready`` (resources Kubernetes objects must wait for).
    """

    cluster_name: pulumi.Output[str]
    vpc_id: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    subnet_ids: pulumi.Output[list[str]]
    oidc_issuer: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    node_role: aws.iam.Role
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:aws:EksCluster", name, None, opts)
        spec, tags = args.spec, dict(args.tags)
        child = pulumi.ResourceOptions(parent=self)

        self.node_role = aws.iam.Role(
            f"{name}-node-role",
            assume_role_policy=service_trust_policy("ec2.amazonaws.com"),
            tags=tags,
            opts=child,
        )
        for policy in ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"):
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}",
                role=self.node_role.name,
                policy_arn=aws_managed_policy(policy),
                opts=pulumi.ResourceOptions(parent=self.node_role),
            )

        if spec.existing is not None:
            self._attach(name, spec, args)
        else:
            self._create(name, spec, args, tags)

        self.provider = k8s.Provider(
            f"{name}-k8s", kubeconfig=self.kubeconfig, opts=pulumi.ResourceOptions(parent=self, depends_on=self.ready)
        )
        if spec.existing is None:
            self.ready = [*self.ready, self._default_storage_class(name)]
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "security_group_id": self.security_group_id,
                "oidc_issuer": self.oidc_issuer,
                "kubeconfig": self.kubeconfig,
            }
        )

    def _attach(self, name: str, spec: ClusterSpec, args: EksClusterArgs) -> None:
        assert spec.existing is not None
        found = aws.eks.get_cluster_output(name=spec.existing.name, opts=pulumi.InvokeOutputOptions(parent=self))
        self.cluster_name = found.name
        self.vpc_id = found.vpc_config.vpc_id
        self.security_group_id = found.vpc_config.cluster_security_group_id
        self.subnet_ids = found.vpc_config.subnet_ids
        self.oidc_issuer = found.identities.apply(_first_issuer)
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        self.oidc_provider_arn = pulumi.Output.all(account, self.oidc_issuer).apply(
            lambda v: f"arn:{PARTITION}:iam::{v[0]}:oidc-provider/{v[1].removeprefix('https://')}"
        )
        self.kubeconfig = pulumi.Config(PROJECT).require_secret(spec.existing.kubeconfig_secret)
        self.ready = []

    def _create(self, name: str, spec: ClusterSpec, args: EksClusterArgs, tags: dict[str, str]) -> None:
        child = pulumi.ResourceOptions(parent=self)
        versions = addon_versions(spec.kubernetes_version)

        key = aws.kms.Key(
            f"{name}-secrets-key",
            description=f"Envelope encryption of Kubernetes secrets in {args.cluster_name}",
            enable_key_rotation=True,
            tags=tags,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-role", assume_role_policy=service_trust_policy("eks.amazonaws.com"), tags=tags, opts=child
        )
        attach = aws.iam.RolePolicyAttachment(
            f"{name}-role-cluster-policy",
            role=role.name,
            policy_arn=aws_managed_policy("AmazonEKSClusterPolicy"),
            opts=pulumi.ResourceOptions(parent=role),
        )
        logs = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_in_days=CONTROL_PLANE_LOG_RETENTION_DAYS,
            tags=tags,
            opts=child,
        )
        cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=spec.kubernetes_version,
            role_arn=role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=list(args.subnet_ids),
                endpoint_private_access=True,
                endpoint_public_access=spec.public_endpoint,
                public_access_cidrs=list(spec.api_allowed_cidrs) if spec.public_endpoint else None,
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=True
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"], provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=key.arn)
            ),
            enabled_cluster_log_types=list(CONTROL_PLANE_LOGS),
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type=spec.support_type),
            deletion_protection=spec.deletion_protection,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[attach, logs]),
        )

        for i, principal in enumerate(spec.admin_principals):
            entry = aws.eks.AccessEntry(
                f"{name}-admin-{i}",
                cluster_name=cluster.name,
                principal_arn=principal,
                type="STANDARD",
                tags=tags,
                opts=child,
            )
            aws.eks.AccessPolicyAssociation(
                f"{name}-admin-{i}-policy",
                cluster_name=cluster.name,
                principal_arn=entry.principal_arn,
                policy_arn=CLUSTER_ADMIN_POLICY,
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=pulumi.ResourceOptions(parent=entry),
            )

        early = [self._addon(name, cluster, addon, versions[addon], tags, []) for addon in _BEFORE_NODES]
        system = aws.eks.NodeGroup(
            f"{name}-system",
            cluster_name=cluster.name,
            node_role_arn=self.node_role.arn,
            subnet_ids=list(args.subnet_ids),
            ami_type="AL2023_x86_64_STANDARD",
            capacity_type="ON_DEMAND",
            instance_types=[spec.system_instance_type or DEFAULT_SYSTEM_INSTANCE_TYPE],
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=spec.system_min_nodes, max_size=spec.system_max_nodes, desired_size=spec.system_min_nodes
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            node_repair_config=node_repair_config(),
            labels={"pulumi-mlops.io/pool": "system"},
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=early, ignore_changes=["scalingConfig.desiredSize"]),
        )
        ebs_role = aws.iam.Role(
            f"{name}-ebs-csi-role",
            assume_role_policy=service_trust_policy("pods.eks.amazonaws.com", ("sts:AssumeRole", "sts:TagSession")),
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-ebs-csi-policy",
            role=ebs_role.name,
            policy_arn=aws_managed_policy("service-role/AmazonEBSCSIDriverPolicy"),
            opts=pulumi.ResourceOptions(parent=ebs_role),
        )
        late = [
            self._addon(name, cluster, "coredns", versions["coredns"], tags, [system]),
            self._addon(name, cluster, "metrics-server", versions["metrics-server"], tags, [system]),
            self._addon(name, cluster, NODE_MONITORING_AGENT, versions[NODE_MONITORING_AGENT], tags, [system]),
            self._addon(
                name,
                cluster,
                "aws-ebs-csi-driver",
                versions["aws-ebs-csi-driver"],
                tags,
                [system],
                pod_identity=[
                    aws.eks.AddonPodIdentityAssociationArgs(
                        role_arn=ebs_role.arn, service_account=EBS_CSI_SERVICE_ACCOUNT
                    )
                ],
            ),
        ]

        self.cluster_name = cluster.name
        self.vpc_id = cluster.vpc_config.vpc_id
        self.security_group_id = cluster.vpc_config.cluster_security_group_id
        self.subnet_ids = pulumi.Output.all(*args.subnet_ids).apply(lambda ids: [str(i) for i in ids])
        self.oidc_issuer = cluster.identities.apply(_first_issuer)
        if spec.workload_identity == "irsa":
            self.oidc_provider_arn = aws.iam.OpenIdConnectProvider(
                f"{name}-oidc",
                url=self.oidc_issuer,
                client_id_lists=["sts.amazonaws.com"],
                tags=tags,
                opts=pulumi.ResourceOptions(parent=cluster),
            ).arn
        else:
            self.oidc_provider_arn = pulumi.Output.from_input("")
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(cluster.name, cluster.endpoint, cluster.certificate_authority.data).apply(
                lambda v: kubeconfig_json(v[0], v[1], v[2], args.region)
            )
        )
        self.ready = [system, *early, *late]

    def _default_storage_class(self, name: str) -> k8s.storage.v1.StorageClass:
        """Encrypted gp3 volumes on the EBS CSI driver, marked default for claims that name no class."""
        return k8s.storage.v1.StorageClass(
            f"{name}-{DEFAULT_STORAGE_CLASS}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=DEFAULT_STORAGE_CLASS, annotations={"storageclass.kubernetes.io/is-default-class": "true"}
            ),
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true"},
            reclaim_policy="Delete",
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=self.ready),
        )

    def _addon(
        self,
        name: str,
        cluster: aws.eks.Cluster,
        addon: str,
        version: str,
        tags: dict[str, str],
        depends_on: list[pulumi.Resource],
        pod_identity: list[aws.eks.AddonPodIdentityAssociationArgs] | None = None,
    ) -> aws.eks.Addon:
        return aws.eks.Addon(
            f"{name}-{addon}",
            cluster_name=cluster.name,
            addon_name=addon,
            addon_version=version,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            pod_identity_associations=pod_identity,
            configuration_values=json.dumps(ADDON_CONFIGURATION[addon]) if addon in ADDON_CONFIGURATION else None,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )
