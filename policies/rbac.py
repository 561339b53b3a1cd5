"""Kubernetes RBAC: no cluster-admin for workloads, no wildcard roles, no escalation verbs, no wide secret reads.

The checks read the program's own Roles, ClusterRoles and bindings. What a Helm release installs is rendered
by the chart on the cluster and is not visible to a policy, so the charts' own RBAC is not checked here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pulumi_policy import Policy, ResourceValidationArgs

from ._base import as_list, get, iter_dicts, resource_policy

__all__ = ["CLUSTER_ROLE", "CLUSTER_ROLE_BINDING", "POLICIES", "RESOURCE_TYPES", "ROLE", "ROLE_BINDING"]

Report = Callable[[str], None]

ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
CLUSTER_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
ROLES = (ROLE, CLUSTER_ROLE)
BINDINGS = (ROLE_BINDING, CLUSTER_ROLE_BINDING)

RESOURCE_TYPES: tuple[str, ...] = (*ROLES, *BINDINGS)
"""Every resource type a policy of this module checks."""

POLICIES: list[Policy] = []

ADMIN_CLUSTER_ROLES = frozenset({"cluster-admin"})
"""Built-in ClusterRoles that grant every verb on every resource of the cluster."""
RBAC_GROUP = "rbac.authorization.k8s.io"
CORE_GROUP = ""
AUTHENTICATION_GROUP = "authentication.k8s.io"
READ_VERBS = ("get", "list", "watch")

ESCALATION: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # verb: (API groups, resources) it escalates through
    "bind": (frozenset({RBAC_GROUP}), frozenset({"roles", "clusterroles"})),
    "escalate": (frozenset({RBAC_GROUP}), frozenset({"roles", "clusterroles"})),
    "impersonate": (
        frozenset({CORE_GROUP, AUTHENTICATION_GROUP}),
        frozenset({"users", "groups", "serviceaccounts", "uids", "userextras"}),
    ),
}
"""Verbs that let a subject gain permissions it does not hold (Kubernetes RBAC "privilege escalation prevention")."""


def _strings(value: Any) -> list[str]:
    return [str(v) for v in as_list(value)]


def _rules(props: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for i, rule in enumerate(iter_dicts(get(props, "rules"))):
        yield f"rules[{i}]", rule


def _grants(rule: Mapping[str, Any], verb: str) -> bool:
    verbs = _strings(get(rule, "verbs"))
    return verb in verbs or "*" in verbs


def _covers(rule: Mapping[str, Any], key: str, wanted: frozenset[str]) -> bool:
    """The rule's ``apiGroups``/``resources`` name one of ``wanted`` or ``*`` (subresources such as
    ``roles/status`` do not count)."""
    values = _strings(get(rule, key))
    return "*" in values or any(v in wanted for v in values)


@resource_policy(
    "k8s-rbac-no-cluster-admin-for-service-accounts",
    "RoleBindings and ClusterRoleBindings do not bind the cluster-admin ClusterRole to a ServiceAccount.",
    BINDINGS,
    registry=POLICIES,
)
def _no_admin_binding(args: ResourceValidationArgs, report: Report) -> None:
    ref = get(args.props, "roleRef") or {}
    if get(ref, "kind") != "ClusterRole" or str(get(ref, "name", "")) not in ADMIN_CLUSTER_ROLES:
        return
    for i, subject in enumerate(iter_dicts(get(args.props, "subjects"))):
        if get(subject, "kind") == "ServiceAccount":
            who = f"{get(subject, 'namespace', '?')}/{get(subject, 'name', '?')}"
            report(
                f"subjects[{i}] ServiceAccount {who} is bound to ClusterRole {get(ref, 'name')}: bind a Role that "
                "grants only the verbs and resources the workload calls"
            )


@resource_policy(
    "k8s-rbac-no-wildcard-rules",
    "Roles and ClusterRoles have no rule granting every verb ('*') on every resource ('*').",
    ROLES,
    registry=POLICIES,
)
def _no_wildcard(args: ResourceValidationArgs, report: Report) -> None:
    for label, rule in _rules(args.props):
        if "*" in _strings(get(rule, "verbs")) and "*" in _strings(get(rule, "resources")):
            groups = ", ".join(_strings(get(rule, "apiGroups"))) or "none"
            report(
                f"{label} grants verbs '*' on resources '*' (apiGroups: {groups}), an administrator's role: "
                "list the verbs and resources the subject needs"
            )


@resource_policy(
    "k8s-rbac-no-escalation-verbs",
    "Roles and ClusterRoles grant no bind or escalate on roles/clusterroles and no impersonate on users, groups, "
    "serviceaccounts, uids or userextras (named or through '*').",
    ROLES,
    registry=POLICIES,
)
def _no_escalation(args: ResourceValidationArgs, report: Report) -> None:
    for label, rule in _rules(args.props):
        for verb, (groups, resources) in ESCALATION.items():
            if _grants(rule, verb) and _covers(rule, "apiGroups", groups) and _covers(rule, "resources", resources):
                named = ", ".join(_strings(get(rule, "resources")))
                report(
                    f"{label} grants {verb!r} on {named}, which lets the subject gain permissions it does not hold: "
                    "remove it"
                )


@resource_policy(
    "k8s-rbac-no-wide-secret-reads",
    "ClusterRoles do not grant get, list or watch on core secrets without resourceNames, and Roles do not grant "
    "them through resources '*'.",
    ROLES,
    registry=POLICIES,
)
def _no_secret_reads(args: ResourceValidationArgs, report: Report) -> None:
    cluster = args.resource_type == CLUSTER_ROLE
    for label, rule in _rules(args.props):
        if not _covers(rule, "apiGroups", frozenset({CORE_GROUP})) or _strings(get(rule, "resourceNames")):
            continue
        resources = _strings(get(rule, "resources"))
        wide = "*" in resources or (cluster and "secrets" in resources)
        verbs = [v for v in READ_VERBS if _grants(rule, v)]
        if wide and verbs:
            scope = "every namespace" if cluster else "the namespace"
            report(
                f"{label} grants {', '.join(verbs)} on {', '.join(resources)}: reads every Secret in {scope}; "
                "use a Role in the workload's namespace with resourceNames"
            )
