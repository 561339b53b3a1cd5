"""Patch resources and TrainJob overrides set only some fields of a pod: policies judge what they set, never what they
leave out (a patch that adds ``privileged: true`` is flagged; a patch that sets replicas only is not)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pulumi_mlops.policies import policy_types
from pulumi_mlops.policies._pod_specs import BUILTIN, PATCH_TYPES, pod_specs

from .test_pod_specs_kinds import POD_POLICIES
from .test_resource_policies import run

Props = dict[str, Any]

TEMPLATE_PATH = {t: BUILTIN[t].paths[0] for t in BUILTIN}


def _nest(path: str, leaf: Props) -> Props:
    props: Props = leaf
    for part in reversed(path.split(".")):
        props = {part: props}
    return props


def patch(type_: str, spec: Props | None = None, **top: Any) -> Props:
    """A Patch of ``type_`` (base type) that sets ``spec`` in its pod spec, and ``top`` under ``spec``."""
    props: Props = {"metadata": {"name": "churn", "namespace": "ml"}}
    if spec is not None:
        props.update(_nest(TEMPLATE_PATH[type_], spec))
    if top:
        props.setdefault("spec", {}).update(top)
    return props


def _policies(type_: str) -> list[str]:
    return [p.name for p in POD_POLICIES if type_ in policy_types(p)]


def _violations(type_: str, props: Props) -> dict[str, list[str]]:
    found = {name: run(name, type_, props, {}) for name in _policies(type_)}
    return {name: messages for name, messages in found.items() if messages}


BASES = list(BUILTIN)
REPLICATED = {t for t in BUILTIN if BUILTIN[t].paths == ("spec.template.spec",) and not t.endswith(":Job")}


@pytest.mark.parametrize("base", BASES, ids=[t.rsplit(":", 1)[-1] for t in BASES])
def test_a_patch_of_other_fields_is_silent(base: str) -> None:
    patch_type = f"{base}Patch"
    assert patch_type in PATCH_TYPES
    scaling = {"replicas": 3.0} if base in REPLICATED else {}
    spec = {"nodeSelector": {"pulumi-mlops.io/pool": "gpu"}, "containers": [{"name": "server", "env": []}]}
    props = patch(base, spec, **scaling)
    assert _policies(patch_type), "pod policies run on Patch types"
    assert _violations(patch_type, props) == {}
    # the same fields as a whole object miss everything a pod needs
    assert {"k8s-own-service-account", "k8s-seccomp-profile", "k8s-run-as-non-root"} <= set(_violations(base, props))


@pytest.mark.parametrize("base", BASES, ids=[t.rsplit(":", 1)[-1] for t in BASES])
def test_a_patch_that_adds_privileged_is_flagged_and_nothing_else(base: str) -> None:
    patch_type = f"{base}Patch"
    props = patch(base, {"containers": [{"name": "server", "securityContext": {"privileged": True}}]})
    path = TEMPLATE_PATH[base]
    assert pod_specs(patch_type, props)[0][0] == path
    assert _violations(patch_type, props) == {
        "k8s-no-privilege-escalation": [
            f"{path}.containers[0] (server): securityContext.privileged is true: never run privileged containers"
        ]
    }


DEPLOYMENT_PATCH = "kubernetes:apps/v1:DeploymentPatch"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def _container_patch(**security: Any) -> Props:
    return patch(DEPLOYMENT, {"containers": [{"name": "server", "securityContext": security}]})


@pytest.mark.parametrize(
    ("policy", "props", "fragment"),
    [
        ("k8s-run-as-non-root", _container_patch(runAsUser=0.0), "runs as root"),
        ("k8s-run-as-non-root", _container_patch(runAsNonRoot=False), "runs as root"),
        (
            "k8s-run-as-non-root",
            patch(DEPLOYMENT, {"securityContext": {"runAsNonRoot": False}, "containers": [{}]}),
            "runs as root",
        ),
        ("k8s-read-only-root-fs", _container_patch(readOnlyRootFilesystem=False), "readOnlyRootFilesystem"),
        ("k8s-no-privilege-escalation", _container_patch(allowPrivilegeEscalation=True), "allowPrivilegeEscalation"),
        ("k8s-drop-capabilities", _container_patch(capabilities={"drop": ["NET_RAW"]}), "does not include 'ALL'"),
        ("k8s-drop-capabilities", _container_patch(capabilities={"add": ["NET_ADMIN"]}), "adds capabilities NET_ADMIN"),
        (
            "k8s-image-pinned",
            patch(DEPLOYMENT, {"containers": [{"name": "server", "image": "ghcr.io/pulumi-mlops/runtime:latest"}]}),
            "'latest'",
        ),
        (
            "k8s-allowed-registries",
            patch(DEPLOYMENT, {"containers": [{"name": "server", "image": "docker.io/evil/miner:1.0"}]}),
            "not from an allowed registry",
        ),
        ("k8s-no-host-namespaces", patch(DEPLOYMENT, {"hostNetwork": True}), "hostNetwork true"),
        (
            "k8s-no-host-path-volumes",
            patch(DEPLOYMENT, {"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}),
            "mounts hostPath '/'",
        ),
        (
            "k8s-no-host-ports",
            patch(
                DEPLOYMENT, {"containers": [{"name": "server", "ports": [{"containerPort": 80.0, "hostPort": 80.0}]}]}
            ),
            "hostPort 80",
        ),
        ("k8s-own-service-account", patch(DEPLOYMENT, {"serviceAccountName": "default"}), "is 'default'"),
        (
            "k8s-seccomp-profile",
            patch(DEPLOYMENT, {"securityContext": {"seccompProfile": {"type": "Unconfined"}}}),
            "spec.template.spec: securityContext.seccompProfile.type is 'Unconfined'",
        ),
        ("k8s-seccomp-profile", _container_patch(seccompProfile={"type": "Unconfined"}), "(server): securityContext"),
    ],
    ids=lambda v: v if isinstance(v, str) and v.startswith("k8s-") else "",
)
def test_a_patch_is_flagged_for_what_it_sets(policy: str, props: Props, fragment: str) -> None:
    messages = run(policy, DEPLOYMENT_PATCH, props, {})
    assert any(fragment in m for m in messages), messages


def test_a_patch_of_good_values_is_silent() -> None:
    props = patch(
        DEPLOYMENT,
        {
            "serviceAccountName": "churn",
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "server",
                    "image": "ghcr.io/pulumi-mlops/runtime:0.2.0",
                    "securityContext": {
                        "readOnlyRootFilesystem": True,
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                    },
                }
            ],
            "volumes": [{"name": "cache", "emptyDir": {}}],
        },
    )
    assert _violations(DEPLOYMENT_PATCH, props) == {}


def test_presence_policies_do_not_run_on_patches() -> None:
    """Requests, probes and the GPU toleration can live in the patched object: a Patch cannot miss them."""
    props = patch(DEPLOYMENT, {"containers": [{"name": "server", "resources": {"limits": {"nvidia.com/gpu": "1"}}}]})
    assert {"k8s-resources-set", "k8s-probes", "k8s-gpu-pods-tolerate-taint"}.isdisjoint(_policies(DEPLOYMENT_PATCH))
    assert _violations(DEPLOYMENT_PATCH, props) == {}


RAY_PATCH = "kubernetes:ray.io/v1:RayClusterPatch"


def test_custom_resource_patch_is_judged_on_what_it_sets() -> None:
    replicas_only: Props = {
        "metadata": {"name": "ray"},
        "spec": {"workerGroupSpecs": [{"groupName": "gpu", "replicas": 4.0}]},
    }
    assert _violations(RAY_PATCH, replicas_only) == {}
    privileged = copy.deepcopy(replicas_only)
    privileged["spec"]["workerGroupSpecs"][0]["template"] = {
        "spec": {"containers": [{"name": "ray-worker", "securityContext": {"privileged": True}}]}
    }
    assert _violations(RAY_PATCH, privileged) == {
        "k8s-no-privilege-escalation": [
            "spec.workerGroupSpecs.0.template.spec.containers[0] (ray-worker): securityContext.privileged is true: "
            "never run privileged containers"
        ]
    }


TRAIN_JOB = "kubernetes:trainer.kubeflow.org/v1alpha1:TrainJob"


def test_train_job_overrides_are_judged_on_what_they_set() -> None:
    override: Props = {
        "targetJobs": [{"name": "node"}],
        "spec": {"serviceAccountName": "trainer", "nodeSelector": {"a": "b"}},
    }
    props: Props = {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": "fine-tune", "namespace": "ml"},
        "spec": {"runtimeRef": {"name": "torch-distributed"}, "podTemplateOverrides": [override]},
    }
    assert [p for p, _ in pod_specs(TRAIN_JOB, props)] == ["spec.podTemplateOverrides.0.spec"]
    assert _violations(TRAIN_JOB, props) == {}
    override["spec"]["volumes"] = [{"name": "host", "hostPath": {"path": "/var/lib"}}]
    assert list(_violations(TRAIN_JOB, props)) == ["k8s-no-host-path-volumes"]
    # Trainer v2.0 put the pod fields straight on each override
    legacy: Props = {
        "spec": {"podSpecOverrides": [{"targetJobs": [{"name": "node"}], "serviceAccountName": "default"}]}
    }
    assert list(_violations(TRAIN_JOB, legacy)) == ["k8s-own-service-account"]
