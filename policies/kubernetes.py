"""Kubernetes workloads: resources, hardened security contexts, probes, pinned images from allowed registries.

Every policy reads every pod spec ``_pod_specs.pod_specs`` finds: workloads, PodTemplates, ReplicationControllers,
their Patch types and the ML custom resources (KServe, KubeRay, Kubeflow, JobSet). A Patch sets only some fields, so
on a Patch a policy flags what it sets (``privileged: true``) and never what it leaves out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from pulumi_policy import Policy, ResourceValidationArgs

from ._base import as_list, config_value, get, is_true, iter_dicts, resource_policy
from ._pod_specs import (
    BUILTIN_TYPES,
    CRON_JOB,
    DAEMON_SET,
    DEPLOYMENT,
    FULL_TYPES,
    JOB,
    LONG_RUNNING,
    POD,
    POD_SPEC_TYPES,
    REPLICA_SET,
    STATEFUL_SET,
    Container,
    containers,
    is_partial,
    pod_specs,
)

__all__ = [
    "CRON_JOB",
    "DAEMON_SET",
    "DEPLOYMENT",
    "HELM_CHART",
    "HELM_RELEASE",
    "JOB",
    "LONG_RUNNING",
    "POD",
    "POLICIES",
    "REPLICA_SET",
    "RESOURCE_TYPES",
    "STATEFUL_SET",
    "WORKLOADS",
    "image_problem",
    "is_false",
    "registry_allowed",
]

Report = Callable[[str], None]

WORKLOADS = POD_SPEC_TYPES
"""Every type that holds a pod spec: workloads, their Patch types, ML custom resources (see ``_pod_specs``)."""

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
HELM_CHART = "kubernetes:helm.sh/v4:Chart"

RESOURCE_TYPES: tuple[str, ...] = (*WORKLOADS, HELM_RELEASE, HELM_CHART)
"""Every resource type a policy of this module checks."""

POLICIES: list[Policy] = []
GPU_RESOURCE = "nvidia.com/gpu"

Check = Callable[[Mapping[str, Any], Container, bool], str | None]
"""``check(pod spec, container, partial)``: the problem of one container, or ``None``; ``partial`` (a Patch):
judge only the fields that are set."""


def is_false(value: Any) -> bool:
    """Booleans as the wire may carry them (``False``, ``"false"``)."""
    return value is False or (isinstance(value, str) and value.lower() == "false")


def _each_container(check: Check, init: bool = True) -> Callable[[ResourceValidationArgs, Report], None]:
    def run(args: ResourceValidationArgs, report: Report) -> None:
        specs = pod_specs(args.resource_type, args.props)
        if not specs and args.resource_type in BUILTIN_TYPES:
            report("no pod template spec found")
            return
        partial = is_partial(args.resource_type, args.props)
        for path, spec in specs:
            for container in containers(spec, init):
                problem = check(spec, container, partial)
                if problem:
                    report(f"{path}.{container.label}: {problem}")

    return run


def _resources(spec: Mapping[str, Any], c: Container, partial: bool) -> str | None:
    if partial:
        return None
    missing = [
        p
        for p in ("resources.requests.cpu", "resources.requests.memory", "resources.limits.memory")
        if get(c.spec, p) in (None, "")
    ]
    return f"{', '.join(missing)} not set: give every container requests and a memory limit" if missing else None


def _non_root(spec: Mapping[str, Any], c: Container, partial: bool) -> str | None:
    own = get(c.spec, "securityContext.runAsNonRoot")
    pod = get(spec, "securityContext.runAsNonRoot")
    uid = get(c.spec, "securityContext.runAsUser", get(spec, "securityContext.runAsUser"))
    if is_false(own) or (own is None and is_false(pod)) or (uid is not None and float(uid) == 0):
        return "runs as root: set securityContext.runAsNonRoot true and a non-zero runAsUser"
    if partial or is_true(own) or is_true(pod) or (uid is not None and float(uid) > 0):
        return None
    return "runAsNonRoot is not true (container or pod securityContext): run as a non-root user"


def _read_only_fs(spec: Mapping[str, Any], c: Container, partial: bool) -> str | None:
    value = get(c.spec, "securityContext.readOnlyRootFilesystem")
    if is_false(value) or (not partial and not is_true(value)):
        return "securityContext.readOnlyRootFilesystem is not true: mount an emptyDir for scratch space"
    return None


def _no_escalation(spec: Mapping[str, Any], c: Container, partial: bool) -> str | None:
    if is_true(get(c.spec, "securityContext.privileged")):
        return "securityContext.privileged is true: never run privileged containers"
    escalation = get(c.spec, "securityContext.allowPrivilegeEscalation")
    if is_true(escalation) or (not partial and not is_false(escalation)):
        return "securityContext.allowPrivilegeEscalation is not false: set it to false"
    return None


def _drop_caps(spec: Mapping[str, Any], c: Container, partial: bool) -> str | None:
    drop = get(c.spec, "securityContext.capabilities.drop")
    if (drop is not None or not partial) and "ALL" not in [str(x) for x in as_list(drop)]:
        return "securityContext.capabilities.drop does not include 'ALL': drop every capability"
    add = as_list(get(c.spec, "securityContext.capabilities.add"))
    added = [str(x) for x in add if str(x) != "NET_BIND_SERVICE"]
    if added:
        return f"adds capabilities {', '.join(added)}: add none (NET_BIND_SERVICE at most)"
    return None


def _probes(spec: Mapping[str, Any], c: Container, partial: bool) -> str | None:
    if partial:
        return None
    missing = [p for p in ("readinessProbe", "livenessProbe") if get(c.spec, p) is None]
    return f"no {' and no '.join(missing)}: long-running containers need both probes" if missing else None


def image_problem(image: Any) -> str | None:
    """Why an image reference is not pinned, or ``None``."""
    ref = str(image or "")
    if not ref:
        return "has no image"
    if "@sha256:" in ref:
        return None
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {ref!r} has no tag: pin a version tag or digest"
    if last.rsplit(":", 1)[1] == "latest":
        return f"image {ref!r} uses 'latest': pin a version tag or digest"
    return None


@lru_cache(maxsize=256)
def _prefix_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile("[^/]*".join(re.escape(part) for part in prefix.split("*")))


def registry_allowed(image: str, allowed: list[str]) -> bool:
    """``image`` starts with one of the ``allowed`` prefixes; ``*`` in a prefix matches text within one path segment
    (never a ``/``), so ``*.dkr.ecr.us-east-1.amazonaws.com/`` admits no ``evil.example/x.dkr.ecr...`` image."""
    return any(_prefix_pattern(p).match(image) if "*" in p else image.startswith(p) for p in allowed)


def _pinned(spec: Mapping[str, Any], c: Container, partial: bool) -> str | None:
    image = get(c.spec, "image")
    if image in (None, "") and (partial or c.runtime_image):
        return None
    return image_problem(image)


def _register(
    name: str,
    description: str,
    check: Callable[[ResourceValidationArgs, Report], None],
    types: tuple[str, ...] = WORKLOADS,
) -> None:
    resource_policy(name, description, types, registry=POLICIES)(check)


_register(
    "k8s-resources-set",
    "Workload containers set CPU and memory requests and a memory limit.",
    _each_container(_resources),
    FULL_TYPES,
)
_register(
    "k8s-run-as-non-root",
    "Workload containers run as a non-root user.",
    _each_container(_non_root),
)
_register(
    "k8s-read-only-root-fs",
    "Workload containers have a read-only root filesystem.",
    _each_container(_read_only_fs),
)
_register(
    "k8s-no-privilege-escalation",
    "Workload containers are not privileged and cannot escalate privileges.",
    _each_container(_no_escalation),
)
_register(
    "k8s-drop-capabilities",
    "Workload containers drop all Linux capabilities.",
    _each_container(_drop_caps),
)
_register(
    "k8s-probes",
    "Long-running workload containers have readiness and liveness probes.",
    _each_container(_probes, init=False),
    LONG_RUNNING,
)
_register(
    "k8s-image-pinned",
    "Workload images are pinned to a version tag or digest (no 'latest', no untagged images).",
    _each_container(_pinned),
)


@resource_policy(
    "k8s-allowed-registries",
    "Workload images come only from the platform's allowed registries (allowedRegistries).",
    WORKLOADS,
    config=("allowedRegistries",),
    registry=POLICIES,
)
def _registries(args: ResourceValidationArgs, report: Report) -> None:
    allowed = [str(p) for p in as_list(config_value(args, "allowedRegistries"))]
    for path, spec in pod_specs(args.resource_type, args.props):
        for c in containers(spec):
            image = str(get(c.spec, "image", ""))
            if image and not registry_allowed(image, allowed):
                report(f"{path}.{c.label}: image {image!r} is not from an allowed registry ({', '.join(allowed)})")


@resource_policy(
    "k8s-no-host-namespaces",
    "Workload pods do not share the node's network, PID or IPC namespaces.",
    WORKLOADS,
    registry=POLICIES,
)
def _host(args: ResourceValidationArgs, report: Report) -> None:
    for path, spec in pod_specs(args.resource_type, args.props):
        shared = [k for k in ("hostNetwork", "hostPID", "hostIPC") if is_true(get(spec, k))]
        if shared:
            report(f"{path}: {', '.join(shared)} true: keep pods in their own namespaces")


@resource_policy(
    "k8s-gpu-pods-tolerate-taint",
    "Pods that request GPUs tolerate the nvidia.com/gpu taint of GPU pools (or they never schedule).",
    FULL_TYPES,
    registry=POLICIES,
)
def _gpu_toleration(args: ResourceValidationArgs, report: Report) -> None:
    if is_partial(args.resource_type, args.props):
        return
    for path, spec in pod_specs(args.resource_type, args.props):
        wants_gpu = any(
            GPU_RESOURCE in (get(c.spec, f"resources.{kind}") or {})
            for c in containers(spec)
            for kind in ("limits", "requests")
        )
        tolerated = any(
            get(t, "key") == GPU_RESOURCE or (get(t, "operator") == "Exists" and not get(t, "key"))
            for t in iter_dicts(get(spec, "tolerations"))
        )
        if wants_gpu and not tolerated:
            report(f"{path}: requests {GPU_RESOURCE} but has no toleration for the '{GPU_RESOURCE}' taint")


@resource_policy(
    "helm-chart-version-pinned",
    "Helm releases and charts pin an exact chart version.",
    (HELM_RELEASE, HELM_CHART),
    registry=POLICIES,
)
def _helm_pinned(args: ResourceValidationArgs, report: Report) -> None:
    chart = str(get(args.props, "chart", ""))
    if chart.startswith((".", "/")):
        return  # a chart from this repository is pinned by the commit
    version = str(get(args.props, "version", "") or "")
    if not version:
        report(f"chart {chart!r} has no version: pin the exact chart version")
    elif version == "latest" or any(ch in version for ch in "^~*><|x ") or version.endswith(".x"):
        report(f"chart {chart!r} version {version!r} is a range: pin an exact version")
