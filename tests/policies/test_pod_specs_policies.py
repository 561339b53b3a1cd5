"""The pod isolation policies (``policies/pods.py``): each silent on a valid baseline and firing when one field is
broken, their edges, the Helm values allow-list, and the token-automount rule over a stack's bindings."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from pulumi_mlops.policies import DEFAULT_CONFIG, pods
from pulumi_mlops.policies.offline import run_policies
from pulumi_policy import ResourceValidationPolicy

from .test_policy_runner import graph_of, only, res
from .test_resource_policies import BASELINES, DELETE, _set, run

Props = dict[str, Any]
DEP = "kubernetes:apps/v1:Deployment"
RELEASE = "kubernetes:helm.sh/v3:Release"
CHART = "kubernetes:helm.sh/v4:Chart"
POD = "spec.template.spec"
C0 = f"{POD}.containers.0"


def deployment(*mutations: Callable[[str, Props], tuple[str, Props]]) -> Props:
    props = copy.deepcopy(BASELINES[DEP])
    for mutate in mutations:
        _, props = mutate(DEP, props)
    return props


# --- one field broken ---------------------------------------------------------------------------------------------

BROKEN = [
    ("k8s-no-host-path-volumes", _set(f"{POD}.volumes", [{"name": "sock", "hostPath": {"path": "/run/containerd"}}])),
    ("k8s-no-host-ports", _set(f"{C0}.ports", [{"containerPort": 8080.0, "hostPort": 18080.0}])),
    ("k8s-own-service-account", _set(f"{POD}.serviceAccountName", DELETE)),
    ("k8s-seccomp-profile", _set(f"{POD}.securityContext.seccompProfile", DELETE)),
]
EXPECTED = {
    "k8s-no-host-path-volumes": [
        "spec.template.spec.volumes[0] (sock) mounts hostPath '/run/containerd' of the node: use an emptyDir, a "
        "PersistentVolumeClaim, a ConfigMap or a CSI volume"
    ],
    "k8s-no-host-ports": [
        "spec.template.spec.containers[0] (server): ports[0] hostPort 18080 opens a port on the node: remove it and "
        "expose the port through a Service"
    ],
    "k8s-own-service-account": [
        "spec.template.spec: serviceAccountName is not set, so the pods run as the namespace's 'default' "
        "ServiceAccount: give the workload a ServiceAccount of its own"
    ],
    "k8s-seccomp-profile": [
        "spec.template.spec.containers[0] (server): no seccompProfile on the container or the pod: set "
        "securityContext.seccompProfile.type RuntimeDefault (or Localhost) on the pod or the container"
    ],
}


def test_every_resource_policy_of_the_module_is_broken_here() -> None:
    resource_policies = {p.name for p in pods.POLICIES if isinstance(p, ResourceValidationPolicy)}
    tested_apart = {"helm-values-no-host-access", "k8s-runtime-threads-follow-cpu-limit"}
    assert resource_policies - tested_apart == {name for name, _ in BROKEN}


@pytest.mark.parametrize(("policy", "mutation"), BROKEN, ids=[name for name, _ in BROKEN])
def test_pod_policy_silent_on_baseline_fires_on_broken_field(policy: str, mutation: Any) -> None:
    assert run(policy, DEP, BASELINES[DEP], {}) == []
    assert run(policy, DEP, deployment(mutation), {}) == EXPECTED[policy]


# --- edges --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutations", "fires"),
    [
        # the pod's profile covers containers that set none; a container's own profile overrides the pod's
        ([_set(f"{POD}.securityContext.seccompProfile", {"type": "Localhost", "localhostProfile": "ml.json"})], False),
        (
            [
                _set(f"{POD}.securityContext.seccompProfile", DELETE),
                _set(f"{C0}.securityContext.seccompProfile", {"type": "RuntimeDefault"}),
            ],
            False,
        ),
        ([_set(f"{C0}.securityContext.seccompProfile", {"type": "Unconfined"})], True),
        ([_set(f"{POD}.securityContext.seccompProfile", {"type": "Unconfined"})], True),
        # an init container is a container too
        (
            [
                _set(f"{POD}.securityContext.seccompProfile", DELETE),
                _set(f"{C0}.securityContext.seccompProfile", {"type": "RuntimeDefault"}),
                _set(f"{POD}.initContainers", [{"name": "fetch", "image": "ghcr.io/pulumi-mlops/runtime:0.1.0"}]),
            ],
            True,
        ),
        # seccomp is Linux-only
        ([_set(f"{POD}.securityContext.seccompProfile", DELETE), _set(f"{POD}.os", {"name": "windows"})], False),
    ],
)
def test_seccomp_edges(mutations: list[Any], fires: bool) -> None:
    assert bool(run("k8s-seccomp-profile", DEP, deployment(*mutations), {})) is fires


@pytest.mark.parametrize(
    ("mutation", "fires"),
    [
        (_set(f"{POD}.serviceAccountName", "default"), True),
        (_set(f"{POD}.serviceAccountName", ""), True),
        # the deprecated alias names the account as well
        (_set(f"{POD}.serviceAccount", "churn"), False),
    ],
)
def test_service_account_edges(mutation: Any, fires: bool) -> None:
    props = deployment(mutation)
    if not fires:
        props["spec"]["template"]["spec"].pop("serviceAccountName")
    assert bool(run("k8s-own-service-account", DEP, props, {})) is fires


def test_host_port_zero_and_container_ports_are_not_host_ports() -> None:
    ports = [{"containerPort": 8080.0}, {"containerPort": 9090.0, "hostPort": 0.0}]
    assert run("k8s-no-host-ports", DEP, deployment(_set(f"{C0}.ports", ports)), {}) == []


def test_other_volume_sources_are_not_host_paths() -> None:
    volumes = [{"name": "tmp", "emptyDir": {}}, {"name": "data", "persistentVolumeClaim": {"claimName": "d"}}]
    assert run("k8s-no-host-path-volumes", DEP, deployment(_set(f"{POD}.volumes", volumes)), {}) == []


# --- runtime threads -----------------------------------------------------------------------------------------------

THREADS = "k8s-runtime-threads-follow-cpu-limit"
CPUS_FROM_LIMIT = {"name": "MLOPS_CPUS", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1"}}}


def runtime_server(*mutations: Callable[[str, Props], tuple[str, Props]]) -> Props:
    """The baseline Deployment running ``mlops serve`` as the serving component builds it."""
    return deployment(
        _set(f"{C0}.args", ["mlops", "serve", "--spec", "/etc/mlops/spec.json"]),
        _set(f"{C0}.resources.limits.cpu", "1"),
        _set(f"{C0}.env", [{"name": "HOME", "value": "/tmp"}, copy.deepcopy(CPUS_FROM_LIMIT)]),
        *mutations,
    )


def test_runtime_threads_silent_on_baseline_fires_on_broken_field() -> None:
    assert run(THREADS, DEP, runtime_server(), {}) == []
    assert run(THREADS, DEP, runtime_server(_set(f"{C0}.resources.limits.cpu", DELETE)), {}) == [
        "spec.template.spec.containers[0] (server): no resources.limits.cpu: without one its thread pools size "
        "themselves to every core of the node; set a CPU limit"
    ]
    assert run(THREADS, DEP, runtime_server(_set(f"{C0}.env", [{"name": "HOME", "value": "/tmp"}])), {}) == [
        "spec.template.spec.containers[0] (server): MLOPS_CPUS does not come from limits.cpu: add env MLOPS_CPUS "
        "with valueFrom.resourceFieldRef {resource: limits.cpu, divisor: '1'} so its thread pools fit the limit"
    ]


@pytest.mark.parametrize(
    ("mutation", "fires"),
    [
        # requests.cpu is not the limit the CFS quota enforces
        (_set(f"{C0}.env.1.valueFrom.resourceFieldRef.resource", "requests.cpu"), True),
        # another container's limit
        (_set(f"{C0}.env.1.valueFrom.resourceFieldRef.containerName", "sidecar"), True),
        (_set(f"{C0}.env.1.valueFrom.resourceFieldRef.containerName", "server"), False),
        (_set(f"{C0}.env.1.valueFrom.resourceFieldRef.containerName", ""), False),
        # a literal count is not kept in step with the limit
        (_set(f"{C0}.env.1", {"name": "MLOPS_CPUS", "value": "8"}), True),
        # millicores are not whole cores (1000 times the count, past what the settings accept)
        (_set(f"{C0}.env.1.valueFrom.resourceFieldRef.divisor", "1m"), True),
        (_set(f"{C0}.env.1.valueFrom.resourceFieldRef.divisor", DELETE), False),
        (_set(f"{C0}.env.1.valueFrom.resourceFieldRef.divisor", "1.0"), False),
        # the kubelet keeps the last of two entries of one name
        (_set(f"{C0}.env", [copy.deepcopy(CPUS_FROM_LIMIT), {"name": "MLOPS_CPUS", "value": "8"}]), True),
        (_set(f"{C0}.env", [{"name": "MLOPS_CPUS", "value": "8"}, copy.deepcopy(CPUS_FROM_LIMIT)]), False),
        # the command inside a shell script, or as python -m, is the runtime too
        (_set(f"{C0}.args", ["sh", "-c", "set -e; exec mlops train --spec /etc/mlops/spec.json"]), False),
        (_set(f"{C0}.command", ["python", "-m", "pulumi_mlops.runtime.training"]), False),
    ],
)
def test_runtime_threads_edges(mutation: Any, fires: bool) -> None:
    assert bool(run(THREADS, DEP, runtime_server(mutation), {})) is fires


def test_runtime_threads_read_the_command_and_every_container() -> None:
    unlimited = _set(f"{C0}.resources.limits.cpu", DELETE)
    # the program in command, its subcommand in args
    split = runtime_server(_set(f"{C0}.command", ["mlops"]), _set(f"{C0}.args", ["train", "--spec", "/s.json"]))
    assert run(THREADS, DEP, split, {}) == []
    assert run(
        THREADS, DEP, runtime_server(_set(f"{C0}.command", ["mlops"]), _set(f"{C0}.args", ["train"]), unlimited), {}
    )
    # a runtime container after one that runs something else
    sidecar = {"name": "proxy", "image": "ghcr.io/pulumi-mlops/runtime:0.1.0", "args": ["envoy"]}
    props = runtime_server(unlimited)
    props["spec"]["template"]["spec"]["containers"].insert(0, sidecar)
    assert [m.split(":")[0] for m in run(THREADS, DEP, props, {})] == ["spec.template.spec.containers[1] (server)"]


@pytest.mark.parametrize(
    "args",
    [
        ["mlflow", "server", "--port", "5000"],
        ["sh", "-c", "exec feast -c /etc/feast serve"],
        [],
    ],
)
def test_runtime_threads_leave_other_programs_alone(args: list[str]) -> None:
    props = runtime_server(_set(f"{C0}.args", args), _set(f"{C0}.env", []), _set(f"{C0}.resources.limits.cpu", DELETE))
    assert run(THREADS, DEP, props, {}) == []
    if args:  # the same container running mlops would be flagged
        flagged = runtime_server(_set(f"{C0}.env", []), _set(f"{C0}.resources.limits.cpu", DELETE))
        assert run(THREADS, DEP, flagged, {})


# --- Helm values --------------------------------------------------------------------------------------------------


def release(chart: str, values: Any, type_: str = RELEASE) -> Props:
    return {"chart": chart, "version": "1.2.3", "namespace": "ml", "values": values}


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"securityContext": {"privileged": True}}, "values.securityContext.privileged (true) gives chart 'app' a "),
        ({"hostNetwork": True}, "values.hostNetwork (true) gives chart 'app' the node's network namespace"),
        ({"controller": {"hostPID": "true"}}, "values.controller.hostPID"),
        ({"hostIPC": True}, "values.hostIPC"),
        ({"devicePlugin": {"enableHostNetwork": True}}, "values.devicePlugin.enableHostNetwork"),
        ({"extraVolumes": [{"name": "h", "hostPath": {"path": "/etc"}}]}, "values.extraVolumes.0.hostPath"),
        ({"extraHostVolumes": [{"name": "bin", "hostPath": "/opt/bin"}]}, 'values.extraHostVolumes.0.hostPath ("/opt'),
        ({"podSecurityContext": {"runAsUser": 0.0}}, "values.podSecurityContext.runAsUser (0.0) gives chart 'app' a "),
        ({"rbac": {"clusterAdmin": True}}, "values.rbac.clusterAdmin (true) gives chart 'app' the cluster-admin"),
        ({"clusterAdmin": True}, "values.clusterAdmin"),
        ({"controller": {"hostPort": {"enabled": True}}}, "values.controller.hostPort"),
        ({"ports": [{"hostPort": 80.0}]}, "values.ports.0.hostPort (80.0) gives chart 'app' a port on the node"),
    ],
)
def test_helm_values_host_access_is_flagged_at_any_depth(values: Props, fragment: str) -> None:
    for type_ in (RELEASE, CHART):
        messages = run("helm-values-no-host-access", type_, release("oci://ghcr.io/acme/charts/app", values), {})
        assert len(messages) == 1 and fragment in messages[0], messages
        assert "helmHostAccessAllowed" in messages[0]


@pytest.mark.parametrize(
    "values",
    [
        {"securityContext": {"privileged": False, "runAsUser": 10001.0, "runAsNonRoot": True}},
        {"hostNetwork": "false", "hostPID": False},
        {"extraHostVolumes": [], "hostPath": ""},
        {"persistence": {"hostPath": {"enabled": False, "path": "/data"}}},
        {"controller": {"hostPort": {"enabled": False, "ports": {"http": 80.0}}}},
        {"rbac": {"create": True, "clusterAdmin": False}},
        {"description": "runs without hostNetwork"},
    ],
)
def test_helm_values_without_host_access_pass(values: Props) -> None:
    assert run("helm-values-no-host-access", RELEASE, release("app", values), {}) == []


def test_helm_allow_list_is_narrow() -> None:
    exporter = {"prometheus-node-exporter": {"hostNetwork": True, "hostPID": True}}
    assert run("helm-values-no-host-access", RELEASE, release("kube-prometheus-stack", exporter), {}) == []
    # the same keys under another chart, and another key under the allowed chart, are flagged
    other = run("helm-values-no-host-access", RELEASE, release("grafana", exporter), {})
    assert [m.split(" ", 1)[0] for m in other] == [
        "values.prometheus-node-exporter.hostNetwork",
        "values.prometheus-node-exporter.hostPID",
    ]
    extra = {**exporter, "grafana": {"securityContext": {"privileged": True}}}
    flagged = run("helm-values-no-host-access", RELEASE, release("kube-prometheus-stack", extra), {})
    assert [m.split(" ", 1)[0] for m in flagged] == ["values.grafana.securityContext.privileged"]
    # the allowed path is exact: the same key deeper down is another path
    nested = {"prometheus-node-exporter": {"daemonset": {"hostNetwork": True}}}
    assert run("helm-values-no-host-access", RELEASE, release("kube-prometheus-stack", nested), {})


def test_helm_allow_list_from_config_replaces_the_default() -> None:
    values = {"extraVolumes": [{"name": "plugins", "hostPath": {"path": "/var/lib/kubelet/device-plugins"}}]}
    config = {"helmHostAccessAllowed": {"my-device-plugin": ["extraVolumes.*.hostPath"]}}
    assert run("helm-values-no-host-access", RELEASE, release("my-device-plugin", values), config) == []
    assert run("helm-values-no-host-access", RELEASE, release("my-device-plugin", values), {})
    # '*' stands for one segment only
    deeper = {"extraVolumes": [{"volume": {"hostPath": {"path": "/"}}}]}
    assert run("helm-values-no-host-access", RELEASE, release("my-device-plugin", deeper), config)
    # the configured allow-list replaces the default one
    exporter = {"prometheus-node-exporter": {"hostNetwork": True}}
    assert run("helm-values-no-host-access", RELEASE, release("kube-prometheus-stack", exporter), config)


def test_helm_allow_list_default_names_the_platform_charts() -> None:
    assert set(DEFAULT_CONFIG["helmHostAccessAllowed"]) == {
        "kube-prometheus-stack",
        "nvidia-device-plugin",
        "dcgm-exporter",
    }
    gfd = {"gfd": {"enabled": True, "securityContext": {"privileged": True}}, "mps": {"enableHostPID": True}}
    assert run("helm-values-no-host-access", RELEASE, release("nvidia-device-plugin", gfd), {}) == []
    assert run("helm-values-no-host-access", RELEASE, release("aws-efa-k8s-device-plugin", gfd), {})


@pytest.mark.parametrize(
    "config",
    [{"helmHostAccessAllowed": ["kube-prometheus-stack"]}, {"helmHostAccessAllowed": {"app": [{"path": "x"}]}}],
)
def test_malformed_allow_list_is_a_clear_violation(config: Props) -> None:
    messages = run("helm-values-no-host-access", RELEASE, release("app", {}), config)
    assert len(messages) == 1 and "policy config helmHostAccessAllowed" in messages[0], messages


UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's unknown string sentinel


def test_helm_values_unknown_at_preview() -> None:
    """An unknown subtree holds no key to judge yet; an unknown host-access key makes the policy report it cannot
    run (the engine's advisory), never a silent pass."""
    values = {"serviceAccount": {"annotations": UNKNOWN}, "hostNetwork": True}
    assert len(run("helm-values-no-host-access", RELEASE, release("app", values), {})) == 1
    graph = graph_of(res(RELEASE, "app", release("app", {"hostNetwork": UNKNOWN})))
    report = run_policies(graph, {}, policies=only("helm-values-no-host-access"))
    assert [(v.unknown, v.level) for v in report.violations] == [(True, "advisory")]


# --- token automount ----------------------------------------------------------------------------------------------

TOKEN = "k8s-token-automount-needs-rbac"


def pod_resource(
    name: str, spec: Props, type_: str = "kubernetes:batch/v1:CronJob", namespace: str = "training"
) -> Any:
    path = {"kubernetes:batch/v1:CronJob": "spec.jobTemplate.spec.template.spec"}.get(type_, "spec.template.spec")
    props: Props = {"metadata": {"name": name, "namespace": namespace}}
    node = props
    for part in path.split("."):
        node = node.setdefault(part, {})
    node.update(spec)
    return res(type_, name, props)


def binding(kind: str, subjects: list[Props], namespace: str = "training") -> Any:
    props: Props = {
        "metadata": {"name": "retrain-trigger", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "retrain-trigger"},
        "subjects": subjects,
    }
    return res(f"kubernetes:rbac.authorization.k8s.io/v1:{kind}", f"b-{kind}", props)


def service_account(name: str, automount: bool | None, namespace: str = "training") -> Any:
    props: Props = {"metadata": {"name": name, "namespace": namespace}}
    if automount is not None:
        props["automountServiceAccountToken"] = automount
    return res("kubernetes:core/v1:ServiceAccount", f"sa-{name}", props)


def token_messages(*resources: Any) -> list[str]:
    report = run_policies(graph_of(*resources), {}, policies=only(TOKEN))
    assert all(v.mandatory for v in report.violations)
    return [v.message for v in report.violations]


DRIFT = {"serviceAccountName": "drift", "automountServiceAccountToken": True}
SA_SUBJECT = {"kind": "ServiceAccount", "name": "drift", "namespace": "training"}


def test_token_mounted_without_binding_fires_and_a_binding_clears_it() -> None:
    assert token_messages(pod_resource("drift", DRIFT)) == [
        "spec.jobTemplate.spec.template.spec: mounts the API token of ServiceAccount training/drift "
        "(automountServiceAccountToken true on the pod), and no RoleBinding or ClusterRoleBinding of the stack binds "
        "it: set automountServiceAccountToken false, or bind the Role the workload calls"
    ]
    assert token_messages(pod_resource("drift", DRIFT), binding("RoleBinding", [SA_SUBJECT])) == []


@pytest.mark.parametrize(
    ("extra", "fires"),
    [
        # a RoleBinding's subject without a namespace is in the binding's namespace
        ([binding("RoleBinding", [{"kind": "ServiceAccount", "name": "drift"}])], False),
        ([binding("RoleBinding", [{"kind": "ServiceAccount", "name": "drift"}], namespace="serving")], True),
        ([binding("ClusterRoleBinding", [SA_SUBJECT])], False),
        ([binding("RoleBinding", [{**SA_SUBJECT, "name": "trainer"}])], True),
        ([binding("ClusterRoleBinding", [{"kind": "Group", "name": "system:serviceaccounts:training"}])], False),
        ([binding("ClusterRoleBinding", [{"kind": "Group", "name": "system:serviceaccounts:serving"}])], True),
        ([binding("ClusterRoleBinding", [{"kind": "Group", "name": "system:serviceaccounts"}])], False),
        ([binding("ClusterRoleBinding", [{"kind": "User", "name": "drift"}])], True),
    ],
)
def test_which_bindings_count(extra: list[Any], fires: bool) -> None:
    assert bool(token_messages(pod_resource("drift", DRIFT), *extra)) is fires


@pytest.mark.parametrize(
    ("spec", "account", "fires", "why"),
    [
        (
            {"serviceAccountName": "trainer"},
            None,
            True,
            "automountServiceAccountToken unset on the pod, which defaults",
        ),
        ({"serviceAccountName": "trainer"}, True, True, "unset on the pod, true on the ServiceAccount"),
        ({"serviceAccountName": "trainer"}, False, False, ""),
        ({"serviceAccountName": "trainer", "automountServiceAccountToken": False}, None, False, ""),
        ({"serviceAccountName": "trainer", "automountServiceAccountToken": True}, False, True, "true on the pod"),
        ({}, None, True, "ServiceAccount training/default"),
    ],
)
def test_pod_and_service_account_settings(spec: Props, account: bool | None, fires: bool, why: str) -> None:
    messages = token_messages(pod_resource("train", spec), service_account("trainer", account))
    assert bool(messages) is fires
    assert all(why in m for m in messages)


def test_patches_are_judged_only_on_what_they_set() -> None:
    patch = "kubernetes:apps/v1:DeploymentPatch"
    assert token_messages(pod_resource("p", {"serviceAccountName": "drift"}, patch)) == []
    assert token_messages(pod_resource("p", {"automountServiceAccountToken": True}, patch)) == []
    assert token_messages(pod_resource("p", DRIFT, patch))


def test_kuberay_binds_the_autoscaling_head_itself() -> None:
    unbound = {"serviceAccountName": "ray", "containers": []}
    spec = {
        "enableInTreeAutoscaling": True,
        "headGroupSpec": {"template": {"spec": unbound}},
        "workerGroupSpecs": [{"template": {"spec": unbound}}],
    }
    ray = res("kubernetes:ray.io/v1:RayCluster", "ray", {"metadata": {"namespace": "ml"}, "spec": spec})
    assert [m.split(":", 1)[0] for m in token_messages(ray)] == ["spec.workerGroupSpecs.0.template.spec"]
    spec["enableInTreeAutoscaling"] = False
    assert len(token_messages(ray)) == 2


def test_serving_runtimes_carry_no_identity() -> None:
    runtime = res(
        "kubernetes:serving.kserve.io/v1alpha1:ServingRuntime",
        "sklearn",
        {"metadata": {"namespace": "ml"}, "spec": {"containers": [{"name": "kserve-container"}]}},
    )
    assert token_messages(runtime) == []
