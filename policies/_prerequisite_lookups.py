"""Graph lookups of the prerequisite checks: what the stack installs, what its objects claim and use.

Each function answers one question about a :class:`StackGraph` (which StorageClasses the cluster will
have, which resources make the CNI enforce NetworkPolicy, which controller serves a Gateway class and
what it implements ...) from wire-format props, with the upstream facts of ``_prerequisite_tables``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource

from ._base import get, is_true, iter_dicts
from ._graph import HELM_RELEASE, STATEFUL_SET, StackGraph, helm_chart, kube_kind, plain
from ._prerequisite_tables import (
    BUILTIN_STORAGE_CLASSES,
    CHART_MONITOR_NAMESPACES,
    CHART_VOLUME_CLAIMS,
    CONTROLLER_CHARTS,
    CONTROLLER_FEATURES,
    ENFORCING_CNI_CHARTS,
    GATEWAY_API_GROUP,
    GKE_CLASS_FEATURES,
    MIN_EBS_DEFAULT_CLASS_ADDON,
    MIN_VPC_CNI_NETWORK_POLICY,
    RENDERED_MONITORS,
    addon_version,
)

__all__ = [
    "CRD",
    "EKS_ADDON",
    "EKS_CLUSTER",
    "GATEWAY",
    "GATEWAY_CLASS",
    "GKE_CLUSTER",
    "GRPC_ROUTE",
    "HPA",
    "HTTP_ROUTE",
    "NAMESPACE",
    "NETWORK_POLICY",
    "NO_CLASS",
    "PV",
    "PVC",
    "STORAGE_CLASS",
    "addon_config",
    "addons",
    "claims",
    "class_features",
    "default_classes",
    "enforcers",
    "gateway_objects",
    "gke_clusters",
    "gke_gateway_api",
    "label",
    "name_of",
    "named_classes",
    "namespace_of",
    "namespace_sources",
    "parents",
    "rendered_namespaces",
    "resource_metrics",
    "route_features",
]

HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
PV = "kubernetes:core/v1:PersistentVolume"
NAMESPACE = "kubernetes:core/v1:Namespace"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
CRD = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
GATEWAY_CLASS = "kubernetes:gateway.networking.k8s.io/v1:GatewayClass"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
HTTP_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
GRPC_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:GRPCRoute"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
EKS_ADDON = "aws:eks/addon:Addon"
GKE_CLUSTER = "gcp:container/cluster:Cluster"


def name_of(res: PolicyResource) -> str:
    return str(get(res.props, "metadata.name", res.name))


def namespace_of(res: PolicyResource) -> str:
    return str(get(res.props, "metadata.namespace", "default"))


def label(res: PolicyResource) -> str:
    """How a message names a resource: kind and object name, then the Pulumi resource name."""
    kind = kube_kind(res.resource_type)
    if kind is not None:
        return f"{kind.kind} {name_of(res)!r} ({res.name})"
    if res.resource_type == HELM_RELEASE:
        return f"Helm release {helm_chart(res)!r} ({res.name})"
    return f"{res.resource_type.rsplit(':', 1)[-1]} {res.name}"


def addons(graph: StackGraph, addon: str) -> list[PolicyResource]:
    return [a for a in graph.of_type(EKS_ADDON) if get(a.props, "addonName") == addon]


def addon_config(res: PolicyResource) -> Mapping[str, Any]:
    raw = get(res.props, "configurationValues")
    try:
        doc = json.loads(raw) if isinstance(raw, str) and raw.strip() else raw
    except ValueError:
        return {}
    return doc if isinstance(doc, Mapping) else {}


def gke_clusters(graph: StackGraph) -> list[PolicyResource]:
    return graph.of_type(GKE_CLUSTER)


def resource_metrics(hpa: PolicyResource) -> bool:
    metrics = list(iter_dicts(get(hpa.props, "spec.metrics")))
    return not metrics or any(get(m, "type") in ("Resource", "ContainerResource") for m in metrics)


NO_CLASS = object()
"""A claim that sets no storageClassName (the default class applies)."""


def claims(graph: StackGraph) -> Iterator[tuple[PolicyResource, str, Any]]:
    """``(owner, where, storageClassName or NO_CLASS)`` of every claim the stack creates or a chart renders."""
    for pvc in graph.of_type(PVC):
        yield pvc, "spec", get(pvc.props, "spec.storageClassName", NO_CLASS)
    for sts in graph.of_type(STATEFUL_SET):
        for i, tpl in enumerate(iter_dicts(get(sts.props, "spec.volumeClaimTemplates"))):
            yield sts, f"spec.volumeClaimTemplates[{i}]", get(tpl, "spec.storageClassName", NO_CLASS)
    for release in graph.helm_releases(*CHART_VOLUME_CLAIMS):
        values = get(release.props, "values", {})
        for enabled, spec_path, class_key in CHART_VOLUME_CLAIMS[helm_chart(release)]:
            spec = get(values, spec_path)
            if (enabled and not is_true(get(values, enabled))) or (not enabled and not isinstance(spec, Mapping)):
                continue
            value = get(spec, class_key, NO_CLASS) if isinstance(spec, Mapping) else NO_CLASS
            yield release, f"values.{spec_path}", "" if value == "-" else value


def default_classes(graph: StackGraph) -> list[str]:
    found = [
        name_of(sc)
        for sc in graph.of_type(STORAGE_CLASS)
        if is_true(get(sc.props, "metadata.annotations", {}).get("storageclass.kubernetes.io/is-default-class"))
    ]
    for addon in addons(graph, "aws-ebs-csi-driver"):
        enabled = is_true(get(addon_config(addon), "defaultStorageClass.enabled"))
        if enabled and addon_version(get(addon.props, "addonVersion")) >= MIN_EBS_DEFAULT_CLASS_ADDON:
            found.append("ebs-csi-default-sc")
    if gke_clusters(graph):
        found.append("standard-rwo")
    return found


def named_classes(graph: StackGraph) -> dict[str, str]:
    """StorageClass name -> provisioner of every class the cluster will have."""
    classes = {name_of(sc): str(get(sc.props, "provisioner", "")) for sc in graph.of_type(STORAGE_CLASS)}
    for addon in addons(graph, "aws-ebs-csi-driver"):
        config = addon_config(addon)
        if is_true(get(config, "defaultStorageClass.enabled")):
            classes["ebs-csi-default-sc"] = "ebs.csi.aws.com"
        for sc in iter_dicts(get(config, "storageClasses")):
            classes[str(get(sc, "name"))] = "ebs.csi.aws.com"
    for cluster_type, builtins in BUILTIN_STORAGE_CLASSES.items():
        if graph.of_type(cluster_type):
            classes.update({n: p for n, p in builtins.items() if n not in classes})
    return classes


def enforcers(graph: StackGraph) -> tuple[list[PolicyResource], list[tuple[PolicyResource, str]]]:
    """Resources that make the CNI enforce NetworkPolicy, and each candidate that does not, with the fix."""
    enforcing: list[PolicyResource] = list(graph.helm_releases(*ENFORCING_CNI_CHARTS))
    failing: list[tuple[PolicyResource, str]] = []
    for addon in addons(graph, "vpc-cni"):
        on = is_true(get(addon_config(addon), "enableNetworkPolicy"))
        if on and addon_version(get(addon.props, "addonVersion")) >= MIN_VPC_CNI_NETWORK_POLICY:
            enforcing.append(addon)
        elif not on:
            fix = 'it has no configurationValues {"enableNetworkPolicy": "true"}: set that (configuration_values)'
            failing.append((addon, fix))
        else:
            failing.append((addon, "it is older than v1.14, the first VPC CNI with the policy agent: upgrade it"))
    for cluster in gke_clusters(graph):
        dataplane_v2 = get(cluster.props, "datapathProvider") == "ADVANCED_DATAPATH"
        calico = is_true(get(cluster.props, "networkPolicy.enabled")) and not is_true(
            get(cluster.props, "addonsConfig.networkPolicyConfig.disabled")
        )
        if dataplane_v2 or calico:
            enforcing.append(cluster)
        else:
            failing.append(
                (cluster, "it has neither Dataplane V2 nor network policy: set datapathProvider ADVANCED_DATAPATH")
            )
    return enforcing, failing


def gke_gateway_api(graph: StackGraph) -> list[PolicyResource]:
    return [
        c
        for c in gke_clusters(graph)
        if get(c.props, "gatewayApiConfig.channel") in ("CHANNEL_STANDARD", "CHANNEL_EXPERIMENTAL")
    ]


def gateway_objects(graph: StackGraph) -> list[PolicyResource]:
    return [r for r, kind in graph.kubernetes_objects() if kind.group == GATEWAY_API_GROUP]


def class_features(graph: StackGraph, class_name: str) -> tuple[frozenset[str] | None, list[PolicyResource], str]:
    """Features the controller of ``class_name`` implements, what a Gateway of it must wait for, and the problem."""
    if class_name in GKE_CLASS_FEATURES:
        if gke_gateway_api(graph):
            return GKE_CLASS_FEATURES[class_name], [], ""
        if gke_clusters(graph):
            return None, [], "a GKE class, but the cluster has no gatewayApiConfig.channel: set CHANNEL_STANDARD"
    classes = [c for c in graph.of_type(GATEWAY_CLASS) if name_of(c) == class_name]
    if not classes:
        return None, [], "no GatewayClass of that name is in the stack: create one for an installed controller"
    controller = str(get(classes[0].props, "spec.controllerName", ""))
    if controller not in CONTROLLER_CHARTS:
        known = ", ".join(sorted(CONTROLLER_CHARTS))
        return None, classes, f"its controllerName {controller!r} is not a known controller ({known})"
    installs = graph.helm_releases(*CONTROLLER_CHARTS[controller])
    if not installs:
        charts = " or ".join(CONTROLLER_CHARTS[controller])
        return None, classes, f"nothing installs its controller {controller} (chart {charts})"
    return CONTROLLER_FEATURES[controller], [*classes, *installs], ""


def route_features(route: PolicyResource) -> set[str]:
    used: set[str] = set()
    for rule in iter_dicts(get(route.props, "spec.rules")):
        refs = list(iter_dicts(get(rule, "backendRefs")))
        if len(refs) > 1 and any(get(r, "weight") is not None for r in refs):
            used.add("weighted backendRefs")
        for flt in [*iter_dicts(get(rule, "filters")), *(f for r in refs for f in iter_dicts(get(r, "filters")))]:
            if get(flt, "type"):
                used.add(str(get(flt, "type")))
    return used


def parents(graph: StackGraph, route: PolicyResource) -> Iterator[PolicyResource]:
    gateways = {(namespace_of(g), name_of(g)): g for g in graph.of_type(GATEWAY)}
    for ref in iter_dicts(get(route.props, "spec.parentRefs")):
        if get(ref, "kind", "Gateway") != "Gateway":
            continue
        found = gateways.get((str(get(ref, "namespace", namespace_of(route))), str(get(ref, "name"))))
        if found is not None:
            yield found


def rendered_namespaces(release: PolicyResource) -> Iterator[tuple[str, str]]:
    """``(namespace, values path or 'namespace')`` of every namespace the release renders objects into."""
    values = plain(get(release.props, "values", {}))
    values = values if isinstance(values, Mapping) else {}
    yield str(get(release.props, "namespace", "") or "default"), "namespace"
    for key, sub in [("", values), *((k, v) for k, v in values.items() if isinstance(v, Mapping))]:
        override = sub.get("namespaceOverride")
        if isinstance(override, str) and override:
            yield override, ".".join(p for p in ("values", key, "namespaceOverride") if p)
    defaults = CHART_MONITOR_NAMESPACES.get(helm_chart(release), {})
    for key in RENDERED_MONITORS:
        monitor = values.get(key)
        if isinstance(monitor, Mapping) and is_true(monitor.get("enabled")):
            ns = monitor.get("namespace", defaults.get(key))
            if isinstance(ns, str) and ns:
                where = f"values.{key}.namespace" + ("" if "namespace" in monitor else " (chart default)")
                yield ns, where


def namespace_sources(graph: StackGraph) -> dict[str, list[PolicyResource]]:
    sources: dict[str, list[PolicyResource]] = {}
    for ns in graph.of_type(NAMESPACE):
        sources.setdefault(name_of(ns), []).append(ns)
    for release in graph.helm_releases():
        if is_true(get(release.props, "createNamespace")):
            sources.setdefault(str(get(release.props, "namespace", "default")), []).append(release)
    return sources
