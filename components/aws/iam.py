"""IAM building blocks the AWS components share: trust policies and managed-policy ARNs."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from pulumi_mlops.spec.ci import AWS_AUDIENCE

__all__ = ["PARTITION", "aws_managed_policy", "oidc_trust_statements", "service_trust_policy"]

PARTITION = "aws"
"""ARN partition of the regions this package targets (commercial AWS)."""


def aws_managed_policy(name: str) -> str:
    """ARN of an AWS-managed IAM policy, e.g. ``AmazonEKSClusterPolicy``."""
    return f"arn:{PARTITION}:iam::aws:policy/{name}"


def service_trust_policy(service: str, actions: tuple[str, ...] = ("sts:AssumeRole",)) -> pulumi.Output[str]:
    """Trust policy letting one AWS service principal (``eks.amazonaws.com``) assume a role."""
    doc = aws.iam.get_policy_document_output(
        statements=[
            aws.iam.GetPolicyDocumentStatementArgs(
                effect="Allow",
                actions=list(actions),
                principals=[aws.iam.GetPolicyDocumentStatementPrincipalArgs(type="Service", identifiers=[service])],
            )
        ]
    )
    return doc.json


def oidc_trust_statements(
    provider_arn: str, issuer: str, subjects: Sequence[str], *, pattern: bool = False
) -> list[aws.iam.GetPolicyDocumentStatementArgs]:
    """Trust of an OIDC provider: ``aud`` is ``sts.amazonaws.com`` and ``sub`` one of ``subjects`` (exact, or IAM
    wildcard patterns with ``pattern``)."""
    host = issuer.removeprefix("https://")
    return [
        aws.iam.GetPolicyDocumentStatementArgs(
            effect="Allow",
            actions=["sts:AssumeRoleWithWebIdentity"],
            principals=[aws.iam.GetPolicyDocumentStatementPrincipalArgs(type="Federated", identifiers=[provider_arn])],
            conditions=[
                aws.iam.GetPolicyDocumentStatementConditionArgs(
                    test="StringEquals", variable=f"{host}:aud", values=[AWS_AUDIENCE]
                ),
                aws.iam.GetPolicyDocumentStatementConditionArgs(
                    test="StringLike" if pattern else "StringEquals", variable=f"{host}:sub", values=list(subjects)
                ),
            ],
        )
    ]
