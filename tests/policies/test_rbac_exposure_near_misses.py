"""RBAC and exposure policies stay silent on changes that look close to a violation but are not one.

The baselines and broken-field cases are in ``test_resource_policies.py``; these pin the edges of each check.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pulumi_mlops.policies.exposure import credential_key

from .test_resource_policies import BASELINES, run

ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
SERVICE = "kubernetes:core/v1:Service"


def _with(type_: str, path: list[Any], value: Any) -> dict[str, Any]:
    props = copy.deepcopy(BASELINES[type_])
    node = props
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return props


@pytest.mark.parametrize(
    ("policy", "type_", "path", "value"),
    [
        # every verb on one resource is not an administrator's role
        ("k8s-rbac-no-wildcard-rules", CLUSTER_ROLE, ["rules", 0, "verbs"], ["*"]),
        # a Role may read every Secret of its own namespace by name only, and a named Secret is not a wide read
        ("k8s-rbac-no-wide-secret-reads", ROLE, ["rules", 2, "verbs"], ["get", "watch"]),
        (
            "k8s-rbac-no-wide-secret-reads",
            ROLE,
            ["rules", 2],
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
        ),
        # secrets of another API group are not core Secrets; create is not a read
        (
            "k8s-rbac-no-wide-secret-reads",
            CLUSTER_ROLE,
            ["rules", 0],
            {"apiGroups": ["batch"], "resources": ["*"], "verbs": ["get"]},
        ),
        (
            "k8s-rbac-no-wide-secret-reads",
            CLUSTER_ROLE,
            ["rules", 0],
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
        ),
        # bind on a subresource or another group's roles is not RBAC's bind
        ("k8s-rbac-no-escalation-verbs", CLUSTER_ROLE, ["rules", 1, "resources"], ["roles/status"]),
        (
            "k8s-rbac-no-escalation-verbs",
            CLUSTER_ROLE,
            ["rules", 1],
            {"apiGroups": ["apps"], "resources": ["*"], "verbs": ["*"]},
        ),
        # cluster-admin for a group of people, or a narrow ClusterRole for a ServiceAccount
        ("k8s-rbac-no-cluster-admin-for-service-accounts", BINDING, ["roleRef", "kind"], "ClusterRole"),
        # internal load balancers need no source ranges; ClusterIP Services are not exposed
        (
            "k8s-load-balancer-restricted",
            SERVICE,
            ["metadata", "annotations"],
            {"networking.gke.io/load-balancer-type": "Internal"},
        ),
        ("k8s-load-balancer-restricted", SERVICE, ["spec"], {"type": "ClusterIP", "ports": [{"port": 80.0}]}),
        ("k8s-no-nodeport-services", SERVICE, ["spec", "type"], "ClusterIP"),
    ],
)
def test_near_miss_is_silent(policy: str, type_: str, path: list[Any], value: Any) -> None:
    assert run(policy, type_, _with(type_, path, value), {}) == []


def test_internal_annotations_let_a_load_balancer_skip_source_ranges() -> None:
    for key, value in [
        ("service.beta.kubernetes.io/aws-load-balancer-scheme", "internal"),
        ("cloud.google.com/load-balancer-type", "Internal"),
    ]:
        props = _with(SERVICE, ["metadata", "annotations"], {key: value})
        del props["spec"]["loadBalancerSourceRanges"]
        assert run("k8s-load-balancer-restricted", SERVICE, props, {}) == [], key
        props["metadata"]["annotations"][key] = "external"
        assert run("k8s-load-balancer-restricted", SERVICE, props, {}), key


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("password", True),
        ("DB_PASSWORD", True),
        ("awsSecretAccessKey", True),
        ("api-key.txt", True),
        ("HF_TOKEN", True),
        ("private_key.pem", True),
        ("tokenizer.json", False),
        ("secret_name", False),
        ("TOKEN_PATH", False),
        ("access_key_id", False),
        ("keyboard", False),
    ],
)
def test_credential_key_names(key: str, expected: bool) -> None:
    assert credential_key(key) is expected
