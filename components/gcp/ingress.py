"""The TLS certificate of the platform's Gateway on GKE: a Google-managed regional Certificate Manager certificate.

Regional Gateways (``gke-l7-rilb``, ``gke-l7-regional-external-managed``) take regional Certificate Manager
certificates by name in their HTTPS listener's ``tls.options["networking.gke.io/cert-manager-certs"]`` (certificate
maps, the ``networking.gke.io/certmap`` annotation, are for global Gateways only). The certificate is authorized
by DNS, so it is issued for an internal load balancer too: each domain gets a regional DNS authorization whose
CNAME record (stack output ``certificateDnsRecords``) goes into the domain's public zone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

__all__ = ["CERT_MANAGER_CERTS_OPTION", "GatewayCertificate", "GatewayCertificateArgs", "authorized_domains"]

CERT_MANAGER_CERTS_OPTION = "networking.gke.io/cert-manager-certs"
"""TLS option of a regional GKE Gateway listener naming its Certificate Manager certificates (comma-separated)."""


def authorized_domains(hostnames: Sequence[str]) -> list[str]:
    """The domains to authorize: each hostname, a wildcard's parent domain (one authorization covers a domain and
    its wildcard), each once."""
    return list(dict.fromkeys(h.removeprefix("*.") for h in hostnames))


@dataclass
class GatewayCertificateArgs:
    """Inputs of :class:`GatewayCertificate`."""

    project: str
    """GCP project id."""
    region: str
    """Region of the Gateway (the certificate and its authorizations are regional)."""
    name: str
    """Certificate name (``<name>-<environment>-gateway``)."""
    hostnames: Sequence[str]
    """DNS names the certificate covers (``gke_ingress.hostnames``)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels of the certificate and authorizations."""


class GatewayCertificate(pulumi.ComponentResource):
    """DNS authorizations and the managed certificate. Outputs: ``certificate_name`` (for the listener's TLS
    option), ``dns_records`` (``name``, ``type``, ``data`` of each CNAME to create), ``certificate``."""

    certificate: gcp.certificatemanager.Certificate
    certificate_name: pulumi.Output[str]
    dns_records: pulumi.Output[list[dict[str, str]]]

    def __init__(self, name: str, args: GatewayCertificateArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:gcp:GatewayCertificate", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        authorizations = [
            gcp.certificatemanager.DnsAuthorization(
                f"{name}-dns-{i}",
                name=f"{args.name}-{i}",
                project=args.project,
                location=args.region,
                domain=domain,
                type="PER_PROJECT_RECORD",
                labels=dict(args.labels),
                opts=child,
            )
            for i, domain in enumerate(authorized_domains(args.hostnames))
        ]
        self.certificate = gcp.certificatemanager.Certificate(
            f"{name}-certificate",
            name=args.name,
            project=args.project,
            location=args.region,
            description=f"TLS of the {args.name} Gateway: {', '.join(args.hostnames)}",
            managed=gcp.certificatemanager.CertificateManagedArgs(
                domains=list(args.hostnames), dns_authorizations=[a.id for a in authorizations]
            ),
            labels=dict(args.labels),
            opts=child,
        )
        self.certificate_name = self.certificate.name
        self.dns_records = pulumi.Output.all(*(a.dns_resource_records for a in authorizations)).apply(
            lambda found: [
                {"name": r.name or "", "type": r.type or "", "data": r.data or ""}
                for records in found
                for r in records or []
            ]
        )
        self.register_outputs({"certificate_name": self.certificate_name, "dns_records": self.dns_records})
