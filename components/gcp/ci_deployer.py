"""The Google identities CI uses for a GCP stack: Workload Identity Federation from GitHub Actions or GitLab.

A workload identity pool with one OIDC provider for the CI issuer, whose attribute condition admits only ID tokens
of the spec's repository, and two service accounts the pipelines impersonate:

- ``<stem>-ci-deploy``: ``pulumi up`` of the stack, impersonable only by the exact OIDC subjects of the deployment
  environments or branches (``principal://.../subject/<sub>``); the predefined admin roles of the services the
  stack creates (:data:`DEPLOY_ROLES`), bucket administration through a custom role (no object access), and
  project IAM administration limited to the roles the stack grants (:data:`GRANTABLE_PROJECT_ROLES`, an IAM
  condition on ``iam.googleapis.com/modifiedGrantsByRole``);
- ``<stem>-ci-preview`` (``ci.preview``): ``pulumi preview`` of pull requests (GitHub's pull-request subject) or of
  the project's merge-request pipelines (GitLab, ``principalSet://.../attribute.project_path/<project>``), with the
  predefined viewer roles and bucket metadata reads.

The deploy account is given no role over workload identity pools and custom roles, so it can neither widen the
pool's condition nor its own bucket role: a change of ``ci`` is applied by an administrator. Pool and custom role
ids carry a random suffix: Google keeps deleted ones for 30 days and refuses to reuse their ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

from pulumi_mlops.spec import CiSpec

from .cluster import CLUSTER_ADMIN_ROLE
from .identity import account_id
from .node_identity import NODE_ROLES

__all__ = [
    "BUCKET_ADMIN_PERMISSIONS",
    "BUCKET_VIEW_PERMISSIONS",
    "CI_SERVICES",
    "DEPLOY_ROLES",
    "GRANTABLE_PROJECT_ROLES",
    "PREVIEW_ROLES",
    "CiDeployer",
    "CiDeployerArgs",
    "attribute_condition",
    "grants_condition",
]

CI_SERVICES = ("sts.googleapis.com", "iamcredentials.googleapis.com")
"""APIs Workload Identity Federation needs besides IAM: the token exchange and service account impersonation."""

DEPLOY_ROLES: dict[str, str] = {
    "compute": "roles/compute.networkAdmin",
    "container": "roles/container.admin",
    "sql": "roles/cloudsql.admin",
    "redis": "roles/redis.admin",
    "secretmanager": "roles/secretmanager.admin",
    "kms": "roles/cloudkms.admin",
    "artifactregistry": "roles/artifactregistry.admin",
    "serviceaccount": "roles/iam.serviceAccountAdmin",
    "servicenetworking": "roles/servicenetworking.networksAdmin",
    "projects": "roles/serviceusage.serviceUsageAdmin",
    "certificatemanager": "roles/certificatemanager.editor",
}
"""Project role of the deploy account for the resources of each module of a ``gcp:<module>/...`` type token
(``projects`` covers the APIs it enables; its project IAM grants go through :data:`GRANTABLE_PROJECT_ROLES`)."""

DEPLOY_EXTRA_ROLES = (
    "roles/iam.serviceAccountUser",
    "roles/iam.workloadIdentityPoolViewer",
    "roles/iam.roleViewer",
    "roles/compute.securityAdmin",
)
"""Acting as the node service account when creating node pools, reading (never changing) the CI pool and the
custom roles, and firewall rules (Kueue's webhook rule; ``roles/compute.networkAdmin`` excludes them)."""

GRANTABLE_PROJECT_ROLES: tuple[str, ...] = (*NODE_ROLES, CLUSTER_ADMIN_ROLE)
"""The only project roles the deploy account may grant or revoke: the node service account's and
``cluster.admin_principals``' (``roles/container.admin``)."""

PREVIEW_ROLES = (
    "roles/compute.networkViewer",
    "roles/container.viewer",
    "roles/cloudsql.viewer",
    "roles/redis.viewer",
    "roles/secretmanager.viewer",
    "roles/cloudkms.viewer",
    "roles/artifactregistry.reader",
    "roles/iam.serviceAccountViewer",
    "roles/iam.workloadIdentityPoolViewer",
    "roles/iam.roleViewer",
    "roles/serviceusage.serviceUsageViewer",
    "roles/iam.securityReviewer",
)
"""Metadata reads for ``pulumi preview``: no secret versions, no object reads (``roles/iam.securityReviewer``
reads IAM policies, which the provider refreshes for the stack's IAM members)."""

BUCKET_VIEW_PERMISSIONS = ("storage.buckets.get", "storage.buckets.list", "storage.buckets.getIamPolicy")
BUCKET_ADMIN_PERMISSIONS = (
    *BUCKET_VIEW_PERMISSIONS,
    "storage.buckets.create",
    "storage.buckets.delete",
    "storage.buckets.update",
    "storage.buckets.setIamPolicy",
    "storage.objects.list",
)
"""Bucket administration without object data (``storage.objects.list``: deleting a bucket checks it is empty)."""


def attribute_condition(ci: CiSpec) -> str:
    """CEL condition of the pool provider: the token comes from the spec's repository (or GitLab project)."""
    claim = "repository" if ci.provider == "github" else "project_path"
    return f"assertion.{claim} == '{ci.repository}'"


def grants_condition(roles: Sequence[str]) -> str:
    """IAM condition limiting a project IAM admin to granting and revoking ``roles``."""
    listed = ", ".join(f"'{r}'" for r in roles)
    return f"api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([{listed}])"


def _role_id(stem: str, purpose: str, suffix: str) -> str:
    words = [w for w in stem.replace("_", "-").split("-") if w]
    return "".join([words[0], *(w.title() for w in words[1:]), "Ci", purpose.title(), "Buckets_", suffix])


@dataclass
class CiDeployerArgs:
    """Inputs of :class:`CiDeployer`."""

    ci: CiSpec
    """Which CI system, repository, environments and branches are trusted."""
    project: str
    """GCP project id the stack deploys to."""
    stem: str
    """``<name>-<environment>``: names the pool and the service accounts."""
    audit_bucket: pulumi.Input[str]
    """The models bucket: the deploy account creates registry audit events in it."""


class CiDeployer(pulumi.ComponentResource):
    """Pool, provider, the deploy and preview service accounts with their bindings and grants.

    Outputs: ``workload_identity_provider`` (the provider's full name, for ``google-github-actions/auth``),
    ``deploy_service_account``, ``preview_service_account`` (None without ``ci.preview``) and ``exports``.
    """

    workload_identity_provider: pulumi.Output[str]
    deploy_service_account: pulumi.Output[str]
    preview_service_account: pulumi.Output[str] | None
    exports: dict[str, Any]

    def __init__(self, name: str, args: CiDeployerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:gcp:CiDeployer", name, None, opts)
        ci, project = args.ci, args.project
        child = pulumi.ResourceOptions(parent=self)
        suffix = random.RandomId(f"{name}-suffix", byte_length=2, opts=child)
        pool = gcp.iam.WorkloadIdentityPool(
            f"{name}-pool",
            project=project,
            workload_identity_pool_id=pulumi.Output.concat(args.stem, "-ci-", suffix.hex),
            display_name=f"{args.stem} CI"[:32],
            description=f"{ci.provider} {ci.repository}",
            opts=child,
        )
        mapping = {"google.subject": "assertion.sub"}
        mapping["attribute.repository" if ci.provider == "github" else "attribute.project_path"] = (
            "assertion.repository" if ci.provider == "github" else "assertion.project_path"
        )
        provider = gcp.iam.WorkloadIdentityPoolProvider(
            f"{name}-provider",
            project=project,
            workload_identity_pool_id=pool.workload_identity_pool_id,
            workload_identity_pool_provider_id=ci.provider,
            display_name=f"{ci.provider} {ci.repository}"[:32],
            attribute_mapping=mapping,
            attribute_condition=attribute_condition(ci),
            oidc=gcp.iam.WorkloadIdentityPoolProviderOidcArgs(issuer_uri=ci.issuer),
            opts=child,
        )
        self.workload_identity_provider = provider.name

        deploy = self._account(name, "deploy", args)
        for i, subject in enumerate(ci.deploy_subjects):
            member = pulumi.Output.concat("principal://iam.googleapis.com/", pool.name, "/subject/", subject)
            self._impersonation(name, f"deploy-{i}", deploy, member)
        for role in (*sorted(set(DEPLOY_ROLES.values())), *DEPLOY_EXTRA_ROLES):
            self._grant(name, "deploy", deploy, role, project)
        self._grant(
            name,
            "deploy",
            deploy,
            "roles/resourcemanager.projectIamAdmin",
            project,
            gcp.projects.IAMMemberConditionArgs(
                title="only-the-stack-project-roles",
                description="Grant and revoke only the project roles the stack itself grants",
                expression=grants_condition(GRANTABLE_PROJECT_ROLES),
            ),
        )
        self._bucket_role(name, "deploy", deploy, BUCKET_ADMIN_PERMISSIONS, args, suffix)
        gcp.storage.BucketIAMMember(
            f"{name}-deploy-audit",
            bucket=args.audit_bucket,
            role="roles/storage.objectCreator",
            member=deploy.member,
            opts=pulumi.ResourceOptions(parent=deploy),
        )
        self.deploy_service_account = deploy.email

        self.preview_service_account = None
        if ci.preview:
            preview = self._account(name, "preview", args)
            if ci.provider == "github":
                member = pulumi.Output.concat(
                    "principal://iam.googleapis.com/", pool.name, "/subject/", ci.preview_subject
                )
            else:
                member = pulumi.Output.concat(
                    "principalSet://iam.googleapis.com/", pool.name, "/attribute.project_path/", ci.repository
                )
            self._impersonation(name, "preview", preview, member)
            for role in PREVIEW_ROLES:
                self._grant(name, "preview", preview, role, project)
            self._bucket_role(name, "preview", preview, BUCKET_VIEW_PERMISSIONS, args, suffix)
            self.preview_service_account = preview.email

        self.exports = {
            "provider": ci.provider,
            "repository": ci.repository,
            "project": project,
            "workloadIdentityProvider": self.workload_identity_provider,
            "deployServiceAccount": self.deploy_service_account,
            "previewServiceAccount": self.preview_service_account,
        }
        self.register_outputs(self.exports)

    def _account(self, name: str, purpose: str, args: CiDeployerArgs) -> gcp.serviceaccount.Account:
        return gcp.serviceaccount.Account(
            f"{name}-{purpose}",
            project=args.project,
            account_id=account_id(args.stem, f"ci-{purpose}"),
            display_name=f"CI {purpose} of {args.stem} ({args.ci.provider} {args.ci.repository})"[:100],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _impersonation(
        self, name: str, label: str, account: gcp.serviceaccount.Account, member: pulumi.Input[str]
    ) -> None:
        gcp.serviceaccount.IAMMember(
            f"{name}-{label}-wif",
            service_account_id=account.name,
            role="roles/iam.workloadIdentityUser",
            member=member,
            opts=pulumi.ResourceOptions(parent=account),
        )

    def _grant(
        self,
        name: str,
        purpose: str,
        account: gcp.serviceaccount.Account,
        role: str,
        project: str,
        condition: gcp.projects.IAMMemberConditionArgs | None = None,
    ) -> None:
        gcp.projects.IAMMember(
            f"{name}-{purpose}-{role.removeprefix('roles/').replace('.', '-').lower()}",
            project=project,
            role=role,
            member=account.member,
            condition=condition,
            opts=pulumi.ResourceOptions(parent=account),
        )

    def _bucket_role(
        self,
        name: str,
        purpose: str,
        account: gcp.serviceaccount.Account,
        permissions: Sequence[str],
        args: CiDeployerArgs,
        suffix: random.RandomId,
    ) -> None:
        role = gcp.projects.IAMCustomRole(
            f"{name}-{purpose}-buckets-role",
            project=args.project,
            role_id=suffix.hex.apply(lambda h: _role_id(args.stem, purpose, h)),
            title=f"{args.stem} CI {purpose}: buckets"[:100],
            description="Bucket configuration and IAM, without object data",
            permissions=list(permissions),
            opts=pulumi.ResourceOptions(parent=account),
        )
        gcp.projects.IAMMember(
            f"{name}-{purpose}-buckets",
            project=args.project,
            role=role.name,
            member=account.member,
            opts=pulumi.ResourceOptions(parent=account),
        )
