"""Where pod specs sit in every Kubernetes kind the policies check: workloads, their Patch types, ML custom resources.

``pod_specs(resource_type, props)`` lists ``(path, spec)`` for each pod spec of a resource, ``path`` being the dotted
path of the spec in the props (``spec.workerGroupSpecs.0.template.spec``). Custom resources are found by their
typed token (``kubernetes:ray.io/v1:RayCluster``, what ``apiextensions.CustomResource`` registers) or by ``apiVersion``
and ``kind`` under the generic ``kubernetes:apiextensions.k8s.io/v1:CustomResource`` token.

A Patch resource (server-side apply) and a Kubeflow TrainJob's pod overrides set only some fields of a pod that is
defined elsewhere: for them ``is_partial`` is true, and a policy judges only the fields they set, never the fields
they leave out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from ._base import as_list, get, iter_dicts

__all__ = [
    "BUILTIN",
    "BUILTIN_TYPES",
    "CRON_JOB",
    "CUSTOM",
    "CUSTOM_RESOURCE",
    "CUSTOM_TYPES",
    "DAEMON_SET",
    "DEPLOYMENT",
    "FULL_TYPES",
    "JOB",
    "LONG_RUNNING",
    "PATCH_TYPES",
    "POD",
    "POD_SPEC_TYPES",
    "POD_TEMPLATE",
    "REPLICATION_CONTROLLER",
    "REPLICA_SET",
    "RUNTIME_CONTAINER_FIELDS",
    "STATEFUL_SET",
    "Container",
    "PodKind",
    "containers",
    "is_partial",
    "pod_kind",
    "pod_specs",
]

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
REPLICA_SET = "kubernetes:apps/v1:ReplicaSet"
JOB = "kubernetes:batch/v1:Job"
CRON_JOB = "kubernetes:batch/v1:CronJob"
POD = "kubernetes:core/v1:Pod"
POD_TEMPLATE = "kubernetes:core/v1:PodTemplate"
REPLICATION_CONTROLLER = "kubernetes:core/v1:ReplicationController"
CUSTOM_RESOURCE = "kubernetes:apiextensions.k8s.io/v1:CustomResource"


@dataclass(frozen=True)
class PodKind:
    """A kind that holds pod specs, and where."""

    kind: str
    paths: tuple[str, ...]
    """Patterns of the pod specs: ``name[]`` walks every item of a list, ``name{}`` every value of a map."""
    group: str = ""
    versions: tuple[str, ...] = ("v1",)
    partial: bool = False
    """The specs set only some fields of a pod defined elsewhere (judge what is set, not what is absent)."""
    identity: bool = True
    """The specs carry the pod's ``serviceAccountName`` and ``automountServiceAccountToken``."""

    def tokens(self) -> list[str]:
        """The Pulumi type tokens of a custom kind (``CustomResourcePatch`` registers ``<Kind>Patch``)."""
        return [f"kubernetes:{self.group}/{v}:{k}" for v in self.versions for k in (self.kind, f"{self.kind}Patch")]


_TEMPLATE = ("spec.template.spec",)
BUILTIN: dict[str, PodKind] = {
    DEPLOYMENT: PodKind("Deployment", _TEMPLATE),
    STATEFUL_SET: PodKind("StatefulSet", _TEMPLATE),
    DAEMON_SET: PodKind("DaemonSet", _TEMPLATE),
    REPLICA_SET: PodKind("ReplicaSet", _TEMPLATE),
    REPLICATION_CONTROLLER: PodKind("ReplicationController", _TEMPLATE),
    JOB: PodKind("Job", _TEMPLATE),
    CRON_JOB: PodKind("CronJob", ("spec.jobTemplate.spec.template.spec",)),
    POD: PodKind("Pod", ("spec",)),
    POD_TEMPLATE: PodKind("PodTemplate", ("template.spec",)),
}
"""Built-in kinds by type token; each also has a ``<token>Patch`` type (server-side apply of some fields)."""

_RAY = ("headGroupSpec.template.spec", "workerGroupSpecs[].template.spec")
_JOBSET = "replicatedJobs[].template.spec.template.spec"


def _kubeflow(kind: str, field: str, versions: tuple[str, ...] = ("v1",)) -> PodKind:
    return PodKind(kind, (f"spec.{field}{{}}.template.spec",), "kubeflow.org", versions)


CUSTOM: tuple[PodKind, ...] = (
    PodKind(
        "InferenceService",
        ("spec.predictor", "spec.predictor.workerSpec", "spec.transformer", "spec.explainer"),
        "serving.kserve.io",
        ("v1beta1",),
    ),
    PodKind("ServingRuntime", ("spec", "spec.workerSpec"), "serving.kserve.io", ("v1alpha1",), identity=False),
    PodKind("ClusterServingRuntime", ("spec", "spec.workerSpec"), "serving.kserve.io", ("v1alpha1",), identity=False),
    PodKind("RayCluster", tuple(f"spec.{p}" for p in _RAY), "ray.io", ("v1", "v1alpha1")),
    PodKind(
        "RayJob",
        (*(f"spec.rayClusterSpec.{p}" for p in _RAY), "spec.submitterPodTemplate.spec"),
        "ray.io",
        ("v1", "v1alpha1"),
    ),
    PodKind("RayService", tuple(f"spec.rayClusterConfig.{p}" for p in _RAY), "ray.io", ("v1", "v1alpha1")),
    _kubeflow("PyTorchJob", "pytorchReplicaSpecs"),
    _kubeflow("TFJob", "tfReplicaSpecs"),
    _kubeflow("XGBoostJob", "xgbReplicaSpecs"),
    _kubeflow("PaddleJob", "paddleReplicaSpecs"),
    _kubeflow("JAXJob", "jaxReplicaSpecs"),
    _kubeflow("MPIJob", "mpiReplicaSpecs", ("v1", "v2beta1")),
    PodKind("JobSet", (f"spec.{_JOBSET}",), "jobset.x-k8s.io", ("v1alpha2",)),
    PodKind("TrainingRuntime", (f"spec.template.spec.{_JOBSET}",), "trainer.kubeflow.org", ("v1alpha1",)),
    PodKind("ClusterTrainingRuntime", (f"spec.template.spec.{_JOBSET}",), "trainer.kubeflow.org", ("v1alpha1",)),
    PodKind(
        "TrainJob",
        ("spec.podTemplateOverrides[].spec", "spec.podSpecOverrides[]"),
        "trainer.kubeflow.org",
        ("v1alpha1",),
        partial=True,
    ),
)
"""ML custom resources users bring: KServe, KubeRay, Kubeflow training operator v1 and Trainer v2, JobSet."""

_CUSTOM_BY_NAME = {(k.group, k.kind): k for k in CUSTOM}

BUILTIN_TYPES: tuple[str, ...] = tuple(BUILTIN)
PATCH_TYPES: tuple[str, ...] = tuple(f"{t}Patch" for t in BUILTIN)
CUSTOM_TYPES: tuple[str, ...] = (*(t for k in CUSTOM for t in k.tokens()), CUSTOM_RESOURCE)
POD_SPEC_TYPES: tuple[str, ...] = (*BUILTIN_TYPES, *PATCH_TYPES, *CUSTOM_TYPES)
"""Every type token whose resources hold a pod spec."""
FULL_TYPES: tuple[str, ...] = (
    *BUILTIN_TYPES,
    *(t for k in CUSTOM if not k.partial for t in k.tokens() if not t.endswith("Patch")),
    CUSTOM_RESOURCE,
)
"""Types whose pod specs are whole pods (no Patch, no overrides), where a missing field is a finding."""
LONG_RUNNING: tuple[str, ...] = (DEPLOYMENT, STATEFUL_SET, DAEMON_SET, REPLICA_SET, REPLICATION_CONTROLLER)

RUNTIME_CONTAINER_FIELDS = (
    "model",
    "sklearn",
    "xgboost",
    "lightgbm",
    "tensorflow",
    "pytorch",
    "triton",
    "onnx",
    "huggingface",
    "pmml",
    "paddle",
    "art",
)
"""KServe component fields that hold one container whose image the serving runtime supplies (no PodSpec field
has these names, so they are read in every pod spec)."""


class Container(NamedTuple):
    """One container of a pod spec."""

    label: str
    """``containers[0] (server)``, ``initContainers[1] (fetch)`` or a KServe field name (``model``)."""
    spec: Mapping[str, Any]
    runtime_image: bool
    """The serving runtime supplies the image (a KServe ``model`` container), so an absent image is no fault."""


def containers(spec: Mapping[str, Any], init: bool = True) -> Iterator[Container]:
    """Every container (and init container) of a pod spec, and the KServe runtime containers of a component."""
    for key in ("initContainers", "containers") if init else ("containers",):
        for i, c in enumerate(iter_dicts(get(spec, key))):
            yield Container(f"{key}[{i}] ({get(c, 'name', '?')})", c, False)
    for key in RUNTIME_CONTAINER_FIELDS:
        c = get(spec, key)
        if isinstance(c, Mapping):
            yield Container(key, c, True)


def _custom(group: str, kind: str) -> tuple[PodKind, bool] | None:
    found = _CUSTOM_BY_NAME.get((group, kind))
    if found is not None:
        return found, False
    base = _CUSTOM_BY_NAME.get((group, kind.removesuffix("Patch"))) if kind.endswith("Patch") else None
    return (base, True) if base is not None else None


def pod_kind(resource_type: str, props: Mapping[str, Any]) -> tuple[PodKind, bool] | None:
    """The kind a resource is and whether it is a Patch of it, or ``None`` if it holds no pod spec."""
    if resource_type in BUILTIN:
        return BUILTIN[resource_type], False
    if resource_type.removesuffix("Patch") in BUILTIN:
        return BUILTIN[resource_type.removesuffix("Patch")], True
    if resource_type == CUSTOM_RESOURCE:
        return _custom(str(get(props, "apiVersion", "")).rpartition("/")[0], str(get(props, "kind", "")))
    parts = resource_type.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes" or "/" not in parts[1]:
        return None
    return _custom(parts[1].rpartition("/")[0], parts[2])


def is_partial(resource_type: str, props: Mapping[str, Any]) -> bool:
    """The resource sets only some fields of its pods: a Patch type, or a kind of overrides (TrainJob)."""
    found = pod_kind(resource_type, props)
    return found is not None and (found[1] or found[0].partial)


def _expand(props: Mapping[str, Any], pattern: str) -> list[tuple[str, Mapping[str, Any]]]:
    found: list[tuple[str, Mapping[str, Any]]] = [("", props)]
    for segment in pattern.split("."):
        key = segment.removesuffix("[]").removesuffix("{}")
        following: list[tuple[str, Mapping[str, Any]]] = []
        for path, node in found:
            value = get(node, key)
            here = f"{path}.{key}" if path else key
            if segment.endswith("[]"):
                items = [(f"{here}.{i}", item) for i, item in enumerate(as_list(value))]
            elif segment.endswith("{}"):
                items = [(f"{here}.{k}", value[k]) for k in value] if isinstance(value, Mapping) else []
            else:
                items = [(here, value)]
            following.extend((p, v) for p, v in items if isinstance(v, Mapping))
        found = following
    return found


def pod_specs(resource_type: str, props: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """``(path, spec)`` of every pod spec a resource holds, in the order of its kind's paths; empty if none."""
    found = pod_kind(resource_type, props)
    if found is None:
        return []
    return [spec for pattern in found[0].paths for spec in _expand(props, pattern)]
