"""SARIF that code-scanning UIs can place: a region at the program line that registered the resource, fingerprints
from policy and URN, and a document valid against the SARIF 2.1.0 schema's rules for what the pack writes.

``SARIF_SUBSET`` restates, from the OASIS schema (``sarif-2.1/schema/sarif-schema-2.1.0.json`` of
oasis-tcs/sarif-spec), the definitions of every object the report emits: required keys, closed property sets,
enums, ``startLine >= 1``, ``uri-reference`` URIs and string-valued ``partialFingerprints``.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from typing import Any

import jsonschema
import pulumi
import pulumi_kubernetes as k8s
from pulumi_mlops.policies import ALL_POLICIES
from pulumi_mlops.policies.offline import Violation, run_policies
from pulumi_mlops.policies.sarif import FINGERPRINT_KEY, fingerprint

from pulumi_mlops.preview import PreviewResult, ResourceGraph
from pulumi_mlops.preview.runner import run_program


def _object(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "additionalProperties": False, "properties": properties}


MESSAGE = _object(["text"], {"text": {"type": "string"}})
PROPERTY_BAG = {"type": "object"}
PHYSICAL = {
    **_object(
        ["artifactLocation"],
        {
            "artifactLocation": _object(["uri"], {"uri": {"type": "string", "format": "uri-reference"}}),
            "region": _object(["startLine"], {"startLine": {"type": "integer", "minimum": 1}}),
        },
    )
}
LOCATION = _object(
    [],
    {
        "id": {"type": "integer", "minimum": -1},
        "physicalLocation": PHYSICAL,
        "message": MESSAGE,
        "logicalLocations": {
            "type": "array",
            "items": _object(
                [], {"name": {"type": "string"}, "fullyQualifiedName": {"type": "string"}, "kind": {"type": "string"}}
            ),
        },
    },
)
LEVEL = {"enum": ["none", "note", "warning", "error"]}
RULE = _object(
    ["id"],
    {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "shortDescription": MESSAGE,
        "fullDescription": MESSAGE,
        "defaultConfiguration": _object([], {"level": LEVEL}),
        "properties": PROPERTY_BAG,
    },
)
RESULT = _object(
    ["message"],
    {
        "ruleId": {"type": "string"},
        "ruleIndex": {"type": "integer", "minimum": -1},
        "level": LEVEL,
        "message": MESSAGE,
        "locations": {"type": "array", "items": LOCATION, "uniqueItems": True},
        "relatedLocations": {"type": "array", "items": LOCATION, "uniqueItems": True},
        "partialFingerprints": {"type": "object", "additionalProperties": {"type": "string"}},
        "properties": PROPERTY_BAG,
    },
)
SARIF_SUBSET: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    **_object(
        ["version", "runs"],
        {
            "$schema": {"type": "string", "format": "uri"},
            "version": {"enum": ["2.1.0"]},
            "runs": {
                "type": "array",
                "items": _object(
                    ["tool"],
                    {
                        "tool": _object(
                            ["driver"],
                            {
                                "driver": _object(
                                    ["name"],
                                    {
                                        "name": {"type": "string"},
                                        "version": {"type": "string"},
                                        "informationUri": {"type": "string", "format": "uri"},
                                        "rules": {"type": "array", "items": RULE, "uniqueItems": True},
                                    },
                                )
                            },
                        ),
                        "automationDetails": _object([], {"id": {"type": "string"}}),
                        "results": {"type": "array", "items": RESULT},
                    },
                ),
            },
        },
    ),
}


def _validate(doc: dict[str, Any]) -> None:
    validator = jsonschema.Draft4Validator(SARIF_SUBSET, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert [f"{list(e.path)}: {e.message}" for e in errors] == []


def _admin_binding_program() -> int:
    """Builds one ClusterRoleBinding of cluster-admin to a ServiceAccount; returns the constructor's line."""
    line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
    k8s.rbac.v1.ClusterRoleBinding(
        "trainer-admin",
        role_ref=k8s.rbac.v1.RoleRefArgs(
            api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="cluster-admin"
        ),
        subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name="trainer", namespace="training")],
        opts=pulumi.ResourceOptions(provider=k8s.Provider("k8s", kubeconfig="{}")),
    )
    return line


def _program_graph() -> tuple[ResourceGraph, int]:
    lines: list[int] = []
    graph = run_program(lambda: lines.append(_admin_binding_program()), {}, stack="test")
    return graph, lines[0]


def _only(*names: str) -> list[Any]:
    return [p for p in ALL_POLICIES if p.name in names]


def test_results_are_placed_at_the_line_that_registered_the_resource() -> None:
    graph, line = _program_graph()
    (binding,) = graph.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
    assert (binding.source_file, binding.source_line) == ("tests/policies/test_sarif.py", line)
    report = run_policies(
        graph, policies=_only("k8s-rbac-no-cluster-admin-for-service-accounts"), source="stacks/x.yaml"
    )
    doc = report.to_sarif()
    _validate(doc)
    (result,) = doc["runs"][0]["results"]
    physical = result["locations"][0]["physicalLocation"]
    assert physical == {"artifactLocation": {"uri": "tests/policies/test_sarif.py"}, "region": {"startLine": line}}
    assert result["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "stacks/x.yaml"
    assert result["partialFingerprints"] == {FINGERPRINT_KEY: fingerprint(result["ruleId"], binding.urn)}


def test_graph_document_leaves_out_source_positions() -> None:
    graph, _ = _program_graph()
    assert "source_line" not in graph.to_json() and "test_sarif.py" not in graph.to_json()


def test_fingerprints_follow_policy_and_urn_not_the_message() -> None:
    graph, _ = _program_graph()
    report = run_policies(graph, policies=_only("k8s-rbac-no-cluster-admin-for-service-accounts"))
    (violation,) = report.violations
    reworded = copy.copy(report)
    reworded.violations = [Violation(**{**violation.__dict__, "message": "reworded"})]
    twice = copy.copy(report)
    twice.violations = [violation, Violation(**{**violation.__dict__, "message": "second finding"})]
    other = copy.copy(report)
    other.violations = [Violation(**{**violation.__dict__, "urn": violation.urn + "-other"})]

    def prints(r: Any) -> list[str]:
        return [res["partialFingerprints"][FINGERPRINT_KEY] for res in r.to_sarif()["runs"][0]["results"]]

    assert prints(reworded) == prints(report)
    first, second = prints(twice)
    assert first == prints(report)[0] and second.split(":")[0] == first.split(":")[0] and second != first
    assert prints(other) != prints(report)
    assert violation.message not in prints(report)[0]


def test_real_stack_sarif_is_valid_and_every_resource_result_has_a_region(
    previews: Callable[[str], PreviewResult],
) -> None:
    result = previews("gcp-prod")  # a stack with advisory results on resources and on the stack
    report = run_policies(result.graph, source="stacks/Pulumi.gcp-prod.yaml")
    doc = report.to_sarif()
    _validate(doc)
    results = doc["runs"][0]["results"]
    assert results
    for res in results:
        urn = res["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
        physical = res["locations"][0]["physicalLocation"]
        if urn in result.graph.resources:
            assert physical["artifactLocation"]["uri"].endswith(".py"), res
            assert physical["region"]["startLine"] > 1
        else:
            assert physical["artifactLocation"]["uri"] == "stacks/Pulumi.gcp-prod.yaml"


def test_the_subset_schema_rejects_what_the_sarif_schema_rejects() -> None:
    graph, _ = _program_graph()
    doc = run_policies(graph, policies=_only("k8s-rbac-no-cluster-admin-for-service-accounts")).to_sarif()
    broken = copy.deepcopy(doc)
    broken["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    with_number = copy.deepcopy(doc)
    with_number["runs"][0]["results"][0]["partialFingerprints"][FINGERPRINT_KEY] = 7
    for bad in (broken, with_number):
        validator = jsonschema.Draft4Validator(SARIF_SUBSET, format_checker=jsonschema.FormatChecker())
        assert list(validator.iter_errors(bad))
