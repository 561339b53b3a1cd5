"""Upstream facts the prerequisite checks rely on, each with where it is documented.

Kept apart from the checks so a new chart, controller or class is one table row.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "BUILTIN_NAMESPACES",
    "BUILTIN_STORAGE_CLASSES",
    "CHART_MONITOR_NAMESPACES",
    "CHART_VOLUME_CLAIMS",
    "CONTROLLER_CHARTS",
    "CONTROLLER_FEATURES",
    "EBS_CSI_PROVISIONERS",
    "ENFORCING_CNI_CHARTS",
    "ENVOY_GATEWAY_CONTROLLER",
    "GATEWAY_API_GROUP",
    "GKE_CLASS_FEATURES",
    "LATTICE_CONTROLLER",
    "MIN_EBS_DEFAULT_CLASS_ADDON",
    "MIN_VPC_CNI_NETWORK_POLICY",
    "RENDERED_MONITORS",
    "ROUTE_FEATURES",
    "addon_version",
]

BUILTIN_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
"""Namespaces every cluster has."""

BUILTIN_STORAGE_CLASSES: dict[str, dict[str, str]] = {
    # EKS creates a gp2 class (in-tree provisioner, served by the EBS CSI driver through CSI migration)
    # but, since 1.30, without the default annotation (EKS user guide, Kubernetes 1.30 release notes).
    "aws:eks/cluster:Cluster": {"gp2": "kubernetes.io/aws-ebs"},
    # GKE: standard-rwo (default) and premium-rwo on the PD CSI driver, standard on the in-tree name
    # (cloud.google.com/kubernetes-engine/docs/concepts/persistent-volumes#storageclasses).
    "gcp:container/cluster:Cluster": {
        "standard-rwo": "pd.csi.storage.gke.io",
        "premium-rwo": "pd.csi.storage.gke.io",
        "standard": "kubernetes.io/gce-pd",
    },
}
"""Cluster resource type -> StorageClasses (name -> provisioner) the managed service creates itself."""

EBS_CSI_PROVISIONERS = frozenset({"ebs.csi.aws.com", "kubernetes.io/aws-ebs"})
"""Provisioners served by the EBS CSI driver (the in-tree name through CSI migration)."""

MIN_EBS_DEFAULT_CLASS_ADDON = (1, 31, 0)
"""First aws-ebs-csi-driver add-on with ``defaultStorageClass.enabled`` (EKS 1.30 release notes; the chart's
templates/ebs-csi-default-sc.yaml creates ``ebs-csi-default-sc``, gp3, unencrypted unless the account says so)."""

MIN_VPC_CNI_NETWORK_POLICY = (1, 14, 0)
"""First VPC CNI add-on with the network policy agent; enabled by configurationValues
``{"enableNetworkPolicy": "true"}`` (EKS user guide, cni-network-policy-configure)."""

ENFORCING_CNI_CHARTS = ("tigera-operator", "calico", "cilium")
"""Charts whose CNI (or policy engine) enforces NetworkPolicy."""

CHART_VOLUME_CLAIMS: dict[str, tuple[tuple[str, str, str], ...]] = {
    # kube-prometheus-stack 77.6.2 values.yaml: storage of the operator's Prometheus, Alertmanager
    # and ThanosRuler; its grafana subchart (9.4.5) claims with persistence.enabled.
    "kube-prometheus-stack": (
        ("", "prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec", "storageClassName"),
        ("", "alertmanager.alertmanagerSpec.storage.volumeClaimTemplate.spec", "storageClassName"),
        ("thanosRuler.enabled", "thanosRuler.thanosRulerSpec.storage.volumeClaimTemplate.spec", "storageClassName"),
        ("grafana.persistence.enabled", "grafana.persistence", "storageClassName"),
    ),
    "grafana": (("persistence.enabled", "persistence", "storageClassName"),),
    # prometheus-pushgateway 3.4.1 values.yaml: "-" means storageClassName "".
    "prometheus-pushgateway": (("persistentVolume.enabled", "persistentVolume", "storageClass"),),
}
"""Chart -> ``(enabled values path or "" when the claim exists once its spec is set, claim spec path,
storage-class key in it)`` of every PVC the chart renders from its values."""

RENDERED_MONITORS = ("serviceMonitor", "podMonitor", "prometheusRule")
"""Top-level values maps that, enabled, render a Prometheus Operator object into ``<map>.namespace``."""

CHART_MONITOR_NAMESPACES: dict[str, dict[str, str]] = {
    # prometheus-pushgateway 3.4.1: values serviceMonitor.namespace "monitoring", used by
    # templates/servicemonitor.yaml as `default (release namespace) .Values.serviceMonitor.namespace`.
    "prometheus-pushgateway": {"serviceMonitor": "monitoring"},
    # cluster-autoscaler chart values.yaml: serviceMonitor.namespace and prometheusRule.namespace "monitoring".
    "cluster-autoscaler": {"serviceMonitor": "monitoring", "prometheusRule": "monitoring"},
}
"""Chart -> monitor map -> the namespace the chart renders it into when values do not say."""

GATEWAY_API_GROUP = "gateway.networking.k8s.io"

ROUTE_FEATURES = (
    "weighted backendRefs",
    "RequestMirror",
    "URLRewrite",
    "RequestHeaderModifier",
    "ResponseHeaderModifier",
    "RequestRedirect",
)
"""HTTPRoute features checked against controllers (filter types, and weights over several backends)."""

_ALL = frozenset(ROUTE_FEATURES)

ENVOY_GATEWAY_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"
LATTICE_CONTROLLER = "application-networking.k8s.aws/gateway-api-controller"

CONTROLLER_CHARTS: dict[str, tuple[str, ...]] = {
    ENVOY_GATEWAY_CONTROLLER: ("gateway-helm",),
    LATTICE_CONTROLLER: ("aws-gateway-controller-chart",),
}
"""GatewayClass controllerName -> the charts that install that controller."""

CONTROLLER_FEATURES: dict[str, frozenset[str]] = {
    # Envoy Gateway v1.9 docs, tasks/traffic: http-traffic-splitting, http-request-mirroring,
    # http-urlrewrite, http-request-headers, http-response-headers, http-redirects.
    ENVOY_GATEWAY_CONTROLLER: _ALL,
    # AWS Gateway API Controller for VPC Lattice, docs/api-types/http-route.md: weighted backendRefs,
    # path/method/header matches; no filters.
    LATTICE_CONTROLLER: frozenset({"weighted backendRefs"}),
}
"""HTTPRoute features each controller implements."""

_GKE_ENVOY_BASED = frozenset(_ALL)
_GKE_CLASSIC = frozenset({"weighted backendRefs", "RequestHeaderModifier", "ResponseHeaderModifier"})
GKE_CLASS_FEATURES: dict[str, frozenset[str]] = {
    # GKE "GatewayClass capabilities" (kubernetes-engine/docs/how-to/gatewayclass-capabilities), HTTPRoute
    # table: the Envoy-based load balancers implement traffic splitting, mirroring, URL rewrites, header
    # modifiers and redirects; the classic application load balancer (gxlb) has no URL rewrite or mirroring.
    "gke-l7-global-external-managed": _GKE_ENVOY_BASED,
    "gke-l7-global-external-managed-mc": _GKE_ENVOY_BASED,
    "gke-l7-regional-external-managed": _GKE_ENVOY_BASED,
    "gke-l7-regional-external-managed-mc": _GKE_ENVOY_BASED,
    "gke-l7-cross-regional-internal-managed-mc": _GKE_ENVOY_BASED,
    "gke-l7-rilb": _GKE_ENVOY_BASED,
    "gke-l7-rilb-mc": _GKE_ENVOY_BASED,
    "gke-l7-gxlb": _GKE_CLASSIC,
    "gke-l7-gxlb-mc": _GKE_CLASSIC,
}
"""GatewayClasses GKE provides once the cluster enables the Gateway API, with the HTTPRoute features of each."""


def addon_version(value: Any) -> tuple[int, ...]:
    """``v1.19.5-eksbuild.1`` -> (1, 19, 5); an unparsable version sorts first."""
    match = re.match(r"^v?(\d+)\.(\d+)\.(\d+)", str(value or ""))
    return tuple(int(g) for g in match.groups()) if match else (0,)
