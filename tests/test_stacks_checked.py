"""What CI proves for every stack: Kubernetes objects valid against the official schemas, and every
resource type covered by a mock test (the coverage report `mlops preview` prints)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pulumi_mlops.components.k8s.manifests import check_manifests

from pulumi_mlops.preview import PreviewResult, repo_root
from pulumi_mlops.preview.coverage import coverage_report, is_builtin_kubernetes
from pulumi_mlops.spec import stack_names

STACKS = stack_names(repo_root() / "stacks")
Previews = Callable[[str], PreviewResult]


@pytest.mark.parametrize("stack", STACKS)
def test_every_kubernetes_object_passes_strict_schema_validation(previews: Previews, stack: str) -> None:
    result = previews(stack)
    builtin = [r for r in result.graph.resources.values() if is_builtin_kubernetes(r.type)]
    assert len(builtin) > 40, "the stack builds the Kubernetes platform services"
    assert check_manifests(result.graph, result.spec.cluster.kubernetes_version) == []


@pytest.mark.parametrize("stack", STACKS)
def test_coverage_report_is_complete(previews: Previews, stack: str) -> None:
    report = coverage_report(previews(stack).graph)
    assert report.types > 20
    assert [r.type for r in report.rows if not r.tested] == [], "resource types with no mock test"
    assert report.schema_validated == report.schema_applicable > 0
    assert report.with_policy >= report.types // 2
