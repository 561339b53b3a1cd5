"""Policies of ``aws_services``: silent on a valid baseline, firing when one field is broken.

The baselines are built with the provider SDK's own resource classes under mocks, so their props are the wire format
the engine sends (a policy reading a misspelt key fails the silent-baseline test).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest
from pulumi_mlops.policies import ALL_POLICIES, aws_services
from pulumi_policy import ResourceValidationPolicy

from pulumi_mlops.preview import PreviewResult, run_program

from .readiness import run as run_on_graph
from .test_resource_policies import DELETE, TAGS, Case, Props, _set, run

RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
EBS = "aws:ebs/volume:Volume"
EBS_DEFAULT = "aws:ebs/encryptionByDefault:EncryptionByDefault"
EFS = "aws:efs/fileSystem:FileSystem"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
EC2 = "aws:ec2/instance:Instance"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
NG = "aws:eks/nodeGroup:NodeGroup"
KEY = "arn:aws:kms:us-east-1:123456789012:key/0b6c5d1e-1111-2222-3333-444455556666"
DEV = {"profile": "dev"}


def _program() -> None:
    imds: dict[str, Any] = {"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1}
    aws.rds.Cluster(
        "aurora",
        engine="aurora-postgresql",
        storage_encrypted=True,
        kms_key_id=KEY,
        deletion_protection=True,
        backup_retention_period=7,
        iam_database_authentication_enabled=True,
        tags=TAGS,
    )
    aws.rds.ClusterInstance(
        "aurora-1",
        cluster_identifier="aurora",
        instance_class="db.r6g.large",
        engine=aws.rds.EngineType.AURORA_POSTGRESQL,
        publicly_accessible=False,
        tags=TAGS,
    )
    aws.ebs.Volume("data", availability_zone="us-east-1a", size=100, encrypted=True, kms_key_id=KEY, tags=TAGS)
    aws.ebs.EncryptionByDefault("ebs-default", enabled=True)
    aws.efs.FileSystem("shared", encrypted=True, kms_key_id=KEY, tags=TAGS)
    aws.ec2.LaunchTemplate(
        "nodes", metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(**imds), tags={**TAGS, "Name": "nodes"}
    )
    aws.ec2.Instance(
        "bastion",
        ami="ami-0123456789abcdef0",
        instance_type="t3.micro",
        metadata_options=aws.ec2.InstanceMetadataOptionsArgs(**imds),
        tags=TAGS,
    )
    k8s.apiextensions.CustomResource(
        "gpu",
        api_version="karpenter.k8s.aws/v1",
        kind="EC2NodeClass",
        metadata={"name": "gpu"},
        spec={
            "amiSelectorTerms": [{"alias": "al2023@latest"}],
            "role": "node-role",
            "metadataOptions": {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1},
        },
    )
    aws.eks.NodeGroup(
        "system",
        cluster_name="mlops",
        node_role_arn="arn:aws:iam::123456789012:role/nodes",
        subnet_ids=["subnet-1", "subnet-2"],
        instance_types=["m6i.xlarge"],
        scaling_config=aws.eks.NodeGroupScalingConfigArgs(min_size=2, max_size=4, desired_size=2),
        tags=TAGS,
    )


@pytest.fixture(scope="module")
def baselines() -> dict[str, Props]:
    graph = run_program(_program, {})
    return {r.type: r.props for r in graph.resources.values() if r.custom}


CASES = [
    Case("rds-cluster-storage-encrypted", RDS_CLUSTER, _set("storageEncrypted", False), "storageEncrypted is not"),
    Case("rds-cluster-storage-encrypted", RDS_CLUSTER, _set("kmsKeyId", DELETE), "kmsKeyId is not set", id="kms"),
    Case("rds-cluster-not-public", RDS_INSTANCE, _set("publiclyAccessible", True), "publiclyAccessible is true"),
    Case(
        "rds-cluster-not-public", RDS_CLUSTER, _set("publiclyAccessible", True), "publiclyAccessible is true", id="cl"
    ),
    Case(
        "rds-cluster-deletion-protection-prod",
        RDS_CLUSTER,
        _set("deletionProtection", False),
        "deletionProtection is not true in prod",
    ),
    Case("rds-cluster-backups-enabled", RDS_CLUSTER, _set("backupRetentionPeriod", 0.0), "backupRetentionPeriod is 0"),
    Case(
        "rds-cluster-backups-enabled",
        RDS_CLUSTER,
        _set("backupRetentionPeriod", DELETE),
        "backupRetentionPeriod is not set",
        id="unset",
    ),
    Case(
        "rds-cluster-iam-auth",
        RDS_CLUSTER,
        _set("iamDatabaseAuthenticationEnabled", DELETE),
        "iamDatabaseAuthenticationEnabled is not true",
    ),
    Case("ebs-volume-encrypted", EBS, _set("encrypted", False), "encrypted is not true"),
    Case("ebs-volume-encrypted", EBS, _set("kmsKeyId", DELETE), "kmsKeyId is not set", id="kms"),
    Case("ebs-encryption-by-default", EBS_DEFAULT, _set("enabled", False), "enabled is false"),
    Case("efs-encrypted", EFS, _set("encrypted", DELETE), "encrypted is not true"),
    Case("efs-encrypted", EFS, _set("kmsKeyId", DELETE), "kmsKeyId is not set", id="kms"),
    Case(
        "ec2-imdsv2-required",
        LT,
        _set("metadataOptions.httpTokens", "optional"),
        "metadataOptions.httpTokens is 'optional': set 'required'",
    ),
    Case(
        "ec2-imdsv2-required",
        LT,
        _set("metadataOptions.httpPutResponseHopLimit", 2.0),
        "metadataOptions.httpPutResponseHopLimit is 2: set 1",
        id="hop-limit",
    ),
    Case(
        "ec2-imdsv2-required",
        LT,
        _set("metadataOptions", DELETE),
        "metadataOptions.httpPutResponseHopLimit is not set",
        id="unset",
    ),
    Case(
        "ec2-imdsv2-required",
        EC2,
        _set("metadataOptions.httpTokens", "optional"),
        "metadataOptions.httpTokens is 'optional'",
        id="instance",
    ),
    Case(
        "ec2-imdsv2-required",
        NODE_CLASS,
        _set("spec.metadataOptions.httpTokens", "optional"),
        "spec.metadataOptions.httpTokens is 'optional'",
        id="node-class",
    ),
    Case(
        "ec2-imdsv2-required",
        NODE_CLASS,
        _set("spec.metadataOptions.httpPutResponseHopLimit", 2.0),
        "spec.metadataOptions.httpPutResponseHopLimit is 2",
        id="node-class-hop-limit",
    ),
    Case(
        "eks-node-group-no-ssh",
        NG,
        _set("remoteAccess", {"ec2SshKey": "ops"}),
        "without sourceSecurityGroupIds opens SSH (port 22) to 0.0.0.0/0",
    ),
    Case(
        "eks-node-group-no-ssh",
        NG,
        _set("remoteAccess", {"ec2SshKey": "ops", "sourceSecurityGroupIds": ["sg-1"]}),
        "remoteAccess opens SSH (port 22)",
        id="security-group",
    ),
]

MODULE_POLICIES = sorted(p.name for p in aws_services.POLICIES)
RESOURCE_POLICIES = sorted(p.name for p in ALL_POLICIES if isinstance(p, ResourceValidationPolicy))


def _case_id(case: Case) -> str:
    return f"{case.policy}{'-' + case.id if case.id else ''}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_policy_is_silent_on_the_baseline(baselines: dict[str, Props], case: Case) -> None:
    assert run(case.policy, case.type, baselines[case.type], case.config) == []


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_policy_fires_on_the_broken_field(baselines: dict[str, Props], case: Case) -> None:
    type_, props = case.mutation(case.type, copy.deepcopy(baselines[case.type]))
    messages = run(case.policy, type_, props, case.config)
    assert any(case.fragment in m for m in messages), messages


def test_every_policy_of_the_module_has_a_case() -> None:
    assert sorted({c.policy for c in CASES}) == MODULE_POLICIES


def test_baselines_pass_every_policy_of_the_pack(baselines: dict[str, Props]) -> None:
    assert set(baselines) == set(aws_services.RESOURCE_TYPES)
    for type_, props in baselines.items():
        for name in RESOURCE_POLICIES:
            assert run(name, type_, props, {"environment": "prod"}) == [], (name, type_)


def test_deletion_protection_is_required_in_prod_only(baselines: dict[str, Props]) -> None:
    props = {**baselines[RDS_CLUSTER], "deletionProtection": False}
    assert run("rds-cluster-deletion-protection-prod", RDS_CLUSTER, props, DEV) == []
    assert run("rds-cluster-deletion-protection-prod", RDS_CLUSTER, props, {}) != []


def test_a_disabled_metadata_endpoint_needs_no_tokens(baselines: dict[str, Props]) -> None:
    props = {**baselines[LT], "metadataOptions": {"httpEndpoint": "disabled"}}
    assert run("ec2-imdsv2-required", LT, props, {}) == []


def test_node_classes_may_rely_on_karpenters_defaults(baselines: dict[str, Props]) -> None:
    props = copy.deepcopy(baselines[NODE_CLASS])
    del props["spec"]["metadataOptions"]
    assert run("ec2-imdsv2-required", NODE_CLASS, props, {}) == []
    template = {k: v for k, v in baselines[LT].items() if k != "metadataOptions"}
    assert len(run("ec2-imdsv2-required", LT, template, {})) == 2  # EC2 has no such defaults: tokens and hop limit


def test_an_instance_must_not_lean_on_an_unseen_launch_template(baselines: dict[str, Props]) -> None:
    props = {k: v for k, v in baselines[EC2].items() if k != "metadataOptions"}
    props["launchTemplate"] = {"id": "lt-0123456789abcdef0", "version": "$Latest"}
    messages = run("ec2-imdsv2-required", EC2, props, {})
    assert messages and all("its launch template's options are not visible here" in m for m in messages)


def test_an_empty_remote_access_block_opens_nothing(baselines: dict[str, Props]) -> None:
    assert run("eks-node-group-no-ssh", NG, {**baselines[NG], "remoteAccess": {}}, {}) == []


def test_the_aws_stacks_own_resources_pass(previews: Callable[[str], PreviewResult]) -> None:
    result = previews("dev")
    checked = {r.type for r in result.graph.resources.values()} & set(aws_services.RESOURCE_TYPES)
    assert {NODE_CLASS, NG} <= checked  # the stack's Karpenter node classes and system node group are checked
    report = run_on_graph(result.graph, result.spec, *MODULE_POLICIES)
    assert report.violations == []
