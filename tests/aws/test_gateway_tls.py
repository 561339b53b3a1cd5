"""How clients reach an endpoint on AWS: an NLB of the scheme ``ingress`` says (internal by default), terminating TLS
with an ACM certificate on port 443 only, in front of Envoy Gateway's proxies; the Gateway listens where the NLB
forwards. The spec refuses plain HTTP in prod and on the internet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from aws_support import props, stack_raw
from pulumi_mlops.components.aws.gateway_load_balancer import (
    NLB_ANNOTATION_PREFIX,
    GatewayLoadBalancer,
    GatewayLoadBalancerArgs,
)
from pulumi_mlops.components.k8s import ClusterContext, EnvoyGateway, EnvoyGatewayArgs, Gateway, GatewayArgs
from pulumi_mlops.components.k8s.envoy_gateway import ENVOY_GATEWAY_CLASS
from pulumi_mlops.components.k8s.manifests import check_manifests, to_manifest

from pulumi_mlops.preview import PreviewResult, ResourceGraph, run_program
from pulumi_mlops.spec import IngressSpec, SpecError, TlsSpec, parse_spec
from pulumi_mlops.spec.ingress import DEFAULT_SSL_POLICY
from pulumi_mlops.spec.ingress import ENVOY_GATEWAY_CLASS as SPEC_GATEWAY_CLASS

Previews = Callable[[str], PreviewResult]
ENVOY_PROXY = "kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
CERTIFICATE = "aws:acm/certificate:Certificate"
RECORD = "aws:route53/record:Record"
VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
ZONE = "Z0123456789ABCDEFGHIJ"


def _envoy_service(graph: ResourceGraph) -> dict[str, Any]:
    [proxy] = graph.of_type(ENVOY_PROXY)
    service: dict[str, Any] = to_manifest(proxy)["spec"]["provider"]["kubernetes"]["envoyService"]
    return service


def _listeners(graph: ResourceGraph) -> list[dict[str, Any]]:
    [gateway] = graph.of_type(GATEWAY)
    listeners: list[dict[str, Any]] = to_manifest(gateway)["spec"]["listeners"]
    return listeners


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_tls_stacks_listen_on_443_only_behind_an_internal_nlb(previews: Previews, stack: str) -> None:
    result = previews(stack)
    tls = result.spec.ingress.tls
    assert tls is not None and tls.certificate_arn is not None
    service = _envoy_service(result.graph)
    assert service["type"] == "LoadBalancer"
    assert service["annotations"] == {
        f"{NLB_ANNOTATION_PREFIX}type": "nlb",
        f"{NLB_ANNOTATION_PREFIX}internal": "true",
        f"{NLB_ANNOTATION_PREFIX}ssl-cert": tls.certificate_arn,
        f"{NLB_ANNOTATION_PREFIX}ssl-ports": "443",
        f"{NLB_ANNOTATION_PREFIX}ssl-negotiation-policy": DEFAULT_SSL_POLICY,
    }
    [listener] = _listeners(result.graph)
    assert listener["port"] == 443, "the proxies' Service opens the listener's port only: no port 80"
    assert listener["protocol"] == "HTTP", "the NLB terminates TLS and forwards the stream inside the VPC"
    assert listener.get("hostname") == tls.domain
    exported = result.graph.outputs["gatewayLoadBalancer"]
    assert (exported["scheme"], exported["port"], exported["certificateArn"]) == ("internal", 443, tls.certificate_arn)
    assert exported.get("hostname") == tls.domain


def test_dev_keeps_plain_http_on_its_internal_nlb(previews: Previews) -> None:
    result = previews("dev")
    assert result.spec.ingress == IngressSpec()
    service = _envoy_service(result.graph)
    assert service["annotations"] == {f"{NLB_ANNOTATION_PREFIX}type": "nlb", f"{NLB_ANNOTATION_PREFIX}internal": "true"}
    assert "loadBalancerSourceRanges" not in service
    [listener] = _listeners(result.graph)
    assert (listener["port"], "hostname" in listener) == (80, False)


def _program(ingress: IngressSpec) -> Callable[[], None]:
    def program() -> None:
        provider = k8s.Provider("k8s", kubeconfig="{}")
        lb = GatewayLoadBalancer("lb", GatewayLoadBalancerArgs(ingress=ingress, tags={"owner": "ml"}))
        envoy = EnvoyGateway(
            "eg",
            EnvoyGatewayArgs(
                service_annotations=lb.annotations, source_ranges=ingress.allowed_cidrs, depends_on=lb.ready
            ),
            opts=pulumi.ResourceOptions(provider=provider),
        )
        ctx = ClusterContext(
            provider=provider,
            cloud="aws",
            bucket_uris={},
            gateway_class=envoy.class_name,
            gateway_depends_on=envoy.ready,
            gateway_port=lb.port,
            gateway_hostname=lb.hostname,
        )
        Gateway("gw", GatewayArgs(context=ctx, gateway_name="platform", namespace="serving"))

    return program


def test_a_requested_certificate_is_dns_validated_before_the_proxies_use_it() -> None:
    ingress = IngressSpec(tls=TlsSpec(domain="ml.example.com", hosted_zone_id=ZONE))
    graph = run_program(_program(ingress), config={})
    [certificate] = graph.of_type(CERTIFICATE)
    assert (props(certificate)["domainName"], props(certificate)["validationMethod"]) == ("ml.example.com", "DNS")
    assert props(certificate)["tags"] == {"owner": "ml"}
    [record] = graph.of_type(RECORD)
    assert (props(record)["zoneId"], props(record)["type"]) == (ZONE, "CNAME")
    assert props(record)["name"].startswith("_") and props(record)["name"].endswith(".ml.example.com.")
    [value] = props(record)["records"]
    assert value.endswith(".acm-validations.aws."), "the CNAME ACM asked for (domainValidationOptions)"
    [validation] = graph.of_type(VALIDATION)
    assert props(validation)["validationRecordFqdns"] == [props(record)["name"].rstrip(".")]
    arn = props(validation)["certificateArn"]
    assert arn.startswith("arn:aws:acm:us-east-1:123456789012:certificate/")
    assert certificate.urn in validation.dependencies
    assert _envoy_service(graph)["annotations"][f"{NLB_ANNOTATION_PREFIX}ssl-cert"] == arn
    release = graph.named("eg-release")
    assert validation.urn in release.dependencies, "the proxies' Service is created once the certificate is issued"
    [listener] = _listeners(graph)
    assert (listener["port"], listener["hostname"]) == (443, "ml.example.com")
    assert check_manifests(graph, "1.35") == []


def test_an_internet_facing_nlb_admits_the_listed_ranges_over_tls() -> None:
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/0b7e4a52-93c1-4f0d-a6e8-2d5c7f1b9e30"
    ingress = IngressSpec(scheme="internet-facing", allowed_cidrs=["198.18.0.0/15"], tls=TlsSpec(certificate_arn=arn))
    graph = run_program(_program(ingress), config={})
    service = _envoy_service(graph)
    assert service["annotations"][f"{NLB_ANNOTATION_PREFIX}internal"] == "false"
    assert service["annotations"][f"{NLB_ANNOTATION_PREFIX}ssl-cert"] == arn
    assert service["loadBalancerSourceRanges"] == ["198.18.0.0/15"]
    assert not graph.of_type(CERTIFICATE), "a given certificate is used as is"
    assert [listener["port"] for listener in _listeners(graph)] == [443]


def test_the_spec_names_the_class_the_aws_layer_installs() -> None:
    assert SPEC_GATEWAY_CLASS == ENVOY_GATEWAY_CLASS


ARN = "arn:aws:acm:us-east-1:123456789012:certificate/4f9d2c1e-8b3a-4d5e-9f60-7a1b2c3d4e5f"


@pytest.mark.parametrize(
    ("stack", "ingress", "message"),
    [
        ("prod", None, r"ingress\.tls: prod endpoints are served over TLS only: set ingress\.tls\.certificate_arn"),
        ("dev", {"scheme": "internet-facing"}, "an internet-facing load balancer must not answer plain HTTP"),
        (
            "dev",
            {"tls": {"certificate_arn": ARN.replace("us-east-1", "eu-west-1")}},
            "the certificate is in eu-west-1, and a load balancer in us-east-1 uses certificates of its own region",
        ),
        ("dev", {"tls": {"domain": "ml.example.com"}}, "give exactly one certificate source"),
        ("dev", {"tls": {"certificate_arn": ARN, "hosted_zone_id": ZONE, "domain": "a.example.com"}}, "exactly one"),
        ("dev", {"tls": {"hosted_zone_id": ZONE}}, "hosted_zone_id needs domain"),
        ("dev", {"tls": {"certificate_arn": "arn:aws:iam::123456789012:server-certificate/x"}}, "not an ACM"),
        ("dev", {"tls": {"certificate_arn": ARN, "domain": "ML.Example.com"}}, "is not a hostname"),
        ("dev", {"tls": {"certificate_arn": ARN, "ssl_policy": "TLSv1.2"}}, "not an Elastic Load Balancing"),
        ("dev", {"allowed_cidrs": ["0.0.0.0/0"]}, "leave allowed_cidrs empty"),
    ],
)
def test_ingress_mistakes_name_the_field_and_the_fix(stack: str, ingress: dict[str, Any] | None, message: str) -> None:
    raw = stack_raw(stack)
    raw.pop("ingress", None)
    if ingress is not None:
        raw["ingress"] = ingress
    with pytest.raises(SpecError, match=message):
        parse_spec(raw)


def test_ingress_belongs_to_the_class_the_stack_installs() -> None:
    raw = stack_raw("dev")
    raw.update(gateway_class="my-class", ingress={"scheme": "internal", "allowed_cidrs": ["10.0.0.0/8"]})
    with pytest.raises(SpecError, match="gateway_class is 'my-class': remove ingress or leave gateway_class empty"):
        parse_spec(raw)
    raw.pop("ingress")
    assert parse_spec(raw).ingress == IngressSpec()
