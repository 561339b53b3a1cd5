"""Deploy readiness, the first deployment: each check from a real stack's graph with one defect introduced."""

from __future__ import annotations

import pytest
from pulumi_mlops.components.k8s.serving import BOOTSTRAPPED_ALIASES as COMPONENT_ALIASES
from pulumi_mlops.policies.bootstrap import BOOTSTRAPPED_ALIASES, DEFAULT_JOB_AWAIT_SECONDS
from pulumi_mlops.policies.offline import PolicyReport

from pulumi_mlops.preview import CapturedResource, ResourceGraph

from .readiness import Previews, baseline, cut_dependencies, drop, run

STACKS = ["dev", "staging", "prod", "gcp-dev", "gcp-prod"]
MANDATORY = ("serving-waits-for-champion", "job-await-covers-deadline")
TRAINER = "served-model-has-trainer"
JOB = "kubernetes:batch/v1:Job"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SKIP_AWAIT = "pulumi.com/skipAwait"


def _named(graph: ResourceGraph, type_: str, name: str) -> CapturedResource:
    found = [r for r in graph.of_type(type_) if r.inputs["metadata"]["name"] == name]
    assert len(found) == 1, f"{len(found)} {type_} named {name}"
    return found[0]


def _violations(report: PolicyReport, policy: str) -> list[tuple[str, bool, str]]:
    return [(v.resource_name, v.mandatory, v.message) for v in report.violations if v.policy == policy]


def test_the_policy_knows_the_aliases_the_components_bootstrap() -> None:
    assert BOOTSTRAPPED_ALIASES == COMPONENT_ALIASES


@pytest.mark.parametrize("stack", STACKS)
def test_real_stacks_wait_for_a_champion(stack: str, previews: Previews) -> None:
    graph, spec = baseline(previews, stack)
    report = run(graph, spec, *MANDATORY)
    assert [f"{v.policy} {v.resource_name}: {v.message}" for v in report.violations] == []


def test_deployment_that_does_not_wait_for_the_bootstrap_job(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    stable = _named(graph, DEPLOYMENT, "churn-stable")
    boot = _named(graph, JOB, "train-churn-bootstrap")
    cut_dependencies(stable, [boot.urn])
    found = _violations(run(graph, spec, "serving-waits-for-champion"), "serving-waits-for-champion")
    assert [(name, mandatory) for name, mandatory, _ in found] == [(stable.name, True)]
    message = found[0][2]
    assert message.startswith("Deployment mlops-serving/churn-stable serves churn@champion")
    assert "does not wait for Job mlops-training/train-churn-bootstrap" in message
    assert "ServingEndpointArgs.bootstrap" in message


def test_no_job_trains_and_promotes_the_served_model(previews: Previews) -> None:
    graph, spec = baseline(previews, "staging")
    drop(graph, _named(graph, JOB, "train-churn-mlp-bootstrap"))
    found = _violations(run(graph, spec, *MANDATORY), "serving-waits-for-champion")
    assert sorted(name for name, _, _ in found) == [
        "mlops-services-endpoint-churn-gpu-shadow-deployment",
        "mlops-services-endpoint-churn-gpu-stable-deployment",
    ]
    assert all(mandatory for _, mandatory, _ in found)
    assert "no Job of the stack trains and promotes churn-mlp" in found[0][2]
    assert "add a training job for churn-mlp" in found[0][2] and SKIP_AWAIT in found[0][2]


def test_a_job_that_trains_without_promoting_gives_no_champion(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    container = _named(graph, JOB, "train-churn-bootstrap").inputs["spec"]["template"]["spec"]["containers"][0]
    container["args"] = [a for a in container["args"] if a != "--promote"]
    found = _violations(run(graph, spec, "serving-waits-for-champion"), "serving-waits-for-champion")
    assert sorted(name for name, _, _ in found) == [
        "mlops-services-endpoint-churn-canary-deployment",
        "mlops-services-endpoint-churn-stable-deployment",
    ]


def test_an_awaited_track_serving_an_alias_nothing_sets(previews: Previews) -> None:
    graph, spec = baseline(previews, "prod")
    canary = _named(graph, DEPLOYMENT, "churn-canary")
    args = canary.inputs["spec"]["template"]["spec"]["containers"][0]["args"]
    args[args.index("--model") + 1] = "churn@candidate"
    found = _violations(run(graph, spec, "serving-waits-for-champion"), "serving-waits-for-champion")
    assert [(name, mandatory) for name, mandatory, _ in found] == [(canary.name, True)]
    assert "alias candidate is set by nothing the stack runs" in found[0][2]
    assert "serve champion or challenger" in found[0][2]
    # Not awaited, the track may wait for a version promoted from outside.
    canary.inputs["metadata"]["annotations"] = {SKIP_AWAIT: "true"}
    assert run(graph, spec, "serving-waits-for-champion").violations == []


def test_awaited_endpoint_of_a_model_nothing_trains(previews: Previews) -> None:
    """gcp-dev serves churn-mlp without training it; its Deployments are not awaited, which the check accepts."""
    graph, spec = baseline(previews, "gcp-dev")
    stable = _named(graph, DEPLOYMENT, "churn-gpu-stable")
    assert stable.inputs["metadata"]["annotations"] == {SKIP_AWAIT: "true"}
    advisory = _violations(run(graph, spec, TRAINER), TRAINER)
    assert sorted(name for name, _, _ in advisory) == [
        "mlops-services-endpoint-churn-gpu-shadow-deployment",
        "mlops-services-endpoint-churn-gpu-stable-deployment",
    ]
    assert not any(mandatory for _, mandatory, _ in advisory)
    assert "mlops train --model churn-mlp --promote" in advisory[0][2]

    del stable.inputs["metadata"]["annotations"]
    found = _violations(run(graph, spec, "serving-waits-for-champion"), "serving-waits-for-champion")
    assert [(name, mandatory) for name, mandatory, _ in found] == [(stable.name, True)]
    assert "no Job of the stack trains and promotes churn-mlp" in found[0][2]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_models_the_aws_stacks_serve_are_all_trained(stack: str, previews: Previews) -> None:
    graph, spec = baseline(previews, stack)
    assert run(graph, spec, TRAINER).violations == []


def test_job_await_shorter_than_its_deadline(previews: Previews) -> None:
    graph, spec = baseline(previews, "prod")
    boot = _named(graph, JOB, "train-churn-mlp-bootstrap")
    deadline = int(boot.inputs["spec"]["activeDeadlineSeconds"])
    del boot.inputs["metadata"]["annotations"]["pulumi.com/timeoutSeconds"]
    found = _violations(run(graph, spec, "job-await-covers-deadline"), "job-await-covers-deadline")
    assert [(name, mandatory) for name, mandatory, _ in found] == [(boot.name, True)]
    assert (
        f"Job mlops-training/train-churn-mlp-bootstrap may run for {deadline} s (activeDeadlineSeconds) but the "
        f"engine waits for it only {DEFAULT_JOB_AWAIT_SECONDS} s"
    ) in found[0][2]
    assert f"set pulumi.com/timeoutSeconds to at least {deadline}" in found[0][2]

    boot.inputs["metadata"]["annotations"]["pulumi.com/timeoutSeconds"] = "soon"
    found = _violations(run(graph, spec, "job-await-covers-deadline"), "job-await-covers-deadline")
    assert len(found) == 1 and "'soon' is not a number of seconds" in found[0][2]

    boot.inputs["metadata"]["annotations"][SKIP_AWAIT] = "true"
    assert run(graph, spec, "job-await-covers-deadline").violations == []


def test_values_unknown_during_a_first_preview_do_not_stop_the_checks(previews: Previews) -> None:
    """On a new stack, images, bucket URIs and database hosts are unknown at preview: the checks read none of them."""
    from pulumi.output import Unknown

    graph, spec = baseline(previews, "dev")
    for res in graph.resources.values():
        if not res.type.startswith("kubernetes:") or "spec" not in res.inputs:
            continue
        spec_in = res.inputs["spec"]
        pod = (spec_in.get("jobTemplate", {}).get("spec", spec_in)).get("template", {}).get("spec", {})
        for container in pod.get("containers", []):
            container["image"] = Unknown()
            if container.get("command") != ["mlops"] and container.get("command") != ["torchrun"]:
                container["args"] = [Unknown()]
            for item in container.get("env", []):
                if "value" in item and item["name"] != "HOME":
                    item["value"] = Unknown()
    report = run(graph, spec, *MANDATORY, TRAINER)
    assert [v for v in report.violations if v.unknown] == []
    assert [v.policy for v in report.violations if v.mandatory] == []

    cut_dependencies(_named(graph, DEPLOYMENT, "churn-stable"), [_named(graph, JOB, "train-churn-bootstrap").urn])
    found = _violations(run(graph, spec, "serving-waits-for-champion"), "serving-waits-for-champion")
    assert [(name, mandatory) for name, mandatory, _ in found] == [
        ("mlops-services-endpoint-churn-stable-deployment", True)
    ]
