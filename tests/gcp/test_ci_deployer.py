"""The GCP CI identities: a workload identity pool whose provider admits only the spec's repository, a deploy account
impersonable by the exact deploy subjects with the roles of the services the stack creates, a read-only preview
account, and project IAM administration limited to the roles the stack itself grants."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_mlops.components.gcp import GcpPlatform, GcpPlatformArgs
from pulumi_mlops.components.gcp.ci_deployer import (
    BUCKET_ADMIN_PERMISSIONS,
    BUCKET_VIEW_PERMISSIONS,
    CI_SERVICES,
    DEPLOY_ROLES,
    GRANTABLE_PROJECT_ROLES,
    PREVIEW_ROLES,
    grants_condition,
)

from pulumi_mlops.preview import CapturedResource, PreviewResult, ResourceGraph, run_program
from pulumi_mlops.preview.mocks import GCP_PROJECT_NUMBER, PlatformMocks
from pulumi_mlops.spec import CONFIG_KEY, parse_spec

ROOT = Path(__file__).resolve().parents[2]
Previews = Callable[[str], PreviewResult]
POOL = "gcp:iam/workloadIdentityPool:WorkloadIdentityPool"
PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
SA_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
PROJECT = "acme-ml-prod"
DEPLOY = f"serviceAccount:mlops-gcp-prod-ci-deploy@{PROJECT}.iam.gserviceaccount.com"
PREVIEW = f"serviceAccount:mlops-gcp-prod-ci-preview@{PROJECT}.iam.gserviceaccount.com"


def _ci(graph: ResourceGraph, type_: str) -> list[CapturedResource]:
    return [r for r in graph.of_type(type_) if r.name.startswith("mlops-ci-")]


def _pool_path(graph: ResourceGraph) -> str:
    (pool,) = graph.of_type(POOL)
    return (
        f"projects/{GCP_PROJECT_NUMBER}/locations/global/workloadIdentityPools/{pool.props['workloadIdentityPoolId']}"
    )


def test_the_pool_provider_admits_only_the_repository(previews: Previews) -> None:
    graph = previews("gcp-prod").graph
    (pool,) = graph.of_type(POOL)
    assert pool.props["workloadIdentityPoolId"].startswith("mlops-gcp-prod-ci-")
    assert len(pool.props["workloadIdentityPoolId"]) <= 32
    (provider,) = graph.of_type(PROVIDER)
    assert provider.props["workloadIdentityPoolProviderId"] == "github"
    assert provider.props["oidc"] == {"issuerUri": "https://token.actions.githubusercontent.com"}
    assert provider.props["attributeCondition"] == "assertion.repository == 'acme/ml-platform'"
    assert provider.props["attributeMapping"] == {
        "google.subject": "assertion.sub",
        "attribute.repository": "assertion.repository",
    }
    outputs = graph.outputs["ciDeployer"]
    assert outputs["workloadIdentityProvider"] == f"{_pool_path(graph)}/providers/github"
    assert (outputs["deployServiceAccount"], outputs["previewServiceAccount"]) == (
        DEPLOY.removeprefix("serviceAccount:"),
        PREVIEW.removeprefix("serviceAccount:"),
    )


def test_only_the_exact_subjects_impersonate_the_accounts(previews: Previews) -> None:
    graph = previews("gcp-prod").graph
    pool = _pool_path(graph)
    bindings = {
        (b.props["serviceAccountId"].rsplit("/", 1)[1], b.props["role"], b.props["member"])
        for b in _ci(graph, SA_MEMBER)
    }
    assert bindings == {
        (
            DEPLOY.removeprefix("serviceAccount:"),
            "roles/iam.workloadIdentityUser",
            f"principal://iam.googleapis.com/{pool}/subject/repo:acme/ml-platform:environment:gcp-production",
        ),
        (
            PREVIEW.removeprefix("serviceAccount:"),
            "roles/iam.workloadIdentityUser",
            f"principal://iam.googleapis.com/{pool}/subject/repo:acme/ml-platform:pull_request",
        ),
    }


def test_the_deploy_account_has_the_service_roles_and_limited_iam_administration(previews: Previews) -> None:
    graph = previews("gcp-prod").graph
    deploy = {r.props["role"]: r.props for r in _ci(graph, PROJECT_MEMBER) if r.props["member"] == DEPLOY}
    custom = {r.name: r.props for r in graph.of_type(CUSTOM_ROLE)}
    bucket_role = f"projects/{PROJECT}/roles/{custom['mlops-ci-deploy-buckets-role']['roleId']}"
    assert set(deploy) == {
        *DEPLOY_ROLES.values(),
        "roles/iam.serviceAccountUser",
        "roles/iam.workloadIdentityPoolViewer",
        "roles/iam.roleViewer",
        "roles/compute.securityAdmin",
        "roles/resourcemanager.projectIamAdmin",
        bucket_role,
    }
    assert not {"roles/owner", "roles/editor", "roles/iam.workloadIdentityPoolAdmin", "roles/iam.roleAdmin"} & set(
        deploy
    )
    assert deploy["roles/resourcemanager.projectIamAdmin"]["condition"]["expression"] == grants_condition(
        GRANTABLE_PROJECT_ROLES
    )
    assert "condition" not in deploy["roles/container.admin"]
    assert custom["mlops-ci-deploy-buckets-role"]["permissions"] == list(BUCKET_ADMIN_PERMISSIONS)
    assert not [p for p in BUCKET_ADMIN_PERMISSIONS if p.startswith("storage.objects.") and p != "storage.objects.list"]
    audit = [r.props for r in _ci(graph, "gcp:storage/bucketIAMMember:BucketIAMMember")]
    assert audit == [
        {"bucket": graph.outputs["bucketNames"]["models"], "role": "roles/storage.objectCreator", "member": DEPLOY}
    ]


def test_the_preview_account_only_reads(previews: Previews) -> None:
    graph = previews("gcp-prod").graph
    roles = {r.props["role"] for r in _ci(graph, PROJECT_MEMBER) if r.props["member"] == PREVIEW}
    custom = {r.name: r.props for r in graph.of_type(CUSTOM_ROLE)}
    assert roles == {*PREVIEW_ROLES, f"projects/{PROJECT}/roles/{custom['mlops-ci-preview-buckets-role']['roleId']}"}
    assert all(r.endswith(("viewer", "Viewer", "reader", "Reviewer")) for r in PREVIEW_ROLES)
    assert custom["mlops-ci-preview-buckets-role"]["permissions"] == list(BUCKET_VIEW_PERMISSIONS)


def test_the_stack_grants_no_project_role_the_deployer_may_not(previews: Previews) -> None:
    for stack in ("gcp-dev", "gcp-prod"):
        graph = previews(stack).graph
        granted = {r.props["role"] for r in graph.of_type(PROJECT_MEMBER) if not r.name.startswith("mlops-ci-")}
        assert granted <= set(GRANTABLE_PROJECT_ROLES), granted - set(GRANTABLE_PROJECT_ROLES)
        modules = {r.type.split(":")[1].split("/")[0] for r in graph.resources.values() if r.type.startswith("gcp:")}
        missing = modules - {"storage", "iam", "index"} - set(DEPLOY_ROLES)
        assert not missing, f"{stack}: give the deploy account a role for {missing} (DEPLOY_ROLES, ci_deployer.py)"


def test_federation_apis_are_enabled_with_ci(previews: Previews) -> None:
    enabled = {r.props["service"] for r in previews("gcp-prod").graph.of_type("gcp:projects/service:Service")}
    assert set(CI_SERVICES) <= enabled
    without = {r.props["service"] for r in previews("gcp-dev").graph.of_type("gcp:projects/service:Service")}
    assert not set(CI_SERVICES) & without
    assert not _ci(previews("gcp-dev").graph, SA_MEMBER)


def _gitlab_graph() -> ResourceGraph:
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.gcp-prod.yaml").read_text())
    config: dict[str, Any] = copy.deepcopy(doc["config"])
    config[CONFIG_KEY]["ci"] = {"provider": "gitlab", "repository": "acme/ml/platform", "branches": ["main"]}
    spec = parse_spec(config[CONFIG_KEY])
    return run_program(
        lambda: GcpPlatform("mlops", GcpPlatformArgs(spec=spec)),
        config,
        stack="gcp-prod",
        mocks=PlatformMocks(region=spec.region, gcp_project=PROJECT),
    )


def test_gitlab_pins_the_project_path_and_the_protected_branch() -> None:
    graph = _gitlab_graph()
    (provider,) = graph.of_type(PROVIDER)
    assert provider.props["oidc"] == {"issuerUri": "https://gitlab.com"}
    assert provider.props["attributeCondition"] == "assertion.project_path == 'acme/ml/platform'"
    members = {b.name: b.props["member"] for b in _ci(graph, SA_MEMBER)}
    pool = _pool_path(graph)
    assert members == {
        "mlops-ci-deploy-0-wif": f"principal://iam.googleapis.com/{pool}/subject/"
        "project_path:acme/ml/platform:ref_type:branch:ref:main",
        "mlops-ci-preview-wif": f"principalSet://iam.googleapis.com/{pool}/attribute.project_path/acme/ml/platform",
    }


def test_an_aws_only_field_is_refused_on_gcp() -> None:
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.gcp-prod.yaml").read_text())
    raw = doc["config"][CONFIG_KEY]
    raw["ci"]["oidc_provider_arn"] = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    with pytest.raises(ValueError, match=r"ci\.oidc_provider_arn: an AWS IAM OIDC provider"):
        parse_spec(raw)
