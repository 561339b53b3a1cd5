"""The cloud identity a Kubernetes service account's pods act as, and the policies and grants it holds.

EKS: an ``aws:eks/podIdentityAssociation`` for the namespace and service account (taking precedence), else
the IRSA annotation ``eks.amazonaws.com/role-arn``; the role is the one the association's ``roleArn`` or the
annotation is an output of (else the role of that name). Its identity policies are its inline policies,
``RolePolicy`` resources, attached customer policies of the stack and the AWS managed S3 policies of
:data:`AWS_MANAGED_POLICIES`; its permissions boundary applies when the stack defines it. The trust policy
must let the EKS Pod Identity agent (``pods.eks.amazonaws.com``: ``sts:AssumeRole`` and ``sts:TagSession``)
or the cluster's OIDC provider (``sts:AssumeRoleWithWebIdentity`` for ``system:serviceaccount:<ns>:<sa>``)
assume it.

GKE: the ``iam.gke.io/gcp-service-account`` annotation names the Google service account, which needs a
``roles/iam.workloadIdentityUser`` binding for ``serviceAccount:<pool>[<ns>/<sa>]``; bucket and project role
bindings count for that account, and for the pod's own Workload Identity Federation principal
(``principal://.../subject/ns/<ns>/sa/<sa>``, ``principalSet://.../namespace/<ns>``). Conditional bindings
are not counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import PolicyResource

from ._base import as_list, get, iter_dicts, json_doc
from ._graph import StackGraph, plain
from ._iam import Document, Request, evaluate, role_permissions, statements

__all__ = [
    "AWS_MANAGED_POLICIES",
    "IDENTITY_TYPES",
    "Identity",
    "aws_identity",
    "gcs_grants",
    "gke_identity",
    "kms_documents",
    "s3_documents",
]

IAM_ROLE = "aws:iam/role:Role"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_POLICY = "aws:iam/policy:Policy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
POD_IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
S3_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
S3_SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
KMS_KEY = "aws:kms/key:Key"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
GCP_CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"
GCP_ACCOUNT = "gcp:serviceaccount/account:Account"
BUCKET_BINDINGS = (
    "gcp:storage/bucketIAMMember:BucketIAMMember",
    "gcp:storage/bucketIAMBinding:BucketIAMBinding",
    "gcp:storage/bucketIAMPolicy:BucketIAMPolicy",
)
PROJECT_BINDINGS = (
    "gcp:projects/iAMMember:IAMMember",
    "gcp:projects/iAMBinding:IAMBinding",
    "gcp:projects/iAMPolicy:IAMPolicy",
)
ACCOUNT_BINDINGS = (
    "gcp:serviceaccount/iAMMember:IAMMember",
    "gcp:serviceaccount/iAMBinding:IAMBinding",
    "gcp:serviceaccount/iAMPolicy:IAMPolicy",
)

IDENTITY_TYPES: tuple[str, ...] = (
    SERVICE_ACCOUNT,
    POD_IDENTITY,
    IAM_ROLE,
    IAM_ROLE_POLICY,
    IAM_POLICY,
    ROLE_POLICY_ATTACHMENT,
    S3_POLICY,
    S3_SSE,
    KMS_KEY,
    GKE_CLUSTER,
    GCP_CUSTOM_ROLE,
    GCP_ACCOUNT,
    *BUCKET_BINDINGS,
    *PROJECT_BINDINGS,
    *ACCOUNT_BINDINGS,
)
"""Resource types identity resolution reads."""

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
GKE_ANNOTATION = "iam.gke.io/gcp-service-account"
WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"
POD_IDENTITY_SERVICE = "pods.eks.amazonaws.com"

AWS_MANAGED_POLICIES: dict[str, dict[str, Any]] = {
    "AmazonS3FullAccess": {
        "Statement": [{"Effect": "Allow", "Action": ["s3:*", "s3-object-lambda:*"], "Resource": "*"}]
    },
    "AmazonS3ReadOnlyAccess": {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:Get*", "s3:List*", "s3:Describe*", "s3-object-lambda:Get*", "s3-object-lambda:List*"],
                "Resource": "*",
            }
        ]
    },
}
"""AWS managed policies that grant S3 access, as published in the AWS Managed Policy Reference
(https://docs.aws.amazon.com/aws-managed-policy/latest/reference/); other managed policies are not counted."""


@dataclass
class Identity:
    """Who a workload's pods are to its cloud, and what stands between them and that identity."""

    label: str
    """How messages name it."""
    arn: str = ""
    """AWS: the role ARN."""
    email: str = ""
    """GCP: the Google service account, if the Kubernetes service account names one."""
    member: str = ""
    """GCP: the IAM member to grant to."""
    namespace: str = ""
    service_account: str = ""
    pools: tuple[str, ...] = ()
    """GKE workload identity pools of the stack's clusters (empty: any pool)."""
    documents: list[Document] = field(default_factory=list)
    boundary: list[Document] | None = None
    problem: str = ""
    """Why the pods cannot act as this identity at all."""
    fix: str = ""
    external: bool = False
    """The role is not in this stack: its policies cannot be read."""

    def holds(self, member: str) -> bool:
        """Whether an IAM binding's member is this identity."""
        text = member.strip()
        if self.email and text.lower() == f"serviceaccount:{self.email}".lower():
            return True
        pool_path = r"^principal(Set)?://iam\.googleapis\.com/projects/[^/]+/locations/global/workloadIdentityPools/"
        found = re.match(pool_path + r"([^/]+)/(.+)$", text)
        if found is None or (self.pools and found.group(2) not in self.pools):
            return False
        subject = found.group(3)
        if found.group(1):
            return subject in (f"namespace/{self.namespace}", "*")
        return subject == f"subject/ns/{self.namespace}/sa/{self.service_account}"


def _service_account(graph: StackGraph, namespace: str, name: str) -> PolicyResource | None:
    for res in graph.of_type(SERVICE_ACCOUNT):
        if (str(get(res.props, "metadata.namespace", "default")), str(get(res.props, "metadata.name"))) == (
            namespace,
            name,
        ):
            return res
    return None


def _annotation(res: PolicyResource | None, key: str) -> str:
    """An annotation's value (keys hold dots, so they are not a ``get`` path)."""
    annotations = get(res.props, "metadata.annotations") if res is not None else None
    value = annotations.get(key) if isinstance(annotations, Mapping) else None
    return str(value) if value else ""


def _linked(graph: StackGraph, res: PolicyResource, prop: str, type_: str) -> list[PolicyResource]:
    found = [graph.by_urn.get(d.urn) for d in res.property_dependencies.get(prop, [])]
    return [r for r in found if r is not None and r.resource_type == type_]


def _linked_role(graph: StackGraph, res: PolicyResource, prop: str, arn: str) -> PolicyResource | None:
    tail = arn.rsplit("/", 1)[-1]
    candidates = _linked(graph, res, prop, IAM_ROLE)
    for role in candidates:
        name = get(role.props, "name")
        if name == tail or (not name and tail.startswith(role.name)):
            return role
    if len(candidates) == 1:
        return candidates[0]
    return next((r for r in graph.of_type(IAM_ROLE) if get(r.props, "name") == tail), None)


def _refers(res: PolicyResource, prop: str, target: PolicyResource, names: set[str]) -> bool:
    if any(d.urn == target.urn for d in res.property_dependencies.get(prop, [])):
        return True
    return str(get(res.props, prop, "")) in names


def _role_documents(graph: StackGraph, role: PolicyResource) -> tuple[list[Document], list[Document] | None]:
    names = {role.name, str(get(role.props, "name", role.name))}
    docs = [
        Document(f"inline policy {get(p, 'name', i)} of role {role.name}", get(p, "policy"))
        for i, p in enumerate(iter_dicts(get(role.props, "inlinePolicies")))
        if get(p, "policy")
    ]
    docs += [
        Document(f"role policy {rp.name}", get(rp.props, "policy"))
        for rp in graph.of_type(IAM_ROLE_POLICY)
        if _refers(rp, "role", role, names)
    ]
    managed = [str(a) for a in as_list(get(role.props, "managedPolicyArns"))]
    attached = _linked(graph, role, "managedPolicyArns", IAM_POLICY)
    for att in graph.of_type(ROLE_POLICY_ATTACHMENT):
        if _refers(att, "role", role, names):
            policies = _linked(graph, att, "policyArn", IAM_POLICY)
            attached += policies
            if not policies:
                managed.append(str(get(att.props, "policyArn", "")))
    docs += [Document(f"policy {p.name}", get(p.props, "policy")) for p in attached]
    for arn in managed:
        name = arn.rsplit("/", 1)[-1]
        if arn.startswith("arn:aws:iam::aws:policy/") and name in AWS_MANAGED_POLICIES:
            docs.append(Document(f"AWS managed policy {name}", AWS_MANAGED_POLICIES[name]))
    boundary = None
    if get(role.props, "permissionsBoundary"):
        linked = _linked(graph, role, "permissionsBoundary", IAM_POLICY)
        if linked:
            boundary = [Document(f"permissions boundary {linked[0].name}", get(linked[0].props, "policy"))]
    return docs, boundary


def _trust_context(trust: Any, namespace: str, name: str) -> dict[str, str]:
    context: dict[str, str] = {}
    for st in statements(trust):
        for pairs in (st.get("Condition") or {}).values():
            for key in pairs if isinstance(pairs, Mapping) else ():
                if str(key).endswith(":sub"):
                    context[str(key)] = f"system:serviceaccount:{namespace}:{name}"
                elif str(key).endswith(":aud"):
                    context[str(key)] = "sts.amazonaws.com"
    return context


def aws_identity(graph: StackGraph, namespace: str, name: str) -> Identity:
    """The IAM role pods of ``namespace/name`` act as, with its policies and whether it trusts them."""
    subject = f"ServiceAccount {namespace}/{name}"
    for assoc in graph.of_type(POD_IDENTITY):
        if (str(get(assoc.props, "namespace")), str(get(assoc.props, "serviceAccount"))) == (namespace, name):
            arn = str(get(assoc.props, "roleArn", ""))
            role = _linked_role(graph, assoc, "roleArn", arn)
            principal = ("Service", POD_IDENTITY_SERVICE)
            requests = [Request(a, arn, principal) for a in ("sts:AssumeRole", "sts:TagSession")]
            fix = f"trust {POD_IDENTITY_SERVICE} with sts:AssumeRole and sts:TagSession"
            return _role_identity(graph, role, arn, f"Pod Identity association {assoc.name}", requests, fix)
    account = _service_account(graph, namespace, name)
    arn = _annotation(account, IRSA_ANNOTATION)
    if account is None or not arn:
        return Identity(
            label=subject,
            problem=f"{subject} has no EKS Pod Identity association and no {IRSA_ANNOTATION} annotation, so its "
            "pods get no role of their own",
            fix=f"associate {subject} with a workload role (aws.eks.PodIdentityAssociation)",
        )
    role = _linked_role(graph, account, "metadata", arn)
    trust = get(role.props, "assumeRolePolicy") if role is not None else None
    context = _trust_context(trust, namespace, name)
    requests = [Request("sts:AssumeRoleWithWebIdentity", arn, ("Federated", ""), context)]
    fix = f"trust the cluster's OIDC provider for system:serviceaccount:{namespace}:{name}"
    return _role_identity(graph, role, arn, f"{IRSA_ANNOTATION} on {subject}", requests, fix)


def _role_identity(
    graph: StackGraph, role: PolicyResource | None, arn: str, via: str, trust: list[Request], fix: str
) -> Identity:
    if role is None:
        return Identity(label=f"role {arn} ({via})", arn=arn, external=True)
    label = f"IAM role {role.name} ({via})"
    docs, boundary = _role_documents(graph, role)
    identity = Identity(label=label, arn=arn, documents=docs, boundary=boundary)
    trust_doc = Document(f"trust policy of {role.name}", get(role.props, "assumeRolePolicy"), resource_based=True)
    for req in trust:
        decision = evaluate(req, [], [trust_doc])
        if not decision.allowed:
            who = req.principal[1] or "the cluster's OIDC provider"
            identity.problem = f"{label} cannot be assumed: {who} may not {req.action} ({decision.reason})"
            identity.fix = fix
            break
    return identity


def _attached_to(res: PolicyResource, bucket: PolicyResource) -> bool:
    if res.parent is not None and res.parent.urn == bucket.urn:
        return True
    if any(d.urn == bucket.urn for d in res.property_dependencies.get("bucket", [])):
        return True
    name = get(bucket.props, "bucket")
    return name is not None and str(get(res.props, "bucket")) == str(name)


def s3_documents(graph: StackGraph, bucket: PolicyResource) -> list[Document]:
    """Bucket policies of an S3 bucket (resource-based documents)."""
    return [
        Document(f"bucket policy {p.name}", get(p.props, "policy"), resource_based=True)
        for p in graph.of_type(S3_POLICY)
        if _attached_to(p, bucket)
    ]


def kms_documents(graph: StackGraph, bucket: PolicyResource) -> tuple[str, list[Document], bool]:
    """The bucket's SSE-KMS key ARN (empty: none, the AWS managed key, or not an ARN), its key policy, and
    whether that policy lets IAM policies grant use of the key (a key without a policy input has the default
    key policy, which does: https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html)."""
    configs = [c for c in graph.of_type(S3_SSE) if _attached_to(c, bucket)]
    rules = [r for c in configs for r in iter_dicts(get(c.props, "rules"))]
    rules += list(iter_dicts(get(bucket.props, "serverSideEncryptionConfiguration.rule")))
    for rule in rules:
        default = get(rule, "applyServerSideEncryptionByDefault")
        key = str(get(default, "kmsMasterKeyId", ""))
        if not str(get(default, "sseAlgorithm", "")).startswith("aws:kms") or not key.startswith("arn:aws:kms:"):
            continue
        if ":key/" not in key:
            return "", [], True
        keys = [k for c in configs for k in _linked(graph, c, "rules", KMS_KEY)]
        policy = get(keys[0].props, "policy") if keys else None
        if policy is None:
            return key, [], True
        doc = Document(f"key policy of {keys[0].name}", policy, resource_based=True)
        account = key.split(":")[4]
        enabled = any(
            evaluate(Request("kms:Decrypt", key, ("AWS", root)), [], [doc]).allowed
            for root in (f"arn:aws:iam::{account}:root", account)
        )
        return key, [doc], enabled
    return "", [], True


def gke_identity(graph: StackGraph, namespace: str, name: str) -> Identity:
    """The Google identity pods of ``namespace/name`` act as, and whether Workload Identity lets them."""
    pools = tuple(
        str(p) for c in graph.of_type(GKE_CLUSTER) if (p := get(c.props, "workloadIdentityConfig.workloadPool"))
    )
    account = _service_account(graph, namespace, name)
    email = _annotation(account, GKE_ANNOTATION)
    pool = pools[0] if pools else "PROJECT_ID.svc.id.goog"
    subject = f"ServiceAccount {namespace}/{name}"
    if not email:
        member = (
            f"principal://iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/"
            f"{pool}/subject/ns/{namespace}/sa/{name}"
        )
        label = f"the Workload Identity principal of {subject}"
        return Identity(label, member=member, namespace=namespace, service_account=name, pools=pools)
    identity = Identity(
        f"Google service account {email} ({subject})",
        email=email,
        member=f"serviceAccount:{email}",
        namespace=namespace,
        service_account=name,
        pools=pools,
    )
    if not _may_act_as(graph, email, namespace, name, pools):
        wanted = f"serviceAccount:{pool}[{namespace}/{name}]"
        identity.problem = f"{subject} may not act as {email}: no {WORKLOAD_IDENTITY_USER} binding for {wanted}"
        identity.fix = f"grant {WORKLOAD_IDENTITY_USER} on {email} to {wanted}"
    return identity


Binding = tuple[str, str, str, list[str]]
"""``(resource type, target, role, members)`` of an unconditional IAM binding."""


def _bindings(graph: StackGraph, types: tuple[str, ...], target: str) -> Iterator[Binding]:
    for res in graph.of_type(*types):
        props = plain(res.props)
        where = str(get(props, target, ""))
        if res.resource_type.endswith("IAMPolicy"):
            data = json_doc(get(props, "policyData"))
            for b in iter_dicts(get(data, "bindings")):
                if not get(b, "condition"):
                    yield res.resource_type, where, str(get(b, "role")), [str(m) for m in as_list(get(b, "members"))]
            continue
        if get(props, "condition"):
            continue
        members = [str(m) for m in as_list(get(props, "member")) + as_list(get(props, "members"))]
        yield res.resource_type, where, str(get(props, "role")), members


def _may_act_as(graph: StackGraph, email: str, namespace: str, name: str, pools: tuple[str, ...]) -> bool:
    def wanted(member: str) -> bool:
        found = re.match(r"^serviceAccount:([^\[]+\.svc\.id\.goog)\[([^/]+)/([^\]]+)\]$", member)
        if found is None:
            return False
        return found.groups()[1:] == (namespace, name) and (not pools or found.group(1) in pools)

    for _, target, role, members in _bindings(graph, ACCOUNT_BINDINGS, "serviceAccountId"):
        if role == WORKLOAD_IDENTITY_USER and target.lower().endswith(email.lower()) and any(map(wanted, members)):
            return True
    return any(
        role == WORKLOAD_IDENTITY_USER and any(map(wanted, members))
        for _, _, role, members in _bindings(graph, PROJECT_BINDINGS, "project")
    )


def gcs_grants(graph: StackGraph, identity: Identity, bucket: str, project: str) -> set[str]:
    """Permission patterns ``identity`` holds on a bucket, from bucket and project role bindings."""
    custom = {
        f"projects/{get(r.props, 'project', project)}/roles/{get(r.props, 'roleId')}": [
            str(p) for p in as_list(get(r.props, "permissions"))
        ]
        for r in graph.of_type(GCP_CUSTOM_ROLE)
    }
    granted: set[str] = set()
    bindings = [*_bindings(graph, BUCKET_BINDINGS, "bucket"), *_bindings(graph, PROJECT_BINDINGS, "project")]
    for type_, target, role, members in bindings:
        if type_ in BUCKET_BINDINGS and target.removeprefix("b/") != bucket:
            continue
        if type_ in PROJECT_BINDINGS and project and target and target != project:
            continue
        if any(identity.holds(m) for m in members):
            granted |= role_permissions(role, custom) or set()
    return granted
