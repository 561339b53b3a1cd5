"""Policy documents read once (policyuniverse underneath): public resource policies, trust policies, and the same
meaning spelled differently (partial wildcards, NotResource, every-resource ARNs, other partitions, managed policies
attached another way, CIDRs that together open the internet, TLS denies on the wrong bucket).

Each test starts from a baseline the policy passes and changes one thing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .test_resource_policies import TLS_DENY, run

BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
ROLE = "aws:iam/role:Role"
POLICY = "aws:iam/policy:Policy"
PUBLIC = "aws-resource-policy-not-public"
TRUST = "iam-role-trust-not-public"
ACCOUNT = "123456789012"


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(principal: Any, action: Any = "s3:GetObject", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": "arn:aws:s3:::b/*", **extra}


ROLE_READ = allow({"AWS": f"arn:aws:iam::{ACCOUNT}:role/mlops-trainer"}, Sid="TrainerReads")


# --- resource-based policies -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "field"),
    [
        (BUCKET_POLICY, "policy"),
        ("aws:ecr/repositoryPolicy:RepositoryPolicy", "policy"),
        ("aws:kms/key:Key", "policy"),
        ("aws:secretsmanager/secretPolicy:SecretPolicy", "policy"),
        ("aws:sqs/queuePolicy:QueuePolicy", "policy"),
        ("aws:s3/bucket:Bucket", "policy"),
    ],
)
def test_a_public_allow_is_flagged_in_every_kind_of_resource_policy(type_: str, field: str) -> None:
    assert run(PUBLIC, type_, {field: doc(TLS_DENY, ROLE_READ)}, {}) == []
    [message] = run(PUBLIC, type_, {field: doc(TLS_DENY, ROLE_READ, allow({"AWS": "*"}))}, {})
    assert message.startswith(f"{field} Statement[2] allows anyone s3:getobject")


def test_a_tls_deny_beside_the_public_grant_does_not_hide_it() -> None:
    secure_only = allow("*", Condition={"Bool": {"aws:SecureTransport": "true"}}, Sid="PublicOverTls")
    [message] = run(PUBLIC, BUCKET_POLICY, {"bucket": "b", "policy": doc(TLS_DENY, secure_only)}, {})
    assert "statement 'PublicOverTls' allows anyone s3:getobject" in message
    assert "aws:SourceVpce" in message, "the message says which conditions would exempt it"


@pytest.mark.parametrize(
    "condition",
    [
        {"StringEquals": {"aws:SourceVpce": "vpce-0a1b2c3d"}},
        {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}},
        {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        {"ArnLike": {"aws:SourceArn": f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/t"}},
        {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    ],
)
def test_conditions_that_limit_the_callers_exempt_a_star_principal(condition: dict[str, Any]) -> None:
    policy = doc(TLS_DENY, allow("*", Condition=condition))
    assert run(PUBLIC, BUCKET_POLICY, {"bucket": "b", "policy": policy}, {}) == []


@pytest.mark.parametrize(
    "condition",
    [
        {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}},
        {"StringLike": {"s3:prefix": "public/*"}},
        {"DateGreaterThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}},
    ],
)
def test_conditions_that_do_not_limit_the_callers_leave_it_public(condition: dict[str, Any]) -> None:
    policy = doc(allow("*", Condition=condition))
    assert run(PUBLIC, BUCKET_POLICY, {"bucket": "b", "policy": policy}, {})


def test_not_principal_allows_everyone_else() -> None:
    st = {"Effect": "Allow", "NotPrincipal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/x"}, "Action": "kms:Decrypt"}
    [message] = run(PUBLIC, "aws:kms/key:Key", {"policy": doc({**st, "Resource": "*"})}, {})
    assert "allows every principal but the ones named (NotPrincipal) kms:decrypt" in message


def test_a_wildcard_action_grant_is_summarised() -> None:
    [message] = run(PUBLIC, BUCKET_POLICY, {"policy": doc(allow("*", "s3:*"))}, {})
    assert " and " in message and "more:" in message


# --- trust policies -------------------------------------------------------------------------


def trust(principal: Any, **extra: Any) -> dict[str, Any]:
    return {"assumeRolePolicy": doc({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", **extra})}


def test_a_service_principal_trust_passes() -> None:
    assert run(TRUST, ROLE, trust({"Service": "pods.eks.amazonaws.com"}), {}) == []


@pytest.mark.parametrize(
    "condition",
    [None, {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}, {"Bool": {"aws:MultiFactorAuthPresent": "true"}}],
)
def test_any_aws_principal_is_flagged_whatever_the_condition(condition: dict[str, Any] | None) -> None:
    extra = {"Condition": condition} if condition else {}
    for principal in ("*", {"AWS": "*"}):
        [message] = run(TRUST, ROLE, trust(principal, **extra), {})
        assert "trusts Principal '*' (any AWS principal; a condition does not make that safe)" in message


@pytest.mark.parametrize(
    "principal", [f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT, "arn:aws-us-gov:iam::210987654321:root"]
)
def test_an_account_root_is_flagged_unless_the_account_is_trusted(principal: str) -> None:
    account = principal.split(":")[4] if principal.startswith("arn:") else principal
    [message] = run(TRUST, ROLE, trust({"AWS": principal}), {})
    assert f"trusts the root of account {account}" in message and "trustedAccounts" in message
    assert run(TRUST, ROLE, trust({"AWS": principal}), {"trustedAccounts": [account]}) == []


def test_a_named_role_of_another_account_is_not_a_root() -> None:
    assert run(TRUST, ROLE, trust({"AWS": "arn:aws:iam::210987654321:role/deployer"}), {}) == []


# --- evasions of the identity rules -----------------------------------------------------------


def identity(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"policy": doc(*statements)}


def test_a_partial_wildcard_that_reaches_pass_role_is_flagged() -> None:
    scoped = {"Effect": "Allow", "Action": "iam:Pass*", "Resource": f"arn:aws:iam::{ACCOUNT}:role/mlops-*"}
    [message] = run("iam-no-wildcard-actions", POLICY, identity(scoped), {})
    assert "allows iam:Pass*, which matches iam:passrole (a privilege escalation)" in message
    named = {**scoped, "Action": "iam:PassRole"}
    assert run("iam-no-wildcard-actions", POLICY, identity(named), {}) == []
    reads = {**scoped, "Action": "iam:Get*"}
    assert run("iam-no-wildcard-actions", POLICY, identity(reads), {}) == [], "a read wildcard escalates nothing"


def test_not_resource_counts_as_every_other_resource() -> None:
    st = {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::secret/*"}
    [message] = run("iam-no-wildcard-resources", POLICY, identity(st), {})
    assert "on NotResource, every resource but the ones listed" in message


@pytest.mark.parametrize("resource", ["arn:aws:s3:::*", "arn:aws:s3:::*/*", "arn:*:*:*:*:*", "arn:aws-cn:s3:::*"])
def test_an_arn_that_names_every_resource_counts_as_star(resource: str) -> None:
    st = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": resource}
    [message] = run("iam-no-wildcard-resources", POLICY, identity(st), {})
    assert f"{resource} (every such resource, like '*')" in message
    scoped = {**st, "Resource": "arn:aws:s3:::mlops-prod-models/*"}
    assert run("iam-no-wildcard-resources", POLICY, identity(scoped), {}) == []


@pytest.mark.parametrize(
    ("type_", "props"),
    [
        (ROLE, {"assumeRolePolicy": doc(), "managedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]}),
        (
            "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
            {
                "roleName": "r",
                "policyArns": [
                    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
                    "arn:aws:iam::aws:policy/AdministratorAccess",
                ],
            },
        ),
        (
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            {"role": "r", "policyArn": "arn:aws-us-gov:iam::aws:policy/AdministratorAccess"},
        ),
    ],
    ids=["managed-policy-arns", "exclusive-attachments", "gov-partition"],
)
def test_admin_policies_attached_any_way_are_flagged(type_: str, props: dict[str, Any]) -> None:
    [message] = run("iam-no-admin-managed-policies", type_, props, {})
    assert message.startswith("AdministratorAccess attached")


def test_a_role_with_only_node_policies_passes() -> None:
    props = {"assumeRolePolicy": doc(), "managedPolicyArns": ["arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"]}
    assert run("iam-no-admin-managed-policies", ROLE, props, {}) == []


# --- networks and TLS --------------------------------------------------------------------------

HALVES = ["0.0.0.0/1", "128.0.0.0/1"]


def test_cidrs_that_together_open_the_internet_are_flagged() -> None:
    rule = {"protocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrBlocks": ["10.0.0.0/8"]}
    assert run("security-group-no-open-ingress", "aws:ec2/securityGroup:SecurityGroup", {"ingress": [rule]}, {}) == []
    rule["cidrBlocks"] = HALVES
    [message] = run("security-group-no-open-ingress", "aws:ec2/securityGroup:SecurityGroup", {"ingress": [rule]}, {})
    assert "allows ports 22-22" in message
    firewall = {"direction": "INGRESS", "sourceRanges": HALVES, "allows": [{"protocol": "tcp", "ports": ["22"]}]}
    assert run("gcp-firewall-no-open-ingress", "gcp:compute/firewall:Firewall", firewall, {})
    eks = {"vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": HALVES}}
    assert run("eks-public-access-cidrs", "aws:eks/cluster:Cluster", eks, {})


def test_gke_authorized_networks_flag_google_public_ranges_and_split_internet() -> None:
    cluster = {"masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": "10.0.0.0/8"}]}}
    assert run("gke-master-authorized-networks", "gcp:container/cluster:Cluster", cluster, {}) == []
    cluster["masterAuthorizedNetworksConfig"]["gcpPublicCidrsAccessEnabled"] = True
    [message] = run("gke-master-authorized-networks", "gcp:container/cluster:Cluster", cluster, {})
    assert "gcpPublicCidrsAccessEnabled is true" in message
    split = {"masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": c} for c in HALVES]}}
    assert run("gke-master-authorized-networks", "gcp:container/cluster:Cluster", split, {})


def test_a_tls_deny_on_one_action_or_another_bucket_does_not_count() -> None:
    assert run("s3-bucket-tls-only", BUCKET_POLICY, {"bucket": "b", "policy": doc(TLS_DENY)}, {}) == []
    one_action = {**TLS_DENY, "Action": "s3:GetObject"}
    [message] = run("s3-bucket-tls-only", BUCKET_POLICY, {"bucket": "b", "policy": doc(one_action)}, {})
    assert "does not cover every action (s3:*) on arn:aws:s3:::b" in message
    other = {**TLS_DENY, "Resource": ["arn:aws:s3:::other", "arn:aws:s3:::other/*"]}
    assert run("s3-bucket-tls-only", BUCKET_POLICY, {"bucket": "b", "policy": doc(other)}, {})
    bucket_only = {**TLS_DENY, "Resource": "arn:aws:s3:::b"}
    assert run("s3-bucket-tls-only", BUCKET_POLICY, {"bucket": "b", "policy": doc(bucket_only)}, {}), "objects too"


# --- the registry allow-list ---------------------------------------------------------------------


def test_an_allow_list_wildcard_stays_within_one_path_segment() -> None:
    from pulumi_mlops.policies.kubernetes import registry_allowed

    allowed = ["*.dkr.ecr.us-east-1.amazonaws.com/mlops-prod/", "ghcr.io/pulumi-mlops/"]
    assert registry_allowed("123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-prod/serving:1.0", allowed)
    assert registry_allowed("ghcr.io/pulumi-mlops/runtime:0.1.0", allowed)
    assert not registry_allowed("evil.example/x.dkr.ecr.us-east-1.amazonaws.com/mlops-prod/serving:1.0", allowed)
    assert not registry_allowed("123456789012.dkr.ecr.us-east-1.amazonaws.com/other/mlops-prod/x:1", allowed)
    assert not registry_allowed("ghcr.io/pulumi-mlops-evil/runtime:0.1.0", allowed)
