"""Identity: least-privilege IAM on AWS and GCP, no long-lived keys, no public principals."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from fnmatch import fnmatch
from typing import Any

from pulumi_policy import Policy, ResourceValidationArgs

from ._base import as_list, config_value, get, iter_dicts, json_doc, resource_policy
from ._documents import ESCALATION_ACTIONS, all_resources_arn, expand_action, is_aws_managed_policy, statement_views

Report = Callable[[str], None]

IAM_POLICY = "aws:iam/policy:Policy"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_USER_POLICY = "aws:iam/userPolicy:UserPolicy"
IAM_GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
IAM_ROLE = "aws:iam/role:Role"
IAM_ACCESS_KEY = "aws:iam/accessKey:AccessKey"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
POLICY_ATTACHMENT_TYPES = (
    ROLE_POLICY_ATTACHMENT,
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)
EXCLUSIVE_ATTACHMENT_TYPES = (
    "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
    "aws:iam/userPolicyAttachmentsExclusive:UserPolicyAttachmentsExclusive",
    "aws:iam/groupPolicyAttachmentsExclusive:GroupPolicyAttachmentsExclusive",
)
"""Attachments that set a principal's whole list of managed policies (``policyArns``)."""
PROJECT_IAM_BINDING = "gcp:projects/iAMBinding:IAMBinding"
PROJECT_IAM_POLICY = "gcp:projects/iAMPolicy:IAMPolicy"
PROJECT_IAM_MEMBER = "gcp:projects/iAMMember:IAMMember"
BUCKET_IAM_BINDING = "gcp:storage/bucketIAMBinding:BucketIAMBinding"
BUCKET_IAM_POLICY = "gcp:storage/bucketIAMPolicy:BucketIAMPolicy"
BUCKET_IAM_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"
SA_IAM_BINDING = "gcp:serviceaccount/iAMBinding:IAMBinding"
SA_IAM_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
AR_IAM_MEMBER = "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"
GCP_SA_KEY = "gcp:serviceaccount/key:Key"
WIF_PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"

AWS_POLICY_TYPES = (IAM_POLICY, IAM_ROLE_POLICY, IAM_USER_POLICY, IAM_GROUP_POLICY, IAM_ROLE)
GCP_AUTHORITATIVE = (PROJECT_IAM_BINDING, PROJECT_IAM_POLICY, BUCKET_IAM_BINDING, BUCKET_IAM_POLICY)
GCP_MEMBER_TYPES = (
    PROJECT_IAM_BINDING,
    PROJECT_IAM_MEMBER,
    BUCKET_IAM_BINDING,
    BUCKET_IAM_MEMBER,
    SA_IAM_BINDING,
    SA_IAM_MEMBER,
    AR_IAM_MEMBER,
)

RESOURCE_TYPES: tuple[str, ...] = tuple(
    dict.fromkeys(
        (
            *AWS_POLICY_TYPES,
            IAM_ACCESS_KEY,
            *POLICY_ATTACHMENT_TYPES,
            *EXCLUSIVE_ATTACHMENT_TYPES,
            *GCP_AUTHORITATIVE,
            *GCP_MEMBER_TYPES,
            GCP_SA_KEY,
            WIF_PROVIDER,
        )
    )
)
"""Every resource type a policy of this module checks."""

POLICIES: list[Policy] = []

RESOURCE_WILDCARD_OK = (
    "*:describe*",
    "*:list*",
    "ecr:getauthorizationtoken",
    "sts:getcalleridentity",
    "cloudwatch:putmetricdata",
    "xray:put*",
    "pricing:get*",
)
"""Actions that AWS only grants on ``Resource: "*"`` (no resource-level permissions)."""

PRIMITIVE_ROLES = ("roles/owner", "roles/editor", "roles/viewer")
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")


def policy_documents(resource_type: str, props: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """``(where, parsed document)`` of every identity-based policy document of an AWS IAM resource."""
    if resource_type == IAM_ROLE:
        for i, inline in enumerate(iter_dicts(get(props, "inlinePolicies"))):
            if get(inline, "policy"):
                yield f"inlinePolicies[{i}]", json_doc(get(inline, "policy"))
    elif get(props, "policy") is not None:
        yield "policy", json_doc(get(props, "policy"))


def _allow_statements(doc: Any) -> Iterator[tuple[int, Mapping[str, Any]]]:
    if not isinstance(doc, Mapping):
        return
    for i, st in enumerate(as_list(doc.get("Statement"))):
        if isinstance(st, Mapping) and st.get("Effect", "Allow") == "Allow":
            yield i, st


@resource_policy(
    "iam-no-wildcard-actions",
    "IAM policies never allow '*', 'service:*' or NotAction, nor an action wildcard that matches a privilege "
    "escalation action (iam:Pass* reaches iam:PassRole).",
    AWS_POLICY_TYPES,
    registry=POLICIES,
)
def _wildcard_actions(args: ResourceValidationArgs, report: Report) -> None:
    for where, doc in policy_documents(args.resource_type, args.props):
        if doc is None:
            report(f"{where} is not a JSON policy document")
            continue
        for i, st in _allow_statements(doc):
            if st.get("NotAction") is not None:
                report(f"{where} Statement[{i}] allows NotAction: list the allowed actions instead")
            bad = [str(a) for a in as_list(st.get("Action")) if str(a) == "*" or str(a).endswith(":*")]
            if bad:
                report(f"{where} Statement[{i}] allows {', '.join(bad)}: list the actions the workload needs")
            for pattern in (str(a) for a in as_list(st.get("Action")) if str(a) not in bad and "*" in str(a)):
                reached = sorted(expand_action(pattern) & ESCALATION_ACTIONS)
                if reached:
                    report(
                        f"{where} Statement[{i}] allows {pattern}, which matches {', '.join(reached)} (a privilege "
                        "escalation): name the actions, never reach these through a wildcard"
                    )


@resource_policy(
    "iam-no-wildcard-resources",
    "IAM policies scope allowed actions to resources, not '*', an ARN that names every resource ('arn:aws:s3:::*') or "
    "NotResource, unless a Condition limits them or the action has no resource-level form.",
    AWS_POLICY_TYPES,
    registry=POLICIES,
)
def _wildcard_resources(args: ResourceValidationArgs, report: Report) -> None:
    for where, doc in policy_documents(args.resource_type, args.props):
        for i, st in _allow_statements(doc):
            if st.get("Condition"):
                continue
            actions = [str(a) for a in as_list(st.get("Action"))]
            scoped = [a for a in actions if not any(fnmatch(a.lower(), p) for p in RESOURCE_WILDCARD_OK)]
            if st.get("NotResource") is not None and scoped:
                report(
                    f"{where} Statement[{i}] allows {', '.join(scoped)} on NotResource, every resource but the ones "
                    "listed: name the ARNs in Resource"
                )
                continue
            wide = [str(r) for r in as_list(st.get("Resource")) if all_resources_arn(str(r))]
            if wide and scoped:
                shown = "Resource '*'" if wide == ["*"] else f"{', '.join(wide)} (every such resource, like '*')"
                report(
                    f"{where} Statement[{i}] allows {', '.join(scoped)} on {shown}: name the ARNs or add a Condition"
                )


ADMIN_MANAGED_POLICIES = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess")


@resource_policy(
    "iam-no-admin-managed-policies",
    "No AWS-managed administrator or *FullAccess policy, in any partition, is attached to a role, user or group, by "
    "an attachment, an exclusive attachment or a role's managedPolicyArns.",
    (*POLICY_ATTACHMENT_TYPES, *EXCLUSIVE_ATTACHMENT_TYPES, IAM_ROLE),
    registry=POLICIES,
)
def _admin_attachments(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == IAM_ROLE:
        arns = [str(a) for a in as_list(get(args.props, "managedPolicyArns"))]
    elif args.resource_type in EXCLUSIVE_ATTACHMENT_TYPES:
        arns = [str(a) for a in as_list(get(args.props, "policyArns"))]
    else:
        arns = [str(get(args.props, "policyArn", ""))]
    for arn in arns:
        name = arn.rsplit("/", 1)[-1]
        if is_aws_managed_policy(arn) and (name in ADMIN_MANAGED_POLICIES or name.endswith("FullAccess")):
            report(f"{name} attached: write a least-privilege policy for the workload")


@resource_policy(
    "iam-role-trust-not-public",
    "IAM role trust policies never trust Principal '*', {'AWS': '*'} or NotPrincipal, whatever the condition, nor an "
    "account's root unless the account is in trustedAccounts.",
    [IAM_ROLE],
    config=("trustedAccounts",),
    registry=POLICIES,
)
def _trust(args: ResourceValidationArgs, report: Report) -> None:
    trusted = {str(a) for a in config_value(args, "trustedAccounts")}
    for st in statement_views(get(args.props, "assumeRolePolicy")):
        if not st.allows:
            continue
        where = f"assumeRolePolicy {st.label}"
        if st.wildcard_principal or "NotPrincipal" in st.raw:
            report(
                f"{where} trusts Principal '*' (any AWS principal; a condition does not make that safe): name the "
                "service, role or OIDC provider"
            )
        for account in st.account_roots:
            if account not in trusted:
                report(
                    f"{where} trusts the root of account {account}, so every principal there may assume the role: "
                    "name the role that needs it, or list the account in the trustedAccounts config"
                )


@resource_policy(
    "iam-no-access-keys",
    "No long-lived IAM user access keys; workloads use roles (IRSA / Pod Identity).",
    [IAM_ACCESS_KEY],
    registry=POLICIES,
)
def _access_keys(args: ResourceValidationArgs, report: Report) -> None:
    report("IAM access key created: use an IAM role for the workload instead")


@resource_policy(
    "gcp-no-authoritative-iam",
    "No authoritative IAMBinding/IAMPolicy on GCP projects or buckets (they remove grants made elsewhere).",
    GCP_AUTHORITATIVE,
    registry=POLICIES,
)
def _authoritative(args: ResourceValidationArgs, report: Report) -> None:
    kind = args.resource_type.rsplit(":", 1)[-1]
    report(f"{kind} is authoritative and would drop other grants: use an IAMMember per member instead")


@resource_policy(
    "gcp-no-project-storage-roles",
    "Storage roles are granted on buckets, not on the whole project.",
    [PROJECT_IAM_MEMBER, PROJECT_IAM_BINDING],
    registry=POLICIES,
)
def _project_storage(args: ResourceValidationArgs, report: Report) -> None:
    role = str(get(args.props, "role", ""))
    if role.startswith("roles/storage."):
        report(f"{role} granted on the project: grant it on the bucket (gcp.storage.BucketIAMMember)")


@resource_policy(
    "gcp-no-primitive-roles",
    "No primitive roles (owner, editor, viewer) on GCP projects.",
    [PROJECT_IAM_MEMBER, PROJECT_IAM_BINDING],
    registry=POLICIES,
)
def _primitive(args: ResourceValidationArgs, report: Report) -> None:
    role = str(get(args.props, "role", ""))
    if role in PRIMITIVE_ROLES:
        report(f"{role} is a primitive role: grant a predefined least-privilege role")


@resource_policy(
    "gcp-no-public-iam-members",
    "No GCP IAM grant to allUsers or allAuthenticatedUsers.",
    GCP_MEMBER_TYPES,
    registry=POLICIES,
)
def _public_members(args: ResourceValidationArgs, report: Report) -> None:
    members = [str(m) for m in as_list(get(args.props, "member")) + as_list(get(args.props, "members"))]
    public = [m for m in members if m in PUBLIC_MEMBERS]
    if public:
        report(f"{get(args.props, 'role')} granted to {', '.join(public)}: grant named principals only")


@resource_policy(
    "gcp-no-service-account-keys",
    "No GCP service account keys; workloads use Workload Identity.",
    [GCP_SA_KEY],
    registry=POLICIES,
)
def _sa_keys(args: ResourceValidationArgs, report: Report) -> None:
    report("service account key created: use Workload Identity instead")


_PINNING_OPERATORS = ("stringequals", "stringlike")
_WILDCARDS = re.compile(r"[*?]")
_REPOSITORY_PIN = re.compile(
    r"(assertion|attribute)\.(repository|repository_id|project_path|project_id)\s*==\s*['\"][^'\"*]+['\"]"
)
_IMPERSONATION_ROLES = ("roles/iam.workloadIdentityUser", "roles/iam.serviceAccountTokenCreator")


def _claim_values(st: Mapping[str, Any], key: str) -> tuple[list[str], bool] | None:
    """Values a trust statement requires of claim ``key`` and whether they are patterns (StringLike); None when no
    plain StringEquals/StringLike condition names it."""
    block = st.get("Condition")
    if not isinstance(block, Mapping):
        return None
    for operator, pairs in block.items():
        if str(operator).lower() not in _PINNING_OPERATORS or not isinstance(pairs, Mapping):
            continue
        for name, values in pairs.items():
            if str(name).lower() == key.lower():
                return [str(v) for v in as_list(values)], str(operator).lower() == "stringlike"
    return None


def _loose_subject(value: str) -> bool:
    """A ``sub`` pattern that admits more than one repository's named ref, environment or service account: a
    wildcard before the fourth ``:``-separated field has begun (``repo:org/app:*``, ``system:serviceaccount:ns:*``)."""
    match = _WILDCARDS.search(value)
    if match is None:
        return False
    fields = value[: match.start()].split(":")
    return len(fields) < 4 or not fields[3]


def _oidc_trust(args: ResourceValidationArgs, report: Report) -> None:
    doc = json_doc(get(args.props, "assumeRolePolicy"))
    for i, st in _allow_statements(doc):
        principal = st.get("Principal")
        federated = [str(v) for v in as_list(principal.get("Federated"))] if isinstance(principal, Mapping) else []
        for arn in (a for a in federated if ":oidc-provider/" in a):
            host = arn.split(":oidc-provider/", 1)[1]
            where = f"assumeRolePolicy Statement[{i}] ({host})"
            aud = _claim_values(st, f"{host}:aud")
            if aud is None or (aud[1] and any(_WILDCARDS.search(v) for v in aud[0])):
                report(f"{where} does not pin {host}:aud to exact values: require the audience (sts.amazonaws.com)")
            sub = _claim_values(st, f"{host}:sub")
            if sub is None:
                report(
                    f"{where} does not pin {host}:sub: any workload of the issuer could assume the role; require the "
                    "exact subjects (repo:<owner>/<repo>:environment:<name>, system:serviceaccount:<ns>:<sa>)"
                )
            elif sub[1] and any(_loose_subject(v) for v in sub[0]):
                loose = ", ".join(v for v in sub[0] if _loose_subject(v))
                report(
                    f"{where} lets {host}:sub match {loose}: every branch, pull request or environment of the "
                    "repository (or every service account) could assume the role; list the exact subjects"
                )


def _wif_provider(args: ResourceValidationArgs, report: Report) -> None:
    if get(args.props, "oidc") is None:
        return
    condition = str(get(args.props, "attributeCondition", "") or "")
    if not _REPOSITORY_PIN.search(condition):
        issuer = get(args.props, "oidc.issuerUri", "the issuer")
        report(
            f"attributeCondition {condition!r} does not pin the repository: every repository using {issuer} could "
            "exchange its tokens; require assertion.repository == '<owner>/<repo>' (GitLab: assertion.project_path)"
        )


def _whole_pool(args: ResourceValidationArgs, report: Report) -> None:
    role = str(get(args.props, "role", ""))
    members = [str(m) for m in as_list(get(args.props, "member")) + as_list(get(args.props, "members"))]
    for member in members:
        if role in _IMPERSONATION_ROLES and member.startswith("principalSet://") and member.endswith("/*"):
            report(
                f"{role} granted to {member}, every identity of the pool: bind the exact subjects "
                "(principal://.../subject/<sub>) or one attribute (principalSet://.../attribute.<name>/<value>)"
            )


@resource_policy(
    "oidc-trust-pinned",
    "IAM roles trusting an OIDC provider require its aud with StringEquals and its sub as exact values or "
    "patterns fixed through the fourth ':' field; GCP workload identity providers pin the repository in "
    "attributeCondition; no service account is impersonable by a whole workload identity pool.",
    [IAM_ROLE, WIF_PROVIDER, SA_IAM_MEMBER, SA_IAM_BINDING],
    registry=POLICIES,
)
def _oidc_pinned(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == IAM_ROLE:
        _oidc_trust(args, report)
    elif args.resource_type == WIF_PROVIDER:
        _wif_provider(args, report)
    else:
        _whole_pool(args, report)
