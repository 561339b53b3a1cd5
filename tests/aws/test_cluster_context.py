"""``AwsPlatform.cluster_context``: what the cloud-neutral Kubernetes components receive from AWS."""

from __future__ import annotations

import pulumi_kubernetes as k8s
import pytest
from aws_support import run_platform, stack_raw
from pulumi_mlops.components.aws import AwsPlatform
from pulumi_mlops.components.k8s.context import DatabaseRef, RedisRef

from pulumi_mlops.preview import ResourceGraph


@pytest.fixture(scope="module")
def dev() -> tuple[ResourceGraph, AwsPlatform]:
    _, graph, platform = run_platform(stack_raw("dev"))
    return graph, platform


def test_context_fields(dev: tuple[ResourceGraph, AwsPlatform]) -> None:
    _, platform = dev
    ctx = platform.cluster_context
    assert ctx.cloud == "aws"
    assert isinstance(ctx.provider, k8s.Provider)
    assert set(ctx.bucket_uris) == {"models", "datasets", "prediction-logs"}
    assert ctx.gateway_class == "envoy-gateway"
    assert (ctx.gpu.taint_key, ctx.gpu.taint_value, ctx.gpu.taint_effect) == ("nvidia.com/gpu", "true", "NoSchedule")
    assert ctx.gpu.pool_label == "pulumi-mlops.io/gpu-pool"
    assert isinstance(ctx.tracking_db, DatabaseRef) and ctx.tracking_db.port == 5432
    assert isinstance(ctx.redis, RedisRef) and ctx.redis.tls is True
    assert ctx.service_account_annotations == {}, "Pod Identity binds by namespace and name"


def test_context_waits_for_nodes_and_addons(dev: tuple[ResourceGraph, AwsPlatform]) -> None:
    graph, platform = dev
    waited = {r.urn for r in graph.resources.values() if r.type == "aws:eks/nodeGroup:NodeGroup"}
    waited |= {r.urn for r in graph.of_type("aws:eks/addon:Addon")}
    names = {res._name for res in platform.cluster_context.depends_on}
    assert {graph.resources[u].name for u in waited} <= names
    assert "mlops-nvidia-nvidia-device-plugin" in names


def test_gateway_class_follows_the_spec() -> None:
    raw = stack_raw("dev")
    raw["gateway_class"] = "alb"
    raw["gpu_pools"] = []
    raw["endpoints"] = [e for e in raw["endpoints"] if "gpu_pool" not in e]
    raw["training"] = [t for t in raw["training"] if "gpu_pool" not in t]
    raw["feature_store"] = {"enabled": False}
    _, graph, platform = run_platform(raw)
    assert platform.cluster_context.gateway_class == "alb"
    assert platform.cluster_context.redis is None
    assert not graph.of_type("aws:elasticache/replicationGroup:ReplicationGroup")
    # No GPU add-ons and no gateway controller: only Karpenter (the AWS default provisioner: its CRDs and controller)
    # and the Prometheus Operator CRDs the platform always needs.
    assert [r.props["chart"] for r in graph.of_type("kubernetes:helm.sh/v3:Release")] == [
        "oci://public.ecr.aws/karpenter/karpenter-crd",
        "oci://public.ecr.aws/karpenter/karpenter",
        "prometheus-operator-crds",
    ]
    assert platform.exports["redisEndpoint"] is None
    assert platform.exports["maxGpusPerStack"] == 0


def test_envoy_gateway_serves_the_default_class_behind_an_internal_nlb(dev: tuple[ResourceGraph, AwsPlatform]) -> None:
    graph, platform = dev
    release = graph.named("mlops-envoy-gateway-release")
    values = release.props
    assert (values["chart"], values["version"]) == ("oci://docker.io/envoyproxy/gateway-helm", "v1.9.0")
    assert (values["namespace"], values["createNamespace"]) == ("envoy-gateway-system", True)
    assert values["values"].get("crds", {}).get("enabled", True), "the chart installs the Gateway API CRDs"
    [gateway_class] = graph.of_type("kubernetes:gateway.networking.k8s.io/v1:GatewayClass")
    assert gateway_class.props["metadata"]["name"] == "envoy-gateway"
    assert gateway_class.props["spec"] == {
        "controllerName": "gateway.envoyproxy.io/gatewayclass-controller",
        "parametersRef": {
            "group": "gateway.envoyproxy.io",
            "kind": "EnvoyProxy",
            "name": "envoy-gateway",
            "namespace": "envoy-gateway-system",
        },
    }
    [proxy] = graph.of_type("kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy")
    service = proxy.props["spec"]["provider"]["kubernetes"]["envoyService"]
    assert service["type"] == "LoadBalancer"
    assert service["annotations"] == {
        "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
        "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
    }
    assert release.urn in proxy.dependencies and {release.urn, proxy.urn} <= set(gateway_class.dependencies)
    names = {res._name for res in platform.cluster_context.gateway_depends_on}
    assert names == {release.name, proxy.name, gateway_class.name}
    assert platform.cluster_context.gateway_namespaces == ["envoy-gateway-system"]
    assert graph.named("mlops-cluster-system").urn in release.dependencies


def test_no_envoy_gateway_when_the_spec_names_another_class() -> None:
    raw = stack_raw("dev")
    raw["gateway_class"] = "alb"
    _, graph, platform = run_platform(raw)
    assert platform.cluster_context.gateway_depends_on == []
    assert platform.cluster_context.gateway_namespaces == []
    assert not graph.of_type("kubernetes:gateway.networking.k8s.io/v1:GatewayClass")
