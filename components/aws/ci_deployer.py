"""The IAM identities CI uses for an AWS stack: OIDC federation from GitHub Actions or GitLab, no stored keys.

Two roles, each assumable only with an ID token of the CI issuer whose ``aud`` is ``sts.amazonaws.com`` and whose
``sub`` is one of the exact subjects :class:`~pulumi_mlops.spec.CiSpec` derives from the repository:

- ``<name>-<environment>-ci-deploy``: ``pulumi up`` of the stack, from the deployment environments or branches
  the spec names (permissions in :mod:`.ci_permissions`), and cluster admin through an EKS access entry;
- ``<name>-<environment>-ci-preview`` (``ci.preview``): ``pulumi preview`` of pull requests, metadata reads only,
  and the EKS view policy in the cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from pulumi_mlops.spec import CiSpec
from pulumi_mlops.spec.ci import AWS_AUDIENCE

from .ci_permissions import deploy_statements, preview_statements
from .cluster import CLUSTER_ADMIN_POLICY
from .iam import PARTITION, oidc_trust_statements

__all__ = ["CLUSTER_VIEW_POLICY", "CiDeployer", "CiDeployerArgs"]

CLUSTER_VIEW_POLICY = f"arn:{PARTITION}:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
"""EKS access policy of the preview role: read the cluster's objects, change nothing (pulumi-kubernetes previews
fall back to a client-side diff where a server-side dry run is not allowed)."""

DEPLOY_SESSION_SECONDS = 7200
"""Longest session of the deploy role: a first ``pulumi up`` (cluster, database, bootstrap training) can take
more than the default hour; the pipelines ask for this much."""


@dataclass
class CiDeployerArgs:
    """Inputs of :class:`CiDeployer`."""

    ci: CiSpec
    """Which CI system, repository, environments and branches are trusted."""
    name: str
    """The platform's name (``PlatformSpec.name``): the stack's IAM roles are named ``<name>-*``."""
    stem: str
    """``<name>-<environment>``: names the CI roles, and the stack's buckets are ``<stem>-*``."""
    region: str
    """Region the stack deploys to; the regional permissions hold there only."""
    cluster_name: pulumi.Input[str]
    """EKS cluster the roles get access entries in."""
    audit_bucket_arn: pulumi.Input[str]
    """The models bucket: the deploy role writes registry audit events under its ``audit/`` prefix."""
    hosted_zone_ids: Sequence[str] = ()
    """Route 53 hosted zones where the stack writes DNS validation records (``ingress.tls.hosted_zone_id``)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags put on every taggable resource."""


class CiDeployer(pulumi.ComponentResource):
    """The OIDC provider (unless ``ci.oidc_provider_arn`` names one), the deploy role and the preview role.

    Outputs: ``deploy_role_arn``, ``preview_role_arn`` (None without ``ci.preview``), ``oidc_provider_arn`` and
    ``exports`` (what the stack exports as ``ciDeployer``, the values the pipelines read).
    """

    deploy_role_arn: pulumi.Output[str]
    preview_role_arn: pulumi.Output[str] | None
    oidc_provider_arn: pulumi.Output[str]
    exports: dict[str, Any]

    def __init__(self, name: str, args: CiDeployerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:aws:CiDeployer", name, None, opts)
        ci, tags = args.ci, dict(args.tags)
        child = pulumi.ResourceOptions(parent=self)
        if ci.oidc_provider_arn:
            self.oidc_provider_arn = pulumi.Output.from_input(ci.oidc_provider_arn)
        else:
            self.oidc_provider_arn = aws.iam.OpenIdConnectProvider(
                f"{name}-oidc",
                url=ci.issuer,
                client_id_lists=[AWS_AUDIENCE],
                tags=tags,
                opts=child,
            ).arn
        role_names = [f"{args.stem}-ci-deploy"] + ([f"{args.stem}-ci-preview"] if ci.preview else [])

        deploy = self._role(name, "deploy", role_names[0], ci.deploy_subjects, False, args, tags)
        deploy_policy = pulumi.Output.all(args.audit_bucket_arn, self.oidc_provider_arn).apply(
            lambda v: deploy_statements(
                name=args.name,
                stem=args.stem,
                region=args.region,
                audit_bucket_arn=v[0],
                ci_role_names=role_names,
                oidc_provider_arn=v[1],
                hosted_zone_ids=args.hosted_zone_ids,
            )
        )
        self._policy(name, "deploy", deploy, deploy_policy)
        self._access(name, "deploy", deploy, CLUSTER_ADMIN_POLICY, args, tags)
        self.deploy_role_arn = deploy.arn

        self.preview_role_arn = None
        if ci.preview:
            preview = self._role(
                name, "preview", role_names[1], [ci.preview_subject], ci.provider == "gitlab", args, tags
            )
            self._policy(name, "preview", preview, preview_statements(name=args.name, region=args.region))
            self._access(name, "preview", preview, CLUSTER_VIEW_POLICY, args, tags)
            self.preview_role_arn = preview.arn

        self.exports = {
            "provider": ci.provider,
            "repository": ci.repository,
            "deployRoleArn": self.deploy_role_arn,
            "previewRoleArn": self.preview_role_arn,
            "oidcProviderArn": self.oidc_provider_arn,
            "region": args.region,
        }
        self.register_outputs(self.exports)

    def _role(
        self,
        name: str,
        purpose: str,
        role_name: str,
        subjects: Sequence[str],
        pattern: bool,
        args: CiDeployerArgs,
        tags: dict[str, str],
    ) -> aws.iam.Role:
        trust = aws.iam.get_policy_document_output(
            statements=self.oidc_provider_arn.apply(
                lambda arn: oidc_trust_statements(arn, args.ci.issuer, subjects, pattern=pattern)
            ),
            opts=pulumi.InvokeOptions(parent=self),
        )
        return aws.iam.Role(
            f"{name}-{purpose}",
            name=role_name,
            description=f"CI {purpose} of {args.stem} from {args.ci.provider} {args.ci.repository}",
            assume_role_policy=trust.json,
            max_session_duration=DEPLOY_SESSION_SECONDS if purpose == "deploy" else 3600,
            tags={**tags, "ci": purpose},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _policy(
        self,
        name: str,
        purpose: str,
        role: aws.iam.Role,
        statements: pulumi.Input[list[aws.iam.GetPolicyDocumentStatementArgs]],
    ) -> None:
        document = aws.iam.get_policy_document_output(statements=statements, opts=pulumi.InvokeOptions(parent=self))
        aws.iam.RolePolicy(
            f"{name}-{purpose}-policy", role=role.id, policy=document.json, opts=pulumi.ResourceOptions(parent=role)
        )

    def _access(
        self, name: str, purpose: str, role: aws.iam.Role, policy_arn: str, args: CiDeployerArgs, tags: dict[str, str]
    ) -> None:
        entry = aws.eks.AccessEntry(
            f"{name}-{purpose}-access",
            cluster_name=args.cluster_name,
            principal_arn=role.arn,
            type="STANDARD",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=role),
        )
        aws.eks.AccessPolicyAssociation(
            f"{name}-{purpose}-access-policy",
            cluster_name=args.cluster_name,
            principal_arn=entry.principal_arn,
            policy_arn=policy_arn,
            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
            opts=pulumi.ResourceOptions(parent=entry),
        )
