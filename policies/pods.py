"""Pod isolation: no host paths or host ports, an own service account, a token only where RBAC needs it, seccomp;
and the same host access in Helm values. Runtime containers size their thread pools to their CPU limit.

The pod checks read every pod spec ``_pod_specs.pod_specs`` finds (workloads, PodTemplates, Patch types, ML custom
resources); on a Patch they judge only the fields it sets. The Helm check reads the ``values`` the program passes:
chart defaults and ``valueYamlFiles`` are rendered by Helm and never reach a policy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import Policy, PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs
from pulumi_policy.proxy import UnknownValueError

from ._base import as_list, config_value, get, is_true, iter_dicts, resource_policy, stack_policy
from ._graph import plain
from ._pod_specs import POD_SPEC_TYPES, containers, is_partial, pod_kind, pod_specs
from ._uses import command_key, simple_commands
from .kubernetes import HELM_CHART, HELM_RELEASE, is_false
from .rbac import CLUSTER_ROLE_BINDING, ROLE_BINDING

__all__ = [
    "HELM_HOST_KEYS",
    "POLICIES",
    "RESOURCE_TYPES",
    "SECCOMP_TYPES",
    "SERVICE_ACCOUNT",
    "chart_name",
    "helm_host_access",
]

Report = Callable[[str], None]

SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
HELM_TYPES = (HELM_RELEASE, HELM_CHART)
BINDINGS = (ROLE_BINDING, CLUSTER_ROLE_BINDING)

RESOURCE_TYPES: tuple[str, ...] = (*POD_SPEC_TYPES, SERVICE_ACCOUNT, *BINDINGS, *HELM_TYPES)
"""Every resource type a policy of this module checks."""

POLICIES: list[Policy] = []

CPUS_ENV = "MLOPS_CPUS"
"""The runtime's count of cores it may use (``pulumi_mlops.runtime.cpus``)."""
SECCOMP_TYPES = ("RuntimeDefault", "Localhost")
"""``seccompProfile.type`` values that filter system calls (``Unconfined`` does not)."""


def _partial(args: ResourceValidationArgs) -> bool:
    return is_partial(args.resource_type, args.props)


@resource_policy(
    "k8s-no-host-path-volumes",
    "Pod specs mount no hostPath volume.",
    POD_SPEC_TYPES,
    registry=POLICIES,
)
def _no_host_path(args: ResourceValidationArgs, report: Report) -> None:
    for path, spec in pod_specs(args.resource_type, args.props):
        for i, volume in enumerate(iter_dicts(get(spec, "volumes"))):
            host = get(volume, "hostPath")
            if host is not None:
                report(
                    f"{path}.volumes[{i}] ({get(volume, 'name', '?')}) mounts hostPath {get(host, 'path', '?')!r} "
                    "of the node: use an emptyDir, a PersistentVolumeClaim, a ConfigMap or a CSI volume"
                )


@resource_policy(
    "k8s-no-host-ports",
    "Pod containers bind no hostPort.",
    POD_SPEC_TYPES,
    registry=POLICIES,
)
def _no_host_port(args: ResourceValidationArgs, report: Report) -> None:
    for path, spec in pod_specs(args.resource_type, args.props):
        for c in containers(spec):
            for j, port in enumerate(iter_dicts(get(c.spec, "ports"))):
                host_port = get(port, "hostPort")
                if host_port is not None and float(host_port) > 0:
                    report(
                        f"{path}.{c.label}: ports[{j}] hostPort {int(float(host_port))} opens a port on the node: "
                        "remove it and expose the port through a Service"
                    )


@resource_policy(
    "k8s-own-service-account",
    "Pod specs name a serviceAccountName other than 'default' (Patches: do not set it to 'default').",
    POD_SPEC_TYPES,
    registry=POLICIES,
)
def _own_service_account(args: ResourceValidationArgs, report: Report) -> None:
    found = pod_kind(args.resource_type, args.props)
    if found is None or not found[0].identity:
        return
    partial = _partial(args)
    for path, spec in pod_specs(args.resource_type, args.props):
        name = get(spec, "serviceAccountName") or get(spec, "serviceAccount")
        if name == "default":
            report(f"{path}: serviceAccountName is 'default': give the workload a ServiceAccount of its own")
        elif not name and not partial:
            report(
                f"{path}: serviceAccountName is not set, so the pods run as the namespace's 'default' "
                "ServiceAccount: give the workload a ServiceAccount of its own"
            )


@resource_policy(
    "k8s-seccomp-profile",
    "Every container's seccompProfile.type (its own, else the pod's) is RuntimeDefault or Localhost "
    "(Patches: no type they set is another).",
    POD_SPEC_TYPES,
    registry=POLICIES,
)
def _seccomp(args: ResourceValidationArgs, report: Report) -> None:
    partial = _partial(args)
    fix = "set securityContext.seccompProfile.type RuntimeDefault (or Localhost) on the pod or the container"
    for path, spec in pod_specs(args.resource_type, args.props):
        if get(spec, "os.name") == "windows":
            continue  # seccomp is a Linux facility
        pod_type = get(spec, "securityContext.seccompProfile.type")
        if pod_type is not None and pod_type not in SECCOMP_TYPES:
            report(f"{path}: securityContext.seccompProfile.type is {pod_type!r}: {fix}")
        for c in containers(spec):
            own = get(c.spec, "securityContext.seccompProfile.type")
            if own is not None and own not in SECCOMP_TYPES:
                report(f"{path}.{c.label}: securityContext.seccompProfile.type is {own!r}: {fix}")
            elif own is None and pod_type is None and not partial:
                report(f"{path}.{c.label}: no seccompProfile on the container or the pod: {fix}")


_RUNTIME_COMMANDS = ("mlops ", "python -m pulumi_mlops")


def _runs_runtime(container: Mapping[str, Any]) -> bool:
    argv = [str(w) for w in [*as_list(get(container, "command")), *as_list(get(container, "args"))]]
    return any(command_key(c).startswith(_RUNTIME_COMMANDS) for c in simple_commands(argv))


def _cpus_from_limit(container: Mapping[str, Any], name: Any) -> bool:
    """The container's ``MLOPS_CPUS`` (the last entry of that name, which the kubelet keeps) is its own
    ``limits.cpu`` in whole cores (divisor unset or 1)."""
    entries = [item for item in iter_dicts(get(container, "env")) if get(item, "name") == CPUS_ENV]
    if not entries:
        return False
    ref = get(entries[-1], "valueFrom.resourceFieldRef")
    return (
        get(ref, "resource") == "limits.cpu"
        and get(ref, "containerName") in (None, "", name)
        and str(get(ref, "divisor", "1")) in ("1", "1.0")
    )


@resource_policy(
    "k8s-runtime-threads-follow-cpu-limit",
    "Containers that run an mlops command set limits.cpu and take MLOPS_CPUS from it in whole cores "
    "(resourceFieldRef limits.cpu of their own container, divisor 1), which sizes their thread pools.",
    POD_SPEC_TYPES,
    registry=POLICIES,
)
def _runtime_threads(args: ResourceValidationArgs, report: Report) -> None:
    if _partial(args):
        return
    for path, spec in pod_specs(args.resource_type, args.props):
        for c in containers(spec):
            if not _runs_runtime(c.spec):
                continue
            if get(c.spec, "resources.limits.cpu") is None:
                report(
                    f"{path}.{c.label}: no resources.limits.cpu: without one its thread pools size themselves to "
                    "every core of the node; set a CPU limit"
                )
            elif not _cpus_from_limit(c.spec, get(c.spec, "name")):
                report(
                    f"{path}.{c.label}: {CPUS_ENV} does not come from limits.cpu: add env {CPUS_ENV} with "
                    "valueFrom.resourceFieldRef {resource: limits.cpu, divisor: '1'} so its thread pools fit the limit"
                )


# --- service-account tokens -------------------------------------------------------------------------------------

SA_GROUP = "system:serviceaccounts"


def _bound(resources: Sequence[PolicyResource]) -> tuple[set[tuple[str, str]], set[str], bool]:
    """ServiceAccounts the stack's bindings name: ``(namespace, name)`` pairs, whole namespaces, everyone."""
    accounts: set[tuple[str, str]] = set()
    namespaces: set[str] = set()
    everyone = False
    for binding in resources:
        if binding.resource_type not in BINDINGS:
            continue
        own_ns = str(get(binding.props, "metadata.namespace", "default"))
        for subject in iter_dicts(get(binding.props, "subjects")):
            kind, name = get(subject, "kind"), str(get(subject, "name", ""))
            if kind == "ServiceAccount":
                default_ns = own_ns if binding.resource_type == ROLE_BINDING else ""
                accounts.add((str(get(subject, "namespace", default_ns)), name))
            elif kind == "Group" and name == SA_GROUP:
                everyone = True
            elif kind == "Group" and name.startswith(SA_GROUP + ":"):
                namespaces.add(name.removeprefix(SA_GROUP + ":"))
    return accounts, namespaces, everyone


def _operator_bound(res: PolicyResource, path: str) -> bool:
    """KubeRay binds the head pod's ServiceAccount itself when its in-tree autoscaler is on."""
    found = pod_kind(res.resource_type, res.props)
    if found is None or found[0].group != "ray.io" or not path.endswith("headGroupSpec.template.spec"):
        return False
    return is_true(get(res.props, path.removesuffix("headGroupSpec.template.spec") + "enableInTreeAutoscaling"))


@stack_policy(
    "k8s-token-automount-needs-rbac",
    "Pods mount a service-account API token (automountServiceAccountToken not false on the pod, nor on its "
    "ServiceAccount) only when a RoleBinding or ClusterRoleBinding of the stack binds that ServiceAccount.",
    (*POD_SPEC_TYPES, SERVICE_ACCOUNT, *BINDINGS),
    registry=POLICIES,
)
def _token_automount(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    accounts, namespaces, everyone = _bound(args.resources)
    account_automount = {
        (str(get(r.props, "metadata.namespace", "default")), str(get(r.props, "metadata.name", r.name))): get(
            r.props, "automountServiceAccountToken"
        )
        for r in args.resources
        if r.resource_type == SERVICE_ACCOUNT
    }
    for res in args.resources:
        found = pod_kind(res.resource_type, res.props)
        if res.resource_type not in POD_SPEC_TYPES or found is None or not found[0].identity:
            continue
        partial = found[1] or found[0].partial
        ns = str(get(res.props, "metadata.namespace", "default"))
        for path, spec in pod_specs(res.resource_type, res.props):
            account = str(get(spec, "serviceAccountName") or get(spec, "serviceAccount") or "")
            pod_setting = get(spec, "automountServiceAccountToken")
            if partial and (not account or pod_setting is None):
                continue  # the patched pod's other fields decide; judge only what the patch sets
            account = account or "default"
            if pod_setting is not None:
                mounted, why = not is_false(pod_setting), "automountServiceAccountToken true on the pod"
            else:
                on_account = account_automount.get((ns, account))
                mounted = not is_false(on_account)
                why = "automountServiceAccountToken unset on the pod" + (
                    ", true on the ServiceAccount" if on_account is not None else ", which defaults to true"
                )
            if not mounted or everyone or ns in namespaces or (ns, account) in accounts or _operator_bound(res, path):
                continue
            report_violation(
                f"{path}: mounts the API token of ServiceAccount {ns}/{account} ({why}), and no RoleBinding or "
                "ClusterRoleBinding of the stack binds it: set automountServiceAccountToken false, or bind the "
                "Role the workload calls",
                res.urn,
            )


# --- Helm values --------------------------------------------------------------------------------------------------

HELM_HOST_KEYS: dict[str, str] = {
    "privileged": "a privileged container",
    "hostNetwork": "the node's network namespace",
    "enableHostNetwork": "the node's network namespace",
    "hostPID": "the node's PID namespace",
    "enableHostPID": "the node's PID namespace",
    "hostIPC": "the node's IPC namespace",
    "enableHostIPC": "the node's IPC namespace",
    "hostPath": "a hostPath volume",
    "hostPort": "a port on the node",
    "runAsUser": "a container running as root",
    "clusterAdmin": "the cluster-admin ClusterRole",
}
"""Values keys (at any depth) that give a chart's pods host access, and what each grants when set."""


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _grants(key: str, value: Any) -> bool:
    """Whether ``key: value`` in Helm values turns the host access of ``key`` on."""
    if key == "runAsUser":
        return _number(value) == 0
    if key == "hostPath":
        if isinstance(value, Mapping):  # a volume source, or a chart's {enabled, path} switch
            return bool(value) and not ("enabled" in value and is_false(value["enabled"]))
        return isinstance(value, str) and bool(value.strip())
    if key == "hostPort":
        if isinstance(value, Mapping):  # a chart's {enabled, ports} switch
            return "enabled" in value and is_true(value["enabled"])
        number = _number(value)
        return number is not None and number > 0
    return is_true(value)


def helm_host_access(values: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str, Any]]:
    """``(key path, key, value)`` of every host-access setting in a values tree, depth first.

    A subtree unknown during preview is skipped (it is checked again with known values on ``pulumi up``); an
    unknown value of a host-access key itself raises ``UnknownValueError``, so the engine reports the policy could
    not run.
    """
    if isinstance(values, Mapping):
        items: Iterator[tuple[str, Any]] = ((str(k), k) for k in values)
    elif isinstance(values, Sequence) and not isinstance(values, str | bytes):
        items = ((str(i), i) for i in range(len(values)))
    else:
        return
    for label, key in items:
        try:
            value = values[key]
        except UnknownValueError:
            if label in HELM_HOST_KEYS:
                raise
            continue
        if label in HELM_HOST_KEYS and _grants(label, value):
            yield (*path, label), label, value
        else:
            yield from helm_host_access(value, (*path, label))


def _allowed(config: Any, report: Report) -> dict[str, list[list[str]]] | None:
    if not isinstance(config, Mapping):
        report("policy config helmHostAccessAllowed is not a map of chart name to key paths: fix the config")
        return None
    allowed: dict[str, list[list[str]]] = {}
    for chart in config:
        paths = [str(p) for p in as_list(config[chart]) if isinstance(p, str)]
        if len(paths) != len(as_list(config[chart])):
            report(f"policy config helmHostAccessAllowed[{chart!r}] is not a list of dotted key paths: fix the config")
            return None
        allowed[str(chart)] = [p.split(".") for p in paths]
    return allowed


def _matches(pattern: list[str], path: tuple[str, ...]) -> bool:
    """A dotted allow-list path matches a key path segment by segment; ``*`` matches one segment (a list index)."""
    return len(pattern) == len(path) and all(p in ("*", s) for p, s in zip(pattern, path, strict=True))


def chart_name(props: Mapping[str, Any]) -> str:
    """The chart of a Helm release or chart: the last path segment of ``chart`` (``oci://.../karpenter``)."""
    return str(get(props, "chart", "")).rstrip("/").rsplit("/", 1)[-1]


@resource_policy(
    "helm-values-no-host-access",
    "Helm release and chart values set none of privileged, hostNetwork, hostPID, hostIPC (or enableHost*) true, "
    "a hostPath, a hostPort, runAsUser 0 or clusterAdmin true at any depth, except key paths that "
    "helmHostAccessAllowed allows for the chart.",
    HELM_TYPES,
    config=("helmHostAccessAllowed",),
    registry=POLICIES,
)
def _helm_host_access(args: ResourceValidationArgs, report: Report) -> None:
    allowed = _allowed(config_value(args, "helmHostAccessAllowed"), report)
    if allowed is None:
        return
    chart = chart_name(args.props)
    for path, key, value in helm_host_access(get(args.props, "values")):
        if any(_matches(p, path) for p in allowed.get(chart, [])):
            continue
        dotted = ".".join(path)
        report(
            f"values.{dotted} ({json.dumps(plain(value))}) gives chart {chart!r} {HELM_HOST_KEYS[key]}: remove it, or "
            f"if the chart needs it, allow {dotted!r} for {chart!r} in helmHostAccessAllowed"
        )
