"""Hardening and configuration common to every pod: security context, resources, images, env, secrets."""

from __future__ import annotations

import pytest
from pulumi_mlops.runtime.config import ENV_PREFIX, RuntimeSettings

from pulumi_mlops.local.pods import resource_field
from pulumi_mlops.preview.graph import is_secret

STACKS = ["dev", "prod"]


def _pods(b):
    """(kind/name, pod spec) of every pod template: Deployments and the job templates of CronJobs."""
    pods = []
    for m in b.objects("Deployment"):
        pods.append((f"Deployment/{m['metadata']['name']}", m["spec"]["template"]["spec"]))
    for m in b.objects("CronJob"):
        pods.append((f"CronJob/{m['metadata']['name']}", m["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
    return pods


@pytest.mark.parametrize("stack", STACKS)
def test_every_container_is_hardened(built, stack):
    pods = _pods(built(stack))
    assert len(pods) >= 10
    for where, pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert pod["automountServiceAccountToken"] is (where.startswith("CronJob/drift-")), where
        tmp = next(v for v in pod["volumes"] if v["name"] == "tmp")
        assert "emptyDir" in tmp, where
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"], where


@pytest.mark.parametrize("stack", STACKS)
def test_every_container_has_requests_limits_and_a_pinned_image(built, stack):
    b = built(stack)
    pinned = {*b.images.values(), b.spec.images.feast}
    for where, pod in _pods(b):
        for c in pod["containers"]:
            assert c["image"] in pinned, where
            assert not c["image"].endswith(":latest"), where
            requests, limits = c["resources"]["requests"], c["resources"]["limits"]
            assert set(requests) >= {"cpu", "memory"} and set(limits) >= {"cpu", "memory"}, where
            assert limits["memory"] == requests["memory"], where
            assert limits.get("nvidia.com/gpu") == requests.get("nvidia.com/gpu"), where


def test_long_running_servers_have_all_three_probes(built):
    b = built("prod")
    for m in b.objects("Deployment"):
        for c in m["spec"]["template"]["spec"]["containers"]:
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                assert c[probe]["httpGet"]["port"] == "http", (m["metadata"]["name"], probe)


@pytest.mark.parametrize("stack", STACKS)
def test_runtime_env_is_what_the_runtime_accepts(built, stack):
    b = built(stack)
    runtime = {b.images["runtime"], b.images["runtime-cuda"]}
    runtime_pods = [(w, p) for w, p in _pods(b) if p["containers"][0]["image"] in runtime]
    assert runtime_pods
    for where, pod in runtime_pods:
        env = pod["containers"][0]["env"]
        settings = {e["name"]: e["value"] for e in env if e["name"].startswith(ENV_PREFIX) and "value" in e}
        # Settings read from Secrets or the downward API (a search's storage and study, the CPU limit) are
        # settings too; the CPU limit resolves as the kubelet resolves it.
        referenced = {
            e["name"]: resource_field(pod["containers"][0], e["valueFrom"]["resourceFieldRef"])
            if "resourceFieldRef" in e["valueFrom"]
            else "set-at-run-time"
            for e in env
            if e["name"].startswith(ENV_PREFIX) and "value" not in e
        }
        parsed = RuntimeSettings.from_env({**settings, **referenced})
        assert parsed.cpus is not None and parsed.cpus >= 1, where
        assert parsed.tracking_uri == "http://mlflow.mlops-platform.svc.cluster.local:5000", where
        if where.startswith("Deployment/"):
            endpoint, track = where.removeprefix("Deployment/").rsplit("-", 1)
            assert parsed.prediction_log_uri == f"s3://test-prediction-logs/{endpoint}/{track}", where
        else:
            assert parsed.prediction_log_uri == "s3://test-prediction-logs", where
        assert parsed.home.startswith("/tmp/"), where
        from_secrets = {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in env
            if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]
        }
        assert from_secrets["MLFLOW_TRACKING_PASSWORD"] == {
            "name": "mlflow-client",
            "key": "password",
            "optional": False,
        }
        assert all("value" not in e or "PASSWORD" not in e["name"] for e in env), where


def test_batch_jobs_push_metrics_to_the_pushgateway(built):
    b = built("dev")
    for m in b.objects("CronJob"):
        if m["metadata"]["name"].startswith(("train-", "drift-")):
            env = m["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]
            values = {e["name"]: e.get("value") for e in env}
            assert values["MLOPS_PUSHGATEWAY_URL"] == "http://pushgateway.mlops-monitoring.svc.cluster.local:9091"


def test_secrets_come_only_from_kubernetes_secrets(built):
    b = built("prod")
    plain_text = str([m for m in b.objects("Deployment")] + [m for m in b.objects("CronJob")])
    for secret in ("p@ss/word:1", "redis-token", "preview-password", "https://hooks.example"):
        assert secret not in plain_text
    secrets = {s["metadata"]["name"] for s in b.objects("Secret")}
    assert {"mlflow-db", "mlflow-auth", "mlflow-client", "feast-redis", "grafana-admin", "alert-receivers"} <= secrets
    for resource in b.graph.resources.values():
        if resource.props.get("kind") == "Secret":
            assert "stringData" in resource.inputs
            assert is_secret(resource.inputs["stringData"]), resource.name


def test_runtime_env_refuses_what_the_platform_sets_itself():
    from pulumi_mlops.components.k8s import workload
    from pulumi_mlops.components.k8s.runtime_config import runtime_env

    assert workload.runtime_env is runtime_env, "still importable where it was before the module split"

    with pytest.raises(ValueError, match="cpus is set from the container's CPU limit"):
        runtime_env(cpus="8")
    with pytest.raises(ValueError, match=r"unknown runtime settings \['trackin_uri'\]"):
        runtime_env(trackin_uri="http://mlflow:5000")
    assert [e.name for e in runtime_env(tracking_uri="http://mlflow:5000")] == ["MLOPS_TRACKING_URI"]
