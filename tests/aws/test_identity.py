"""Workload identity: one least-privilege role per service account, bound by Pod Identity (or IRSA)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_support import props, run_platform, stack_raw, statements
from pulumi_mlops.components.aws.identity import IRSA_ANNOTATION
from pulumi_mlops.components.k8s.context import WORKLOAD_ROLES

from pulumi_mlops.preview import PreviewResult, ResourceGraph
from pulumi_mlops.preview.mocks import UNIQUE_SUFFIX

Previews = Callable[[str], PreviewResult]

SUBJECTS = {
    "trainer": ("mlops-training", "trainer"),
    "server": ("mlops-serving", "server"),
    "drift": ("mlops-training", "drift"),
    "mlflow": ("mlops-platform", "mlflow"),
    "feast": ("mlops-platform", "feast"),
}
"""Where the Kubernetes components create each workload's ServiceAccount."""

KEY = "arn:aws:kms:us-east-1:123456789012:key/mlops-buckets-key-key-id"


def bucket(role: str) -> str:
    return f"arn:aws:s3:::mlops-dev-{role}-123456789012-us-east-1"


def grants(graph: ResourceGraph) -> dict[str, set[tuple[str, str]]]:
    """(action, resource) pairs each workload policy allows."""
    out: dict[str, set[tuple[str, str]]] = {}
    for role in WORKLOAD_ROLES:
        doc = props(graph.named(f"mlops-identity-{role}-policy"))["policy"]
        pairs = set()
        for st in statements(doc):
            assert st["Effect"] == "Allow"
            pairs |= {(a, r) for a in st["Action"] for r in st["Resource"]}
        out[role] = pairs
    return out


def secret(stem: str) -> str:
    """The ARN of the secret named from ``namePrefix`` ``mlops-dev-<stem>-`` (the provider adds a unique suffix)."""
    return f"arn:aws:secretsmanager:us-east-1:123456789012:secret:mlops-dev-{stem}-{UNIQUE_SUFFIX}-AbCdEf"


EXPECTED: dict[str, set[tuple[str, str]]] = {
    "server": {
        ("s3:GetObject", bucket("models") + "/*"),
        ("s3:ListBucket", bucket("models")),
        ("s3:PutObject", bucket("prediction-logs") + "/*"),
        ("s3:ListBucket", bucket("prediction-logs")),
        ("kms:Decrypt", KEY),
        ("kms:GenerateDataKey", KEY),
    },
    "trainer": {
        ("s3:GetObject", bucket("models") + "/*"),
        ("s3:PutObject", bucket("models") + "/*"),
        ("s3:ListBucket", bucket("models")),
        ("s3:GetObject", bucket("datasets") + "/*"),
        ("s3:PutObject", bucket("datasets") + "/*"),
        ("s3:DeleteObject", bucket("datasets") + "/*"),
        ("s3:ListBucket", bucket("datasets")),
        ("kms:Decrypt", KEY),
        ("kms:GenerateDataKey", KEY),
    },
    "drift": {
        ("s3:GetObject", bucket("prediction-logs") + "/*"),
        ("s3:ListBucket", bucket("prediction-logs")),
        ("s3:PutObject", bucket("prediction-logs") + "/drift-reports/*"),
        ("s3:PutObject", bucket("models") + "/audit/*"),
        ("s3:GetObject", bucket("datasets") + "/*"),
        ("s3:ListBucket", bucket("datasets")),
        ("kms:Decrypt", KEY),
        ("kms:GenerateDataKey", KEY),
    },
    "mlflow": {
        ("s3:GetObject", bucket("models") + "/*"),
        ("s3:PutObject", bucket("models") + "/*"),
        ("s3:DeleteObject", bucket("models") + "/*"),
        ("s3:ListBucket", bucket("models")),
        ("kms:Decrypt", KEY),
        ("kms:GenerateDataKey", KEY),
        ("secretsmanager:GetSecretValue", secret("mlflow/mlflow-db")),
    },
    "feast": {
        ("s3:GetObject", bucket("datasets") + "/features/*"),
        ("s3:GetObject", bucket("datasets") + "/feast/registry.db*"),
        ("s3:PutObject", bucket("datasets") + "/feast/registry.db*"),
        ("s3:ListBucket", bucket("datasets")),
        ("kms:Decrypt", KEY),
        ("kms:GenerateDataKey", KEY),
        ("secretsmanager:GetSecretValue", secret("feast/feast-redis")),
    },
}


def test_each_workload_gets_exactly_its_grants(previews: Previews) -> None:
    assert grants(previews("dev").graph) == EXPECTED


def test_no_wildcard_actions_or_resources(previews: Previews) -> None:
    graph = previews("dev").graph
    for role in WORKLOAD_ROLES:
        for st in statements(props(graph.named(f"mlops-identity-{role}-policy"))["policy"]):
            for action in st["Action"]:
                assert "*" not in action, (role, action)
            for resource in st["Resource"]:
                assert resource != "*" and not resource.endswith(":*"), (role, resource)
                assert resource.startswith(("arn:aws:s3:::mlops-dev-", "arn:aws:kms:", "arn:aws:secretsmanager:"))


def test_feast_may_check_the_bucket_and_rewrite_only_its_registry(previews: Previews) -> None:
    """Feast's S3 registry store calls HeadBucket (s3:ListBucket with no prefix) before it reads the registry."""
    doc = props(previews("dev").graph.named("mlops-identity-feast-policy"))["policy"]
    (listing,) = [st for st in statements(doc) if st["Action"] == ["s3:ListBucket"]]
    assert "Condition" not in listing
    writes = [st for st in statements(doc) if "s3:PutObject" in st["Action"]]
    assert [st["Resource"] for st in writes] == [[bucket("datasets") + "/feast/registry.db*"]]


def test_pod_identity_associations_bind_namespace_and_service_account(previews: Previews) -> None:
    graph = previews("dev").graph
    associations = {
        props(a)["serviceAccount"]: props(a)
        for a in graph.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
        if a.name.startswith("mlops-identity-")
    }
    assert set(associations) == set(WORKLOAD_ROLES)
    for role, assoc in associations.items():
        assert (assoc["namespace"], assoc["serviceAccount"]) == SUBJECTS[role]
        assert assoc["clusterName"] == "mlops-dev-eks"
        assert assoc["roleArn"] == f"arn:aws:iam::123456789012:role/mlops-identity-{role}"
        trust = json.loads(props(graph.named(f"mlops-identity-{role}"))["assumeRolePolicy"])
        assert trust["Statement"] == [
            {
                "Effect": "Allow",
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Principal": {"Service": "pods.eks.amazonaws.com"},
            }
        ]


def test_irsa_mode_trusts_the_cluster_oidc_provider_per_service_account() -> None:
    raw: dict[str, Any] = stack_raw("dev")
    raw["cluster"]["workload_identity"] = "irsa"
    _, graph, platform = run_platform(raw)
    annotations = platform.cluster_context.service_account_annotations
    assert set(annotations) == set(WORKLOAD_ROLES)
    assert all(set(a) == {IRSA_ANNOTATION} for a in annotations.values())
    assert not [
        a
        for a in graph.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
        if a.name.startswith("mlops-identity-")
    ]
    oidc = props(graph.named("mlops-cluster-oidc"))
    assert oidc["clientIdLists"] == ["sts.amazonaws.com"]
    issuer = oidc["url"].removeprefix("https://")
    for role in WORKLOAD_ROLES:
        trust = json.loads(props(graph.named(f"mlops-identity-{role}"))["assumeRolePolicy"])
        (st,) = trust["Statement"]
        assert st["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert st["Principal"] == {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{issuer}"}
        assert st["Condition"]["StringEquals"] == {
            f"{issuer}:sub": "system:serviceaccount:{}:{}".format(*SUBJECTS[role]),
            f"{issuer}:aud": "sts.amazonaws.com",
        }
    assert IRSA_ANNOTATION == "eks.amazonaws.com/role-arn"
