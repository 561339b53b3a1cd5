"""Exact messages and edge cases of the RBAC, load balancer, NodePort and ConfigMap credential checks (see
``exact.py``)."""

from __future__ import annotations

import pytest

from .exact import DELETE, Exact, changed, reported

ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
CR = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
CRB = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
SVC = "kubernetes:core/v1:Service"
ENVOY = "kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy"
CM = "kubernetes:core/v1:ConfigMap"
ADMIN = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}
BINDING_FIX = "bind a Role that grants only the verbs and resources the workload calls"
WILDCARD_FIX = "an administrator's role: list the verbs and resources the subject needs"
SECRETS_FIX = "use a Role in the workload's namespace with resourceNames"
LB_OPEN = (
    "is an internet-facing load balancer without loadBalancerSourceRanges: list the clients' CIDRs or annotate it "
    "internal"
)
ENVOY_SERVICE = "spec.provider.kubernetes.envoyService"
SECRET_FIX = "keep it in a Secret (or the cloud's secret manager) and reference it"


def _rules(*rules: dict[str, list[str]]) -> dict[str, object]:
    return {"metadata": {"name": "r"}, "rules": list(rules)}


CASES = [
    Exact(
        "admin-binding-subjects-without-namespace-or-name",
        "k8s-rbac-no-cluster-admin-for-service-accounts",
        CRB,
        {
            "roleRef": ADMIN,
            "subjects": [
                {"kind": "User", "name": "ops"},
                {"kind": "ServiceAccount", "name": "ci"},
                {"kind": "ServiceAccount", "namespace": "mlops"},
            ],
        },
        [
            f"subjects[1] ServiceAccount ?/ci is bound to ClusterRole cluster-admin: {BINDING_FIX}",
            f"subjects[2] ServiceAccount mlops/? is bound to ClusterRole cluster-admin: {BINDING_FIX}",
        ],
    ),
    Exact(
        "binding-of-an-unnamed-cluster-role",
        "k8s-rbac-no-cluster-admin-for-service-accounts",
        CRB,
        {"roleRef": {"kind": "ClusterRole"}, "subjects": [{"kind": "ServiceAccount", "name": "ci"}]},
        [],
    ),
    Exact(
        "wildcard-rules-with-and-without-groups",
        "k8s-rbac-no-wildcard-rules",
        CR,
        _rules(
            {"verbs": ["get"], "resources": ["*"]},
            {"verbs": ["*"], "resources": ["*"]},
            {"apiGroups": ["", "apps"], "verbs": ["*"], "resources": ["*"]},
        ),
        [
            f"rules[1] grants verbs '*' on resources '*' (apiGroups: none), {WILDCARD_FIX}",
            f"rules[2] grants verbs '*' on resources '*' (apiGroups: , apps), {WILDCARD_FIX}",
        ],
    ),
    Exact(
        "escalation-through-any-group",
        "k8s-rbac-no-escalation-verbs",
        ROLE,
        _rules({"apiGroups": ["*"], "verbs": ["bind", "impersonate"], "resources": ["roles", "serviceaccounts"]}),
        [
            "rules[0] grants 'bind' on roles, serviceaccounts, which lets the subject gain permissions it does not "
            "hold: remove it",
            "rules[0] grants 'impersonate' on roles, serviceaccounts, which lets the subject gain permissions it does "
            "not hold: remove it",
        ],
    ),
    Exact(
        "secret-reads-cluster-wide",
        "k8s-rbac-no-wide-secret-reads",
        CR,
        _rules({"apiGroups": ["*"], "verbs": ["get", "watch", "delete"], "resources": ["secrets", "configmaps"]}),
        [f"rules[0] grants get, watch on secrets, configmaps: reads every Secret in every namespace; {SECRETS_FIX}"],
    ),
    Exact(
        "secret-reads-of-every-resource-in-a-namespace",
        "k8s-rbac-no-wide-secret-reads",
        ROLE,
        _rules({"apiGroups": [""], "verbs": ["*"], "resources": ["*"]}),
        [f"rules[0] grants get, list, watch on *: reads every Secret in the namespace; {SECRETS_FIX}"],
    ),
    Exact(
        "secret-reads-of-named-secrets",
        "k8s-rbac-no-wide-secret-reads",
        CR,
        _rules({"apiGroups": [""], "verbs": ["get"], "resources": ["secrets"], "resourceNames": ["churn-db"]}),
        [],
    ),
    Exact(
        "service-load-balancer-open",
        "k8s-load-balancer-restricted",
        SVC,
        changed(SVC, spec__loadBalancerSourceRanges=DELETE),
        [f"Service {LB_OPEN}"],
    ),
    Exact(
        "envoy-service-type-defaults-to-load-balancer",
        "k8s-load-balancer-restricted",
        ENVOY,
        changed(ENVOY, **{f"{ENVOY_SERVICE}.type": DELETE, f"{ENVOY_SERVICE}.annotations": DELETE}),
        [f"{ENVOY_SERVICE} {LB_OPEN}"],
    ),
    Exact(
        "envoy-cluster-ip-service",
        "k8s-load-balancer-restricted",
        ENVOY,
        changed(ENVOY, **{f"{ENVOY_SERVICE}.type": "ClusterIP", f"{ENVOY_SERVICE}.annotations": DELETE}),
        [],
    ),
    Exact(
        "node-port-with-ports",
        "k8s-no-nodeport-services",
        SVC,
        changed(SVC, spec__type="NodePort", spec__ports=[{"port": 80.0, "nodePort": 30080.0}, {"nodePort": 30443.0}]),
        ["spec.type is NodePort (nodePort 30080, 30443): expose it through the Gateway or a ClusterIP Service"],
    ),
    Exact(
        "node-port-without-ports",
        "k8s-no-nodeport-services",
        SVC,
        changed(SVC, spec__type="NodePort", spec__ports=[{"port": 80.0}]),
        ["spec.type is NodePort: expose it through the Gateway or a ClusterIP Service"],
    ),
    Exact(
        "configmap-credentials",
        "k8s-configmap-no-credentials",
        CM,
        {
            "data": {"db_password": "hunter2", "empty_token": None, "notes": "AKIAABCDEFGHIJKLMNOP"},
            "binaryData": {"api-key.bin": "eA=="},
        },
        [
            f"data['db_password'] is named like a credential and has a value: {SECRET_FIX}",
            f"data['notes'] contains an AWS access key id: {SECRET_FIX}",
            f"binaryData['api-key.bin'] is named like a credential: {SECRET_FIX}",
        ],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_check_reports_exactly(case: Exact) -> None:
    assert reported(case) == case.messages
