"""``EnvoyGateway``: the Envoy Gateway controller, its GatewayClass and the EnvoyProxy that shapes its data plane.

The ``gateway-helm`` chart (Envoy Gateway v1.9.0) installs the controller and, from its ``crds``
subchart, the Gateway API CRDs and Envoy Gateway's own (``crds.enabled`` defaults to true). Envoy
Gateway implements weighted backendRefs, ``RequestMirror``, ``URLRewrite`` and the header modifiers
the serving routes use. The GatewayClass references an EnvoyProxy in the controller namespace; its
``envoyService`` decides how the proxies' Service is exposed, so a cloud passes its load-balancer
annotations and source ranges (on AWS a Network Load Balancer: ``components/aws/gateway_load_balancer.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

__all__ = [
    "ENVOY_GATEWAY_CHART",
    "ENVOY_GATEWAY_CLASS",
    "ENVOY_GATEWAY_CONTROLLER",
    "ENVOY_GATEWAY_NAMESPACE",
    "ENVOY_GATEWAY_VERSION",
    "ENVOY_PROXY_API_VERSION",
    "EnvoyGateway",
    "EnvoyGatewayArgs",
]

ENVOY_GATEWAY_CHART = "oci://docker.io/envoyproxy/gateway-helm"
"""The controller's chart (Envoy Gateway's install-helm docs)."""
ENVOY_GATEWAY_VERSION = "v1.9.0"
"""Pinned chart version (Envoy Gateway v1.9: Kubernetes 1.33-1.36, Gateway API v1.6.1)."""
ENVOY_GATEWAY_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"
"""``controllerName`` the controller claims GatewayClasses by (chart value config.envoyGateway.gateway)."""
ENVOY_GATEWAY_NAMESPACE = "envoy-gateway-system"
"""Namespace of the controller, the EnvoyProxy and the proxies it runs."""
ENVOY_GATEWAY_CLASS = "envoy-gateway"
"""Name of the GatewayClass served by the controller."""
ENVOY_PROXY_API_VERSION = "gateway.envoyproxy.io/v1alpha1"
"""API version of EnvoyProxy."""


@dataclass
class EnvoyGatewayArgs:
    """Inputs of :class:`EnvoyGateway`."""

    service_annotations: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Annotations of the proxies' LoadBalancer Service (the cloud's load-balancer settings; a certificate ARN
    may be an Output)."""
    source_ranges: Sequence[str] = ()
    """Client ranges the load balancer admits (the Service's ``loadBalancerSourceRanges``); empty: the cloud's
    default."""
    class_name: str = ENVOY_GATEWAY_CLASS
    """Name of the GatewayClass."""
    namespace: str = ENVOY_GATEWAY_NAMESPACE
    """Namespace of the controller and the proxies (created by the release)."""
    chart_version: str = ENVOY_GATEWAY_VERSION
    """Pinned gateway-helm version."""
    controller_replicas: int = 1
    """Replicas of the controller Deployment."""
    proxy_replicas: int = 1
    """Replicas of each Gateway's Envoy proxy Deployment."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels put on every object."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources the release waits for (the cluster's nodes and add-ons)."""


class EnvoyGateway(pulumi.ComponentResource):
    """The gateway-helm release, an EnvoyProxy and a GatewayClass. Pass the Kubernetes provider in ``opts``.

    Outputs: ``class_name`` and ``ready`` (the release, EnvoyProxy and GatewayClass: a Gateway of the class
    waits for them).
    """

    release: k8s.helm.v3.Release
    class_name: str
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: EnvoyGatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:k8s:EnvoyGateway", name, None, opts)
        labels = dict(args.labels)
        self.class_name = args.class_name
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            k8s.helm.v3.ReleaseArgs(
                name="envoy-gateway",
                chart=ENVOY_GATEWAY_CHART,
                version=args.chart_version,
                namespace=args.namespace,
                create_namespace=True,
                values={"commonLabels": labels, "deployment": {"replicas": args.controller_replicas}},
                atomic=True,
                cleanup_on_fail=True,
                timeout=600,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[self.release])
        proxy_config = k8s.apiextensions.CustomResource(
            f"{name}-proxy-config",
            api_version=ENVOY_PROXY_API_VERSION,
            kind="EnvoyProxy",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.class_name, namespace=args.namespace, labels=labels),
            spec={
                "provider": {
                    "type": "Kubernetes",
                    "kubernetes": {
                        "envoyDeployment": {"replicas": args.proxy_replicas},
                        "envoyService": {
                            "type": "LoadBalancer",
                            "annotations": dict(args.service_annotations),
                            **({"loadBalancerSourceRanges": list(args.source_ranges)} if args.source_ranges else {}),
                        },
                    },
                }
            },
            opts=after_crds,
        )
        gateway_class = k8s.apiextensions.CustomResource(
            f"{name}-class",
            api_version="gateway.networking.k8s.io/v1",
            kind="GatewayClass",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.class_name, labels=labels),
            spec={
                "controllerName": ENVOY_GATEWAY_CONTROLLER,
                "parametersRef": {
                    "group": "gateway.envoyproxy.io",
                    "kind": "EnvoyProxy",
                    "name": args.class_name,
                    "namespace": args.namespace,
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release, proxy_config]),
        )
        self.ready = [self.release, proxy_config, gateway_class]
        self.register_outputs({"class_name": self.class_name, "namespace": args.namespace})
