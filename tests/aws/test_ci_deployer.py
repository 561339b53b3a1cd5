"""The AWS CI identities: OIDC trust pinned to the spec's subjects, deploy permissions that cover what the stacks
create and nothing of their data, a read-only preview role; decided with the pack's own IAM evaluator."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_support import run_platform, stack_raw
from pulumi_mlops.components.aws.ci_permissions import (
    ATTACHABLE_MANAGED_POLICIES,
    REGIONAL_DEPLOY_ACTIONS,
)
from pulumi_mlops.components.aws.cluster import CLUSTER_ADMIN_POLICY
from pulumi_mlops.policies._iam import Document, Request, evaluate

from pulumi_mlops.preview import PreviewResult, ResourceGraph
from pulumi_mlops.spec import SpecError, parse_spec

Previews = Callable[[str], PreviewResult]
OIDC = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
ROLE = "aws:iam/role:Role"
ENTRY = "aws:eks/accessEntry:AccessEntry"
ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
HOST = "token.actions.githubusercontent.com"
ACCOUNT = "123456789012"
MODELS = f"arn:aws:s3:::mlops-staging-models-{ACCOUNT}-us-east-1"


def _trust(graph: ResourceGraph, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(graph.named(name).props["assumeRolePolicy"])
    assert len(doc["Statement"]) == 1
    statement: dict[str, Any] = doc["Statement"][0]
    return statement


def _policy(graph: ResourceGraph, name: str) -> list[Document]:
    return [Document(name, json.loads(graph.named(name).props["policy"]))]


def _allowed(docs: list[Document], action: str, resource: str = "*", **context: str) -> bool:
    ctx = {"aws:RequestedRegion": "us-east-1", **context}
    return evaluate(Request(action, resource, context=ctx), docs).allowed


def test_staging_trusts_github_for_its_environment_and_pull_requests(previews: Previews) -> None:
    graph = previews("staging").graph
    (provider,) = graph.of_type(OIDC)
    assert provider.props["url"] == f"https://{HOST}"
    assert provider.props["clientIdLists"] == ["sts.amazonaws.com"]
    federated = {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}"}
    for name, sub in [
        ("mlops-ci-deploy", "repo:acme/ml-platform:environment:staging"),
        ("mlops-ci-preview", "repo:acme/ml-platform:pull_request"),
    ]:
        assert _trust(graph, name) == {
            "Effect": "Allow",
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": federated,
            "Condition": {"StringEquals": {f"{HOST}:aud": "sts.amazonaws.com", f"{HOST}:sub": sub}},
        }
    deploy, preview = graph.named("mlops-ci-deploy").props, graph.named("mlops-ci-preview").props
    assert (deploy["name"], deploy["maxSessionDuration"]) == ("mlops-staging-ci-deploy", 7200.0)
    assert (preview["name"], preview["maxSessionDuration"]) == ("mlops-staging-ci-preview", 3600.0)
    assert graph.outputs["ciDeployer"] == {
        "provider": "github",
        "repository": "acme/ml-platform",
        "deployRoleArn": f"arn:aws:iam::{ACCOUNT}:role/mlops-staging-ci-deploy",
        "previewRoleArn": f"arn:aws:iam::{ACCOUNT}:role/mlops-staging-ci-preview",
        "oidcProviderArn": federated["Federated"],
        "region": "us-east-1",
    }


def test_cluster_access_admin_for_deploy_view_for_preview(previews: Previews) -> None:
    graph = previews("staging").graph
    entries = {r.name: r.props for r in graph.of_type(ENTRY) if r.name.startswith("mlops-ci-")}
    assert {n: (p["principalArn"], p["type"]) for n, p in entries.items()} == {
        "mlops-ci-deploy-access": (f"arn:aws:iam::{ACCOUNT}:role/mlops-staging-ci-deploy", "STANDARD"),
        "mlops-ci-preview-access": (f"arn:aws:iam::{ACCOUNT}:role/mlops-staging-ci-preview", "STANDARD"),
    }
    policies = {r.name: r.props for r in graph.of_type(ASSOCIATION) if r.name.startswith("mlops-ci-")}
    assert policies["mlops-ci-deploy-access-policy"]["policyArn"] == CLUSTER_ADMIN_POLICY
    assert policies["mlops-ci-preview-access-policy"]["policyArn"].endswith("/AmazonEKSViewPolicy")
    assert {p["clusterName"] for p in policies.values()} == {"mlops-staging-eks"}
    assert all(p["accessScope"] == {"type": "cluster"} for p in policies.values())


@pytest.mark.parametrize(
    ("action", "resource", "context", "allowed"),
    [
        ("ec2:CreateVpc", "*", {}, True),
        ("ec2:CreateVpc", "*", {"aws:RequestedRegion": "eu-west-1"}, False),
        ("eks:CreateCluster", "*", {}, True),
        ("ecr:PutImage", "*", {}, True),
        ("ec2:RunInstances", "*", {}, False),
        ("ec2:CreatePlacementGroup", "*", {}, True),
        ("ec2:DeletePlacementGroup", "*", {}, True),
        ("ec2:DescribePlacementGroups", "*", {}, True),
        ("ec2:CreatePlacementGroup", "*", {"aws:RequestedRegion": "eu-west-1"}, False),
        ("iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/mlops-identity-trainer-0123456", {}, True),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/mlops-cluster-node-role-0123456", {}, True),
        ("iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/other-team-role", {}, False),
        ("iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/mlops-staging-ci-deploy", {}, False),
        ("iam:UpdateAssumeRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/mlops-staging-ci-preview", {}, False),
        ("iam:DeleteOpenIDConnectProvider", f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}", {}, False),
        ("iam:CreateOpenIDConnectProvider", f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.x", {}, True),
        (
            "iam:AttachRolePolicy",
            f"arn:aws:iam::{ACCOUNT}:role/mlops-cluster-role-1",
            {"iam:PolicyARN": "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"},
            True,
        ),
        (
            "iam:AttachRolePolicy",
            f"arn:aws:iam::{ACCOUNT}:role/mlops-cluster-role-1",
            {"iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"},
            False,
        ),
        ("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/mlops-x", {}, False),
        ("s3:CreateBucket", "arn:aws:s3:::mlops-staging-models-1-us-east-1", {}, True),
        ("s3:CreateBucket", "arn:aws:s3:::mlops-prod-models-1-us-east-1", {}, False),
        ("s3:GetObject", f"{MODELS}/mlflow/1/model.pkl", {}, False),
        ("s3:PutObject", f"{MODELS}/audit/churn/x.json", {}, True),
        ("s3:PutObject", f"{MODELS}/mlflow/1/model.pkl", {}, False),
        ("kms:Decrypt", "*", {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}, True),
        ("kms:Decrypt", "*", {}, False),
        ("kms:CreateGrant", "*", {"kms:GrantIsForAWSResource": "true"}, True),
        ("kms:CreateGrant", "*", {}, False),
        ("iam:CreateServiceLinkedRole", f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/x", {}, False),
        (
            "iam:CreateServiceLinkedRole",
            f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS",
            {"iam:AWSServiceName": "eks.amazonaws.com"},
            True,
        ),
    ],
)
def test_the_deploy_role_may_do_what_up_needs_and_nothing_of_the_data(
    previews: Previews, action: str, resource: str, context: dict[str, str], allowed: bool
) -> None:
    docs = _policy(previews("staging").graph, "mlops-ci-deploy-policy")
    assert _allowed(docs, action, resource, **context) is allowed


@pytest.mark.parametrize(
    ("action", "resource", "allowed"),
    [
        ("ec2:DescribeVpcs", "*", True),
        ("eks:DescribeCluster", "*", True),
        ("ecr:GetAuthorizationToken", "*", True),
        ("iam:GetRole", f"arn:aws:iam::{ACCOUNT}:role/mlops-identity-trainer-1", True),
        ("ec2:CreateVpc", "*", False),
        ("ec2:DescribePlacementGroups", "*", True),
        ("ec2:CreatePlacementGroup", "*", False),
        ("ecr:PutImage", "*", False),
        ("secretsmanager:GetSecretValue", "*", False),
        ("kms:Decrypt", "*", False),
        ("s3:GetObject", f"{MODELS}/mlflow/1/model.pkl", False),
        ("iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/mlops-identity-trainer-1", False),
    ],
)
def test_the_preview_role_reads_metadata_only(previews: Previews, action: str, resource: str, allowed: bool) -> None:
    assert _allowed(_policy(previews("staging").graph, "mlops-ci-preview-policy"), action, resource) is allowed


ZONE = "Z0123456789ABCDEFGHIJ"


def _requested_certificate() -> dict[str, Any]:
    """prod with a certificate the stack requests and validates in its Route 53 zone."""
    raw = stack_raw("prod")
    raw["ingress"]["tls"] = {"domain": "ml.example.com", "hosted_zone_id": ZONE}
    return raw


def _aws_graphs(previews: Previews) -> list[ResourceGraph]:
    node_groups = stack_raw("prod")
    node_groups["autoscaler"] = "cluster-autoscaler"
    for pool in node_groups["gpu_pools"]:
        for karpenter_only in ("single_zone", "efa"):
            pool.pop(karpenter_only, None)
    irsa = stack_raw("staging")
    irsa["cluster"]["workload_identity"] = "irsa"
    variants = [run_platform(raw)[1] for raw in (node_groups, irsa, _requested_certificate())]
    return [previews(s).graph for s in ("dev", "staging", "prod")] + variants


def test_the_deploy_role_writes_validation_records_in_the_stack_zone_only() -> None:
    _, graph, _ = run_platform(_requested_certificate())
    assert graph.of_type("aws:route53/record:Record") and graph.of_type("aws:acm/certificate:Certificate")
    docs = _policy(graph, "mlops-ci-deploy-policy")
    assert _allowed(docs, "acm:RequestCertificate")
    assert _allowed(docs, "route53:ChangeResourceRecordSets", f"arn:aws:route53:::hostedzone/{ZONE}")
    assert not _allowed(docs, "route53:ChangeResourceRecordSets", "arn:aws:route53:::hostedzone/ZOTHERZONE")
    assert _allowed(docs, "route53:GetChange", "arn:aws:route53:::change/C123")
    imported = _policy(run_platform(stack_raw("prod"))[1], "mlops-ci-deploy-policy")
    assert not _allowed(imported, "route53:ChangeResourceRecordSets", f"arn:aws:route53:::hostedzone/{ZONE}"), (
        "a stack that imports its certificate writes no DNS records"
    )


def test_the_deploy_permissions_cover_every_aws_resource_the_stacks_create(previews: Previews) -> None:
    graphs = _aws_graphs(previews)
    modules = {
        r.type.split(":")[1].split("/")[0] for g in graphs for r in g.resources.values() if r.type.startswith("aws:")
    }
    missing = modules - {"iam", "s3", "route53", "index"} - set(REGIONAL_DEPLOY_ACTIONS)
    assert not missing, f"add the actions of {missing} to REGIONAL_DEPLOY_ACTIONS (components/aws/ci_permissions.py)"
    docs = _policy(previews("staging").graph, "mlops-ci-deploy-policy")
    for graph in graphs:
        for res in graph.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
            arn = res.props["policyArn"]
            assert arn in ATTACHABLE_MANAGED_POLICIES, f"{res.name} attaches {arn}, which the deploy role may not"
        for res in graph.of_type(ROLE):
            if res.name.startswith("mlops-ci-"):
                continue
            arn = f"arn:aws:iam::{ACCOUNT}:role/{res.name}-0123456"  # autonamed from the logical name
            assert _allowed(docs, "iam:CreateRole", arn) and _allowed(docs, "iam:PutRolePolicy", arn), res.name


def test_an_existing_oidc_provider_is_named_not_created() -> None:
    raw = stack_raw("prod")
    arn = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}"
    raw["ci"]["oidc_provider_arn"] = arn
    _, graph, _ = run_platform(raw)
    assert graph.of_type(OIDC) == []
    assert _trust(graph, "mlops-ci-deploy")["Principal"] == {"Federated": arn}
    assert graph.named("mlops-ci-deploy").props["name"] == "mlops-prod-ci-deploy"
    deny = [
        s
        for s in json.loads(graph.named("mlops-ci-deploy-policy").props["policy"])["Statement"]
        if s["Effect"] == "Deny"
    ]
    assert arn in deny[0]["Resource"], "the shared provider is never changed by the pipeline"


def test_gitlab_trusts_protected_branches_and_previews_any_branch_of_the_project() -> None:
    raw = stack_raw("staging")
    raw["ci"] = {"provider": "gitlab", "repository": "acme/ml/platform", "branches": ["main"]}
    _, graph, _ = run_platform(raw)
    (provider,) = graph.of_type(OIDC)
    assert provider.props["url"] == "https://gitlab.com"
    assert _trust(graph, "mlops-ci-deploy")["Condition"] == {
        "StringEquals": {
            "gitlab.com:aud": "sts.amazonaws.com",
            "gitlab.com:sub": "project_path:acme/ml/platform:ref_type:branch:ref:main",
        }
    }
    assert _trust(graph, "mlops-ci-preview")["Condition"] == {
        "StringEquals": {"gitlab.com:aud": "sts.amazonaws.com"},
        "StringLike": {"gitlab.com:sub": "project_path:acme/ml/platform:ref_type:branch:ref:*"},
    }


def test_without_ci_no_identity_is_created(previews: Previews) -> None:
    graph = previews("dev").graph
    assert [r.name for r in graph.resources.values() if r.name.startswith("mlops-ci")] == []
    assert "ciDeployer" not in graph.outputs


@pytest.mark.parametrize(
    ("ci", "message"),
    [
        ({"repository": "acme"}, "platform.ci.repository: 'acme' is not a github repository path"),
        ({"repository": "acme/app", "environments": ["prod*"]}, "ci.environments: [0] 'prod*' is not an exact name"),
        ({"repository": "acme/app"}, "name the GitHub environments"),
        (
            {"provider": "gitlab", "repository": "acme/app", "environments": ["production"]},
            "ci.environments: GitLab's OIDC subject names the branch",
        ),
        (
            {"repository": "acme/app", "branches": ["main"], "oidc_provider_arn": "arn:aws:iam::1:oidc-provider/x"},
            "ci.oidc_provider_arn: 'arn:aws:iam::1:oidc-provider/x' is not the IAM OIDC provider of https://token",
        ),
        (
            {"provider": "gitlab", "repository": "acme/app", "branches": ["main"], "gitlab_url": "http://gitlab.acme"},
            "ci.gitlab_url: 'http://gitlab.acme' is not a GitLab URL",
        ),
    ],
    ids=["repository", "wildcard", "nothing-deploys", "gitlab-environments", "provider-arn", "gitlab-url"],
)
def test_a_bad_ci_section_names_the_field_and_the_fix(ci: dict[str, Any], message: str) -> None:
    raw = stack_raw("staging")
    raw["ci"] = ci
    with pytest.raises(SpecError) as err:
        parse_spec(raw)
    assert message in str(err.value)
