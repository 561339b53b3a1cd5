"""Every object PlatformServices creates is a valid manifest for the stack's Kubernetes version."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pytest
from pulumi_mlops.components.k8s.manifests import check_manifests, is_builtin, kubernetes_resources, to_manifest

from pulumi_mlops.preview import run_program
from pulumi_mlops.spec import ClusterSpec

STACKS = ["dev", "prod"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_object_passes_schema_and_custom_checks(built, stack):
    b = built(stack)
    manifests = [to_manifest(r) for r in kubernetes_resources(b.graph)]
    builtin = [m for m in manifests if is_builtin(m)]
    custom = {m["kind"] for m in manifests if not is_builtin(m)}
    assert len(builtin) > 60
    assert custom == {"ServiceMonitor", "PrometheusRule", "HTTPRoute", "Gateway", "AlertmanagerConfig"}
    assert check_manifests(b.graph, b.spec.cluster.kubernetes_version) == []


def test_to_manifest_restores_ints_and_unwraps_secrets(built):
    b = built("dev")
    deployment = b.one("Deployment", "churn-stable")
    port = deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
    assert port == 8080 and isinstance(port, int)
    secret = b.one("Secret", "feast-redis")
    assert secret["stringData"] == {"token": "redis-token"}


def _bad_program() -> None:
    provider = k8s.Provider("test", kubeconfig="{}")
    opts = pulumi.ResourceOptions(provider=provider)
    k8s.core.v1.ConfigMap("bad-data", metadata={"name": "bad"}, data={"key": 1}, opts=opts)
    k8s.apps.v1.Deployment(
        "bad-replicas",
        metadata={"name": "bad"},
        spec={
            "replicas": "two",
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}},
        },
        opts=opts,
    )
    k8s.apiextensions.CustomResource(
        "bad-route",
        api_version="gateway.networking.k8s.io/v1",
        kind="HTTPRoute",
        metadata={"name": "r"},
        spec={"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [{"name": "svc"}]}]},
        opts=opts,
    )
    k8s.apiextensions.CustomResource(
        "old-monitor",
        api_version="monitoring.coreos.com/v1alpha1",
        kind="ServiceMonitor",
        metadata={"name": "m"},
        spec={},
        opts=opts,
    )
    k8s.apiextensions.CustomResource(
        "empty-rule",
        api_version="monitoring.coreos.com/v1",
        kind="PrometheusRule",
        metadata={"name": "p"},
        spec={"groups": [{"name": "g", "rules": [{"alert": "A"}]}]},
        opts=opts,
    )
    k8s.helm.v3.Release("unpinned", k8s.helm.v3.ReleaseArgs(chart="some-chart"), opts=opts)


def test_check_manifests_reports_each_broken_object():
    problems = check_manifests(run_program(_bad_program, config={}), ClusterSpec().kubernetes_version)
    text = "\n".join(problems)
    assert "ConfigMap bad-data: data.key" in text
    assert "Deployment bad-replicas: spec.replicas" in text
    assert "HTTPRoute bad-route: spec.rules[0].backendRefs[0] needs name and an integer port" in text
    assert "ServiceMonitor old-monitor: apiVersion monitoring.coreos.com/v1alpha1 is not the expected" in text
    assert "PrometheusRule empty-rule: spec.groups[0].rules[0] needs alert (or record) and expr" in text
    assert "unpinned: chart version is not pinned" in text
    assert len(problems) == 6


@pytest.mark.parametrize("stack", STACKS)
def test_every_object_uses_the_cluster_provider_waits_for_the_cluster_and_has_a_parent(built, stack):
    graph = built(stack).graph
    provider = next(r for r in graph.resources.values() if r.type == "pulumi:providers:kubernetes")
    addons = graph.named("cluster-addons").urn
    objects = kubernetes_resources(graph) + graph.of_type("kubernetes:helm.sh/v3:Release")
    assert objects
    for res in objects:
        assert res.provider is not None and res.provider.startswith(provider.urn + "::"), res.name
        assert addons in res.dependencies, res.name
        parent = graph.resources[res.parent] if res.parent else None
        assert parent is not None and parent.type.startswith("pulumi-mlops:k8s:"), res.name
        assert res.name.startswith(parent.name + "-"), res.name
        if res.type != "kubernetes:core/v1:Namespace" and "namespace" in to_manifest(res).get("metadata", {}):
            namespaces = [graph.resources[u] for u in res.dependencies if u.split("::")[2].endswith("Namespace")]
            assert namespaces, f"{res.name} does not wait for its namespace"


def test_components_nest_under_platform_services(built):
    graph = built("dev").graph
    (top,) = graph.of_type("pulumi-mlops:k8s:PlatformServices")
    components = [r for r in graph.resources.values() if r.type.startswith("pulumi-mlops:k8s:") and r is not top]
    assert {r.type.rsplit(":", 1)[1] for r in components} == {
        "Namespaces",
        "Monitoring",
        "MlflowServer",
        "FeatureServer",
        "Gateway",
        "ServingEndpoint",
        "TrainingJob",
        "BatchScoringJob",
        "RetrainTrigger",
        "DriftMonitor",
    }
    assert all(r.parent == top.urn and r.name.startswith(top.name + "-") for r in components)
