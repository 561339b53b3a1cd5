"""``IngressSpec``: how clients outside the cluster reach the serving endpoints on AWS.

The Gateway's Envoy proxies sit behind a Network Load Balancer that EKS's built-in service controller
(cloud-provider-aws) provisions from the proxies' LoadBalancer Service. The spec decides its scheme, the client
ranges it admits and whether it terminates TLS with an ACM certificate; with TLS nothing answers plain HTTP.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from pulumi_mlops.runtime.config import StrictModel

if TYPE_CHECKING:
    from .platform import PlatformSpec

__all__ = ["DEFAULT_SSL_POLICY", "IngressScheme", "IngressSpec", "TlsSpec", "ingress_problems"]

IngressScheme = Literal["internal", "internet-facing"]
"""Where the load balancer's addresses are: private subnets (the VPC and networks routed to it) or public ones."""
DEFAULT_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
"""Security policy of the TLS listener: TLS 1.3 and 1.2 only (Elastic Load Balancing's recommended policy)."""
ENVOY_GATEWAY_CLASS = "envoy-gateway"
"""The Gateway class the AWS layer installs (``components.k8s.envoy_gateway.ENVOY_GATEWAY_CLASS``)."""

_CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate/[A-Za-z0-9-]+$")
_HOSTNAME = re.compile(r"^(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]([-a-z0-9]*[a-z0-9])?$")
_HOSTED_ZONE = re.compile(r"^Z[A-Z0-9]{1,32}$")


class TlsSpec(StrictModel):
    """TLS on the load balancer: its one listener (port 443) speaks TLS; no listener answers plain HTTP."""

    certificate_arn: str | None = None
    """ARN of an ACM certificate, in the stack's region, for the hostnames clients use; the NLB terminates TLS
    with it. Either this or ``hosted_zone_id``."""
    domain: str | None = None
    """Hostname the endpoints are served under (``ml.example.com``, or ``*.ml.example.com``): the Gateway's
    listener answers requests for it only. Required with ``hosted_zone_id``; point it at the load balancer's
    address (the Gateway's ``status.addresses``)."""
    hosted_zone_id: str | None = None
    """Public Route 53 hosted zone of ``domain``: the stack requests an ACM certificate for ``domain`` and
    validates it with a DNS record in this zone (instead of ``certificate_arn``)."""
    ssl_policy: str = DEFAULT_SSL_POLICY
    """Security policy of the NLB's TLS listener (``ELBSecurityPolicy-*``)."""

    @field_validator("certificate_arn")
    @classmethod
    def _certificate(cls, v: str | None) -> str | None:
        if v is not None and not _CERTIFICATE_ARN.match(v):
            raise ValueError(
                f"{v!r} is not an ACM certificate ARN: write arn:aws:acm:<region>:<account>:certificate/<id>"
            )
        return v

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str | None) -> str | None:
        if v is not None and not _HOSTNAME.match(v):
            raise ValueError(
                f"{v!r} is not a hostname: write lowercase DNS labels like 'ml.example.com' (a leading '*.' is allowed)"
            )
        return v

    @field_validator("hosted_zone_id")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        if v is not None and not _HOSTED_ZONE.match(v):
            raise ValueError(f"{v!r} is not a Route 53 hosted zone id: write its id, like 'Z0123456789ABCDEFGHIJ'")
        return v

    @field_validator("ssl_policy")
    @classmethod
    def _policy(cls, v: str) -> str:
        if not v.startswith("ELBSecurityPolicy-"):
            raise ValueError(f"{v!r} is not an Elastic Load Balancing security policy: use {DEFAULT_SSL_POLICY}")
        return v

    @model_validator(mode="after")
    def _source(self) -> TlsSpec:
        if (self.certificate_arn is None) == (self.hosted_zone_id is None):
            raise ValueError(
                "give exactly one certificate source: certificate_arn (an existing ACM certificate) or "
                "hosted_zone_id with domain (the stack requests and DNS-validates one)"
            )
        if self.hosted_zone_id is not None and self.domain is None:
            raise ValueError("hosted_zone_id needs domain: the hostname the certificate is requested for")
        return self

    @property
    def region(self) -> str | None:
        """Region of ``certificate_arn`` (``None`` when the stack requests the certificate)."""
        found = _CERTIFICATE_ARN.match(self.certificate_arn or "")
        return found.group(1) if found else None


class IngressSpec(StrictModel):
    """How the serving endpoints are reached from outside the cluster (AWS: the NLB in front of Envoy Gateway)."""

    scheme: IngressScheme = "internal"
    """internal: private addresses in the private subnets, reachable from the VPC and the networks routed to it;
    internet-facing: public addresses in the public subnets (needs ``tls``)."""
    allowed_cidrs: list[str] = Field(default_factory=list)
    """Client ranges the load balancer admits (the proxies' ``loadBalancerSourceRanges``, enforced by the node
    security group rules the service controller writes); empty admits every address that can reach it."""
    tls: TlsSpec | None = None
    """TLS with an ACM certificate on the load balancer's port 443, the only port it opens. Required in prod and
    for internet-facing; without it the internal load balancer serves plain HTTP on port 80."""

    @field_validator("allowed_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for cidr in v:
            try:
                net = ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                raise ValueError(f"{cidr!r} is not a network in CIDR form like '10.20.0.0/16'") from None
            if net.prefixlen == 0:
                raise ValueError(f"{cidr} admits every address: leave allowed_cidrs empty for that")
        return v


def ingress_problems(spec: PlatformSpec) -> list[str]:
    """Errors of ``spec.ingress`` against the cloud, the Gateway class and the profile (empty when consistent)."""
    ingress, tls = spec.ingress, spec.ingress.tls
    if spec.cloud != "aws":
        if ingress != IngressSpec():
            return ["ingress: read on AWS only (the NLB in front of Envoy Gateway); remove it on GCP"]
        return []
    if spec.gateway_class not in ("", ENVOY_GATEWAY_CLASS):
        if ingress != IngressSpec():
            return [
                f"ingress: shapes the load balancer of the {ENVOY_GATEWAY_CLASS} class this stack installs, and "
                f"gateway_class is {spec.gateway_class!r}: remove ingress or leave gateway_class empty"
            ]
        return []
    errors: list[str] = []
    if tls is None and spec.profile == "prod":
        errors.append(
            "ingress.tls: prod endpoints are served over TLS only: set ingress.tls.certificate_arn (an ACM "
            f"certificate in {spec.region}) or ingress.tls.domain with ingress.tls.hosted_zone_id"
        )
    if tls is None and ingress.scheme == "internet-facing":
        errors.append(
            "ingress.scheme: an internet-facing load balancer must not answer plain HTTP: set ingress.tls, or use "
            "scheme internal"
        )
    if tls is not None and tls.region not in (None, spec.region):
        errors.append(
            f"ingress.tls.certificate_arn: the certificate is in {tls.region}, and a load balancer in {spec.region} "
            f"uses certificates of its own region: import or request it in {spec.region}"
        )
    return errors
