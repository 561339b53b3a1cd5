"""Image builds and what waits for them: from a real stack's graph with one defect introduced."""

from __future__ import annotations

import pytest
from pulumi_mlops.policies import own_registries_for

from pulumi_mlops.preview import CapturedResource, ResourceGraph

from .readiness import Previews, baseline, cut_dependencies, first, named, run

WAITS = "images-wait-for-their-push"
PUSHES = "image-build-pushes-to-own-registry"
STACKS = ["dev", "staging", "prod", "gcp-dev", "gcp-prod"]
IMAGE = "docker-build:index:Image"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CRON_JOB = "kubernetes:batch/v1:CronJob"


def _by_name(graph: ResourceGraph, type_: str, name: str) -> CapturedResource:
    return first(graph, type_, lambda r: r.inputs["metadata"]["name"] == name)


@pytest.mark.parametrize("stack", STACKS)
def test_real_stacks_push_to_their_own_registry_before_any_workload_pulls(stack: str, previews: Previews) -> None:
    graph, spec = baseline(previews, stack)
    assert len(graph.of_type(IMAGE)) == 3
    report = run(graph, spec, WAITS, PUSHES)
    assert [f"{v.policy} {v.resource_name}: {v.message}" for v in report.violations] == []


def test_a_batch_cron_job_that_does_not_wait_for_the_push_is_mandatory(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    build = named(graph, "mlops-images-runtime")
    batch = _by_name(graph, CRON_JOB, "batch-churn-nightly")
    cut_dependencies(batch, [build.urn])
    report = run(graph, spec, WAITS)
    assert [(v.policy, v.resource_name, v.mandatory) for v in report.violations] == [(WAITS, batch.name, True)]
    message = report.violations[0].message
    assert "CronJob mlops-training/batch-churn-nightly container 'scorer'" in message
    assert "mlops-images-runtime" in message and "does not wait for the push" in message
    assert "ImagePullBackOff" in message and "PlatformImages.refs" in message


def test_a_deployment_waits_for_the_push_through_the_bootstrap_job_it_awaits(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    deployment = _by_name(graph, DEPLOYMENT, "churn-stable")
    cut_dependencies(deployment, [named(graph, "mlops-images-runtime").urn])
    assert run(graph, spec, WAITS).violations == [], "the training Job it waits for waits for the push"


def test_a_gpu_training_cron_job_without_the_cuda_push_is_caught_on_gcp(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-prod")
    cuda = named(graph, "mlops-images-runtime-cuda")
    trainer = next(
        r for r in graph.of_type(CRON_JOB) if cuda.urn in {u for urns in r.property_dependencies.values() for u in urns}
    )
    cut_dependencies(trainer, [cuda.urn])
    report = run(graph, spec, WAITS)
    assert [(v.resource_name, v.mandatory) for v in report.violations] == [(trainer.name, True)]
    assert f"CronJob mlops-training/{trainer.inputs['metadata']['name']}" in report.violations[0].message


@pytest.mark.parametrize(
    ("stack", "repository"), [("dev", "mlops-registry-mlflow"), ("gcp-dev", "mlops-registry-docker")]
)
def test_a_build_that_does_not_wait_for_its_repository_is_mandatory(
    stack: str, repository: str, previews: Previews
) -> None:
    graph, spec = baseline(previews, stack)
    build = named(graph, "mlops-images-mlflow")
    repo = named(graph, repository)
    cut_dependencies(build, [repo.urn])
    report = run(graph, spec, WAITS)
    assert [(v.resource_name, v.mandatory) for v in report.violations] == [(build.name, True)]
    message = report.violations[0].message
    assert f"to repository {repository} but does not wait for it" in message
    assert "repository does not exist" in message


def test_a_build_pushing_to_another_stacks_registry_is_mandatory(previews: Previews) -> None:
    graph, spec = baseline(previews, "staging")
    build = named(graph, "mlops-images-runtime")
    tag = build.inputs["tags"][0]
    build.inputs["tags"] = [tag.replace("/mlops-staging/", "/mlops-prod/")]
    report = run(graph, spec, PUSHES)
    assert [(v.resource_name, v.mandatory) for v in report.violations] == [(build.name, True)]
    assert "outside the stack's own registry" in report.violations[0].message
    assert own_registries_for(spec)[0] in report.violations[0].message
