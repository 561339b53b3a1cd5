"""AWS services the other modules do not cover: Aurora and Multi-AZ DB clusters, EBS volumes and EFS file systems,
instance metadata (IMDSv2) of launch templates, instances and Karpenter EC2NodeClasses, SSH into EKS node groups.

Launch templates and instances must set their metadata options: left unset they follow the AMI and the account's
IMDS defaults, and Amazon Linux 2023 AMIs (``ImdsSupport: v2.0``) launch with a hop limit of 2, which lets every pod
reach the node's credentials. Pods reach AWS through EKS Pod Identity or IRSA, neither of which needs IMDS from a
pod, so a hop limit of 1 breaks nothing. A Karpenter EC2NodeClass may leave them unset: Karpenter's own defaults are
``httpTokens: required`` and ``httpPutResponseHopLimit: 1``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import Policy, ResourceValidationArgs

from ._base import ADVISORY, get, is_true, profile_of, resource_policy

__all__ = [
    "EBS_ENCRYPTION_BY_DEFAULT",
    "EBS_VOLUME",
    "EC2_INSTANCE",
    "EFS_FILE_SYSTEM",
    "EKS_NODE_GROUP",
    "KARPENTER_NODE_CLASS",
    "LAUNCH_TEMPLATE",
    "POLICIES",
    "RDS_CLUSTER",
    "RDS_CLUSTER_INSTANCE",
    "RESOURCE_TYPES",
    "metadata_problems",
]

Report = Callable[[str], None]

RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
EBS_VOLUME = "aws:ebs/volume:Volume"
EBS_ENCRYPTION_BY_DEFAULT = "aws:ebs/encryptionByDefault:EncryptionByDefault"
EFS_FILE_SYSTEM = "aws:efs/fileSystem:FileSystem"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EC2_INSTANCE = "aws:ec2/instance:Instance"
KARPENTER_NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"

RESOURCE_TYPES: tuple[str, ...] = (
    RDS_CLUSTER,
    RDS_CLUSTER_INSTANCE,
    EBS_VOLUME,
    EBS_ENCRYPTION_BY_DEFAULT,
    EFS_FILE_SYSTEM,
    LAUNCH_TEMPLATE,
    EC2_INSTANCE,
    KARPENTER_NODE_CLASS,
    EKS_NODE_GROUP,
)
"""Every resource type a policy of this module checks."""

POLICIES: list[Policy] = []


def _is_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.lower() == "false")


# --- Aurora / RDS clusters --------------------------------------------------------------------


@resource_policy(
    "rds-cluster-storage-encrypted",
    "RDS clusters (Aurora and Multi-AZ DB clusters) set storageEncrypted true and name a customer-managed kmsKeyId.",
    [RDS_CLUSTER],
    registry=POLICIES,
)
def _cluster_encrypted(args: ResourceValidationArgs, report: Report) -> None:
    if not is_true(get(args.props, "storageEncrypted")):
        report("storageEncrypted is not true: encrypt the cluster storage (it cannot be turned on after creation)")
    if not get(args.props, "kmsKeyId"):
        report("kmsKeyId is not set: encrypt with the platform's customer-managed KMS key, not aws/rds")


@resource_policy(
    "rds-cluster-not-public",
    "RDS cluster instances and Multi-AZ DB clusters do not set publiclyAccessible true.",
    [RDS_CLUSTER, RDS_CLUSTER_INSTANCE],
    registry=POLICIES,
)
def _cluster_private(args: ResourceValidationArgs, report: Report) -> None:
    if is_true(get(args.props, "publiclyAccessible")):
        report("publiclyAccessible is true: keep the database on private subnets only (publiclyAccessible false)")


@resource_policy(
    "rds-cluster-deletion-protection-prod",
    "RDS clusters in prod set deletionProtection true.",
    [RDS_CLUSTER],
    config=("profile",),
    registry=POLICIES,
)
def _cluster_deletion(args: ResourceValidationArgs, report: Report) -> None:
    if profile_of(args) == "prod" and not is_true(get(args.props, "deletionProtection")):
        report("deletionProtection is not true in prod: turn it on")


@resource_policy(
    "rds-cluster-backups-enabled",
    "RDS clusters set backupRetentionPeriod to at least 1 day.",
    [RDS_CLUSTER],
    registry=POLICIES,
)
def _cluster_backups(args: ResourceValidationArgs, report: Report) -> None:
    days = get(args.props, "backupRetentionPeriod")
    if days is None:
        report("backupRetentionPeriod is not set: keep automated backups for 1 to 35 days")
    elif float(days) < 1:
        report(f"backupRetentionPeriod is {days!r}: keep automated backups for at least 1 day")


@resource_policy(
    "rds-cluster-iam-auth",
    "RDS clusters set iamDatabaseAuthenticationEnabled true.",
    [RDS_CLUSTER],
    level=ADVISORY,
    registry=POLICIES,
)
def _cluster_iam_auth(args: ResourceValidationArgs, report: Report) -> None:
    if not is_true(get(args.props, "iamDatabaseAuthenticationEnabled")):
        report("iamDatabaseAuthenticationEnabled is not true: let workloads sign in with IAM instead of passwords")


# --- EBS / EFS --------------------------------------------------------------------------------


@resource_policy(
    "ebs-volume-encrypted",
    "EBS volumes set encrypted true and name a customer-managed kmsKeyId.",
    [EBS_VOLUME],
    registry=POLICIES,
)
def _ebs_volume(args: ResourceValidationArgs, report: Report) -> None:
    if not is_true(get(args.props, "encrypted")):
        report("encrypted is not true: encrypt the volume (unset follows the account's EBS default)")
    if not get(args.props, "kmsKeyId"):
        report("kmsKeyId is not set: encrypt with the platform's customer-managed KMS key, not aws/ebs")


@resource_policy(
    "ebs-encryption-by-default",
    "EBS encryption-by-default settings do not set enabled false.",
    [EBS_ENCRYPTION_BY_DEFAULT],
    registry=POLICIES,
)
def _ebs_default(args: ResourceValidationArgs, report: Report) -> None:
    if _is_false(get(args.props, "enabled")):
        report("enabled is false: this turns off EBS encryption by default for the region; leave it true")


@resource_policy(
    "efs-encrypted",
    "EFS file systems set encrypted true and name a customer-managed kmsKeyId.",
    [EFS_FILE_SYSTEM],
    registry=POLICIES,
)
def _efs(args: ResourceValidationArgs, report: Report) -> None:
    if not is_true(get(args.props, "encrypted")):
        report("encrypted is not true: encrypt the file system (it cannot be turned on after creation)")
    if not get(args.props, "kmsKeyId"):
        report("kmsKeyId is not set: encrypt with the platform's customer-managed KMS key, not aws/elasticfilesystem")


# --- instance metadata ------------------------------------------------------------------------


def metadata_problems(options: Mapping[str, Any] | None, where: str, *, karpenter_defaults: bool) -> list[str]:
    """What is wrong with metadata options ``options`` (found at ``where``): IMDSv1 allowed or a hop limit above 1.

    With ``karpenter_defaults`` an unset field takes Karpenter's default (``required``, hop limit 1); otherwise an
    unset field is a problem, since EC2 then follows the AMI and the account defaults. An endpoint turned off
    (``httpEndpoint: disabled``) needs nothing else.
    """
    options = options if isinstance(options, Mapping) else {}
    if get(options, "httpEndpoint") == "disabled":
        return []
    problems: list[str] = []
    tokens = get(options, "httpTokens", "required" if karpenter_defaults else None)
    if tokens != "required":
        shown = "not set" if tokens is None else f"{tokens!r}"
        problems.append(f"{where}.httpTokens is {shown}: set 'required' so only IMDSv2 session requests are answered")
    hops = get(options, "httpPutResponseHopLimit", 1 if karpenter_defaults else None)
    if hops is None:
        problems.append(
            f"{where}.httpPutResponseHopLimit is not set: set 1 (Amazon Linux 2023 AMIs otherwise launch with 2, "
            "which lets pods read the node's credentials)"
        )
    elif float(hops) != 1:
        problems.append(
            f"{where}.httpPutResponseHopLimit is {int(float(hops))}: set 1 so pods cannot read the node's credentials "
            "(EKS Pod Identity and IRSA need no IMDS from pods)"
        )
    return problems


@resource_policy(
    "ec2-imdsv2-required",
    "Launch templates and EC2 instances set metadataOptions httpTokens 'required' and httpPutResponseHopLimit 1 "
    "(or httpEndpoint 'disabled'), and Karpenter EC2NodeClasses keep spec.metadataOptions at 'required' and 1.",
    [LAUNCH_TEMPLATE, EC2_INSTANCE, KARPENTER_NODE_CLASS],
    registry=POLICIES,
)
def _imdsv2(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == KARPENTER_NODE_CLASS:
        problems = metadata_problems(
            get(args.props, "spec.metadataOptions"), "spec.metadataOptions", karpenter_defaults=True
        )
    else:
        problems = metadata_problems(get(args.props, "metadataOptions"), "metadataOptions", karpenter_defaults=False)
        if problems and args.resource_type == EC2_INSTANCE and get(args.props, "launchTemplate") is not None:
            problems = [
                p + " (on the instance itself: its launch template's options are not visible here)" for p in problems
            ]
    for problem in problems:
        report(problem)


# --- EKS node groups --------------------------------------------------------------------------


@resource_policy(
    "eks-node-group-no-ssh",
    "EKS managed node groups have no remoteAccess (no SSH key, no SSH security group).",
    [EKS_NODE_GROUP],
    registry=POLICIES,
)
def _node_group_ssh(args: ResourceValidationArgs, report: Report) -> None:
    remote = get(args.props, "remoteAccess")
    if not isinstance(remote, Mapping) or not (get(remote, "ec2SshKey") or get(remote, "sourceSecurityGroupIds")):
        return
    if get(remote, "sourceSecurityGroupIds"):
        report("remoteAccess opens SSH (port 22) to the nodes: remove it and reach nodes with SSM Session Manager")
    else:
        report(
            "remoteAccess.ec2SshKey without sourceSecurityGroupIds opens SSH (port 22) to 0.0.0.0/0: remove "
            "remoteAccess and reach nodes with SSM Session Manager"
        )
