"""Deploy readiness, prerequisites of what is declared: each check from a real stack's graph with one defect."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from pulumi_mlops.policies._prerequisite_tables import LATTICE_CONTROLLER, addon_version

from pulumi_mlops.preview import CapturedResource, ResourceGraph
from pulumi_mlops.spec import PlatformSpec

from .readiness import Previews, baseline, cut_dependencies, drop, first, named, of_type, run

PREREQUISITES = (
    "hpa-metrics-api-installed",
    "pvc-storage-class-available",
    "network-policy-enforced",
    "gateway-class-controller-installed",
    "http-route-features-supported",
    "helm-release-namespace-exists",
)
STACKS = ["dev", "staging", "prod", "gcp-dev", "gcp-prod"]
RELEASE = "kubernetes:helm.sh/v3:Release"
ADDON = "aws:eks/addon:Addon"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
GKE = "gcp:container/cluster:Cluster"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
GATEWAY_CLASS = "kubernetes:gateway.networking.k8s.io/v1:GatewayClass"
HTTP_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"

CRDS = "custom-resources-wait-for-crds"
"""The ordering module's check, which covers the Gateway API CRDs with every other CRD."""


def _release(graph: ResourceGraph, chart: str) -> CapturedResource:
    return first(graph, RELEASE, lambda r: str(r.inputs.get("chart", "")).endswith(chart))


def _addon(graph: ResourceGraph, addon: str) -> CapturedResource:
    return first(graph, ADDON, lambda r: r.inputs.get("addonName") == addon)


def _found(graph: ResourceGraph, spec: PlatformSpec, policy: str) -> list[tuple[str, bool]]:
    return [(v.resource_name, v.mandatory) for v in run(graph, spec, policy).violations]


def _messages(graph: ResourceGraph, spec: PlatformSpec, policy: str) -> list[str]:
    return [v.message for v in run(graph, spec, policy).violations]


@pytest.mark.parametrize("stack", STACKS)
def test_real_stacks_have_every_prerequisite(stack: str, previews: Previews) -> None:
    graph, spec = baseline(previews, stack)
    report = run(graph, spec, *PREREQUISITES)
    assert [f"{v.policy} {v.resource_name}: {v.message}" for v in report.violations] == []


# --- metrics API -------------------------------------------------------------------------------


def test_hpa_without_metrics_server(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    drop(graph, _addon(graph, "metrics-server"))
    hpas = sorted(h.name for h in of_type(graph, HPA))
    assert len(hpas) == 4
    assert sorted(_found(graph, spec, "hpa-metrics-api-installed")) == [(h, True) for h in hpas]
    message = _messages(graph, spec, "hpa-metrics-api-installed")[0]
    assert "nothing in the stack installs metrics-server: add the EKS add-on 'metrics-server'" in message


def test_hpa_must_wait_for_a_metrics_server_chart(previews: Previews) -> None:
    graph, spec = baseline(previews, "staging")
    addon = _addon(graph, "metrics-server")
    drop(graph, addon)
    chart = CapturedResource(
        urn=addon.urn.replace("aws:eks/addon:Addon", RELEASE),
        type=RELEASE,
        name="late-metrics-server",
        custom=True,
        parent=None,
        inputs={"chart": "metrics-server", "version": "3.13.0", "namespace": "kube-system"},
    )
    graph.resources[chart.urn] = chart
    hpas = sorted(h.name for h in of_type(graph, HPA))
    assert sorted(_found(graph, spec, "hpa-metrics-api-installed")) == [(h, True) for h in hpas]
    message = _messages(graph, spec, "hpa-metrics-api-installed")[0]
    assert "does not wait for metrics-server (late-metrics-server)" in message


def test_gke_serves_the_metrics_api_itself(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-dev")
    assert of_type(graph, HPA) and not of_type(graph, ADDON)
    assert _found(graph, spec, "hpa-metrics-api-installed") == []
    drop(graph, first(graph, GKE))
    assert len(_found(graph, spec, "hpa-metrics-api-installed")) == len(of_type(graph, HPA))


# --- storage classes ---------------------------------------------------------------------------

KPS_CLAIM = "values.prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec"


def test_prometheus_claim_without_a_default_storage_class(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    drop(graph, named(graph, "mlops-cluster-gp3"))
    kps = _release(graph, "kube-prometheus-stack")
    assert _found(graph, spec, "pvc-storage-class-available") == [(kps.name, True)]
    message = _messages(graph, spec, "pvc-storage-class-available")[0]
    assert f"({KPS_CLAIM}) with no storageClassName and the cluster has no default StorageClass" in message


def test_ebs_addon_default_class_counts_as_default(previews: Previews) -> None:
    graph, spec = baseline(previews, "prod")
    drop(graph, named(graph, "mlops-cluster-gp3"))
    _addon(graph, "aws-ebs-csi-driver").inputs["configurationValues"] = json.dumps(
        {"defaultStorageClass": {"enabled": True}}
    )
    assert _found(graph, spec, "pvc-storage-class-available") == []


def test_alertmanager_and_grafana_claims_are_checked_too(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    values = _release(graph, "kube-prometheus-stack").inputs["values"]
    values["alertmanager"]["alertmanagerSpec"]["storage"] = {
        "volumeClaimTemplate": {"spec": {"storageClassName": "fast-ssd"}}
    }
    values["grafana"]["persistence"] = {"enabled": True, "storageClassName": "gp2"}  # EKS creates gp2
    messages = _messages(graph, spec, "pvc-storage-class-available")
    assert len(messages) == 1
    assert "alertmanager.alertmanagerSpec.storage.volumeClaimTemplate.spec) of StorageClass 'fast-ssd'" in messages[0]
    assert "known: gp2, gp3" in messages[0]


def test_ebs_class_needs_the_ebs_csi_driver(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    drop(graph, _addon(graph, "aws-ebs-csi-driver"))
    messages = _messages(graph, spec, "pvc-storage-class-available")
    assert len(messages) == 1 and "StorageClass 'gp3' (provisioner ebs.csi.aws.com)" in messages[0]
    assert "add the EKS add-on 'aws-ebs-csi-driver'" in messages[0]


def test_gke_ships_a_default_storage_class(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-prod")
    values = _release(graph, "kube-prometheus-stack").inputs["values"]
    values["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]["storageClassName"] = (
        "premium-rwo"
    )
    assert _found(graph, spec, "pvc-storage-class-available") == []
    drop(graph, first(graph, GKE))
    assert len(_found(graph, spec, "pvc-storage-class-available")) == 1


PV = "kubernetes:core/v1:PersistentVolume"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"


def _static_claim(graph: ResourceGraph) -> tuple[CapturedResource, CapturedResource]:
    """prod's datasets claim and the volume Mountpoint for S3 provisions statically for it."""
    return first(graph, PVC), first(graph, PV)


def test_a_statically_bound_volume_needs_no_storage_class(previews: Previews) -> None:
    graph, spec = baseline(previews, "prod")
    claim, volume = _static_claim(graph)
    assert (claim.inputs["spec"]["storageClassName"], volume.inputs["spec"]["storageClassName"]) == ("", "")
    assert claim.inputs["spec"]["volumeName"] == volume.inputs["metadata"]["name"]
    drop(graph, named(graph, "mlops-cluster-gp3"))
    kps = _release(graph, "kube-prometheus-stack")
    assert _found(graph, spec, "pvc-storage-class-available") == [(kps.name, True)], "only the dynamic claims"


def _no_claim_class(claim: CapturedResource, volume: CapturedResource) -> None:
    del claim.inputs["spec"]["storageClassName"]


def _volume_of_a_class(claim: CapturedResource, volume: CapturedResource) -> None:
    volume.inputs["spec"]["storageClassName"] = "gp3"


def _reserved_elsewhere(claim: CapturedResource, volume: CapturedResource) -> None:
    volume.inputs["spec"]["claimRef"]["name"] = "scratch"


def _unknown_volume(claim: CapturedResource, volume: CapturedResource) -> None:
    claim.inputs["spec"]["volumeName"] = "mlops-prod-scratch"


def _no_volume_name(claim: CapturedResource, volume: CapturedResource) -> None:
    del claim.inputs["spec"]["volumeName"]
    volume.inputs["spec"]["claimRef"]["name"] = "scratch"


@pytest.mark.parametrize(
    ("breaks", "message"),
    [
        (_no_claim_class, "gives it the default class 'gp3' and it never binds the volume of class ''"),
        (_volume_of_a_class, "which has storageClassName 'gp3' while the claim has \"\""),
        (_reserved_elsewhere, "reserves for mlops-training/scratch: point the claimRef at mlops-training/datasets"),
        (_unknown_volume, "PersistentVolume 'mlops-prod-scratch', which the stack does not create"),
        (_no_volume_name, 'the stack creates no PersistentVolume of class "" it can bind'),
    ],
)
def test_a_static_claim_that_never_binds(
    previews: Previews, breaks: Callable[[CapturedResource, CapturedResource], None], message: str
) -> None:
    graph, spec = baseline(previews, "prod")
    claim, volume = _static_claim(graph)
    breaks(claim, volume)
    assert _found(graph, spec, "pvc-storage-class-available") == [(claim.name, True)]
    assert message in _messages(graph, spec, "pvc-storage-class-available")[0]


# --- network policy ----------------------------------------------------------------------------


def test_vpc_cni_without_the_network_policy_agent(previews: Previews) -> None:
    graph, spec = baseline(previews, "prod")
    cni = _addon(graph, "vpc-cni")
    assert json.loads(cni.inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    cni.inputs.pop("configurationValues")
    assert _found(graph, spec, "network-policy-enforced") == [(cni.name, True)]
    message = _messages(graph, spec, "network-policy-enforced")[0]
    count = len(of_type(graph, NETWORK_POLICY))
    assert f"{count} NetworkPolicy objects" in message and '{"enableNetworkPolicy": "true"}' in message


def test_gke_without_dataplane_v2(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-dev")
    cluster = first(graph, GKE)
    cluster.inputs["datapathProvider"] = "LEGACY_DATAPATH"
    assert _found(graph, spec, "network-policy-enforced") == [(cluster.name, True)]
    assert "set datapathProvider ADVANCED_DATAPATH" in _messages(graph, spec, "network-policy-enforced")[0]
    cluster.inputs["networkPolicy"] = {"enabled": True}
    assert _found(graph, spec, "network-policy-enforced") == []


# --- Gateway API -------------------------------------------------------------------------------


def test_gateway_objects_without_a_crd_installer(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    drop(graph, _release(graph, "gateway-helm"))
    objects = sorted(r.name for t in (GATEWAY, GATEWAY_CLASS, HTTP_ROUTE) for r in of_type(graph, t))
    # The ordering module's generic CRD check reports them (the EnvoyProxy config loses its CRDs too).
    found = dict(_found(graph, spec, CRDS))
    assert set(objects) <= set(found) and all(found.values())
    messages = {v.resource_name: v.message for v in run(graph, spec, CRDS).violations}
    assert "gateway.networking.k8s.io CRDs and nothing in the stack installs them" in messages[objects[0]]
    gateway = first(graph, GATEWAY)
    assert _found(graph, spec, "gateway-class-controller-installed") == [(gateway.name, True)]
    message = _messages(graph, spec, "gateway-class-controller-installed")[0]
    assert "nothing installs its controller gateway.envoyproxy.io/gatewayclass-controller" in message


def test_gateway_must_wait_for_controller_and_class(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    gateway = first(graph, GATEWAY)
    envoy = [r.urn for r in graph.resources.values() if r.name.startswith("mlops-envoy-gateway-")]
    assert len(envoy) == 3
    cut_dependencies(gateway, envoy)
    routes = [r.name for r in of_type(graph, HTTP_ROUTE)]  # they wait for the installer through the Gateway
    assert sorted(_found(graph, spec, CRDS)) == sorted((n, True) for n in [gateway.name, *routes])
    messages = _messages(graph, spec, "gateway-class-controller-installed")
    assert len(messages) == 2
    assert "does not wait for GatewayClass 'envoy-gateway' (mlops-envoy-gateway-class)" in messages[0]
    assert "does not wait for Helm release 'gateway-helm' (mlops-envoy-gateway-release)" in messages[1]


def test_lattice_controller_implements_no_route_filters(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    gateway_class = first(graph, GATEWAY_CLASS)
    gateway_class.inputs["spec"]["controllerName"] = LATTICE_CONTROLLER
    _release(graph, "gateway-helm").inputs["chart"] = "oci://public.ecr.aws/aws-gateway-controller-chart"
    report = run(graph, spec, "http-route-features-supported")
    assert all(v.mandatory for v in report.violations)
    found = {v.resource_name: v.message for v in report.violations}
    assert sorted(found) == ["mlops-services-endpoint-churn-gpu-route", "mlops-services-endpoint-churn-route"]
    assert found["mlops-services-endpoint-churn-gpu-route"].startswith(
        "HTTPRoute 'churn-gpu' (mlops-services-endpoint-churn-gpu-route) uses RequestMirror, URLRewrite, which the "
        "controller of class 'envoy-gateway'"
    )
    assert "uses URLRewrite, which" in found["mlops-services-endpoint-churn-route"]


def test_gke_classic_load_balancer_cannot_mirror_or_rewrite(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-prod")
    first(graph, GATEWAY).inputs["spec"]["gatewayClassName"] = "gke-l7-gxlb"
    report = run(graph, spec, "http-route-features-supported")
    routes = {r.name: json.dumps(r.inputs["spec"]) for r in of_type(graph, HTTP_ROUTE)}
    assert sorted(v.resource_name for v in report.violations) == sorted(routes)
    for v in report.violations:
        assert v.mandatory and "URLRewrite" in v.message and "class 'gke-l7-gxlb'" in v.message
        assert ("RequestMirror" in v.message) == ("RequestMirror" in routes[v.resource_name])


def test_gke_classes_need_the_cluster_gateway_api(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-dev")
    first(graph, GKE).inputs["gatewayApiConfig"] = {"channel": "CHANNEL_DISABLED"}
    gateway = first(graph, GATEWAY)
    assert _found(graph, spec, "gateway-class-controller-installed") == [(gateway.name, True)]
    message = _messages(graph, spec, "gateway-class-controller-installed")[0]
    assert "'gke-l7-regional-external-managed'" in message and "set CHANNEL_STANDARD" in message
    checks = of_type(graph, "kubernetes:networking.gke.io/v1:HealthCheckPolicy")
    assert len(_found(graph, spec, CRDS)) == 1 + len(of_type(graph, HTTP_ROUTE)) + len(checks)
    assert all("gatewayApiConfig.channel to CHANNEL_STANDARD" in m for m in _messages(graph, spec, CRDS))


# --- namespaces of rendered objects ------------------------------------------------------------


def test_pushgateway_servicemonitor_lands_in_the_charts_default_namespace(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-dev")
    pushgateway = _release(graph, "prometheus-pushgateway")
    pushgateway.inputs["values"]["serviceMonitor"].pop("namespace")
    assert _found(graph, spec, "helm-release-namespace-exists") == [(pushgateway.name, True)]
    message = _messages(graph, spec, "helm-release-namespace-exists")[0]
    assert "namespace 'monitoring' (values.serviceMonitor.namespace (chart default))" in message
    assert "set values.serviceMonitor.namespace to a namespace of the stack" in message


def test_release_namespace_must_be_created(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    envoy = _release(graph, "gateway-helm")
    envoy.inputs["createNamespace"] = False
    assert _found(graph, spec, "helm-release-namespace-exists") == [(envoy.name, True)]
    assert (
        "namespace 'envoy-gateway-system' (namespace) and nothing creates"
        in _messages(graph, spec, "helm-release-namespace-exists")[0]
    )


def test_release_must_wait_for_the_namespace_it_renders_into(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-dev")
    pushgateway = _release(graph, "prometheus-pushgateway")
    ns = pushgateway.inputs["namespace"]
    namespace = first(graph, "kubernetes:core/v1:Namespace", lambda r: r.inputs["metadata"]["name"] == ns)
    cut_dependencies(pushgateway, list(pushgateway.dependencies))  # the provider stays
    assert _found(graph, spec, "helm-release-namespace-exists") == [(pushgateway.name, True)]
    message = _messages(graph, spec, "helm-release-namespace-exists")[0]
    assert (
        f"namespace {ns!r} (namespace, values.serviceMonitor.namespace) but does not wait for {namespace.name}"
        in message
    )


@pytest.mark.parametrize(
    ("version", "parsed"), [("v1.19.5-eksbuild.1", (1, 19, 5)), ("1.31.0", (1, 31, 0)), (None, (0,))]
)
def test_addon_versions_compare_numerically(version: str | None, parsed: tuple[int, ...]) -> None:
    assert addon_version(version) == parsed
