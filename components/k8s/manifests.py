"""Turn captured Kubernetes resources back into manifests and check them offline.

Built-in kinds are validated against the official OpenAPI schemas of the cluster's Kubernetes
version (``kubernetes-validate``, strict: unknown fields are errors). Custom resources of the
kinds the platform creates are checked for their apiVersion and required fields; Helm releases
for a pinned chart version. :func:`check_manifests` takes a whole captured graph, so it runs
over any stack preview.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_mlops.policies._graph import BUILTIN_GROUPS

from pulumi_mlops.preview.graph import CapturedResource, ResourceGraph

__all__ = [
    "BUILTIN_GROUPS",
    "CUSTOM_RESOURCE_CHECKS",
    "HELM_RELEASE_TYPE",
    "check_manifests",
    "is_builtin",
    "kubernetes_resources",
    "to_manifest",
]

HELM_RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
"""Pulumi type of ``kubernetes.helm.v3.Release``."""

_NOT_MANIFEST = {"pulumi:providers:kubernetes", HELM_RELEASE_TYPE}


def _plain_numbers(value: Any) -> Any:
    """Whole floats back to ints, unset (``None``) fields dropped."""
    if isinstance(value, dict):
        return {k: _plain_numbers(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain_numbers(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def to_manifest(res: CapturedResource) -> dict[str, Any]:
    """The Kubernetes object a captured resource describes: wire inputs with secrets unwrapped,
    whole floats back to ints and unset (``None``) fields dropped."""
    manifest: dict[str, Any] = _plain_numbers(res.props)
    return manifest


def kubernetes_resources(graph: ResourceGraph) -> list[CapturedResource]:
    """Every captured Kubernetes object (not providers, not Helm releases, not components)."""
    return [
        r
        for r in sorted(graph.resources.values(), key=lambda r: r.urn)
        if r.custom and r.type.startswith("kubernetes:") and r.type not in _NOT_MANIFEST
    ]


def is_builtin(manifest: Mapping[str, Any]) -> bool:
    """Whether the object's API group is served by Kubernetes itself (not a CRD)."""
    api_version = str(manifest.get("apiVersion", ""))
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    return group in BUILTIN_GROUPS


def _get(doc: Mapping[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _rules(doc: Mapping[str, Any]) -> list[str]:
    problems = []
    for gi, group in enumerate(_get(doc, "spec.groups") or []):
        if not group.get("name"):
            problems.append(f"spec.groups[{gi}].name is missing")
        for ri, rule in enumerate(group.get("rules") or []):
            if not (rule.get("alert") or rule.get("record")) or not rule.get("expr"):
                problems.append(f"spec.groups[{gi}].rules[{ri}] needs alert (or record) and expr")
        if not group.get("rules"):
            problems.append(f"spec.groups[{gi}].rules is empty")
    return problems


def _http_route(doc: Mapping[str, Any]) -> list[str]:
    problems = []
    for ri, rule in enumerate(_get(doc, "spec.rules") or []):
        refs = rule.get("backendRefs") or []
        for bi, ref in enumerate(refs):
            if not ref.get("name") or not isinstance(ref.get("port"), int):
                problems.append(f"spec.rules[{ri}].backendRefs[{bi}] needs name and an integer port")
        weights = [ref.get("weight", 1) for ref in refs]
        if refs and sum(weights) <= 0:
            problems.append(f"spec.rules[{ri}]: backend weights sum to {sum(weights)}")
        for fi, flt in enumerate(rule.get("filters") or []):
            if flt.get("type") == "RequestMirror" and not _get(flt, "requestMirror.backendRef.name"):
                problems.append(f"spec.rules[{ri}].filters[{fi}]: RequestMirror without backendRef.name")
    return problems


def _service_monitor(doc: Mapping[str, Any]) -> list[str]:
    return [
        f"spec.endpoints[{i}] needs port (or targetPort)"
        for i, ep in enumerate(_get(doc, "spec.endpoints") or [])
        if not (ep.get("port") or ep.get("targetPort"))
    ]


def _gateway(doc: Mapping[str, Any]) -> list[str]:
    return [
        f"spec.listeners[{i}] needs name, protocol and an integer port"
        for i, lst in enumerate(_get(doc, "spec.listeners") or [])
        if not (lst.get("name") and lst.get("protocol") and isinstance(lst.get("port"), int))
    ]


CustomCheck = tuple[tuple[str, ...], Callable[[Mapping[str, Any]], list[str]] | None]

CUSTOM_RESOURCE_CHECKS: dict[tuple[str, str], CustomCheck] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): (("spec.selector", "spec.endpoints"), _service_monitor),
    ("monitoring.coreos.com/v1", "PrometheusRule"): (("spec.groups",), _rules),
    ("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig"): (("spec.route.receiver", "spec.receivers"), None),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): (("spec.parentRefs", "spec.rules"), _http_route),
    ("gateway.networking.k8s.io/v1", "Gateway"): (("spec.gatewayClassName", "spec.listeners"), _gateway),
    ("gateway.networking.k8s.io/v1", "GatewayClass"): (("spec.controllerName",), None),
    ("gateway.envoyproxy.io/v1alpha1", "EnvoyProxy"): (("spec.provider.type",), None),
}
"""Custom kinds the platform creates: required field paths and an optional deeper check."""


def _check_custom(manifest: Mapping[str, Any]) -> list[str]:
    key = (str(manifest.get("apiVersion")), str(manifest.get("kind")))
    problems = []
    if not _get(manifest, "metadata.name"):
        problems.append("metadata.name is missing")
    known = CUSTOM_RESOURCE_CHECKS.get(key)
    if known is None:
        same_kind = sorted(v for v, k in CUSTOM_RESOURCE_CHECKS if k == key[1])
        if same_kind:
            problems.append(f"apiVersion {key[0]} is not the expected {', '.join(same_kind)}")
        return problems
    required, deeper = known
    problems += [f"{path} is missing or empty" for path in required if not _get(manifest, path)]
    if deeper is not None:
        problems += deeper(manifest)
    return problems


def _check_release(res: CapturedResource) -> list[str]:
    props = res.props
    problems = []
    version = str(props.get("version") or "")
    if not version or version == "latest":
        problems.append("chart version is not pinned")
    if not props.get("chart"):
        problems.append("chart is missing")
    return problems


def check_manifests(graph: ResourceGraph, kubernetes_version: str) -> list[str]:
    """Problems of every Kubernetes object in ``graph``, each as ``"<type> <name>: <problem>"``.

    Built-in kinds: strict schema validation for ``kubernetes_version`` ('1.33'). Custom kinds:
    :data:`CUSTOM_RESOURCE_CHECKS`. Helm v3 releases: a pinned chart version. An empty list
    means every object passed.
    """
    import kubernetes_validate
    from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

    problems: list[str] = []
    for res in graph.resources.values():
        if res.type == HELM_RELEASE_TYPE:
            problems += [f"{res.type} {res.name}: {p}" for p in _check_release(res)]
    for res in kubernetes_resources(graph):
        manifest = to_manifest(res)
        where = f"{manifest.get('kind', res.type)} {res.name}"
        if not manifest.get("apiVersion") or not manifest.get("kind"):
            problems.append(f"{where}: apiVersion or kind is missing")
            continue
        if not is_builtin(manifest):
            problems += [f"{where}: {p}" for p in _check_custom(manifest)]
            continue
        try:
            kubernetes_validate.validate(manifest, kubernetes_version, strict=True)
        except ValidationError as err:
            path = ".".join(str(p) for p in err.absolute_path) or "<root>"
            problems.append(f"{where}: {path}: {err.message}")
        except SchemaNotFoundError:
            problems.append(
                f"{where}: no schema for {manifest['apiVersion']} {manifest['kind']} in {kubernetes_version}"
            )
    return problems
