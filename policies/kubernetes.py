"""Kubernetes workloads: resources, hardened security contexts, probes, pinned images from allowed registries."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from fnmatch import fnmatch
from typing import Any

from pulumi_policy import Policy, ResourceValidationArgs

from ._base import as_list, config_value, get, is_true, iter_dicts, resource_policy

Report = Callable[[str], None]

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
REPLICA_SET = "kubernetes:apps/v1:ReplicaSet"
JOB = "kubernetes:batch/v1:Job"
CRON_JOB = "kubernetes:batch/v1:CronJob"
POD = "kubernetes:core/v1:Pod"

LONG_RUNNING = (DEPLOYMENT, STATEFUL_SET, DAEMON_SET, REPLICA_SET)
WORKLOADS = (*LONG_RUNNING, JOB, CRON_JOB, POD)

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
HELM_CHART = "kubernetes:helm.sh/v4:Chart"

RESOURCE_TYPES: tuple[str, ...] = (*WORKLOADS, HELM_RELEASE, HELM_CHART)
"""Every resource type a policy of this module checks."""

POLICIES: list[Policy] = []
GPU_RESOURCE = "nvidia.com/gpu"


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod spec of a workload (its pod template's spec)."""
    if resource_type == POD:
        path = "spec"
    elif resource_type == CRON_JOB:
        path = "spec.jobTemplate.spec.template.spec"
    else:
        path = "spec.template.spec"
    spec = get(props, path)
    return spec if isinstance(spec, Mapping) else None


def containers(spec: Mapping[str, Any], init: bool = True) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(label, container)`` of every container (and init container) of a pod spec."""
    keys = ("initContainers", "containers") if init else ("containers",)
    for key in keys:
        for i, c in enumerate(iter_dicts(get(spec, key))):
            yield f"{key}[{i}] ({get(c, 'name', '?')})", c


def _each_container(
    check: Callable[[Mapping[str, Any], Mapping[str, Any]], str | None], init: bool = True
) -> Callable[[ResourceValidationArgs, Report], None]:
    def run(args: ResourceValidationArgs, report: Report) -> None:
        spec = pod_spec(args.resource_type, args.props)
        if spec is None:
            report("no pod template spec found")
            return
        for label, container in containers(spec, init):
            problem = check(spec, container)
            if problem:
                report(f"{label}: {problem}")

    return run


def _resources(spec: Mapping[str, Any], c: Mapping[str, Any]) -> str | None:
    missing = [
        p
        for p in ("resources.requests.cpu", "resources.requests.memory", "resources.limits.memory")
        if get(c, p) in (None, "")
    ]
    return f"{', '.join(missing)} not set: give every container requests and a memory limit" if missing else None


def _non_root(spec: Mapping[str, Any], c: Mapping[str, Any]) -> str | None:
    own = get(c, "securityContext.runAsNonRoot")
    pod = get(spec, "securityContext.runAsNonRoot")
    uid = get(c, "securityContext.runAsUser", get(spec, "securityContext.runAsUser"))
    if own is False or (uid is not None and float(uid) == 0):
        return "runs as root: set securityContext.runAsNonRoot true and a non-zero runAsUser"
    if is_true(own) or is_true(pod) or (uid is not None and float(uid) > 0):
        return None
    return "runAsNonRoot is not true (container or pod securityContext): run as a non-root user"


def _read_only_fs(spec: Mapping[str, Any], c: Mapping[str, Any]) -> str | None:
    if not is_true(get(c, "securityContext.readOnlyRootFilesystem")):
        return "securityContext.readOnlyRootFilesystem is not true: mount an emptyDir for scratch space"
    return None


def _no_escalation(spec: Mapping[str, Any], c: Mapping[str, Any]) -> str | None:
    if is_true(get(c, "securityContext.privileged")):
        return "securityContext.privileged is true: never run privileged containers"
    if get(c, "securityContext.allowPrivilegeEscalation") is not False:
        return "securityContext.allowPrivilegeEscalation is not false: set it to false"
    return None


def _drop_caps(spec: Mapping[str, Any], c: Mapping[str, Any]) -> str | None:
    drop = [str(x) for x in as_list(get(c, "securityContext.capabilities.drop"))]
    if "ALL" not in drop:
        return "securityContext.capabilities.drop does not include 'ALL': drop every capability"
    added = [str(x) for x in as_list(get(c, "securityContext.capabilities.add")) if str(x) != "NET_BIND_SERVICE"]
    if added:
        return f"adds capabilities {', '.join(added)}: add none (NET_BIND_SERVICE at most)"
    return None


def _probes(spec: Mapping[str, Any], c: Mapping[str, Any]) -> str | None:
    missing = [p for p in ("readinessProbe", "livenessProbe") if get(c, p) is None]
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


def registry_allowed(image: str, allowed: list[str]) -> bool:
    """``image`` starts with one of the ``allowed`` prefixes (``*`` in a prefix matches any text)."""
    return any(fnmatch(image, p + "*") if "*" in p else image.startswith(p) for p in allowed)


def _pinned(spec: Mapping[str, Any], c: Mapping[str, Any]) -> str | None:
    return image_problem(get(c, "image"))


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
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    for label, c in containers(spec):
        image = str(get(c, "image", ""))
        if image and not registry_allowed(image, allowed):
            report(f"{label}: image {image!r} is not from an allowed registry ({', '.join(allowed)})")


@resource_policy(
    "k8s-no-host-namespaces",
    "Workload pods do not share the node's network, PID or IPC namespaces.",
    WORKLOADS,
    registry=POLICIES,
)
def _host(args: ResourceValidationArgs, report: Report) -> None:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    shared = [k for k in ("hostNetwork", "hostPID", "hostIPC") if is_true(get(spec, k))]
    if shared:
        report(f"{', '.join(shared)} true: keep pods in their own namespaces")


@resource_policy(
    "k8s-gpu-pods-tolerate-taint",
    "Pods that request GPUs tolerate the nvidia.com/gpu taint of GPU pools (or they never schedule).",
    WORKLOADS,
    registry=POLICIES,
)
def _gpu_toleration(args: ResourceValidationArgs, report: Report) -> None:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    wants_gpu = any(
        GPU_RESOURCE in (get(c, f"resources.{kind}") or {})
        for _, c in containers(spec)
        for kind in ("limits", "requests")
    )
    if not wants_gpu:
        return
    tolerated = any(
        get(t, "key") == GPU_RESOURCE or (get(t, "operator") == "Exists" and not get(t, "key"))
        for t in iter_dicts(get(spec, "tolerations"))
    )
    if not tolerated:
        report(f"requests {GPU_RESOURCE} but has no toleration for the '{GPU_RESOURCE}' taint")


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
