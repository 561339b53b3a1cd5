"""The platform's Gateway API ``Gateway``: one per platform, routes attach from the serving namespace."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from .context import ClusterContext
from .envoy_gateway import ENVOY_GATEWAY_CLASS
from .workload import child_opts

__all__ = [
    "DEFAULT_GATEWAY_CLASSES",
    "GATEWAY_API_VERSION",
    "HEALTH_CHECK_POLICY_API_VERSION",
    "Gateway",
    "GatewayArgs",
    "GatewayRef",
    "health_check_policy",
]

GATEWAY_API_VERSION = "gateway.networking.k8s.io/v1"
"""API version of Gateway and HTTPRoute."""

HEALTH_CHECK_POLICY_API_VERSION = "networking.gke.io/v1"
"""API version of GKE's HealthCheckPolicy (served by clusters with the Gateway API enabled)."""

DEFAULT_GATEWAY_CLASSES = {"aws": ENVOY_GATEWAY_CLASS, "gcp": "gke-l7-regional-external-managed"}
"""Gateway class per cloud when neither the spec nor the cluster context names one (on AWS the class of
:class:`EnvoyGateway`, which the cloud layer installs)."""


@dataclass(frozen=True)
class GatewayRef:
    """What an HTTPRoute needs to attach to the Gateway."""

    name: str
    """Gateway object name."""
    namespace: str
    """Gateway namespace."""
    section_name: str
    """Listener the routes attach to."""


@dataclass
class GatewayArgs:
    """Inputs of :class:`Gateway`."""

    context: ClusterContext
    """The cluster (provider, gateway class, cloud)."""
    gateway_name: str
    """Name of the Gateway object."""
    namespace: str
    """Namespace of the Gateway; routes from this namespace only may attach."""
    gateway_class: str = ""
    """Gateway class; empty takes ``context.gateway_class``, then the cloud's default."""
    port: int | None = None
    """Listener port; ``None`` takes ``context.gateway_port`` (AWS: 443 behind a TLS-terminating NLB)."""
    hostname: str | None = None
    """Listener hostname; ``None`` takes ``context.gateway_hostname``, and when that is ``None`` too the listener
    accepts any host."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels of the Gateway object."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources (the namespace) the Gateway waits for."""


class Gateway(pulumi.ComponentResource):
    """A Gateway with one HTTP listener. Outputs: ``ref`` (for routes), ``gateway_class``."""

    ref: GatewayRef
    gateway_class: str

    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:k8s:Gateway", name, None, opts)
        ctx = args.context
        self.gateway_class = args.gateway_class or ctx.gateway_class or DEFAULT_GATEWAY_CLASSES.get(ctx.cloud, "")
        if not self.gateway_class:
            raise ValueError(f"no Gateway class for cloud {ctx.cloud!r}: set gateway_class in the spec or context")
        listener: dict[str, object] = {
            "name": "http",
            "protocol": "HTTP",
            "port": args.port if args.port is not None else ctx.gateway_port,
            "allowedRoutes": {"namespaces": {"from": "Same"}, "kinds": [{"kind": "HTTPRoute"}]},
        }
        hostname = args.hostname or ctx.gateway_hostname
        if hostname:
            listener["hostname"] = hostname
        if ctx.gateway_tls_options:  # GKE: terminate TLS with the Certificate Manager certificates the options name
            tls = {"mode": "Terminate", "options": dict(ctx.gateway_tls_options)}
            listener |= {"name": "https", "protocol": "HTTPS", "tls": tls}
        self.resource = k8s.apiextensions.CustomResource(
            f"{name}-gateway",
            api_version=GATEWAY_API_VERSION,
            kind="Gateway",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.gateway_name, namespace=args.namespace, labels=dict(args.labels)
            ),
            spec={"gatewayClassName": self.gateway_class, "listeners": [listener]},
            opts=child_opts(self, ctx, *ctx.gateway_depends_on, *args.depends_on),
        )
        self.ref = GatewayRef(name=args.gateway_name, namespace=args.namespace, section_name=str(listener["name"]))
        self.register_outputs({"name": args.gateway_name, "namespace": args.namespace, "class": self.gateway_class})


def health_check_policy(
    resource_name: str,
    service: str,
    namespace: str,
    port: int,
    path: str,
    labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    """A GKE HealthCheckPolicy for ``service``: the load balancer probes its pods with HTTP GET ``path`` on ``port``,
    the kubelet's readiness check, instead of GKE's default probe (``/`` on the serving port)."""
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version=HEALTH_CHECK_POLICY_API_VERSION,
        kind="HealthCheckPolicy",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=service, namespace=namespace, labels=dict(labels)),
        spec={
            "default": {
                "checkIntervalSec": 10,
                "timeoutSec": 5,
                "healthyThreshold": 1,
                "unhealthyThreshold": 3,
                "logConfig": {"enabled": False},
                "config": {
                    "type": "HTTP",
                    "httpHealthCheck": {"portSpecification": "USE_FIXED_PORT", "port": port, "requestPath": path},
                },
            },
            "targetRef": {"group": "", "kind": "Service", "name": service},
        },
        opts=opts,
    )
