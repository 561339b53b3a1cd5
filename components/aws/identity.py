"""Least-privilege IAM roles of the platform's workloads, bound with EKS Pod Identity or IRSA."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws
from pulumi_mlops.components.k8s.context import WORKLOAD_ROLES
from pulumi_mlops.components.k8s.platform_services import AUDIT_PREFIX, DRIFT_REPORTS_PREFIX

from .iam import oidc_trust_statements, service_trust_policy

__all__ = [
    "IRSA_ANNOTATION",
    "WORKLOAD_S3_ACCESS",
    "S3Grant",
    "WorkloadIdentity",
    "WorkloadIdentityArgs",
    "workload_statements",
]

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"


@dataclass(frozen=True)
class S3Grant:
    """Object actions a workload may take on one bucket, optionally below one key prefix."""

    bucket: str
    """Bucket role: ``models``, ``datasets`` or ``prediction-logs``."""
    actions: tuple[str, ...]
    """Object-level S3 actions (none: a listing grant only)."""
    list_bucket: bool = False
    """Also allow listing keys (under ``prefix``)."""
    prefix: str = ""
    """Key prefix the grant is limited to; empty for the whole bucket."""


WORKLOAD_S3_ACCESS: dict[str, tuple[S3Grant, ...]] = {
    "trainer": (
        S3Grant("models", ("s3:GetObject", "s3:PutObject"), list_bucket=True),
        # Batch scoring writes parts under a temporary name and moves them into place (copy + delete).
        S3Grant("datasets", ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"), list_bucket=True),
    ),
    "server": (
        S3Grant("models", ("s3:GetObject",), list_bucket=True),
        # pyarrow's recursive create_dir calls HeadBucket (s3:ListBucket) before the parts are written.
        S3Grant("prediction-logs", ("s3:PutObject",), list_bucket=True),
    ),
    "drift": (
        S3Grant("prediction-logs", ("s3:GetObject",), list_bucket=True),
        # Each run's drift reports, and the audit events of the retraining trigger: new objects only.
        S3Grant("prediction-logs", ("s3:PutObject",), prefix=f"{DRIFT_REPORTS_PREFIX}/"),
        S3Grant("models", ("s3:PutObject",), prefix=f"{AUDIT_PREFIX}/"),
        S3Grant("datasets", ("s3:GetObject",), list_bucket=True),
    ),
    "mlflow": (S3Grant("models", ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"), list_bucket=True),),
    "feast": (
        S3Grant("datasets", ("s3:GetObject",), prefix="features/"),
        # The registry: read by the server, rewritten by materialization.
        S3Grant("datasets", ("s3:GetObject", "s3:PutObject"), prefix="feast/registry.db"),
        # Feast's S3 registry store calls HeadBucket first: s3:ListBucket with no prefix condition.
        S3Grant("datasets", (), list_bucket=True),
    ),
}
"""What each workload may do in which bucket; nothing else is granted."""

_WRITES = {"s3:PutObject", "s3:DeleteObject"}


def workload_statements(
    role: str, bucket_arns: Mapping[str, str], kms_key_arn: str, secret_arns: Sequence[str]
) -> list[aws.iam.GetPolicyDocumentStatementArgs]:
    """The statements of one workload's policy, on exact bucket, key and secret ARNs."""
    grants = WORKLOAD_S3_ACCESS[role]
    statements: list[aws.iam.GetPolicyDocumentStatementArgs] = []
    for grant in grants:
        arn = bucket_arns[grant.bucket]
        sid = "".join(w.title() for w in re.split(r"[^A-Za-z0-9]+", f"{grant.bucket} {grant.prefix}") if w)
        if grant.actions:
            statements.append(
                aws.iam.GetPolicyDocumentStatementArgs(
                    sid=f"Objects{sid}",
                    effect="Allow",
                    actions=list(grant.actions),
                    resources=[f"{arn}/{grant.prefix}*"],
                )
            )
        if grant.list_bucket:
            conditions = (
                [
                    aws.iam.GetPolicyDocumentStatementConditionArgs(
                        test="StringLike", variable="s3:prefix", values=[f"{grant.prefix}*"]
                    )
                ]
                if grant.prefix
                else None
            )
            statements.append(
                aws.iam.GetPolicyDocumentStatementArgs(
                    sid=f"List{sid}", effect="Allow", actions=["s3:ListBucket"], resources=[arn], conditions=conditions
                )
            )
    writes = any(_WRITES & set(g.actions) for g in grants)
    statements.append(
        aws.iam.GetPolicyDocumentStatementArgs(
            sid="BucketKey",
            effect="Allow",
            actions=["kms:Decrypt", "kms:GenerateDataKey"] if writes else ["kms:Decrypt"],
            resources=[kms_key_arn],
        )
    )
    if secret_arns:
        statements.append(
            aws.iam.GetPolicyDocumentStatementArgs(
                sid="Secrets", effect="Allow", actions=["secretsmanager:GetSecretValue"], resources=list(secret_arns)
            )
        )
    return statements


@dataclass
class WorkloadIdentityArgs:
    """Inputs of :class:`WorkloadIdentity`."""

    cluster_name: pulumi.Input[str]
    """EKS cluster the service accounts live in."""
    bucket_arns: Mapping[str, pulumi.Input[str]]
    """ARN per bucket role (``models``, ``datasets``, ``prediction-logs``)."""
    kms_key_arn: pulumi.Input[str]
    """KMS key of the buckets and secrets."""
    subjects: Mapping[str, tuple[str, str]]
    """``(namespace, service account)`` each workload role runs as
    (``pulumi_mlops.components.k8s.service_account_subject``)."""
    secret_arns: Mapping[str, Sequence[pulumi.Input[str]]] = field(default_factory=dict)
    """Secrets Manager secrets each workload reads (``mlflow``: database, ``feast``: Redis)."""
    mode: Literal["pod_identity", "irsa"] = "pod_identity"
    """Bind roles with EKS Pod Identity associations, or with IRSA trust and a service-account annotation."""
    oidc_issuer: pulumi.Input[str] = ""
    """Cluster OIDC issuer URL (IRSA only)."""
    oidc_provider_arn: pulumi.Input[str] = ""
    """IAM OIDC provider of that issuer (IRSA only)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags put on every role and association."""


class WorkloadIdentity(pulumi.ComponentResource):
    """One IAM role per workload in :data:`WORKLOAD_ROLES`, with only the grants of :data:`WORKLOAD_S3_ACCESS`.

    Outputs: ``role_arns`` and ``service_account_annotations`` (IRSA annotations; empty with Pod Identity).
    """

    role_arns: dict[str, pulumi.Output[str]]
    service_account_annotations: dict[str, dict[str, pulumi.Output[str]]]

    def __init__(self, name: str, args: WorkloadIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:aws:WorkloadIdentity", name, None, opts)
        tags = dict(args.tags)
        self.role_arns = {}
        self.service_account_annotations = {}
        roles = sorted(args.bucket_arns)
        bucket_arns = pulumi.Output.all(*[args.bucket_arns[r] for r in roles]).apply(
            lambda arns: dict(zip(roles, arns, strict=True))
        )
        for role in WORKLOAD_ROLES:
            self._role(name, role, args, bucket_arns, tags)
        self.register_outputs({"role_arns": self.role_arns})

    def _role(
        self,
        name: str,
        role: str,
        args: WorkloadIdentityArgs,
        bucket_arns: pulumi.Output[dict[str, str]],
        tags: dict[str, str],
    ) -> None:
        namespace, service_account = args.subjects[role]
        if args.mode == "irsa":
            trust = aws.iam.get_policy_document_output(
                statements=pulumi.Output.all(args.oidc_provider_arn, args.oidc_issuer).apply(
                    lambda v: oidc_trust_statements(
                        v[0], v[1], [f"system:serviceaccount:{namespace}:{service_account}"]
                    )
                )
            ).json
        else:
            trust = service_trust_policy("pods.eks.amazonaws.com", ("sts:AssumeRole", "sts:TagSession"))
        iam_role = aws.iam.Role(
            f"{name}-{role}",
            description=f"Workload role of {namespace}/{service_account}",
            assume_role_policy=trust,
            tags={**tags, "workload": role},
            opts=pulumi.ResourceOptions(parent=self),
        )
        statements = pulumi.Output.all(
            bucket_arns, args.kms_key_arn, pulumi.Output.all(*args.secret_arns.get(role, ()))
        ).apply(lambda v: workload_statements(role, v[0], v[1], v[2]))
        document = aws.iam.get_policy_document_output(statements=statements)
        aws.iam.RolePolicy(
            f"{name}-{role}-policy",
            role=iam_role.id,
            policy=document.json,
            opts=pulumi.ResourceOptions(parent=iam_role),
        )
        if args.mode == "irsa":
            self.service_account_annotations[role] = {IRSA_ANNOTATION: iam_role.arn}
        else:
            aws.eks.PodIdentityAssociation(
                f"{name}-{role}-association",
                cluster_name=args.cluster_name,
                namespace=namespace,
                service_account=service_account,
                role_arn=iam_role.arn,
                tags=tags,
                opts=pulumi.ResourceOptions(parent=iam_role),
            )
        self.role_arns[role] = iam_role.arn
