"""The first deployment ends serving: a bootstrap Job trains and promotes each served model, and the
endpoints' Deployments wait for it; tracks nothing bootstraps are created without being awaited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pulumi_mlops.components.k8s.serving import BOOTSTRAPPED_ALIASES, GPU_ROLLOUT_TIMEOUT_SECONDS
from pulumi_mlops.components.k8s.training import BOOTSTRAP_AWAIT_MARGIN_SECONDS
from pulumi_mlops.runtime.registry.contract import CHALLENGER, CHAMPION

from pulumi_mlops.preview import CapturedResource, ResourceGraph

STACKS = ["dev", "prod"]
JOB = "kubernetes:batch/v1:Job"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SKIP_AWAIT = "pulumi.com/skipAwait"


def _object(graph: ResourceGraph, type_: str, name: str) -> CapturedResource:
    found = [r for r in graph.of_type(type_) if r.props["metadata"]["name"] == name]
    assert len(found) == 1, f"{len(found)} {type_} named {name}"
    return found[0]


def _tracks(b: Any, endpoint: str) -> list[CapturedResource]:
    found = [r for r in b.graph.of_type(DEPLOYMENT) if r.props["metadata"]["name"].startswith(f"{endpoint}-")]
    return [r for r in found if r.props["metadata"]["labels"]["app.kubernetes.io/name"] == endpoint]


def test_bootstrap_sets_the_aliases_the_servers_wait_for() -> None:
    assert BOOTSTRAPPED_ALIASES == (CHAMPION, CHALLENGER)


@pytest.mark.parametrize("stack", STACKS)
def test_bootstrap_job_runs_the_training_pod_template(built: Callable[[str], Any], stack: str) -> None:
    b = built(stack)
    for job in b.spec.training:
        cron = b.one("CronJob", f"train-{job.name}", "mlops-training")["spec"]["jobTemplate"]["spec"]
        boot = b.one("Job", f"train-{job.name}-bootstrap", "mlops-training")
        # The very pod the CronJob runs: image, command, args, env, service account, volumes, placement.
        assert boot["spec"]["template"] == cron["template"]
        assert {k: v for k, v in boot["spec"].items() if k != "template"} == {
            k: v for k, v in cron.items() if k not in ("template", "ttlSecondsAfterFinished")
        }
        container = boot["spec"]["template"]["spec"]["containers"][0]
        assert "--promote" in container["args"], "the first version must become champion"
        assert boot["spec"]["template"]["spec"]["serviceAccountName"] == "trainer"
        meta = boot["metadata"]
        assert meta["labels"]["pulumi-mlops.io/model"] == job.training.model.name
        assert meta["labels"]["pulumi-mlops.io/trigger"] == "bootstrap"
        assert meta["annotations"] == {
            "pulumi.com/timeoutSeconds": str(job.active_deadline_seconds + BOOTSTRAP_AWAIT_MARGIN_SECONDS),
            "pulumi.com/replaceUnready": "true",
        }
        res = _object(b.graph, JOB, f"train-{job.name}-bootstrap")
        assert res.ignore_changes == ["spec"], "a one-off: later template changes do not run it again"
        waits = set(res.dependencies)
        assert _object(b.graph, "kubernetes:core/v1:ConfigMap", f"train-{job.name}-spec").urn in waits
        assert _object(b.graph, DEPLOYMENT, "mlflow").urn in waits, "it trains against the tracking server"
        if job.nodes > 1:
            assert _object(b.graph, "kubernetes:core/v1:Service", f"train-{job.name}-rdzv").urn in waits


@pytest.mark.parametrize("stack", STACKS)
def test_serving_deployments_wait_for_the_bootstrap_of_their_model(built: Callable[[str], Any], stack: str) -> None:
    b = built(stack)
    for ep in b.spec.endpoints:
        job = next(j for j in b.spec.training if j.training.model.name == ep.serving.model.name)
        boot = _object(b.graph, JOB, f"train-{job.name}-bootstrap")
        tracks = _tracks(b, ep.name)
        assert len(tracks) == 1 + bool(ep.canary) + bool(ep.shadow)
        for track in tracks:
            assert boot.urn in track.dependencies, track.name
            annotations = track.props["metadata"].get("annotations") or {}
            assert SKIP_AWAIT not in annotations, "an awaited Deployment proves the endpoint serves"
            gpus = track.props["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
            expected = (
                {"pulumi.com/timeoutSeconds": str(GPU_ROLLOUT_TIMEOUT_SECONDS)} if "nvidia.com/gpu" in gpus else {}
            )
            assert annotations == expected, track.name
        # Only the Deployments wait: Services, HPAs, PDBs and the route are created meanwhile.
        service = _object(b.graph, "kubernetes:core/v1:Service", f"{ep.name}-stable")
        assert boot.urn not in service.dependencies


def test_a_track_nothing_bootstraps_is_not_awaited(stack_spec: Callable[[str], Any], build: Callable[..., Any]) -> None:
    spec = stack_spec("dev")
    churn = next(e for e in spec.endpoints if e.name == "churn")
    endpoints = [
        e.model_copy(update={"canary": e.canary.model_copy(update={"alias": "candidate"})}) if e is churn else e
        for e in spec.endpoints
    ]
    training = [j.model_copy(update={"bootstrap": False}) if j.name == "churn-mlp" else j for j in spec.training]
    b = build(spec.model_copy(update={"endpoints": endpoints, "training": training}))
    assert [m["metadata"]["name"] for m in b.objects("Job")] == ["train-churn-bootstrap"]
    boot = _object(b.graph, JOB, "train-churn-bootstrap")
    stable, canary = _object(b.graph, DEPLOYMENT, "churn-stable"), _object(b.graph, DEPLOYMENT, "churn-canary")
    assert boot.urn in stable.dependencies and not stable.props["metadata"].get("annotations")
    # The canary serves an alias no bootstrap sets, the GPU endpoint's model has no bootstrap run.
    for track in [canary, *_tracks(b, "churn-gpu")]:
        assert track.props["metadata"]["annotations"] == {SKIP_AWAIT: "true"}, track.name
        assert boot.urn not in track.dependencies


def test_only_the_first_job_of_a_used_model_bootstraps(
    stack_spec: Callable[[str], Any], build: Callable[..., Any]
) -> None:
    spec = stack_spec("dev")
    churn = next(j for j in spec.training if j.name == "churn")
    extra = [
        churn.model_copy(update={"name": "churn-daily", "schedule": "0 5 * * *"}),
        churn.model_copy(
            update={
                "name": "unused",
                "training": churn.training.model_copy(
                    update={"model": churn.training.model.model_copy(update={"name": "x"})}
                ),
            }
        ),
    ]
    b = build(spec.model_copy(update={"training": [*spec.training, *extra]}))
    names = sorted(m["metadata"]["name"] for m in b.objects("Job"))
    assert names == ["train-churn-bootstrap", "train-churn-mlp-bootstrap"]
