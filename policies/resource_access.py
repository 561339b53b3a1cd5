"""Resource-based policies: who outside the account's roles a bucket, registry, key, secret, queue or topic lets in.

Every document goes through the shared reader (:mod:`._documents`, on policyuniverse): a statement is public when it
allows ``Principal: "*"`` (or ``{"AWS": "*"}``, or uses ``NotPrincipal``) with no condition that limits the callers
to a VPC endpoint, an organization, an account or an ARN. Statements are judged one by one, so a TLS-only Deny beside
a public Allow does not hide the Allow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pulumi_policy import Policy, ResourceValidationArgs

from ._base import get, resource_policy
from ._documents import statement_views

Report = Callable[[str], None]

DOCUMENT_FIELDS: dict[str, str] = {
    "aws:s3/bucketPolicy:BucketPolicy": "policy",
    "aws:s3/bucket:Bucket": "policy",
    "aws:s3/bucketV2:BucketV2": "policy",
    "aws:ecr/repositoryPolicy:RepositoryPolicy": "policy",
    "aws:ecr/registryPolicy:RegistryPolicy": "policy",
    "aws:kms/key:Key": "policy",
    "aws:kms/keyPolicy:KeyPolicy": "policy",
    "aws:secretsmanager/secretPolicy:SecretPolicy": "policy",
    "aws:secretsmanager/secret:Secret": "policy",
    "aws:sqs/queuePolicy:QueuePolicy": "policy",
    "aws:sqs/queue:Queue": "policy",
    "aws:sns/topicPolicy:TopicPolicy": "policy",
    "aws:sns/topic:Topic": "policy",
}
"""Resource types that carry a resource-based policy document, and the input that holds it."""

RESOURCE_TYPES: tuple[str, ...] = tuple(DOCUMENT_FIELDS)
"""Every resource type a policy of this module checks."""

POLICIES: list[Policy] = []

_EXEMPTING_KEYS = (
    "aws:SourceVpce, aws:SourceVpc, aws:PrincipalOrgID, aws:SourceAccount, aws:PrincipalAccount, aws:SourceArn, "
    "aws:PrincipalArn or a narrow aws:SourceIp"
)


def resource_documents(resource_type: str, props: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """``(input name, document)`` of the resource-based policy a resource carries, if any."""
    field = DOCUMENT_FIELDS.get(resource_type)
    if field is not None and get(props, field):
        yield field, get(props, field)


@resource_policy(
    "aws-resource-policy-not-public",
    "Bucket, ECR, KMS key, Secrets Manager, SQS and SNS policies have no Allow statement for Principal '*', "
    "{'AWS': '*'} or NotPrincipal unless a condition limits the callers to a VPC endpoint, VPC, organization, "
    "account or ARN.",
    RESOURCE_TYPES,
    registry=POLICIES,
)
def _not_public(args: ResourceValidationArgs, report: Report) -> None:
    for field, doc in resource_documents(args.resource_type, args.props):
        for st in statement_views(doc):
            if not st.public:
                continue
            actions = sorted(st.actions)
            shown = ", ".join(actions[:4]) + (f" and {len(actions) - 4} more" if len(actions) > 4 else "")
            who = "every principal but the ones named (NotPrincipal)" if "NotPrincipal" in st.raw else "anyone"
            report(
                f"{field} {st.label} allows {who} {shown}: name the principals, or limit the callers with a "
                f"condition on {_EXEMPTING_KEYS}"
            )
