"""What one pod of a workload asks of a node: requests summed the Kubernetes way, tolerations, node selection.

Requests follow API defaulting (a missing request takes the container's limit, then the namespace
LimitRange defaults); a pod needs the larger of its app containers plus sidecars and its heaviest
init step. Pods requesting ``nvidia.com/gpu`` also tolerate ``nvidia.com/gpu:NoSchedule``: EKS and
GKE run the ExtendedResourceToleration admission plugin.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._base import as_list, get, iter_dicts
from ._graph import PodTemplate, StackGraph

__all__ = [
    "BLOCKING_EFFECTS",
    "GPU",
    "LIMIT_RANGE",
    "Labels",
    "PodDemand",
    "Taint",
    "limit_defaults",
    "pod_demand",
    "quantity",
]

GPU = "nvidia.com/gpu"
LIMIT_RANGE = "kubernetes:core/v1:LimitRange"
BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")

Labels = dict[str, frozenset[str] | None]
"""Label key -> the values a node of the shape may carry (``None``: any value, unknown before the node exists)."""


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str

    def __str__(self) -> str:
        return f"{self.key}={self.value}:{self.effect}" if self.value else f"{self.key}:{self.effect}"


@dataclass
class PodDemand:
    """What one pod of a workload requests, tolerates and selects."""

    template: PodTemplate
    cpu_milli: float
    memory_mib: float
    gpus: int
    tolerations: list[Mapping[str, Any]]
    node_selector: dict[str, str]
    affinity_terms: list[list[Mapping[str, Any]]] = field(default_factory=list)
    """``requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms``: any term, every expression."""

    @property
    def kind(self) -> str:
        return self.template.owner.resource_type.rsplit(":", 1)[-1]

    @property
    def label(self) -> str:
        return f"{self.kind} {self.template.namespace}/{self.template.name}"

    def describe(self) -> str:
        text = f"{self.cpu_milli / 1000:.2f} CPU, {math.ceil(self.memory_mib)} Mi"
        return text + (f", {self.gpus} GPU" if self.gpus else "")

    def tolerates(self, taint: Taint) -> bool:
        for tol in self.tolerations:
            effect = str(get(tol, "effect", "") or "")
            if effect and effect != taint.effect:
                continue
            key, operator = str(get(tol, "key", "") or ""), str(get(tol, "operator", "Equal") or "Equal")
            if operator == "Exists" and (not key or key == taint.key):
                return True
            if operator == "Equal" and key == taint.key and str(get(tol, "value", "") or "") == taint.value:
                return True
        return False

    def untolerated(self, taints: Iterable[Taint]) -> list[Taint]:
        """The taints that keep the pod off a node: NoSchedule or NoExecute, not tolerated."""
        return [t for t in taints if t.effect in BLOCKING_EFFECTS and not self.tolerates(t)]

    def selects(self, labels: Labels) -> str | None:
        """``None`` when a node with ``labels`` satisfies the pod's selector and required affinity, else why not."""
        for key, value in self.node_selector.items():
            if key not in labels:
                return f"nodeSelector {key}={value} (its nodes have no label {key})"
            allowed = labels[key]
            if allowed is not None and value not in allowed:
                return f"nodeSelector {key}={value} (its nodes have {key}={'|'.join(sorted(allowed))})"
        if self.affinity_terms and not any(all(_expression(e, labels) for e in t) for t in self.affinity_terms):
            return "required node affinity (no term matches its node labels)"
        return None


# --- quantities -------------------------------------------------------------------------------

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}


def quantity(value: Any) -> float:
    """A Kubernetes quantity ('500m', '2', '4Gi', '1e3') as a number of base units."""
    text = str(value).strip()
    for suffix, factor in _BINARY.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    if text and text[-1] in _DECIMAL and not re.fullmatch(r"[0-9.]+[eE][0-9]+", text):
        return float(text[:-1]) * _DECIMAL[text[-1]]
    return float(text)


def _cpu_milli(value: Any) -> float:
    return quantity(value) * 1000


def _mib(value: Any) -> float:
    return quantity(value) / 2**20


# --- pod demand -------------------------------------------------------------------------------


def limit_defaults(graph: StackGraph) -> dict[str, dict[str, dict[str, Any]]]:
    """Per namespace: the Container ``defaultRequest`` and ``default`` (limits) of its LimitRanges."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for lr in graph.of_type(LIMIT_RANGE):
        ns = str(get(lr.props, "metadata.namespace", "default"))
        for item in iter_dicts(get(lr.props, "spec.limits")):
            if get(item, "type") != "Container":
                continue
            entry = found.setdefault(ns, {"request": {}, "limit": {}})
            for key, target in (("defaultRequest", "request"), ("default", "limit")):
                values = get(item, key)
                if isinstance(values, Mapping):
                    entry[target].update({str(k): v for k, v in values.items()})
    return found


def _container_requests(container: Mapping[str, Any], defaults: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Requests of one container after API defaulting: request, else its limit, else the LimitRange defaults."""
    requests, limits = get(container, "resources.requests"), get(container, "resources.limits")
    result: dict[str, float] = {}
    for resource, parse in (("cpu", _cpu_milli), ("memory", _mib), (GPU, quantity)):
        for source in (requests, limits, defaults.get("request", {}), defaults.get("limit", {})):
            value = source.get(resource) if isinstance(source, Mapping) else None
            if value is not None:
                result[resource] = parse(value)
                break
        else:
            result[resource] = 0.0
    return result


def _sum(items: Iterable[Mapping[str, float]]) -> dict[str, float]:
    total = {"cpu": 0.0, "memory": 0.0, GPU: 0.0}
    for item in items:
        for key in total:
            total[key] += item[key]
    return total


def pod_demand(template: PodTemplate, limit_defaults: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> PodDemand:
    """A pod's effective requests: the larger of its app containers plus sidecars and its heaviest init step."""
    defaults = limit_defaults.get(template.namespace, {})
    apps = [_container_requests(c, defaults) for c in iter_dicts(get(template.spec, "containers"))]
    sidecars: list[dict[str, float]] = []
    init_peak = {"cpu": 0.0, "memory": 0.0, GPU: 0.0}
    for init in iter_dicts(get(template.spec, "initContainers")):
        need = _container_requests(init, defaults)
        if get(init, "restartPolicy") == "Always":
            sidecars.append(need)
            continue
        step = _sum([need, *sidecars])
        init_peak = {k: max(init_peak[k], step[k]) for k in init_peak}
    running = _sum([*apps, *sidecars])
    effective = {k: max(running[k], init_peak[k]) for k in running}
    terms = [
        list(iter_dicts(get(term, "matchExpressions")))
        for term in iter_dicts(
            get(template.spec, "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms")
        )
    ]
    tolerations = list(iter_dicts(get(template.spec, "tolerations")))
    gpus = math.ceil(effective[GPU])
    if gpus:  # ExtendedResourceToleration admission (enabled on EKS and GKE)
        tolerations.append({"key": GPU, "operator": "Exists", "effect": "NoSchedule"})
    selector = get(template.spec, "nodeSelector")
    return PodDemand(
        template=template,
        cpu_milli=effective["cpu"],
        memory_mib=effective["memory"],
        gpus=gpus,
        tolerations=tolerations,
        node_selector={str(k): str(v) for k, v in selector.items()} if isinstance(selector, Mapping) else {},
        affinity_terms=[t for t in terms if t],
    )


def _expression(expr: Mapping[str, Any], labels: Labels) -> bool:
    key, op = str(get(expr, "key", "")), str(get(expr, "operator", "In"))
    values = {str(v) for v in as_list(get(expr, "values"))}
    present = key in labels
    possible = labels.get(key)
    if op == "In":
        return present and (possible is None or bool(possible & values))
    if op == "NotIn":
        return not present or possible is None or bool(possible - values)
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and values:
        if possible is None:
            return True
        bound = float(next(iter(values)))
        numbers = [float(p) for p in possible if re.fullmatch(r"-?\d+(\.\d+)?", p)]
        return any(n > bound if op == "Gt" else n < bound for n in numbers)
    return False
