"""``oidc-trust-pinned``: the CI and IRSA trusts of the real stacks pass; each way of loosening one fails.

Baselines are the stacks' own graphs (staging: the GitHub deploy and preview roles; gcp-prod: the workload identity
provider and the service-account bindings), and one trust written as the components write it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from pulumi_mlops.preview import CapturedResource, ResourceGraph

from .readiness import Previews, baseline, messages, run

POLICY = "oidc-trust-pinned"
HOST = "token.actions.githubusercontent.com"
PROVIDER_ARN = f"arn:aws:iam::123456789012:oidc-provider/{HOST}"


def _trust(role: CapturedResource) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(role.inputs["assumeRolePolicy"])
    return doc


def _set_trust(role: CapturedResource, change: Callable[[dict[str, Any]], None]) -> None:
    doc = _trust(role)
    change(doc["Statement"][0])
    role.inputs["assumeRolePolicy"] = json.dumps(doc)


def _violations(graph: ResourceGraph, stack: str, previews: Previews) -> list[str]:
    return messages(run(graph, previews(stack).spec, POLICY), POLICY)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "gcp-dev", "gcp-prod"])
def test_every_stack_passes(previews: Previews, stack: str) -> None:
    graph, spec = baseline(previews, stack)
    assert run(graph, spec, POLICY).violations == []


def test_the_staging_roles_are_the_baseline(previews: Previews) -> None:
    graph, _ = baseline(previews, "staging")
    deploy = _trust(graph.named("mlops-ci-deploy"))["Statement"][0]
    assert deploy["Principal"] == {"Federated": PROVIDER_ARN}
    assert deploy["Condition"] == {
        "StringEquals": {f"{HOST}:aud": "sts.amazonaws.com", f"{HOST}:sub": "repo:acme/ml-platform:environment:staging"}
    }


def _drop_sub(st: dict[str, Any]) -> None:
    del st["Condition"]["StringEquals"][f"{HOST}:sub"]


def _drop_aud(st: dict[str, Any]) -> None:
    del st["Condition"]["StringEquals"][f"{HOST}:aud"]


def _whole_repository(st: dict[str, Any]) -> None:
    sub = st["Condition"]["StringEquals"].pop(f"{HOST}:sub")
    st["Condition"]["StringLike"] = {f"{HOST}:sub": sub.split(":environment:")[0] + ":*"}


def _any_environment(st: dict[str, Any]) -> None:
    st["Condition"]["StringLike"] = {f"{HOST}:sub": "repo:acme/ml-platform:environment:*"}
    del st["Condition"]["StringEquals"][f"{HOST}:sub"]


def _aud_pattern(st: dict[str, Any]) -> None:
    del st["Condition"]["StringEquals"][f"{HOST}:aud"]
    st["Condition"]["StringLike"] = {f"{HOST}:aud": "*"}


def _other_host(st: dict[str, Any]) -> None:
    cond = st["Condition"]["StringEquals"]
    cond["gitlab.com:sub"] = cond.pop(f"{HOST}:sub")


def _negated(st: dict[str, Any]) -> None:
    sub = st["Condition"]["StringEquals"].pop(f"{HOST}:sub")
    st["Condition"]["StringNotEquals"] = {f"{HOST}:sub": sub}


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (_drop_sub, f"does not pin {HOST}:sub"),
        (_drop_aud, f"does not pin {HOST}:aud"),
        (_whole_repository, "lets token.actions.githubusercontent.com:sub match repo:acme/ml-platform:*"),
        (_any_environment, "match repo:acme/ml-platform:environment:*"),
        (_aud_pattern, f"does not pin {HOST}:aud"),
        (_other_host, f"does not pin {HOST}:sub"),
        (_negated, f"does not pin {HOST}:sub"),
    ],
    ids=["no-sub", "no-aud", "whole-repository", "any-environment", "aud-pattern", "other-host", "negated"],
)
def test_a_loosened_ci_trust_fails(previews: Previews, change: Callable[[dict[str, Any]], None], fragment: str) -> None:
    graph, _ = baseline(previews, "staging")
    _set_trust(graph.named("mlops-ci-deploy"), change)
    found = _violations(graph, "staging", previews)
    assert len(found) == 1 and found[0].startswith("mlops-ci-deploy: ")
    assert fragment in found[0]


@pytest.mark.parametrize(
    ("sub", "operator"),
    [
        ("repo:acme/ml-platform:ref:refs/heads/release/*", "StringLike"),
        ("project_path:acme/ml-platform:ref_type:branch:ref:*", "StringLike"),
        ("repo:acme/ml-platform:environment:*", "StringEquals"),
        ("system:serviceaccount:mlops-training:trainer", "StringLike"),
    ],
    ids=["release-branches", "gitlab-branches", "literal-star", "exact-like"],
)
def test_subjects_fixed_through_the_fourth_field_pass(previews: Previews, sub: str, operator: str) -> None:
    def change(st: dict[str, Any]) -> None:
        del st["Condition"]["StringEquals"][f"{HOST}:sub"]
        st["Condition"].setdefault(operator, {})[f"{HOST}:sub"] = sub

    graph, _ = baseline(previews, "staging")
    _set_trust(graph.named("mlops-ci-deploy"), change)
    assert _violations(graph, "staging", previews) == []


def test_service_trusts_are_not_checked(previews: Previews) -> None:
    graph, _ = baseline(previews, "staging")
    role = graph.named("mlops-identity-trainer")
    assert _trust(role)["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert _violations(graph, "staging", previews) == []


def test_a_workload_identity_provider_must_pin_the_repository(previews: Previews) -> None:
    graph, _ = baseline(previews, "gcp-prod")
    provider = graph.named("mlops-ci-provider")
    assert provider.inputs["attributeCondition"] == "assertion.repository == 'acme/ml-platform'"
    provider.inputs["attributeCondition"] = "assertion.repository_owner == 'acme'"
    found = _violations(graph, "gcp-prod", previews)
    assert len(found) == 1 and "mlops-ci-provider: attributeCondition" in found[0]
    assert "does not pin the repository" in found[0]
    del provider.inputs["attributeCondition"]
    assert "does not pin the repository" in _violations(graph, "gcp-prod", previews)[0]


def test_no_service_account_is_impersonable_by_the_whole_pool(previews: Previews) -> None:
    graph, _ = baseline(previews, "gcp-prod")
    binding = graph.named("mlops-ci-deploy-0-wif")
    principal = binding.inputs["member"]
    assert principal.endswith("/subject/repo:acme/ml-platform:environment:gcp-production")
    pool = principal.removeprefix("principal://").split("/subject/")[0]
    binding.inputs["member"] = f"principalSet://{pool}/*"
    found = _violations(graph, "gcp-prod", previews)
    assert len(found) == 1 and "every identity of the pool" in found[0]
