"""Deploy readiness, ordering: nothing is created before what it needs exists.

- A custom resource (an object of an API group the API server does not serve itself) waits for
  whatever installs its CRD; a Helm release whose values make it render custom resources does too.
  Otherwise the first ``pulumi up`` fails with "no matches for kind ..." (and an atomic Helm
  install rolls back).
- A cloud resource that names a cluster (``clusterName``, ``cluster``) waits for that cluster: given
  the name as a plain string, the engine creates it in seconds while EKS or GKE takes ten minutes.
- Kubernetes objects go through an explicit provider bound to this stack's cluster, never the
  ambient kubeconfig of whoever runs ``pulumi up``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import Policy, PolicyResource, ReportViolation, StackValidationArgs

from ._base import config_value, get, is_true, stack_policy
from ._graph import HELM_RELEASE, K8S_PROVIDER, KubeKind, StackGraph, helm_chart, plain

__all__ = [
    "CHART_RENDERS",
    "CRD_INSTALLERS",
    "POLICIES",
    "RENDERED_CUSTOM_RESOURCES",
    "RESOURCE_TYPES",
    "crd_installers",
]

EKS_CLUSTER = "aws:eks/cluster:Cluster"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
CRD = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"


@dataclass(frozen=True)
class CrdInstaller:
    """What installs the CRDs of one API group: Helm charts, and whether a GKE cluster can."""

    charts: tuple[str, ...]
    """Charts that install the group's CRDs (each chart's crds/ folder or templates)."""
    gke_gateway_api: bool = False
    """A GKE cluster with ``gatewayApiConfig.channel`` set installs them itself."""
    disabled_by: str = ""
    """Values path that, set to false, makes the chart skip the CRDs (``crds.enabled``)."""
    gke: bool = False
    """Every GKE cluster serves the group itself (ComputeClass: GKE 1.30.3 and later)."""


CRD_INSTALLERS: dict[str, CrdInstaller] = {
    "monitoring.coreos.com": CrdInstaller(
        ("prometheus-operator-crds", "kube-prometheus-stack"), disabled_by="crds.enabled"
    ),
    "gateway.networking.k8s.io": CrdInstaller(
        ("gateway-helm", "gateway-crds-helm"), gke_gateway_api=True, disabled_by="crds.enabled"
    ),
    "gateway.envoyproxy.io": CrdInstaller(("gateway-helm", "gateway-crds-helm"), disabled_by="crds.enabled"),
    "karpenter.sh": CrdInstaller(("karpenter", "karpenter-crd")),
    "karpenter.k8s.aws": CrdInstaller(("karpenter", "karpenter-crd")),
    "kueue.x-k8s.io": CrdInstaller(("kueue",)),
    "cert-manager.io": CrdInstaller(("cert-manager",), disabled_by="crds.enabled"),
    "networking.gke.io": CrdInstaller((), gke_gateway_api=True),
    "cloud.google.com": CrdInstaller((), gke=True),
}
"""API group -> what installs its CRDs (kube-prometheus-stack: ``charts/crds``; Envoy Gateway's
``gateway-helm`` ships the Gateway API CRDs; Karpenter's chart ships its own in ``crds/``)."""

RENDERED_CUSTOM_RESOURCES: dict[str, str] = {
    "serviceMonitor": "monitoring.coreos.com",
    "podMonitor": "monitoring.coreos.com",
    "prometheusRule": "monitoring.coreos.com",
}
"""Values maps that, with ``enabled: true`` anywhere in a release's values, render a custom resource."""

CHART_RENDERS: dict[str, tuple[str, ...]] = {
    "kube-prometheus-stack": ("monitoring.coreos.com",),
}
"""Charts whose templates always render objects of these groups (kube-prometheus-stack: its Prometheus,
Alertmanager, ServiceMonitors and rules), so with their own CRDs switched off they wait for another installer."""

CLUSTER_KEYS = ("clusterName", "cluster")
"""Top-level inputs by which cloud resources name the cluster they belong to."""

RESOURCE_TYPES: tuple[str, ...] = (HELM_RELEASE, K8S_PROVIDER, EKS_CLUSTER, GKE_CLUSTER, CRD)
"""Types these policies inspect (besides every ``kubernetes:`` object and every resource naming a cluster)."""

POLICIES: list[Policy] = []


def _installs(res: PolicyResource, group: str, installer: CrdInstaller) -> bool:
    if res.resource_type == HELM_RELEASE and helm_chart(res) in installer.charts:
        if is_true(get(res.props, "skipCrds")):
            return False  # the release's skipCrds leaves the chart's crds/ folder out
        return not (installer.disabled_by and get(res.props, f"values.{installer.disabled_by}") is False)
    if res.resource_type == CRD:
        return str(get(res.props, "spec.group", "")) == group
    if res.resource_type == GKE_CLUSTER and installer.gke:
        return True
    if res.resource_type == GKE_CLUSTER and installer.gke_gateway_api:
        channel = str(get(res.props, "gatewayApiConfig.channel", ""))
        return channel not in ("", "CHANNEL_DISABLED")
    return False


def crd_installers(graph: StackGraph, group: str) -> list[PolicyResource]:
    """Resources of the graph that install the CRDs of ``group``."""
    installer = CRD_INSTALLERS.get(group, CrdInstaller(()))
    return [r for r in graph.resources if _installs(r, group, installer)]


def _enabled_maps(values: Any, path: str = "values") -> Iterator[tuple[str, str]]:
    """``(values path, API group)`` of every rendered-custom-resource map switched on in ``values``."""
    if not isinstance(values, Mapping):
        return
    for key, value in values.items():
        here = f"{path}.{key}"
        if key in RENDERED_CUSTOM_RESOURCES and isinstance(value, Mapping) and is_true(value.get("enabled")):
            yield f"{here}.enabled", RENDERED_CUSTOM_RESOURCES[key]
        elif isinstance(value, Mapping):
            yield from _enabled_maps(value, here)


def _label(res: PolicyResource, kind: KubeKind | None = None) -> str:
    name = get(res.props, "metadata.name") or get(res.props, "name") or res.name
    what = kind.kind if kind is not None else res.resource_type.rsplit(":", 1)[-1]
    return f"{what} {name!r} ({res.name})"


def _check_waits(
    graph: StackGraph,
    res: PolicyResource,
    group: str,
    what: str,
    preinstalled: set[str],
    report_violation: ReportViolation,
) -> None:
    if group in preinstalled:
        return
    installers = [i for i in crd_installers(graph, group) if i.urn != res.urn]
    if any(i.urn in graph.waits_for(res) for i in installers):
        return
    if _installs(res, group, CRD_INSTALLERS.get(group, CrdInstaller(()))):
        return  # the chart installs its own CRDs before its templates
    if installers:
        names = ", ".join(sorted(i.name for i in installers))
        report_violation(
            f"{what} needs the {group} CRDs but does not wait for {names}, which installs them: the first "
            f"`pulumi up` fails with 'no matches for kind'; add depends_on on {names}",
            res.urn,
        )
    else:
        known = CRD_INSTALLERS.get(group, CrdInstaller(()))
        hint = f"install them first (chart {' or '.join(known.charts)})" if known.charts else "install its CRDs first"
        if known.gke:
            hint = "they come with every GKE cluster (1.30.3 and later): create it on GKE"
        if known.gke_gateway_api:
            hint += " or, on GKE, set the cluster's gatewayApiConfig.channel to CHANNEL_STANDARD"
        report_violation(
            f"{what} needs the {group} CRDs and nothing in the stack installs them: {hint}, and make it wait for "
            "that, or list the group in preinstalledCrdGroups if the cluster already has them",
            res.urn,
        )


@stack_policy(
    "custom-resources-wait-for-crds",
    "Every custom resource, and every Helm release whose values render custom resources, waits for the resource "
    "that installs the CRDs of its API group.",
    RESOURCE_TYPES,
    config=("preinstalledCrdGroups",),
    registry=POLICIES,
)
def _custom_resources(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    graph = StackGraph(args.resources)
    preinstalled = {str(g) for g in config_value(args, "preinstalledCrdGroups")}
    for res, kind in graph.kubernetes_objects():
        if kind.builtin:
            continue
        _check_waits(graph, res, kind.group, _label(res, kind), preinstalled, report_violation)
    for release in graph.helm_releases():
        for group in CHART_RENDERS.get(helm_chart(release), ()):
            what = f"Helm release {helm_chart(release)!r} ({release.name}), whose templates render {group} objects,"
            _check_waits(graph, release, group, what, preinstalled, report_violation)
        for path, group in sorted(set(_enabled_maps(plain(get(release.props, "values", {}))))):
            what = f"Helm release {helm_chart(release)!r} ({release.name}), rendering {group} objects ({path}),"
            _check_waits(graph, release, group, what, preinstalled, report_violation)


def _cluster_names(graph: StackGraph) -> dict[str, PolicyResource]:
    names: dict[str, PolicyResource] = {}
    for cluster in graph.of_type(EKS_CLUSTER, GKE_CLUSTER):
        name = get(cluster.props, "name")
        if name:
            names[str(name)] = cluster
    return names


@stack_policy(
    "cluster-references-wait-for-cluster",
    "Every resource whose clusterName or cluster input names a cluster of this stack waits for that cluster.",
    RESOURCE_TYPES,
    registry=POLICIES,
)
def _cluster_references(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    graph = StackGraph(args.resources)
    clusters = _cluster_names(graph)
    if not clusters:
        return
    for res in graph.resources:
        if res.resource_type in (EKS_CLUSTER, GKE_CLUSTER):
            continue
        for key in CLUSTER_KEYS:
            value = get(res.props, key)
            if not isinstance(value, str):
                continue
            cluster = clusters.get(value) or clusters.get(value.rsplit("/", 1)[-1])
            if cluster is not None and not graph.depends_on(res, cluster):
                report_violation(
                    f"{_label(res)} names cluster {value!r} in {key} as a plain string, so the engine creates it "
                    f"before the cluster exists ({cluster.name}): pass the cluster's name Output "
                    "(cluster.name) instead",
                    res.urn,
                )


@stack_policy(
    "kubernetes-resources-use-stack-cluster",
    "Every Kubernetes object and Helm release uses an explicit provider, and where the stack creates a cluster "
    "that provider waits for it.",
    RESOURCE_TYPES,
    registry=POLICIES,
)
def _stack_provider(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    graph = StackGraph(args.resources)
    clusters = graph.of_type(EKS_CLUSTER, GKE_CLUSTER)
    for res in graph.resources:
        if not res.resource_type.startswith("kubernetes:"):
            continue
        provider_urn = res.provider.urn if res.provider is not None else ""
        if not provider_urn or "::default" in provider_urn:
            report_violation(
                f"{_label(res)} uses the default Kubernetes provider, which deploys into whatever cluster the "
                "deployer's kubeconfig points at: pass the cluster's provider (opts provider=)",
                res.urn,
            )
            continue
        provider = graph.by_urn.get(provider_urn.rsplit("::", 1)[0] if provider_urn.count("::") > 3 else provider_urn)
        if provider is None:
            continue
        if clusters and not any(graph.depends_on(provider, c) for c in clusters):
            report_violation(
                f"{_label(res)} uses provider {provider.name!r}, whose kubeconfig does not come from this stack's "
                "cluster: build the provider from the cluster's outputs",
                res.urn,
            )
