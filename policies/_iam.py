"""IAM evaluation for deploy-readiness checks: does an AWS policy set allow a request, which storage
permissions a GCP role carries.

AWS: a request is an action, a resource ARN, the calling principal and the condition keys it carries.
Statements match with IAM's wildcard rules (``*`` any run of characters, ``?`` one character; actions
compare case-insensitively, resources and ARNs case-sensitively); ``NotAction``, ``NotResource`` and
``NotPrincipal`` invert their match; an explicit Deny in any document beats every Allow; a permissions
boundary must allow as well. Conditions are evaluated for the String*, Arn*, Bool and Null operators, with
``...IfExists`` and the ``ForAnyValue:``/``ForAllValues:`` prefixes, against the request's keys: a key the
request does not carry makes a condition false, except for negated operators and ``...IfExists``
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
Another operator on a key the request carries is not evaluated: its Allow does not count, its Deny does.
(policyuniverse and parliament parse, expand and lint policies; neither decides a request against Resource,
NotResource, Principal and Condition, which is what these checks need.)

GCP: :data:`GCS_ROLE_PERMISSIONS` lists the ``storage.*`` permissions of the predefined roles a bucket
grant may use (https://cloud.google.com/storage/docs/access-control/iam-roles); custom roles bring their
own permission lists.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ._base import as_list, json_doc

__all__ = [
    "GCS_ROLE_PERMISSIONS",
    "Decision",
    "Document",
    "Principal",
    "Request",
    "evaluate",
    "glob_match",
    "role_permissions",
    "statements",
]

Principal = tuple[str, str]
"""``(type, id)`` of a caller as a policy's ``Principal`` names it: ``("AWS", role ARN)``,
``("Service", "pods.eks.amazonaws.com")``, ``("Federated", OIDC provider ARN)``; an empty or ``*`` id
stands for any principal of that type."""


@lru_cache(maxsize=4096)
def _pattern(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard match of the whole ``value``: ``*`` any run of characters, ``?`` exactly one."""
    return _pattern(pattern, ignore_case).fullmatch(value) is not None


@dataclass(frozen=True)
class Request:
    """One call a workload makes, as IAM evaluates it."""

    action: str
    """``service:Action``."""
    resource: str
    """ARN the action is on."""
    principal: Principal = ("AWS", "")
    """The caller."""
    context: Mapping[str, str] = field(default_factory=dict)
    """Condition keys the request carries (``s3:prefix``, ``aws:SecureTransport`` ...)."""


@dataclass(frozen=True)
class Document:
    """A policy document and where it comes from."""

    source: str
    """How messages name it (``role policy mlops-identity-trainer-policy``)."""
    doc: Any
    """The parsed JSON policy."""
    resource_based: bool = False
    """A resource or trust policy: its statements apply only to the principals they name."""


@dataclass(frozen=True)
class Decision:
    """Whether the request is allowed, and why."""

    allowed: bool
    reason: str


def statements(doc: Any) -> list[Mapping[str, Any]]:
    """The statements of a policy document (a JSON string or map; one statement or a list)."""
    parsed = json_doc(doc)
    if not isinstance(parsed, Mapping):
        return []
    return [st for st in as_list(parsed.get("Statement")) if isinstance(st, Mapping)]


def _strings(value: Any) -> list[str]:
    return [str(v) for v in as_list(value)]


def _any_match(patterns: Iterable[str], value: str, ignore_case: bool) -> bool:
    return any(glob_match(p, value, ignore_case=ignore_case) for p in patterns)


def _names_principal(st: Mapping[str, Any], principal: Principal, deny: bool) -> bool:
    kind, ident = principal

    def listed(value: Any) -> bool:
        if value == "*":
            return True
        if not isinstance(value, Mapping):
            return False
        for key, ids in value.items():
            if str(key) != kind:
                continue
            for pattern in _strings(ids):
                if pattern == "*" or ident in ("", "*") or glob_match(pattern, ident):
                    return True
                account = ident.split(":")[4] if ident.startswith("arn:") and ident.count(":") >= 5 else ""
                # A Deny naming the account covers every principal in it; an Allow only delegates to IAM.
                if deny and account and pattern in (account, f"arn:aws:iam::{account}:root"):
                    return True
        return False

    if "NotPrincipal" in st:
        return not listed(st["NotPrincipal"])
    return listed(st.get("Principal"))


_NEGATED = {
    "stringnotequals",
    "stringnotequalsignorecase",
    "stringnotlike",
    "arnnotequals",
    "arnnotlike",
    "numericnotequals",
    "datenotequals",
    "notipaddress",
}


def _condition_holds(operator: str, key: str, expected: list[str], context: Mapping[str, str]) -> bool | None:
    name = operator.lower()
    for prefix in ("forallvalues:", "foranyvalue:"):
        name = name.removeprefix(prefix)
    if_exists = name.endswith("ifexists")
    name = name.removesuffix("ifexists")
    values = {k.lower(): v for k, v in context.items()}
    present = key.lower() in values
    if name == "null":
        return (not present) == (bool(expected) and expected[0].lower() == "true")
    if not present:
        return if_exists or name in _NEGATED
    value = values[key.lower()]
    checks = {
        "stringequals": lambda: value in expected,
        "stringnotequals": lambda: value not in expected,
        "stringequalsignorecase": lambda: value.lower() in [e.lower() for e in expected],
        "stringnotequalsignorecase": lambda: value.lower() not in [e.lower() for e in expected],
        "stringlike": lambda: _any_match(expected, value, False),
        "stringnotlike": lambda: not _any_match(expected, value, False),
        "arnequals": lambda: _any_match(expected, value, False),
        "arnlike": lambda: _any_match(expected, value, False),
        "arnnotequals": lambda: not _any_match(expected, value, False),
        "arnnotlike": lambda: not _any_match(expected, value, False),
        "bool": lambda: value.lower() in [e.lower() for e in expected],
    }
    check = checks.get(name)
    return check() if check is not None else None


def _conditions_hold(st: Mapping[str, Any], context: Mapping[str, str]) -> bool | None:
    block = st.get("Condition")
    if not isinstance(block, Mapping):
        return True
    unknown = False
    for operator, pairs in block.items():
        if not isinstance(pairs, Mapping):
            unknown = True
            continue
        for key, expected in pairs.items():
            held = _condition_holds(str(operator), str(key), _strings(expected), context)
            if held is False:
                return False
            unknown = unknown or held is None
    return None if unknown else True


def _applies(st: Mapping[str, Any], req: Request) -> bool | None:
    """Whether the statement's actions, resources and conditions cover the request (None: not decidable)."""
    if "NotAction" in st:
        if _any_match(_strings(st["NotAction"]), req.action, True):
            return False
    elif not _any_match(_strings(st.get("Action")), req.action, True):
        return False
    if "NotResource" in st:
        if _any_match(_strings(st["NotResource"]), req.resource, False):
            return False
    elif "Resource" in st and not _any_match(_strings(st["Resource"]), req.resource, False):
        return False
    return _conditions_hold(st, req.context)


def _label(doc: Document, index: int, st: Mapping[str, Any]) -> str:
    sid = st.get("Sid")
    return f"{doc.source} statement {sid!r}" if sid else f"{doc.source} Statement[{index}]"


def _allowing(docs: Sequence[Document], req: Request) -> str | None:
    for doc in docs:
        for i, st in enumerate(statements(doc.doc)):
            if str(st.get("Effect", "Allow")) != "Allow":
                continue
            if doc.resource_based and not _names_principal(st, req.principal, deny=False):
                continue
            if _applies(st, req) is True:
                return _label(doc, i, st)
    return None


def evaluate(
    req: Request,
    identity: Sequence[Document],
    resource: Sequence[Document] = (),
    boundary: Sequence[Document] | None = None,
) -> Decision:
    """Decide ``req`` against identity policies, resource policies and an optional permissions boundary."""
    for doc in [*identity, *resource, *(boundary or ())]:
        for i, st in enumerate(statements(doc.doc)):
            if str(st.get("Effect", "Allow")) != "Deny":
                continue
            if doc.resource_based and not _names_principal(st, req.principal, deny=True):
                continue
            hit = _applies(st, req)
            if hit is None:
                return Decision(False, f"denied by {_label(doc, i, st)} (its condition cannot be evaluated)")
            if hit:
                return Decision(False, f"denied by {_label(doc, i, st)}")
    allowed_by = _allowing(identity, req) or _allowing(resource, req)
    if allowed_by is None:
        return Decision(False, "no statement allows it")
    if boundary is not None and _allowing(boundary, req) is None:
        return Decision(False, "the permissions boundary does not allow it")
    return Decision(True, f"allowed by {allowed_by}")


_OBJECT_READ = frozenset({"storage.objects.get", "storage.objects.list"})
_FOLDERS_VIEW = frozenset({"storage.folders.get", "storage.folders.list"})
_MANAGED_VIEW = frozenset({"storage.managedFolders.get", "storage.managedFolders.list"})

GCS_ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "roles/storage.objectViewer": _OBJECT_READ | _FOLDERS_VIEW | _MANAGED_VIEW,
    "roles/storage.objectCreator": frozenset(
        {
            "storage.objects.create",
            "storage.folders.create",
            "storage.managedFolders.create",
            "storage.multipartUploads.create",
            "storage.multipartUploads.abort",
            "storage.multipartUploads.listParts",
        }
    ),
    "roles/storage.objectUser": frozenset(
        {
            "storage.objects.create",
            "storage.objects.delete",
            "storage.objects.get",
            "storage.objects.list",
            "storage.objects.restore",
            "storage.objects.update",
            "storage.folders.*",
            "storage.managedFolders.create",
            "storage.managedFolders.delete",
            "storage.managedFolders.get",
            "storage.managedFolders.list",
            "storage.multipartUploads.*",
        }
    ),
    "roles/storage.objectAdmin": frozenset(
        {"storage.objects.*", "storage.folders.*", "storage.managedFolders.*", "storage.multipartUploads.*"}
    ),
    "roles/storage.admin": frozenset(
        {
            "storage.buckets.*",
            "storage.objects.*",
            "storage.folders.*",
            "storage.managedFolders.*",
            "storage.multipartUploads.*",
        }
    ),
    "roles/storage.bucketViewer": frozenset({"storage.buckets.get", "storage.buckets.list"}),
    "roles/storage.legacyBucketReader": frozenset({"storage.buckets.get", "storage.objects.list"}),
    "roles/storage.legacyBucketWriter": frozenset(
        {
            "storage.buckets.get",
            "storage.objects.create",
            "storage.objects.delete",
            "storage.objects.list",
            "storage.objects.restore",
            "storage.multipartUploads.*",
        }
    ),
    "roles/storage.legacyBucketOwner": frozenset(
        {
            "storage.buckets.get",
            "storage.buckets.update",
            "storage.buckets.getIamPolicy",
            "storage.buckets.setIamPolicy",
            "storage.objects.create",
            "storage.objects.delete",
            "storage.objects.list",
            "storage.objects.restore",
            "storage.multipartUploads.*",
        }
    ),
    "roles/storage.legacyObjectReader": frozenset({"storage.objects.get"}),
    "roles/storage.legacyObjectOwner": frozenset(
        {
            "storage.objects.get",
            "storage.objects.update",
            "storage.objects.getIamPolicy",
            "storage.objects.setIamPolicy",
        }
    ),
}
"""``storage.*`` permissions of Cloud Storage's predefined roles (``*`` entries stand for every permission
of that resource kind), from https://cloud.google.com/storage/docs/access-control/iam-roles."""


def role_permissions(role: str, custom_roles: Mapping[str, Sequence[str]]) -> frozenset[str] | None:
    """Permission patterns of a predefined or custom role; None when the role is in neither table."""
    if role in GCS_ROLE_PERMISSIONS:
        return GCS_ROLE_PERMISSIONS[role]
    if role in custom_roles:
        return frozenset(custom_roles[role])
    return None
