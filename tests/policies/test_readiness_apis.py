"""Deploy readiness, GCP APIs: each check from a real GCP stack's graph with one defect introduced."""

from __future__ import annotations

import pytest

from pulumi_mlops.preview import CapturedResource, ResourceGraph

from .readiness import Previews, baseline, cut_dependencies, drop, first, run

POLICY = "gcp-apis-enabled"
SERVICE = "gcp:projects/service:Service"


def _service(graph: ResourceGraph, api: str) -> CapturedResource:
    return first(graph, SERVICE, lambda r: r.inputs.get("service") == api)


@pytest.mark.parametrize("stack", ["gcp-dev", "gcp-prod", "dev"])
def test_real_stacks_enable_every_api_they_use(stack: str, previews: Previews) -> None:
    graph, spec = baseline(previews, stack)
    assert run(graph, spec, POLICY).violations == []


@pytest.mark.parametrize(
    ("api", "fragment"),
    [
        ("containerfilesystem.googleapis.com", "image streaming (nodeConfig.gcfsConfig)"),
        ("cloudresourcemanager.googleapis.com", "IAMMember resources"),
        ("monitoring.googleapis.com", "managed Prometheus"),
        ("sqladmin.googleapis.com", "DatabaseInstance resources"),
    ],
)
def test_an_api_the_stack_does_not_enable(api: str, fragment: str, previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-prod")
    drop(graph, _service(graph, api))
    report = run(graph, spec, POLICY)
    assert len(report.violations) == 1 and report.violations[0].mandatory
    message = report.violations[0].message
    assert message.startswith(f"{api} is not enabled by the stack") and fragment in message
    assert "PLATFORM_SERVICES" in message


def test_a_resource_created_before_its_api_is_enabled(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-dev")
    service = _service(graph, "redis.googleapis.com")
    redis = first(graph, "gcp:redis/instance:Instance")
    provider = graph.resources[redis.provider.rsplit("::", 1)[0]] if redis.provider else None
    assert provider is not None
    cut_dependencies(provider, [service.urn])
    report = run(graph, spec, POLICY)
    names = {v.resource_name for v in report.violations}
    assert redis.name in names
    assert all("does not wait for" in v.message for v in report.violations)
    ours = next(v for v in report.violations if v.resource_name == redis.name)
    assert f"needs redis.googleapis.com for Instance resources but does not wait for {service.name}" in ours.message
