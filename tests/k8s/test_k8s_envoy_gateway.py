"""``EnvoyGateway`` (controller, EnvoyProxy, GatewayClass) and the Gateway waiting for it; the Pushgateway's monitor."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_mlops.components.k8s import ClusterContext, EnvoyGateway, EnvoyGatewayArgs, Gateway, GatewayArgs
from pulumi_mlops.components.k8s.envoy_gateway import ENVOY_GATEWAY_CONTROLLER
from pulumi_mlops.components.k8s.manifests import check_manifests, to_manifest

from pulumi_mlops.preview import ResourceGraph, run_program

ANNOTATIONS = {"example.com/lb": "internal"}


def _program() -> None:
    provider = k8s.Provider("test", kubeconfig="{}")
    envoy = EnvoyGateway(
        "eg",
        EnvoyGatewayArgs(service_annotations=ANNOTATIONS, controller_replicas=2, proxy_replicas=2),
        opts=pulumi.ResourceOptions(provider=provider),
    )
    ctx = ClusterContext(
        provider=provider,
        cloud="aws",
        bucket_uris={},
        gateway_class=envoy.class_name,
        gateway_depends_on=envoy.ready,
    )
    Gateway("gw", GatewayArgs(context=ctx, gateway_name="platform", namespace="serving"))


def _graph() -> ResourceGraph:
    return run_program(_program, config={})


def _one(graph: ResourceGraph, kind: str) -> tuple[str, list[str], dict[str, Any]]:
    [res] = [r for r in graph.resources.values() if r.custom and r.type.endswith(f":{kind}")]
    return res.urn, res.dependencies, to_manifest(res)


def test_controller_class_and_proxy_settings() -> None:
    graph = _graph()
    release_urn, _, release = _one(graph, "Release")
    assert release["chart"] == "oci://docker.io/envoyproxy/gateway-helm" and release["version"] == "v1.9.0"
    assert release["namespace"] == "envoy-gateway-system" and release["createNamespace"] is True
    assert release["values"]["deployment"] == {"replicas": 2}
    proxy_urn, proxy_deps, proxy = _one(graph, "EnvoyProxy")
    assert proxy["apiVersion"] == "gateway.envoyproxy.io/v1alpha1"
    assert proxy["metadata"]["namespace"] == "envoy-gateway-system"
    kubernetes = proxy["spec"]["provider"]["kubernetes"]
    assert kubernetes["envoyService"] == {"type": "LoadBalancer", "annotations": ANNOTATIONS}
    assert kubernetes["envoyDeployment"] == {"replicas": 2}
    _, class_deps, gateway_class = _one(graph, "GatewayClass")
    assert gateway_class["spec"]["controllerName"] == ENVOY_GATEWAY_CONTROLLER
    assert gateway_class["spec"]["parametersRef"]["name"] == proxy["metadata"]["name"]
    assert release_urn in proxy_deps and {release_urn, proxy_urn} <= set(class_deps)
    assert check_manifests(graph, "1.34") == []


def test_gateway_waits_for_controller_class_and_proxy() -> None:
    graph = _graph()
    release_urn, _, _ = _one(graph, "Release")
    proxy_urn, _, _ = _one(graph, "EnvoyProxy")
    class_urn, _, _ = _one(graph, "GatewayClass")
    _, gateway_deps, gateway = _one(graph, "Gateway")
    assert gateway["spec"]["gatewayClassName"] == "envoy-gateway"
    assert {release_urn, proxy_urn, class_urn} <= set(gateway_deps)


def test_pushgateway_servicemonitor_stays_in_the_monitoring_namespace(built: Any) -> None:
    b = built("dev")
    releases = b.graph.of_type("kubernetes:helm.sh/v3:Release")
    [pushgateway] = [r for r in releases if r.props["chart"] == "prometheus-pushgateway"]
    values = pushgateway.props["values"]
    assert values["serviceMonitor"]["enabled"] is True
    assert values["serviceMonitor"]["namespace"] == pushgateway.props["namespace"] == "mlops-monitoring"


def test_serving_accepts_the_envoy_proxies_namespace(previews: Any) -> None:
    graph = previews("dev").graph
    policy = graph.named("mlops-services-namespaces-serving-allow-gateway-and-monitoring")
    peers = policy.props["spec"]["ingress"][0]["from"]
    selected = [
        p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in peers if "namespaceSelector" in p
    ]
    assert "envoy-gateway-system" in selected
