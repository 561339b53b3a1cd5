"""How traffic reaches an endpoint on GKE, in the preview graph: an internal (prod) or public regional Gateway on
the proxy-only subnet, HTTPS with a regional Certificate Manager certificate, and a HealthCheckPolicy per serving
Service so the load balancer probes the server's readiness path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from pulumi_mlops.components.gcp.ingress import authorized_domains
from pulumi_mlops.components.k8s.serving import READY_PATH

from pulumi_mlops.preview import PreviewResult, ResourceGraph, run_program
from pulumi_mlops.preview.mocks import PlatformMocks
from pulumi_mlops.spec import CONFIG_KEY, parse_spec

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("gcp-dev", "gcp-prod")
Previews = Callable[[str], PreviewResult]

GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
HEALTH_CHECK = "kubernetes:networking.gke.io/v1:HealthCheckPolicy"
CERTIFICATE = "gcp:certificatemanager/certificate:Certificate"
AUTHORIZATION = "gcp:certificatemanager/dnsAuthorization:DnsAuthorization"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
SERVICE = "kubernetes:core/v1:Service"


def gateway(graph: ResourceGraph) -> dict:
    (found,) = graph.of_type(GATEWAY)
    return found.props


def test_prod_endpoints_are_internal_and_dev_endpoints_public(previews: Previews) -> None:
    assert gateway(previews("gcp-prod").graph)["spec"]["gatewayClassName"] == "gke-l7-rilb"
    assert gateway(previews("gcp-dev").graph)["spec"]["gatewayClassName"] == "gke-l7-regional-external-managed"


@pytest.mark.parametrize("stack", STACKS)
def test_the_gateway_waits_for_the_proxy_only_subnet_its_load_balancer_needs(previews: Previews, stack: str) -> None:
    graph = previews(stack).graph
    (proxy,) = [s for s in graph.of_type(SUBNET) if s.props.get("purpose") == "REGIONAL_MANAGED_PROXY"]
    assert proxy.props["role"] == "ACTIVE"
    assert proxy.props["region"] == previews(stack).spec.region
    (gw,) = graph.of_type(GATEWAY)
    assert proxy.urn in gw.dependencies


@pytest.mark.parametrize("stack", STACKS)
def test_the_gateway_serves_https_only_with_a_regional_certificate_manager_certificate(
    previews: Previews, stack: str
) -> None:
    result = previews(stack)
    graph, spec = result.graph, result.spec
    (certificate,) = graph.of_type(CERTIFICATE)
    assert certificate.props["location"] == spec.region, "regional Gateways take regional certificates"
    assert certificate.props["managed"]["domains"] == spec.gke_ingress.hostnames
    authorizations = graph.of_type(AUTHORIZATION)
    assert [a.props["domain"] for a in authorizations] == authorized_domains(spec.gke_ingress.hostnames)
    assert {a.props["location"] for a in authorizations} == {spec.region}
    assert {a.props["type"] for a in authorizations} == {"PER_PROJECT_RECORD"}
    assert {a.urn for a in authorizations} <= set(certificate.property_dependencies["managed"])

    (listener,) = gateway(graph)["spec"]["listeners"]
    assert (listener["name"], listener["protocol"], listener["port"]) == ("https", "HTTPS", 443.0)
    assert listener["tls"] == {
        "mode": "Terminate",
        "options": {"networking.gke.io/cert-manager-certs": certificate.props["name"]},
    }
    (gw,) = graph.of_type(GATEWAY)
    assert certificate.urn in gw.dependencies
    assert {r.props["spec"]["parentRefs"][0]["sectionName"] for r in graph.of_type(ROUTE)} == {"https"}
    services = {s.props["service"] for s in graph.of_type("gcp:projects/service:Service")}
    assert "certificatemanager.googleapis.com" in services
    assert "certificateDnsRecords" in graph.outputs


def test_an_internal_dev_gateway_without_hostnames_serves_plain_http() -> None:
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.gcp-dev.yaml").read_text())
    config = copy.deepcopy(doc["config"])
    config[CONFIG_KEY]["gke_ingress"] = {"public": False}
    spec = parse_spec(config[CONFIG_KEY])
    graph = run_program(
        ROOT / "stacks" / "__main__.py",
        config,
        stack="gcp-dev",
        mocks=PlatformMocks(region=spec.region, gcp_project=spec.gcp_project or ""),
    )
    body = gateway(graph)["spec"]
    assert body["gatewayClassName"] == "gke-l7-rilb"
    assert body["listeners"][0]["protocol"] == "HTTP" and body["listeners"][0]["port"] == 80.0
    assert "tls" not in body["listeners"][0]
    assert graph.of_type(CERTIFICATE) == [] and graph.of_type(AUTHORIZATION) == []
    assert "certificatemanager.googleapis.com" not in {
        s.props["service"] for s in graph.of_type("gcp:projects/service:Service")
    }


def test_one_authorization_covers_a_domain_and_its_wildcard() -> None:
    assert authorized_domains(["ml.acme.example", "*.ml.acme.example", "api.acme.example"]) == [
        "ml.acme.example",
        "api.acme.example",
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_every_serving_service_has_a_health_check_on_the_readiness_path(previews: Previews, stack: str) -> None:
    result = previews(stack)
    graph = result.graph
    serving = {
        s.props["metadata"]["name"]: s.props
        for s in graph.of_type(SERVICE)
        if s.props["metadata"]["namespace"] == "mlops-serving"
    }
    checks = {c.props["spec"]["targetRef"]["name"]: c.props for c in graph.of_type(HEALTH_CHECK)}
    assert set(checks) == set(serving), "one HealthCheckPolicy per serving Service (every track)"
    for name, check in checks.items():
        assert check["metadata"]["namespace"] == serving[name]["metadata"]["namespace"]
        assert check["spec"]["targetRef"] == {"group": "", "kind": "Service", "name": name}
        http = check["spec"]["default"]["config"]
        assert http["type"] == "HTTP"
        port = serving[name]["spec"]["ports"][0]["port"]
        assert http["httpHealthCheck"] == {
            "portSpecification": "USE_FIXED_PORT",
            "port": port,
            "requestPath": READY_PATH,
        }
    backends = {
        b["name"] for r in graph.of_type(ROUTE) for rule in r.props["spec"]["rules"] for b in rule["backendRefs"]
    }
    assert backends <= set(checks), "every backend the Gateway routes to is probed"


def test_no_health_check_policy_outside_gke(previews: Previews) -> None:
    assert previews("dev").graph.of_type(HEALTH_CHECK) == []
