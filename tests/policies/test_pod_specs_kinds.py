"""Every kind that holds a pod spec: ``pod_specs`` finds each spec, and every pod policy judges each one.

A valid pod spec is placed at every position of a kind; then one field of the last position is broken, and the
policy that owns the field must fire there, naming that position.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pulumi_mlops.policies import kubernetes, pods, policy_types
from pulumi_mlops.policies._pod_specs import (
    BUILTIN,
    CUSTOM,
    CUSTOM_RESOURCE,
    FULL_TYPES,
    POD_SPEC_TYPES,
    is_partial,
    pod_kind,
    pod_specs,
)
from pulumi_policy import ResourceValidationPolicy

from .test_resource_policies import _pod, run

Spec = dict[str, Any]


def valid_spec() -> Spec:
    """The baseline Deployment's pod spec: passes every pod policy of the pack."""
    return copy.deepcopy(_pod()["spec"])


def _template(spec: Spec) -> Spec:
    return {"template": {"spec": spec}}


def _ray(specs: list[Spec]) -> Spec:
    return {"headGroupSpec": _template(specs[0]), "workerGroupSpecs": [_template(s) for s in specs[1:]]}


def _replica_specs(field: str) -> Callable[[list[Spec]], Spec]:
    return lambda s: {"spec": {field: {"Chief": _template(s[0]), "Worker": _template(s[1])}}}


def _jobset(specs: list[Spec]) -> Spec:
    return {"replicatedJobs": [{"name": f"j{i}", "template": {"spec": _template(s)}} for i, s in enumerate(specs)]}


@dataclass
class Kind:
    type: str
    build: Callable[[list[Spec]], Spec]
    """Props of the kind with the given pod specs, one per entry of ``paths``."""
    paths: list[str]
    api: str = ""
    """``apiVersion/kind`` for a custom resource (also checked under the generic CustomResource token)."""

    @property
    def id(self) -> str:
        return self.type.rsplit(":", 1)[-1] if not self.api else self.api.replace("/", "-")

    def props(self, specs: list[Spec]) -> Spec:
        props = self.build(specs)
        props["metadata"] = {"name": "w", "namespace": "ml"}
        if self.api:
            api_version, kind = self.api.rsplit("/", 1)
            props.update(apiVersion=api_version, kind=kind)
        return props


TEMPLATE = ["spec.template.spec"]
KINDS: list[Kind] = [
    *(
        Kind(f"kubernetes:{api}", lambda s: {"spec": _template(s[0])}, TEMPLATE)
        for api in (
            "apps/v1:Deployment",
            "apps/v1:StatefulSet",
            "apps/v1:DaemonSet",
            "apps/v1:ReplicaSet",
            "core/v1:ReplicationController",
            "batch/v1:Job",
        )
    ),
    Kind(
        "kubernetes:batch/v1:CronJob",
        lambda s: {"spec": {"jobTemplate": {"spec": _template(s[0])}}},
        ["spec.jobTemplate.spec.template.spec"],
    ),
    Kind("kubernetes:core/v1:Pod", lambda s: {"spec": s[0]}, ["spec"]),
    Kind("kubernetes:core/v1:PodTemplate", lambda s: _template(s[0]), ["template.spec"]),
    Kind(
        "kubernetes:serving.kserve.io/v1beta1:InferenceService",
        lambda s: {"spec": {"predictor": {**s[0], "workerSpec": s[1]}, "transformer": s[2]}},
        ["spec.predictor", "spec.predictor.workerSpec", "spec.transformer"],
        "serving.kserve.io/v1beta1/InferenceService",
    ),
    Kind(
        "kubernetes:serving.kserve.io/v1alpha1:ServingRuntime",
        lambda s: {"spec": {**s[0], "workerSpec": s[1]}},
        ["spec", "spec.workerSpec"],
        "serving.kserve.io/v1alpha1/ServingRuntime",
    ),
    Kind(
        "kubernetes:serving.kserve.io/v1alpha1:ClusterServingRuntime",
        lambda s: {"spec": s[0]},
        ["spec"],
        "serving.kserve.io/v1alpha1/ClusterServingRuntime",
    ),
    Kind(
        "kubernetes:ray.io/v1:RayCluster",
        lambda s: {"spec": _ray(s)},
        ["spec.headGroupSpec.template.spec", "spec.workerGroupSpecs.0.template.spec"],
        "ray.io/v1/RayCluster",
    ),
    Kind(
        "kubernetes:ray.io/v1:RayJob",
        lambda s: {"spec": {"rayClusterSpec": _ray(s[:3]), "submitterPodTemplate": {"spec": s[3]}}},
        [
            "spec.rayClusterSpec.headGroupSpec.template.spec",
            "spec.rayClusterSpec.workerGroupSpecs.0.template.spec",
            "spec.rayClusterSpec.workerGroupSpecs.1.template.spec",
            "spec.submitterPodTemplate.spec",
        ],
        "ray.io/v1/RayJob",
    ),
    Kind(
        "kubernetes:ray.io/v1:RayService",
        lambda s: {"spec": {"rayClusterConfig": _ray(s)}},
        ["spec.rayClusterConfig.headGroupSpec.template.spec", "spec.rayClusterConfig.workerGroupSpecs.0.template.spec"],
        "ray.io/v1/RayService",
    ),
    Kind(
        "kubernetes:kubeflow.org/v1:PyTorchJob",
        lambda s: {"spec": {"pytorchReplicaSpecs": {"Master": _template(s[0]), "Worker": _template(s[1])}}},
        ["spec.pytorchReplicaSpecs.Master.template.spec", "spec.pytorchReplicaSpecs.Worker.template.spec"],
        "kubeflow.org/v1/PyTorchJob",
    ),
    Kind(
        "kubernetes:kubeflow.org/v2beta1:MPIJob",
        lambda s: {"spec": {"mpiReplicaSpecs": {"Launcher": _template(s[0]), "Worker": _template(s[1])}}},
        ["spec.mpiReplicaSpecs.Launcher.template.spec", "spec.mpiReplicaSpecs.Worker.template.spec"],
        "kubeflow.org/v2beta1/MPIJob",
    ),
    *(
        Kind(
            f"kubernetes:kubeflow.org/v1:{kind}",
            _replica_specs(field),
            [f"spec.{field}.Chief.template.spec", f"spec.{field}.Worker.template.spec"],
            f"kubeflow.org/v1/{kind}",
        )
        for kind, field in (
            ("TFJob", "tfReplicaSpecs"),
            ("XGBoostJob", "xgbReplicaSpecs"),
            ("PaddleJob", "paddleReplicaSpecs"),
            ("JAXJob", "jaxReplicaSpecs"),
        )
    ),
    Kind(
        "kubernetes:jobset.x-k8s.io/v1alpha2:JobSet",
        lambda s: {"spec": _jobset(s)},
        ["spec.replicatedJobs.0.template.spec.template.spec", "spec.replicatedJobs.1.template.spec.template.spec"],
        "jobset.x-k8s.io/v1alpha2/JobSet",
    ),
    Kind(
        "kubernetes:trainer.kubeflow.org/v1alpha1:ClusterTrainingRuntime",
        lambda s: {"spec": {"template": {"spec": _jobset(s)}}},
        ["spec.template.spec.replicatedJobs.0.template.spec.template.spec"],
        "trainer.kubeflow.org/v1alpha1/ClusterTrainingRuntime",
    ),
    Kind(
        "kubernetes:trainer.kubeflow.org/v1alpha1:TrainingRuntime",
        lambda s: {"spec": {"template": {"spec": _jobset(s)}}},
        [
            "spec.template.spec.replicatedJobs.0.template.spec.template.spec",
            "spec.template.spec.replicatedJobs.1.template.spec.template.spec",
        ],
        "trainer.kubeflow.org/v1alpha1/TrainingRuntime",
    ),
]
KIND_IDS = [k.id for k in KINDS]

POD_POLICIES = [
    p
    for p in (*kubernetes.POLICIES, *pods.POLICIES)
    if isinstance(p, ResourceValidationPolicy) and set(policy_types(p)) & set(POD_SPEC_TYPES)
]
"""Resource policies that read pod specs (the pack's tag and label policies read only metadata)."""


def _container(spec: Spec) -> Spec:
    return spec["containers"][0]


def _set(*path: str, value: Any, target: Callable[[Spec], Spec] = lambda s: s) -> Callable[[Spec], None]:
    def mutate(spec: Spec) -> None:
        node = target(spec)
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value

    return mutate


C = _container
BREAKERS: dict[str, tuple[Callable[[Spec], None], str]] = {
    "k8s-resources-set": (lambda s: _container(s).pop("resources"), "resources.requests.cpu"),
    "k8s-run-as-non-root": (_set("securityContext", "runAsUser", value=0.0, target=C), "runs as root"),
    "k8s-read-only-root-fs": (
        _set("securityContext", "readOnlyRootFilesystem", value=False, target=C),
        "readOnlyRootFilesystem",
    ),
    "k8s-no-privilege-escalation": (_set("securityContext", "privileged", value=True, target=C), "privileged"),
    "k8s-drop-capabilities": (_set("securityContext", "capabilities", "add", value=["SYS_ADMIN"], target=C), "SYS"),
    "k8s-probes": (lambda s: _container(s).pop("livenessProbe"), "no livenessProbe"),
    "k8s-image-pinned": (_set("image", value="ghcr.io/pulumi-mlops/runtime:latest", target=C), "'latest'"),
    "k8s-allowed-registries": (_set("image", value="docker.io/evil/miner:1.0", target=C), "not from an allowed"),
    "k8s-no-host-namespaces": (_set("hostPID", value=True), "hostPID true"),
    "k8s-gpu-pods-tolerate-taint": (
        _set("resources", "limits", "nvidia.com/gpu", value="1", target=C),
        "no toleration",
    ),
    "k8s-no-host-path-volumes": (
        _set("volumes", value=[{"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}]),
        "volumes[0] (docker) mounts hostPath '/var/run/docker.sock'",
    ),
    "k8s-no-host-ports": (
        _set("ports", value=[{"containerPort": 8080.0, "hostPort": 8080.0}], target=C),
        "ports[0] hostPort 8080",
    ),
    "k8s-own-service-account": (_set("serviceAccountName", value="default"), "serviceAccountName is 'default'"),
    "k8s-seccomp-profile": (
        _set("securityContext", "seccompProfile", value={"type": "Unconfined"}, target=C),
        "seccompProfile.type is 'Unconfined'",
    ),
    "k8s-runtime-threads-follow-cpu-limit": (
        _set("args", value=["mlops", "train", "--spec", "/etc/mlops/spec.json"], target=C),
        "no resources.limits.cpu",
    ),
}


def _applies(policy: str, kind: Kind) -> bool:
    found = pod_kind(kind.type, kind.props([valid_spec()] * len(kind.paths)))
    assert found is not None
    if policy == "k8s-own-service-account" and not found[0].identity:
        return False
    return kind.type in policy_types(next(p for p in POD_POLICIES if p.name == policy))


CASES = [
    pytest.param(kind, policy, id=f"{kind.id}-{policy}")
    for kind in KINDS
    for policy in BREAKERS
    if _applies(policy, kind)
]


def test_every_pod_policy_has_a_breaker() -> None:
    assert sorted(BREAKERS) == sorted(p.name for p in POD_POLICIES)


def test_every_kind_of_the_table_is_tested() -> None:
    assert set(BUILTIN) <= {k.type for k in KINDS}
    tested = {found[0] for k in KINDS if (found := pod_kind(k.type, {})) is not None}
    assert {k for k in CUSTOM if not k.partial} <= tested  # TrainJob (overrides only): test_pod_specs_patches.py


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_pod_specs_are_found_at_every_position(kind: Kind) -> None:
    specs = [valid_spec() for _ in kind.paths]
    for i, spec in enumerate(specs):
        spec["containers"][0]["name"] = f"c{i}"
    found = pod_specs(kind.type, kind.props(specs))
    assert [path for path, _ in found] == kind.paths
    assert [spec["containers"][0]["name"] for _, spec in found] == [f"c{i}" for i in range(len(specs))]
    if kind.api:  # the same resource registered under the generic CustomResource token
        assert [path for path, _ in pod_specs(CUSTOM_RESOURCE, kind.props(specs))] == kind.paths


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_every_pod_policy_is_silent_on_valid_specs(kind: Kind) -> None:
    props = kind.props([valid_spec() for _ in kind.paths])
    for policy in POD_POLICIES:
        if kind.type in policy_types(policy):
            assert run(policy.name, kind.type, props, {}) == [], policy.name


@pytest.mark.parametrize(("kind", "policy"), CASES)
def test_policy_fires_at_the_broken_position(kind: Kind, policy: str) -> None:
    specs = [valid_spec() for _ in kind.paths]
    mutate, fragment = BREAKERS[policy]
    mutate(specs[-1])
    messages = run(policy, kind.type, kind.props(specs), {})
    assert messages, f"{policy} did not fire on {kind.paths[-1]}"
    assert all(m.startswith(kind.paths[-1]) for m in messages), messages
    assert any(fragment in m for m in messages), messages
    if kind.api:
        assert run(policy, CUSTOM_RESOURCE, kind.props(specs), {}) == messages


def test_probes_are_required_on_long_running_kinds_only() -> None:
    long_running = {k.type for k in KINDS if any(f"{k.id}-k8s-probes" == c.id for c in CASES)}
    assert long_running == set(kubernetes.LONG_RUNNING)


def test_kserve_model_container_is_judged_and_needs_no_image() -> None:
    model = {
        "modelFormat": {"name": "sklearn"},
        "storageUri": "s3://models/churn",
        **{k: v for k, v in valid_spec()["containers"][0].items() if k not in ("image", "name")},
    }
    predictor = {k: v for k, v in valid_spec().items() if k != "containers"} | {"model": model}
    isvc = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
    props = {"metadata": {"name": "churn", "namespace": "ml"}, "spec": {"predictor": predictor}}
    for policy in POD_POLICIES:
        if isvc in policy_types(policy):
            assert run(policy.name, isvc, props, {}) == [], policy.name
    model["securityContext"]["privileged"] = True
    assert run("k8s-no-privilege-escalation", isvc, props, {}) == [
        "spec.predictor.model: securityContext.privileged is true: never run privileged containers"
    ]
    model["image"] = "docker.io/kserve/sklearnserver:latest"
    assert run("k8s-image-pinned", isvc, props, {}) == [
        "spec.predictor.model: image 'docker.io/kserve/sklearnserver:latest' uses 'latest': pin a version tag or digest"
    ]


def test_missing_pod_spec_is_reported_for_builtin_workloads_only() -> None:
    assert run("k8s-run-as-non-root", "kubernetes:apps/v1:Deployment", {"spec": {"replicas": 2.0}}, {}) == [
        "no pod template spec found"
    ]
    # a RayJob may submit to an existing cluster (clusterSelector): no pod spec of its own
    ray_job = {"spec": {"clusterSelector": {"ray.io/cluster": "shared"}, "entrypoint": "python train.py"}}
    assert pod_specs("kubernetes:ray.io/v1:RayJob", ray_job) == []
    assert run("k8s-run-as-non-root", "kubernetes:ray.io/v1:RayJob", ray_job, {}) == []


def test_kinds_without_pod_specs_are_not_pod_kinds() -> None:
    monitor = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "spec": {"endpoints": []}}
    assert pod_kind("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", monitor) is None
    assert pod_kind(CUSTOM_RESOURCE, monitor) is None
    assert pod_specs(CUSTOM_RESOURCE, monitor) == []


def test_only_patches_and_overrides_are_partial() -> None:
    assert not is_partial("kubernetes:apps/v1:Deployment", {})
    assert is_partial("kubernetes:apps/v1:DeploymentPatch", {})
    assert is_partial("kubernetes:ray.io/v1:RayClusterPatch", {})
    assert is_partial("kubernetes:trainer.kubeflow.org/v1alpha1:TrainJob", {})
    assert not set(FULL_TYPES) & {"kubernetes:apps/v1:DeploymentPatch", "kubernetes:ray.io/v1:RayClusterPatch"}


def test_pod_policies_of_both_modules_read_every_pod_spec_type() -> None:
    for policy in (*kubernetes.POLICIES, *pods.POLICIES):
        types = set(policy_types(policy))
        if types & set(POD_SPEC_TYPES) and policy.name not in ("k8s-probes",):
            assert set(FULL_TYPES) <= types, policy.name
