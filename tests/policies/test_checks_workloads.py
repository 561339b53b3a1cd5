"""Exact messages and edge cases of the pod spec, container, GPU toleration and Helm checks, and of how pod specs
are found (see ``exact.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import pytest
from pulumi_mlops.policies import kubernetes
from pulumi_mlops.policies._pod_specs import Container, _expand, _kubeflow, pod_kind, pod_specs

from .exact import DELETE, Exact, changed, reported
from .test_resource_policies import _container, run

DEP = "kubernetes:apps/v1:Deployment"
CR = "kubernetes:apiextensions.k8s.io/v1:CustomResource"
RUNTIME = "kubernetes:serving.kserve.io/v1alpha1:ServingRuntime"
RAY = "kubernetes:ray.io/v1:RayCluster"
RELEASE = "kubernetes:helm.sh/v3:Release"
POD = "spec.template.spec"
FIRST = f"{POD}.containers[0] (server)"
GPU = {"limits": {"nvidia.com/gpu": "1"}}
TOLERATION = "k8s-gpu-pods-tolerate-taint"
NO_TOLERATION = f"{POD}: requests nvidia.com/gpu but has no toleration for the 'nvidia.com/gpu' taint"
SECCOMP_FIX = "set securityContext.seccompProfile.type RuntimeDefault (or Localhost) on the pod or the container"
HOST = "helm-values-no-host-access"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's unknown string sentinel
ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
CAPS_FIX = "securityContext.capabilities.drop does not include 'ALL': drop every capability"
NON_ROOT = "runAsNonRoot is not true (container or pod securityContext): run as a non-root user"
TRAIN_JOB = {
    "apiVersion": "trainer.kubeflow.org/v1alpha1",
    "kind": "TrainJob",
    "spec": {
        "podSpecOverrides": [{"containers": [{"name": "node", "resources": {"requests": {"nvidia.com/gpu": "1"}}}]}]
    },
}


def _non_root(container: dict[str, Any], pod: dict[str, Any]) -> dict[str, Any]:
    return changed(
        DEP,
        **{f"{POD}.securityContext": pod, f"{POD}.containers": [{**_container(), "securityContext": container}]},
    )


def _gpu_pod(*tolerations: dict[str, Any], resources: Mapping[str, Any] = GPU) -> dict[str, Any]:
    return changed(DEP, **{f"{POD}.containers.0.resources": dict(resources), f"{POD}.tolerations": list(tolerations)})


CASES = [
    Exact(
        "is-false-as-string",
        "k8s-run-as-non-root",
        DEP,
        _non_root({"runAsNonRoot": "false"}, {}),
        [f"{FIRST}: runs as root: set securityContext.runAsNonRoot true and a non-zero runAsUser"],
    ),
    Exact("non-root-as-string", "k8s-run-as-non-root", DEP, _non_root({"runAsNonRoot": "true"}, {}), []),
    Exact(
        "root-uid-of-the-pod",
        "k8s-run-as-non-root",
        DEP,
        _non_root({}, {"runAsUser": 0.0}),
        [f"{FIRST}: runs as root: set securityContext.runAsNonRoot true and a non-zero runAsUser"],
    ),
    Exact("non-root-pod", "k8s-run-as-non-root", DEP, _non_root({}, {"runAsNonRoot": True}), []),
    Exact("non-root-container", "k8s-run-as-non-root", DEP, _non_root({"runAsNonRoot": True}, {}), []),
    Exact("uid-one", "k8s-run-as-non-root", DEP, _non_root({"runAsUser": 1.0}, {}), []),
    Exact("uid-of-the-pod", "k8s-run-as-non-root", DEP, _non_root({}, {"runAsUser": 10001.0}), []),
    Exact("nothing-set", "k8s-run-as-non-root", DEP, _non_root({}, {}), [f"{FIRST}: {NON_ROOT}"]),
    Exact(
        "probes-of-init-containers-are-not-needed",
        "k8s-probes",
        DEP,
        changed(DEP, **{f"{POD}.initContainers": [_container("fetch", probes=False)]}),
        [],
    ),
    Exact(
        "unnamed-container-without-image",
        "k8s-image-pinned",
        DEP,
        changed(DEP, **{f"{POD}.containers": [{"resources": {}}]}),
        [f"{POD}.containers[0] (?): has no image"],
    ),
    Exact(
        "images",
        "k8s-image-pinned",
        DEP,
        changed(
            DEP,
            **{
                f"{POD}.containers": [
                    _container("a", "registry.example:5000/app"),
                    _container("b", "nginx:latest"),
                    _container("c", "registry.example:5000/app@sha256:" + "c" * 64),
                ]
            },
        ),
        [
            f"{POD}.containers[0] (a): image 'registry.example:5000/app' has no tag: pin a version tag or digest",
            f"{POD}.containers[1] (b): image 'nginx:latest' uses 'latest': pin a version tag or digest",
        ],
    ),
    Exact("gpu-toleration-by-key", TOLERATION, DEP, _gpu_pod({"key": "nvidia.com/gpu", "operator": "Exists"}), []),
    Exact("gpu-toleration-of-everything", TOLERATION, DEP, _gpu_pod({"operator": "Exists"}), []),
    Exact(
        "gpu-toleration-of-another-key",
        TOLERATION,
        DEP,
        _gpu_pod({"key": "spot", "operator": "Exists"}),
        [NO_TOLERATION],
    ),
    Exact(
        "gpu-toleration-equal-without-key",
        TOLERATION,
        DEP,
        _gpu_pod({"operator": "Equal", "value": "x"}),
        [NO_TOLERATION],
    ),
    Exact(
        "gpu-request-only", TOLERATION, DEP, _gpu_pod(resources={"requests": {"nvidia.com/gpu": "1"}}), [NO_TOLERATION]
    ),
    Exact("cpu-pod", TOLERATION, DEP, _gpu_pod(resources={"limits": {"memory": "1Gi"}}), []),
    Exact("train-job-overrides-are-partial", TOLERATION, CR, TRAIN_JOB, []),
    Exact(
        "helm-chart-without-version",
        "helm-chart-version-pinned",
        RELEASE,
        {"namespace": "x"},
        ["chart '' has no version: pin the exact chart version"],
    ),
    Exact("helm-local-chart", "helm-chart-version-pinned", RELEASE, {"chart": "./charts/app"}, []),
    Exact(
        "host-path-without-names",
        "k8s-no-host-path-volumes",
        DEP,
        changed(DEP, **{f"{POD}.volumes": [{"hostPath": {"type": "Directory"}}]}),
        [
            f"{POD}.volumes[0] (?) mounts hostPath '?' of the node: use an emptyDir, a PersistentVolumeClaim, a "
            "ConfigMap or a CSI volume"
        ],
    ),
    Exact(
        "host-port-one",
        "k8s-no-host-ports",
        DEP,
        changed(DEP, **{f"{POD}.containers.0.ports": [{"containerPort": 1.0, "hostPort": 1.0}]}),
        [f"{FIRST}: ports[0] hostPort 1 opens a port on the node: remove it and expose the port through a Service"],
    ),
    Exact(
        "unknown-custom-resource", "k8s-own-service-account", CR, {"apiVersion": "x.io/v1", "kind": "X", "spec": {}}, []
    ),
    Exact(
        "serving-runtime-has-no-identity",
        "k8s-own-service-account",
        RUNTIME,
        {"spec": {"containers": [_container()]}},
        [],
    ),
    Exact(
        "seccomp-after-a-windows-pod",
        "k8s-seccomp-profile",
        RAY,
        {
            "spec": {
                "headGroupSpec": {"template": {"spec": {"os": {"name": "windows"}, "containers": [{"name": "h"}]}}},
                "workerGroupSpecs": [{"template": {"spec": {"containers": [{"name": "w"}]}}}],
            }
        },
        [
            "spec.workerGroupSpecs.0.template.spec.containers[0] (w): no seccompProfile on the container or the "
            f"pod: {SECCOMP_FIX}"
        ],
    ),
    Exact("seccomp-of-train-job-overrides", "k8s-seccomp-profile", CR, TRAIN_JOB, []),
    Exact(
        "helm-host-access",
        HOST,
        RELEASE,
        {
            "chart": "oci://ghcr.io/acme/charts/agent/",
            "version": "1.0.0",
            "values": {
                "later": UNKNOWN,
                "hostPort": 0.0,
                "ports": {"hostPort": "http"},
                "agent": {"hostPort": 1.0},
            },
        },
        [
            "values.agent.hostPort (1.0) gives chart 'agent' a port on the node: remove it, or if the chart needs it, "
            "allow 'agent.hostPort' for 'agent' in helmHostAccessAllowed"
        ],
    ),
    Exact(
        "helm-host-access-of-a-chart-without-name",
        HOST,
        RELEASE,
        {"version": "1.0.0", "values": {"hostNetwork": True}},
        [
            "values.hostNetwork (true) gives chart '' the node's network namespace: remove it, or if the chart needs "
            "it, allow 'hostNetwork' for '' in helmHostAccessAllowed"
        ],
    ),
    Exact(
        "container-fields",
        "k8s-resources-set",
        DEP,
        changed(DEP, **{f"{POD}.containers.0.resources": {"requests": {"cpu": "", "memory": "1Gi"}}}),
        [
            f"{FIRST}: resources.requests.cpu, resources.limits.memory not set: give every container requests and a "
            "memory limit"
        ],
    ),
    Exact(
        "writable-root-fs",
        "k8s-read-only-root-fs",
        DEP,
        changed(DEP, **{f"{POD}.containers.0.securityContext.readOnlyRootFilesystem": DELETE}),
        [f"{FIRST}: securityContext.readOnlyRootFilesystem is not true: mount an emptyDir for scratch space"],
    ),
    Exact(
        "escalation-unset",
        "k8s-no-privilege-escalation",
        DEP,
        changed(DEP, **{f"{POD}.containers.0.securityContext.allowPrivilegeEscalation": DELETE}),
        [f"{FIRST}: securityContext.allowPrivilegeEscalation is not false: set it to false"],
    ),
    Exact(
        "capabilities",
        "k8s-drop-capabilities",
        DEP,
        changed(
            DEP,
            **{
                f"{POD}.containers": [
                    {**_container("a"), "securityContext": {"capabilities": {"drop": ["NET_RAW"]}}},
                    {
                        **_container("b"),
                        "securityContext": {
                            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE", "SYS_ADMIN", "NET_ADMIN"]}
                        },
                    },
                ]
            },
        ),
        [
            f"{POD}.containers[0] (a): {CAPS_FIX}",
            f"{POD}.containers[1] (b): adds capabilities SYS_ADMIN, NET_ADMIN: add none (NET_BIND_SERVICE at most)",
        ],
    ),
    Exact(
        "no-probes",
        "k8s-probes",
        DEP,
        changed(DEP, **{f"{POD}.containers": [_container(probes=False)]}),
        [f"{FIRST}: no readinessProbe and no livenessProbe: long-running containers need both probes"],
    ),
    Exact(
        "runtime-container-with-an-empty-image",
        "k8s-image-pinned",
        ISVC,
        {"spec": {"predictor": {"model": {"image": "", "modelFormat": {"name": "sklearn"}}}}},
        [],
    ),
    Exact(
        "registries",
        "k8s-allowed-registries",
        DEP,
        changed(DEP, **{f"{POD}.containers.0.image": "docker.io/library/nginx:1.27"}),
        [
            f"{FIRST}: image 'docker.io/library/nginx:1.27' is not from an allowed registry (ghcr.io/, "
            "registry.example/)"
        ],
        config={"allowedRegistries": ["ghcr.io/", "registry.example/"]},
    ),
    Exact(
        "host-namespaces",
        "k8s-no-host-namespaces",
        DEP,
        changed(DEP, **{f"{POD}.hostNetwork": True, f"{POD}.hostIPC": "true"}),
        [f"{POD}: hostNetwork, hostIPC true: keep pods in their own namespaces"],
    ),
    Exact("helm-absolute-chart-path", "helm-chart-version-pinned", RELEASE, {"chart": "/srv/charts/app"}, []),
    Exact(
        "helm-latest",
        "helm-chart-version-pinned",
        RELEASE,
        {"chart": "app", "version": "latest"},
        ["chart 'app' version 'latest' is a range: pin an exact version"],
    ),
    Exact(
        "helm-x-range-inside",
        "helm-chart-version-pinned",
        RELEASE,
        {"chart": "app", "version": "4.x.1"},
        ["chart 'app' version '4.x.1' is a range: pin an exact version"],
    ),
    Exact(
        "helm-allow-list-not-a-map",
        HOST,
        RELEASE,
        {"chart": "app", "version": "1.0.0", "values": {"hostNetwork": True}},
        ["policy config helmHostAccessAllowed is not a map of chart name to key paths: fix the config"],
        config={"helmHostAccessAllowed": ["app"]},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_check_reports_exactly(case: Exact) -> None:
    assert reported(case) == case.messages


def test_each_container_check_sees_every_container_the_pod_spec_and_whether_it_is_a_patch() -> None:
    seen: list[tuple[str, bool, bool]] = []

    def check(spec: Mapping[str, Any], c: Container, partial: bool) -> str | None:
        seen.append((c.label, partial, spec is not None and "containers" in spec))
        return "broken" if c.label.startswith("containers") else None

    reports: list[str] = []
    props = changed(DEP, **{f"{POD}.initContainers": [{"name": "fetch"}]})
    args = SimpleNamespace(resource_type=DEP, props=props)
    kubernetes._each_container(check)(args, reports.append)
    assert reports == [f"{FIRST}: broken"]
    assert seen == [("initContainers[0] (fetch)", False, True), ("containers[0] (server)", False, True)]

    seen.clear()
    patch = SimpleNamespace(resource_type=f"{DEP}Patch", props=props)
    kubernetes._each_container(check, init=False)(patch, reports.append)
    assert seen == [("containers[0] (server)", True, True)]

    empty = SimpleNamespace(resource_type=DEP, props={"spec": {}})
    reports.clear()
    kubernetes._each_container(check)(empty, reports.append)
    assert reports == ["no pod template spec found"]
    seen.clear()
    overrides = SimpleNamespace(resource_type=CR, props=TRAIN_JOB)
    kubernetes._each_container(check)(overrides, reports.append)
    assert seen == [("containers[0] (node)", True, True)]
    custom = SimpleNamespace(resource_type=RAY, props={"spec": {}})
    reports.clear()
    kubernetes._each_container(check)(custom, reports.append)
    assert reports == []


def test_a_kubeflow_kind_walks_every_replica_spec_of_its_versions() -> None:
    kind = _kubeflow("MPIJob", "mpiReplicaSpecs", ("v1", "v2beta1"))
    assert kind.tokens() == [
        "kubernetes:kubeflow.org/v1:MPIJob",
        "kubernetes:kubeflow.org/v1:MPIJobPatch",
        "kubernetes:kubeflow.org/v2beta1:MPIJob",
        "kubernetes:kubeflow.org/v2beta1:MPIJobPatch",
    ]
    launcher, worker = {"containers": [{"name": "l"}]}, {"containers": [{"name": "w"}]}
    props = {
        "spec": {
            "mpiReplicaSpecs": {"Launcher": {"template": {"spec": launcher}}, "Worker": {"template": {"spec": worker}}}
        }
    }
    assert [s for p in kind.paths for s in _expand(props, p)] == [
        ("spec.mpiReplicaSpecs.Launcher.template.spec", launcher),
        ("spec.mpiReplicaSpecs.Worker.template.spec", worker),
    ]
    assert _kubeflow("TFJob", "tfReplicaSpecs").tokens() == [
        "kubernetes:kubeflow.org/v1:TFJob",
        "kubernetes:kubeflow.org/v1:TFJobPatch",
    ]


@pytest.mark.parametrize(
    "resource_type",
    ["kubernetes", "pulumi:ray.io/v1:RayCluster", "kubernetes:ray.io/v1:RayCluster:x", "aws:s3/bucket:Bucket"],
)
def test_a_malformed_or_foreign_type_token_holds_no_pod_spec(resource_type: str) -> None:
    assert pod_kind(resource_type, {}) is None
    assert pod_specs(resource_type, {"spec": {"headGroupSpec": {"template": {"spec": {}}}}}) == []


def test_a_replica_map_that_is_not_a_map_holds_no_pod_spec() -> None:
    assert (
        pod_specs("kubernetes:kubeflow.org/v1:PyTorchJob", {"spec": {"pytorchReplicaSpecs": [{"template": {}}]}}) == []
    )
    assert pod_specs("kubernetes:kubeflow.org/v1:PyTorchJob", {"spec": {}}) == []


def test_the_allow_list_of_host_access_matches_whole_paths_only() -> None:
    props = {"chart": "agent", "version": "1.0.0", "values": {"a": {"b": {"hostNetwork": True}}}}
    allowed = {"helmHostAccessAllowed": {"agent": ["a.*.hostNetwork", "a.b"]}}
    assert run(HOST, RELEASE, props, allowed) == []
    assert run(HOST, RELEASE, props, {"helmHostAccessAllowed": {"agent": ["a.b"]}}) != []
