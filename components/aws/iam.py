"""IAM building blocks the AWS components share: trust policies and managed-policy ARNs."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

__all__ = ["PARTITION", "aws_managed_policy", "service_trust_policy"]

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
