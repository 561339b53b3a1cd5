"""The resource graph a stack policy sees, indexed for deploy-readiness analyses.

A stack policy gets every resource with its parent, dependencies, property dependencies and
provider. :class:`StackGraph` answers what those analyses ask: what a resource waits for
(transitively, through its provider too), which Kubernetes kind it is, which pod templates it
holds, and which resources of a type exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyResource

from ._base import as_list, get, iter_dicts

__all__ = [
    "BUILTIN_GROUPS",
    "CRON_JOB",
    "DAEMON_SET",
    "DEPLOYMENT",
    "HELM_RELEASE",
    "JOB",
    "K8S_PROVIDER",
    "STATEFUL_SET",
    "WORKLOAD_TYPES",
    "KubeKind",
    "PodTemplate",
    "StackGraph",
    "helm_chart",
    "kube_kind",
    "plain",
]

BUILTIN_GROUPS = frozenset(
    {
        "",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apps",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
    }
)
"""API groups served by the Kubernetes API server itself; any other group is a CRD someone must install."""

K8S_PROVIDER = "pulumi:providers:kubernetes"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
JOB = "kubernetes:batch/v1:Job"
CRON_JOB = "kubernetes:batch/v1:CronJob"
WORKLOAD_TYPES = (DEPLOYMENT, STATEFUL_SET, DAEMON_SET, JOB, CRON_JOB)
"""Resource types that hold a pod template."""

_NOT_OBJECTS = {K8S_PROVIDER, HELM_RELEASE, "kubernetes:helm.sh/v4:Chart", "kubernetes:yaml/v2:ConfigGroup"}


@dataclass(frozen=True)
class KubeKind:
    """The API group, version and kind of a Kubernetes resource type token."""

    group: str
    version: str
    kind: str

    @property
    def builtin(self) -> bool:
        return self.group in BUILTIN_GROUPS

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


def kube_kind(resource_type: str) -> KubeKind | None:
    """``kubernetes:apps/v1:Deployment`` -> (``apps``, ``v1``, ``Deployment``); ``None`` for non-objects."""
    if not resource_type.startswith("kubernetes:") or resource_type in _NOT_OBJECTS:
        return None
    parts = resource_type.split(":")
    if len(parts) != 3 or "/" not in parts[1]:
        return None
    group, version = parts[1].rsplit("/", 1)
    return KubeKind("" if group == "core" else group, version, parts[2])


def plain(value: Any) -> Any:
    """A wire value (or the SDK's proxy of one) as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [plain(v) for v in as_list(value)]
    return value


def helm_chart(res: PolicyResource) -> str:
    """The chart name of a Helm release (the last path segment of ``chart``)."""
    return str(get(res.props, "chart", "")).rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class PodTemplate:
    """One pod template of a workload, with the replicas it runs at its floor."""

    owner: PolicyResource
    spec: Mapping[str, Any]
    replicas: int
    """Pods the workload keeps at its minimum (HPA ``minReplicas``, ``replicas``, job parallelism)."""

    @property
    def namespace(self) -> str:
        return str(get(self.owner.props, "metadata.namespace", "default"))

    @property
    def name(self) -> str:
        return str(get(self.owner.props, "metadata.name", self.owner.name))

    def containers(self, init: bool = True) -> Iterator[Mapping[str, Any]]:
        for key in ("initContainers", "containers") if init else ("containers",):
            yield from iter_dicts(get(self.spec, key))


class StackGraph:
    """Every resource of one stack, indexed by URN and type, with transitive dependencies."""

    def __init__(self, resources: Iterable[PolicyResource]) -> None:
        self.resources = list(resources)
        self.by_urn = {r.urn: r for r in self.resources}
        self._closure: dict[str, frozenset[str]] = {}

    def of_type(self, *types: str) -> list[PolicyResource]:
        return [r for r in self.resources if r.resource_type in types]

    def direct(self, res: PolicyResource) -> set[str]:
        """URNs ``res`` waits for: ``dependsOn``, property dependencies and its provider."""
        urns = {d.urn for d in res.dependencies}
        for deps in res.property_dependencies.values():
            urns.update(d.urn for d in deps)
        provider = res.provider.urn if res.provider is not None else ""
        if provider:
            urns.add(provider.rsplit("::", 1)[0] if provider.count("::") > 3 else provider)
        return urns

    def waits_for(self, res: PolicyResource) -> frozenset[str]:
        """Every URN ``res`` waits for, transitively (the engine creates all of them first)."""
        cached = self._closure.get(res.urn)
        if cached is not None:
            return cached
        seen: set[str] = set()
        stack = list(self.direct(res))
        while stack:
            urn = stack.pop()
            if urn in seen:
                continue
            seen.add(urn)
            if urn in self._closure:
                seen.update(self._closure[urn])
                continue
            dep = self.by_urn.get(urn)
            if dep is not None:
                stack.extend(self.direct(dep))
        result = frozenset(seen)
        self._closure[res.urn] = result
        return result

    def depends_on(self, res: PolicyResource, target: PolicyResource) -> bool:
        return target.urn in self.waits_for(res)

    def kubernetes_objects(self) -> list[tuple[PolicyResource, KubeKind]]:
        found = []
        for r in self.resources:
            kind = kube_kind(r.resource_type)
            if kind is not None:
                found.append((r, kind))
        return found

    def helm_releases(self, *charts: str) -> list[PolicyResource]:
        """Helm releases, optionally only those of the named charts."""
        releases = self.of_type(HELM_RELEASE)
        return [r for r in releases if not charts or helm_chart(r) in charts]

    def pod_templates(self) -> list[PodTemplate]:
        """The pod template of every workload, with its replica floor."""
        hpas = {
            (str(get(h.props, "metadata.namespace", "default")), str(get(h.props, "spec.scaleTargetRef.name"))): h
            for h in self.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
        }
        templates = []
        for res in self.of_type(*WORKLOAD_TYPES):
            props = res.props
            if res.resource_type == CRON_JOB:
                job = get(props, "spec.jobTemplate.spec")
                spec = get(job, "template.spec")
                replicas = int(get(job, "parallelism", 1))
            elif res.resource_type == JOB:
                spec = get(props, "spec.template.spec")
                replicas = int(get(props, "spec.parallelism", 1))
            else:
                spec = get(props, "spec.template.spec")
                ns = str(get(props, "metadata.namespace", "default"))
                hpa = hpas.get((ns, str(get(props, "metadata.name", res.name))))
                if hpa is not None:
                    replicas = int(get(hpa.props, "spec.minReplicas", 1))
                else:
                    replicas = int(get(props, "spec.replicas", 1))
            if isinstance(spec, Mapping):
                templates.append(PodTemplate(res, spec, replicas))
        return templates
