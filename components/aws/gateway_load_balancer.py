"""The Network Load Balancer in front of Envoy Gateway's proxies, shaped by ``PlatformSpec.ingress``.

The stack installs no AWS Load Balancer Controller: EKS's built-in service controller (cloud-provider-aws, run by
the control plane) provisions an NLB for the proxies' ``LoadBalancer`` Service from its annotations
(kubernetes/cloud-provider-aws ``docs/service_controller.md``, ``pkg/providers/v1/aws.go``):
``aws-load-balancer-type: nlb``; ``aws-load-balancer-internal`` (``"true"``: private subnets tagged
``kubernetes.io/role/internal-elb``; ``"false"``: public subnets tagged ``kubernetes.io/role/elb``); and for TLS
``aws-load-balancer-ssl-cert`` (an ACM certificate), ``-ssl-ports`` and ``-ssl-negotiation-policy``, which turn
the listener of each named Service port into a TLS listener terminating with that certificate.

With ``ingress.tls`` the Gateway's one listener is on port 443, so the Service opens port 443 only and the NLB
listens with TLS there; nothing listens on port 80, and the NLB forwards the decrypted stream to the proxies
inside the VPC. The certificate is ``tls.certificate_arn``, or one this component requests from ACM for
``tls.domain`` and validates with a DNS record in ``tls.hosted_zone_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from pulumi_mlops.spec import IngressSpec
from pulumi_mlops.spec.ingress import DEFAULT_SSL_POLICY

__all__ = [
    "HTTP_PORT",
    "NLB_ANNOTATION_PREFIX",
    "TLS_PORT",
    "GatewayLoadBalancer",
    "GatewayLoadBalancerArgs",
    "nlb_annotations",
]

NLB_ANNOTATION_PREFIX = "service.beta.kubernetes.io/aws-load-balancer-"
TLS_PORT = 443
"""The listener port with TLS (the only one)."""
HTTP_PORT = 80
"""The listener port without TLS (internal load balancers of dev and staging only)."""


def nlb_annotations(ingress: IngressSpec, certificate_arn: pulumi.Input[str] | None) -> dict[str, pulumi.Input[str]]:
    """Service annotations the EKS service controller reads: an NLB of the spec's scheme, TLS on :data:`TLS_PORT`
    with ``certificate_arn`` when given."""
    annotations: dict[str, pulumi.Input[str]] = {
        f"{NLB_ANNOTATION_PREFIX}type": "nlb",
        f"{NLB_ANNOTATION_PREFIX}internal": "true" if ingress.scheme == "internal" else "false",
    }
    if certificate_arn is not None:
        annotations[f"{NLB_ANNOTATION_PREFIX}ssl-cert"] = certificate_arn
        annotations[f"{NLB_ANNOTATION_PREFIX}ssl-ports"] = str(TLS_PORT)
        annotations[f"{NLB_ANNOTATION_PREFIX}ssl-negotiation-policy"] = (
            ingress.tls.ssl_policy if ingress.tls is not None else DEFAULT_SSL_POLICY
        )
    return annotations


@dataclass
class GatewayLoadBalancerArgs:
    """Inputs of :class:`GatewayLoadBalancer`."""

    ingress: IngressSpec
    """Scheme, admitted ranges and TLS (``PlatformSpec.ingress``)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags of the certificate the component requests."""


class GatewayLoadBalancer(pulumi.ComponentResource):
    """The NLB settings of the Gateway's proxies, and with ``tls.hosted_zone_id`` the ACM certificate and its DNS
    validation. Pass the AWS provider in ``opts.providers``.

    Outputs: ``annotations`` (for ``EnvoyGatewayArgs.service_annotations``), ``port`` (the Gateway's listener
    port), ``hostname`` (the listener's hostname or ``None``), ``certificate_arn`` (``None`` without TLS) and
    ``ready`` (what the proxies' Service waits for: the certificate's validation).
    """

    annotations: dict[str, pulumi.Input[str]]
    port: int
    hostname: str | None
    certificate_arn: pulumi.Input[str] | None
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: GatewayLoadBalancerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:aws:GatewayLoadBalancer", name, None, opts)
        tls = args.ingress.tls
        self.ready = []
        self.certificate_arn = None
        if tls is not None and tls.hosted_zone_id is not None:
            self.certificate_arn = self._requested_certificate(name, tls.domain or "", tls.hosted_zone_id, args.tags)
        elif tls is not None:
            self.certificate_arn = tls.certificate_arn
        self.annotations = nlb_annotations(args.ingress, self.certificate_arn)
        self.port = TLS_PORT if tls is not None else HTTP_PORT
        self.hostname = tls.domain if tls is not None else None
        self.register_outputs({"port": self.port, "certificate_arn": self.certificate_arn})

    def _requested_certificate(
        self, name: str, domain: str, zone_id: str, tags: Mapping[str, str]
    ) -> pulumi.Output[str]:
        """An ACM certificate for ``domain``, validated by a CNAME in ``zone_id``; the ARN once it is issued."""
        certificate = aws.acm.Certificate(
            f"{name}-certificate",
            domain_name=domain,
            validation_method="DNS",
            tags=dict(tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        option = certificate.domain_validation_options.apply(lambda options: options[0])
        record = aws.route53.Record(
            f"{name}-certificate-validation-record",
            zone_id=zone_id,
            name=option.apply(lambda o: o.resource_record_name or ""),
            type=option.apply(lambda o: o.resource_record_type or "CNAME"),
            records=[option.apply(lambda o: o.resource_record_value or "")],
            ttl=300,
            allow_overwrite=True,
            opts=pulumi.ResourceOptions(parent=certificate),
        )
        validation = aws.acm.CertificateValidation(
            f"{name}-certificate-validation",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[record.fqdn],
            opts=pulumi.ResourceOptions(parent=certificate),
        )
        self.ready.append(validation)
        return validation.certificate_arn
