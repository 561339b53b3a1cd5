"""The platform's Gateway API ``Gateway``: one per platform, routes attach from the serving namespace."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from .context import ClusterContext
from .envoy_gateway import ENVOY_GATEWAY_CLASS
from .workload import child_opts

__all__ = ["DEFAULT_GATEWAY_CLASSES", "GATEWAY_API_VERSION", "Gateway", "GatewayArgs", "GatewayRef"]

GATEWAY_API_VERSION = "gateway.networking.k8s.io/v1"
"""API version of Gateway and HTTPRoute."""

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
    port: int = 80
    """Listener port."""
    hostname: str | None = None
    """Listener hostname; ``None`` accepts any host."""
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
            "port": args.port,
            "allowedRoutes": {"namespaces": {"from": "Same"}, "kinds": [{"kind": "HTTPRoute"}]},
        }
        if args.hostname:
            listener["hostname"] = args.hostname
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
        self.ref = GatewayRef(name=args.gateway_name, namespace=args.namespace, section_name="http")
        self.register_outputs({"name": args.gateway_name, "namespace": args.namespace, "class": self.gateway_class})
