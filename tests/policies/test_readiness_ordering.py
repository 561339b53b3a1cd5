"""Deploy readiness, ordering and reachability: each check from a real stack's graph with one defect introduced."""

from __future__ import annotations

import json

import pytest
from pulumi_mlops.policies.reachability import describe_access, kubeconfig_server

from pulumi_mlops.preview import ResourceGraph
from pulumi_mlops.spec import PlatformSpec

from .readiness import Previews, baseline, cut_dependencies, drop, first, run

ORDERING = (
    "custom-resources-wait-for-crds",
    "cluster-references-wait-for-cluster",
    "kubernetes-resources-use-stack-cluster",
)
REACHABLE = "kubernetes-api-reachable-from-deployer"
STACKS = ["dev", "staging", "prod", "gcp-dev", "gcp-prod"]
RELEASE = "kubernetes:helm.sh/v3:Release"
EKS = "aws:eks/cluster:Cluster"
GKE = "gcp:container/cluster:Cluster"


def _release(graph: ResourceGraph, chart: str) -> str:
    return first(graph, RELEASE, lambda r: r.inputs.get("chart") == chart).urn


@pytest.mark.parametrize("stack", STACKS)
def test_real_stacks_are_ordered_and_reachable(stack: str, previews: Previews) -> None:
    graph, spec = baseline(previews, stack)
    report = run(graph, spec, *ORDERING, REACHABLE)
    assert [f"{v.policy} {v.resource_name}: {v.message}" for v in report.violations] == []


def test_release_rendering_servicemonitors_must_wait_for_the_operator_crds(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    dcgm = first(graph, RELEASE, lambda r: r.inputs.get("chart") == "dcgm-exporter")
    crds = _release(graph, "prometheus-operator-crds")
    cut_dependencies(dcgm, [crds])
    report = run(graph, spec, "custom-resources-wait-for-crds")
    assert [(v.resource_name, v.mandatory) for v in report.violations] == [(dcgm.name, True)]
    message = report.violations[0].message
    assert "values.serviceMonitor.enabled" in message and "does not wait for mlops-crds-prometheus-operator" in message


def test_kube_prometheus_stack_counts_as_installer_only_with_its_crds_on(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    crds = graph.resources[_release(graph, "prometheus-operator-crds")]
    kps = graph.resources[_release(graph, "kube-prometheus-stack")]
    drop(graph, crds)
    report = run(graph, spec, "custom-resources-wait-for-crds")
    rules = [v for v in report.violations if v.resource_type.endswith(":PrometheusRule")]
    assert rules and all("nothing in the stack installs them" in v.message for v in rules)

    kps.inputs["values"]["crds"]["enabled"] = True
    report = run(graph, spec, "custom-resources-wait-for-crds")
    # Objects created after kube-prometheus-stack are fine now; the DCGM release in the cloud layer is not.
    assert [v.resource_name for v in report.violations] == ["mlops-nvidia-dcgm-exporter"]
    assert f"does not wait for {kps.name}" in report.violations[0].message


def test_custom_resource_of_a_group_nobody_installs(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-dev")
    rule = first(graph, "kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    rule.type = "kubernetes:example.com/v1:Widget"
    report = run(graph, spec, "custom-resources-wait-for-crds")
    assert [v.resource_name for v in report.violations] == [rule.name]
    assert "example.com CRDs and nothing in the stack installs them" in report.violations[0].message
    config = {"custom-resources-wait-for-crds": {"preinstalledCrdGroups": ["example.com"]}}
    assert run(graph, spec, "custom-resources-wait-for-crds", config=config).violations == []


def test_gke_gateway_api_channel_is_the_installer_of_gateway_crds(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-dev")
    first(graph, GKE).inputs["gatewayApiConfig"] = {"channel": "CHANNEL_DISABLED"}
    report = run(graph, spec, "custom-resources-wait-for-crds")
    kinds = sorted({v.resource_type.rsplit(":", 1)[-1] for v in report.violations})
    assert kinds == ["Gateway", "HTTPRoute", "HealthCheckPolicy"]


def test_resource_naming_the_cluster_by_string_must_wait_for_it(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    cluster = first(graph, EKS)
    association = first(graph, "aws:eks/podIdentityAssociation:PodIdentityAssociation")
    cut_dependencies(association, [cluster.urn])
    association.dependencies = []
    association.property_dependencies = {}
    report = run(graph, spec, "cluster-references-wait-for-cluster")
    assert [(v.resource_name, v.mandatory) for v in report.violations] == [(association.name, True)]
    assert "names cluster 'mlops-dev-eks' in clusterName as a plain string" in report.violations[0].message


def test_gke_node_pool_naming_the_cluster_must_wait_for_it(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-prod")
    pool = first(graph, "gcp:container/nodePool:NodePool", lambda r: r.name.endswith("-system"))
    pool.dependencies, pool.property_dependencies = [], {}
    report = run(graph, spec, "cluster-references-wait-for-cluster")
    assert [v.resource_name for v in report.violations] == [pool.name]


def test_kubernetes_objects_never_use_the_default_provider(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    deployment = first(graph, "kubernetes:apps/v1:Deployment")
    deployment.provider = "urn:pulumi:dev::pulumi-mlops::pulumi:providers:kubernetes::default_4_34_0::id"
    report = run(graph, spec, "kubernetes-resources-use-stack-cluster")
    assert [v.resource_name for v in report.violations] == [deployment.name]
    assert "default Kubernetes provider" in report.violations[0].message


def test_provider_must_come_from_the_stack_cluster(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    provider = first(graph, "pulumi:providers:kubernetes")
    provider.dependencies, provider.property_dependencies = [], {}
    report = run(graph, spec, "kubernetes-resources-use-stack-cluster")
    assert report.violations and all("does not come from this stack's cluster" in v.message for v in report.violations)


@pytest.mark.parametrize(
    ("vpc", "fragment"),
    [
        ({"endpointPublicAccess": False}, "the EKS endpoint is private-only"),
        ({"publicAccessCidrs": ["203.0.113.0/24"]}, "203.0.113.0/24 is a documentation range"),
        ({"publicAccessCidrs": ["10.0.0.0/8"]}, "10.0.0.0/8 is a private or reserved range"),
    ],
    ids=["private-only", "documentation-range", "private-range"],
)
def test_eks_endpoint_the_deployer_cannot_reach(vpc: dict, fragment: str, previews: Previews) -> None:
    graph, spec = baseline(previews, "prod")
    cluster = first(graph, EKS)
    cluster.inputs["vpcConfig"].update(vpc)
    report = run(graph, spec, REACHABLE)
    assert report.violations and all(v.resource_name == cluster.name and v.mandatory for v in report.violations)
    assert any(fragment in v.message for v in report.violations)


def test_gke_dns_endpoint_must_allow_external_traffic(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-prod")
    first(graph, GKE).inputs["controlPlaneEndpointsConfig"]["dnsEndpointConfig"]["allowExternalTraffic"] = False
    report = run(graph, spec, REACHABLE)
    assert len(report.violations) == 1 and "allowExternalTraffic is not true" in report.violations[0].message


def test_gke_kubeconfig_on_the_private_ip_endpoint_is_unreachable(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-prod")
    provider = first(graph, "pulumi:providers:kubernetes")
    kubeconfig = json.loads(provider.props["kubeconfig"])
    kubeconfig["clusters"][0]["cluster"]["server"] = "https://172.16.0.34"
    provider.inputs["kubeconfig"] = json.dumps(kubeconfig)
    report = run(graph, spec, REACHABLE)
    assert len(report.violations) == 1 and "targets the private IP endpoint" in report.violations[0].message


@pytest.mark.parametrize(
    ("stack", "endpoint", "where"),
    [
        ("dev", "public endpoint", "18.211.42.16/28, 3.225.14.200/32 (IAM-authenticated)"),
        ("prod", "public endpoint", "18.211.42.16/28 (IAM-authenticated)"),
        ("gcp-prod", "DNS endpoint", "anywhere, for identities with container.clusters.connect (IAM)"),
    ],
)
def test_each_stack_states_from_where_it_deploys(stack: str, endpoint: str, where: str, previews: Previews) -> None:
    graph, _ = baseline(previews, stack)
    cluster = first(graph, EKS if stack in ("dev", "prod") else GKE)
    provider = first(graph, "pulumi:providers:kubernetes")
    access = describe_access(cluster.type, cluster.props, provider.props["kubeconfig"])
    assert (access.endpoint, access.deployable_from, access.problems) == (endpoint, where, [])


def test_gke_kubeconfig_points_at_the_dns_endpoint_without_a_ca(previews: Previews) -> None:
    provider = first(previews("gcp-dev").graph, "pulumi:providers:kubernetes")
    server = kubeconfig_server(provider.props["kubeconfig"])
    assert server.startswith("https://gke-") and server.endswith(".europe-west4.gke.goog")
    assert "certificate-authority-data" not in provider.props["kubeconfig"]


def _spec(**cluster: object) -> dict:
    return {
        "cloud": "aws",
        "region": "us-east-1",
        "environment": "dev",
        "tags": {"owner": "ml-platform", "cost_center": "ml-1"},
        "cluster": cluster,
    }


@pytest.mark.parametrize(
    ("cluster", "fragment"),
    [
        ({"api_allowed_cidrs": ["198.51.100.0/24"]}, "documentation range (RFC 5737/3849) that admits nobody"),
        ({"api_allowed_cidrs": []}, "cluster.api_allowed_cidrs: list the egress CIDRs"),
        ({"public_endpoint": False}, "a private-only EKS endpoint cannot be reached"),
    ],
)
def test_spec_refuses_api_access_nobody_has(cluster: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=r"admits nobody|list the egress|cannot be reached") as err:
        PlatformSpec.model_validate(_spec(**cluster))
    assert fragment in str(err.value)


def test_spec_accepts_private_gke_with_the_dns_endpoint_and_refuses_it_without() -> None:
    gcp = {
        **_spec(public_endpoint=False),
        "cloud": "gcp",
        "region": "europe-west4",
        "gcp_project": "acme-ml-dev",
        "gke_ingress": {"public": False},
    }
    assert PlatformSpec.model_validate(gcp).cluster.dns_endpoint is True
    gcp["cluster"] = {"public_endpoint": False, "dns_endpoint": False}
    with pytest.raises(ValueError, match=r"cluster\.dns_endpoint: with a private IP endpoint"):
        PlatformSpec.model_validate(gcp)


def test_kube_prometheus_stack_with_crds_off_waits_for_another_installer(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-dev")
    kps = graph.resources[_release(graph, "kube-prometheus-stack")]
    drop(graph, graph.resources[_release(graph, "prometheus-operator-crds")])
    report = run(graph, spec, "custom-resources-wait-for-crds")
    found = {v.resource_name: v.message for v in report.violations}
    assert "whose templates render monitoring.coreos.com objects" in found[kps.name]
    assert "nothing in the stack installs them" in found[kps.name]


@pytest.mark.parametrize("switch", ["skipCrds", "values.crds.enabled"])
def test_a_chart_whose_crds_are_switched_off_installs_nothing(switch: str, previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    envoy = graph.resources[_release(graph, "oci://docker.io/envoyproxy/gateway-helm")]
    if switch == "skipCrds":
        envoy.inputs["skipCrds"] = True
    else:
        envoy.inputs.setdefault("values", {}).setdefault("crds", {})["enabled"] = False
    report = run(graph, spec, "custom-resources-wait-for-crds")
    kinds = {v.resource_type.rsplit(":", 1)[-1] for v in report.violations}
    assert {"Gateway", "HTTPRoute", "GatewayClass", "EnvoyProxy"} <= kinds
    assert all(v.mandatory and "nothing in the stack installs them" in v.message for v in report.violations)
