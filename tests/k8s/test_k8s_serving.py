"""Serving endpoints: tracks, traffic split, shadow mirroring, GPU placement, autoscaling, scraping."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_mlops.runtime.config import ServingSpec

STACKS = ["dev", "prod"]


def _route(b, endpoint):
    return b.one("HTTPRoute", endpoint, "mlops-serving")


@pytest.mark.parametrize("stack", STACKS)
def test_canary_weights_sum_to_100(built, stack):
    b = built(stack)
    for ep in b.spec.endpoints:
        backends = _route(b, ep.name)["spec"]["rules"][0]["backendRefs"]
        assert sum(ref["weight"] for ref in backends) == 100
        weights = {ref["name"]: ref["weight"] for ref in backends}
        if ep.canary:
            assert weights == {f"{ep.name}-stable": 100 - ep.canary.weight, f"{ep.name}-canary": ep.canary.weight}
        else:
            assert weights == {f"{ep.name}-stable": 100}


@pytest.mark.parametrize("stack", STACKS)
def test_shadow_track_gets_a_mirror_and_no_live_traffic(built, stack):
    b = built(stack)
    shadowed = [ep for ep in b.spec.endpoints if ep.shadow]
    assert shadowed
    for ep in b.spec.endpoints:
        rule = _route(b, ep.name)["spec"]["rules"][0]
        mirrors = [f["requestMirror"]["backendRef"] for f in rule["filters"] if f["type"] == "RequestMirror"]
        if not ep.shadow:
            assert mirrors == []
            continue
        assert mirrors == [{"name": f"{ep.name}-shadow", "port": ep.serving.port}]
        assert f"{ep.name}-shadow" not in {ref["name"] for ref in rule["backendRefs"]}
        service = b.one("Service", f"{ep.name}-shadow", "mlops-serving")
        assert service["spec"]["ports"][0]["port"] == ep.serving.port
        shadow = b.one("Deployment", f"{ep.name}-shadow", "mlops-serving")
        assert service["spec"]["selector"] == shadow["spec"]["selector"]["matchLabels"]
        args = shadow["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[:3] == ["serve", "--model", f"{ep.serving.model.name}@{ep.shadow.alias}"]


def test_route_attaches_to_the_platform_gateway(built):
    b = built("dev")
    gateway = b.one("Gateway", "mlops-gateway", "mlops-serving")
    assert gateway["spec"]["gatewayClassName"] == "test-gateway-class"
    listener = gateway["spec"]["listeners"][0]
    route = _route(b, "churn")
    assert route["spec"]["parentRefs"] == [
        {"name": "mlops-gateway", "namespace": "mlops-serving", "sectionName": "http"}
    ]
    assert listener["name"] == "http"
    assert route["spec"]["rules"][0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/churn"}}]
    assert len(b.objects("Gateway")) == 1


@pytest.mark.parametrize("stack", STACKS)
def test_gpu_endpoints_are_scheduled_on_their_pool(built, stack):
    b = built(stack)
    gpu_endpoints = [ep for ep in b.spec.endpoints if ep.resources.gpus]
    assert gpu_endpoints
    for ep in b.spec.endpoints:
        pod = b.one("Deployment", f"{ep.name}-stable", "mlops-serving")["spec"]["template"]["spec"]
        limits = pod["containers"][0]["resources"]["limits"]
        if ep.resources.gpus:
            assert limits["nvidia.com/gpu"] == str(ep.resources.gpus)
            assert pod["nodeSelector"] == {"pulumi-mlops.io/gpu-pool": ep.gpu_pool}
            assert pod["tolerations"] == [
                {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
            ]
        else:
            assert "nvidia.com/gpu" not in limits
            assert "nodeSelector" not in pod and "tolerations" not in pod


def test_cpu_limit_is_twice_the_request_and_memory_limit_equals_request(built):
    b = built("prod")
    resources = b.one("Deployment", "churn-stable")["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}}


@pytest.mark.parametrize("stack", STACKS)
def test_autoscaling_and_disruption_budgets_follow_the_spec(built, stack):
    b = built(stack)
    for ep in b.spec.endpoints:
        hpa = b.one("HorizontalPodAutoscaler", f"{ep.name}-stable")["spec"]
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (ep.min_replicas, ep.max_replicas)
        assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{ep.name}-stable"}
        assert hpa["metrics"][0]["resource"]["name"] == "cpu"
        pdb = b.one("PodDisruptionBudget", f"{ep.name}-stable")["spec"]
        if ep.min_replicas >= 2:
            assert pdb.get("maxUnavailable") == 1 and "minAvailable" not in pdb
        else:
            assert pdb.get("minAvailable") == 1 and "maxUnavailable" not in pdb
        deployment = b.one("Deployment", f"{ep.name}-stable")
        assert pdb["selector"] == deployment["spec"]["selector"]
        # An unready server (no version to serve yet) never blocks a node drain.
        assert pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


@pytest.mark.parametrize("stack", STACKS)
def test_every_endpoint_is_scraped_by_a_service_monitor(built, stack):
    b = built(stack)
    monitors = {m["metadata"]["name"]: m for m in b.objects("ServiceMonitor")}
    assert set(monitors) == {ep.name for ep in b.spec.endpoints}
    for ep in b.spec.endpoints:
        spec = monitors[ep.name]["spec"]
        assert spec["endpoints"][0]["path"] == "/metrics"
        assert spec["endpoints"][0]["port"] == "http"
        selected = spec["selector"]["matchLabels"]
        services = [s for s in b.objects("Service") if s["metadata"]["name"].startswith(f"{ep.name}-")]
        tracked = {s["metadata"]["name"] for s in services if selected.items() <= s["metadata"]["labels"].items()}
        expected = {f"{ep.name}-stable"} | ({f"{ep.name}-canary"} if ep.canary else set())
        expected |= {f"{ep.name}-shadow"} if ep.shadow else set()
        assert tracked == expected


def test_serving_probes_and_command(built):
    b = built("dev")
    container = b.one("Deployment", "churn-canary")["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["mlops"]
    assert container["args"] == ["serve", "--model", "churn@challenger", "--spec", "/etc/mlops/spec.json"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert {"name": "http", "containerPort": 8080, "protocol": "TCP"} in container["ports"]


def test_track_spec_config_map_is_the_runtime_serving_spec(built):
    b = built("dev")
    data = b.one("ConfigMap", "churn-canary-spec", "mlops-serving")["data"]["spec.json"]
    spec = ServingSpec.model_validate_json(data)
    assert str(spec.model) == "churn@challenger"
    assert json.loads(data)["port"] == 8080
    pod = b.one("Deployment", "churn-canary")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "spec")
    assert volume["configMap"]["name"] == "churn-canary-spec"
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "spec")
    assert mount == {"name": "spec", "mountPath": "/etc/mlops", "readOnly": True}


@pytest.mark.parametrize(("stack", "floor"), [("dev", 1), ("prod", 2)])
def test_canary_keeps_the_live_traffic_floor_and_shadow_starts_at_one(built, stack, floor):
    b = built(stack)
    canaries = [ep for ep in b.spec.endpoints if ep.canary]
    shadows = [ep for ep in b.spec.endpoints if ep.shadow]
    assert canaries and shadows
    for ep in canaries:
        hpa = b.one("HorizontalPodAutoscaler", f"{ep.name}-canary")["spec"]
        assert hpa["minReplicas"] == floor
        assert hpa["maxReplicas"] >= floor
    for ep in shadows:
        assert b.one("HorizontalPodAutoscaler", f"{ep.name}-shadow")["spec"]["minReplicas"] == 1


@pytest.mark.parametrize(("stack", "on_gpu"), [("dev", False), ("prod", True)])
def test_shadow_track_takes_its_own_resources(built: Any, stack: str, on_gpu: bool) -> None:
    b = built(stack)
    ep = next(e for e in b.spec.endpoints if e.shadow and e.resources.gpus)
    pod = b.one("Deployment", f"{ep.name}-shadow", "mlops-serving")["spec"]["template"]["spec"]
    requests = pod["containers"][0]["resources"]["requests"]
    if on_gpu:
        assert ep.shadow.resources is None
        assert requests["nvidia.com/gpu"] == str(ep.resources.gpus)
        assert pod["nodeSelector"] == {"pulumi-mlops.io/gpu-pool": ep.gpu_pool}
    else:
        assert requests == {"cpu": ep.shadow.resources.cpu, "memory": ep.shadow.resources.memory}
        assert "nodeSelector" not in pod and "tolerations" not in pod, "a CPU-only shadow stays off the GPU pool"
    stable = b.one("Deployment", f"{ep.name}-stable", "mlops-serving")["spec"]["template"]["spec"]
    assert stable["containers"][0]["resources"]["requests"]["nvidia.com/gpu"] == str(ep.resources.gpus)


def test_gpu_placement_tolerates_every_taint_of_its_pool() -> None:
    from pulumi_mlops.components.k8s.context import GpuScheduling
    from pulumi_mlops.components.k8s.workload import GpuPlacement

    scheduling = GpuScheduling(
        pool_taints={"l4": [("dedicated", "ml", "NoSchedule"), ("nvidia.com/gpu", "x", "NoExecute")]}
    )
    tolerations = [(t.key, t.value, t.effect) for t in GpuPlacement(scheduling, "l4").tolerations()]
    assert tolerations == [("nvidia.com/gpu", "true", "NoSchedule"), ("dedicated", "ml", "NoSchedule")]
    assert [t.key for t in GpuPlacement(scheduling, "a100").tolerations()] == ["nvidia.com/gpu"]


def test_every_track_reads_its_endpoints_generated_api_keys(built: Any) -> None:
    from pulumi_mlops.components.k8s.serving import API_KEYS_DIR

    b = built("prod")
    for ep in b.spec.endpoints:
        assert ep.auth == "api-key"
        secret = b.one("Secret", f"{ep.name}-api-keys", "mlops-serving")
        assert secret["type"] == "Opaque" and list(secret["stringData"]) == ["keys"]
        assert secret["stringData"]["keys"], "a generated key"
        for track in ("stable", "canary", "shadow"):
            if track != "stable" and getattr(ep, track) is None:
                continue
            pod = b.one("Deployment", f"{ep.name}-{track}", "mlops-serving")["spec"]["template"]["spec"]
            volume = next(v for v in pod["volumes"] if v["name"] == "api-keys")
            assert volume["secret"] == {"secretName": f"{ep.name}-api-keys", "defaultMode": 0o440}
            server = pod["containers"][0]
            mount = next(m for m in server["volumeMounts"] if m["name"] == "api-keys")
            assert mount == {"name": "api-keys", "mountPath": API_KEYS_DIR, "readOnly": True}
            env = {e["name"]: e.get("value") for e in server["env"]}
            assert env["MLOPS_API_KEYS_FILE"] == f"{API_KEYS_DIR}/keys"


def test_an_open_endpoint_has_no_keys_and_prod_refuses_one(build: Any, stack_spec: Any) -> None:
    from pulumi_mlops.spec import PlatformSpec, SpecError

    dev = stack_spec("dev")
    open_dev = dev.model_copy(update={"endpoints": [e.model_copy(update={"auth": "none"}) for e in dev.endpoints]})
    b = build(open_dev)
    assert not [s for s in b.objects("Secret") if s["metadata"]["name"].endswith("-api-keys")]
    for deployment in b.objects("Deployment"):
        if deployment["metadata"]["namespace"] == "mlops-serving":
            env = {e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
            assert "MLOPS_API_KEYS_FILE" not in env

    prod = stack_spec("prod").model_dump(mode="json", exclude_none=True)
    prod["endpoints"][0]["auth"] = "none"
    with pytest.raises((SpecError, ValueError), match=r"endpoints\[0\] .*auth none leaves the inference routes open"):
        PlatformSpec.model_validate(prod)
