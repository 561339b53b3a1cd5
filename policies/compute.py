"""Compute: EKS/GKE control planes and node pools, GPU pools tainted and (in dev) on spot capacity."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import Policy, ResourceValidationArgs

from ._base import ADVISORY, as_list, get, is_true, iter_dicts, profile_of, resource_policy

Report = Callable[[str], None]

EKS_CLUSTER = "aws:eks/cluster:Cluster"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
GKE_NODE_POOL = "gcp:container/nodePool:NodePool"
KARPENTER_NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
GPU_POOL_TYPES = (EKS_NODE_GROUP, GKE_NODE_POOL, KARPENTER_NODE_POOL)

RESOURCE_TYPES: tuple[str, ...] = (EKS_CLUSTER, EKS_NODE_GROUP, GKE_CLUSTER, GKE_NODE_POOL, KARPENTER_NODE_POOL)
"""Every resource type a policy of this module checks."""

POLICIES: list[Policy] = []

GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_POOL_LABEL = "pulumi-mlops.io/gpu-pool"
_AWS_GPU_FAMILIES = frozenset({"p2", "p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en", "g3", "g4dn", "g5", "g6", "g6e"})
_GCP_GPU_FAMILIES = frozenset({"g2", "a2", "a3", "a4"})
REQUIRED_EKS_LOGS = ("api", "audit", "authenticator")


def _gpus_by_type(cloud: str) -> dict[str, int]:
    from pulumi_mlops.spec.accelerators import ACCELERATORS

    table: dict[str, int] = {}
    for acc in ACCELERATORS[cloud].values():
        table.update(acc.gpus_by_type)
    return table


def _labels(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def gpu_pool_info(resource_type: str, props: Mapping[str, Any]) -> tuple[bool, int | None, int | None]:
    """``(is_gpu_pool, gpus_per_node, max_nodes)`` of an EKS node group or GKE node pool.

    ``gpus_per_node`` is ``None`` when the instance type is unknown to the accelerator table;
    ``max_nodes`` counts every zone of a regional GKE pool.
    """
    if resource_type == EKS_NODE_GROUP:
        types = [str(t) for t in as_list(get(props, "instanceTypes"))]
        families = {t.split(".")[0] for t in types}
        ami = str(get(props, "amiType", ""))
        is_gpu = (
            bool(families & _AWS_GPU_FAMILIES)
            or "NVIDIA" in ami
            or "GPU" in ami
            or GPU_POOL_LABEL in _labels(get(props, "labels"))
        )
        table = _gpus_by_type("aws")
        counts = [table[t] for t in types if t in table]
        gpus = max(counts) if counts else None
        max_size = get(props, "scalingConfig.maxSize")
        return is_gpu, gpus, int(max_size) if max_size is not None else None
    if resource_type == GKE_NODE_POOL:
        machine = str(get(props, "nodeConfig.machineType", ""))
        accelerators = list(iter_dicts(get(props, "nodeConfig.guestAccelerators")))
        is_gpu = (
            bool(accelerators)
            or machine.split("-")[0] in _GCP_GPU_FAMILIES
            or GPU_POOL_LABEL in _labels(get(props, "nodeConfig.labels"))
        )
        per_node = sum(int(get(a, "count", 1)) for a in accelerators) if accelerators else None
        if per_node is None:
            per_node = _gpus_by_type("gcp").get(machine)
        return is_gpu, per_node, _gke_max_nodes(props)
    if resource_type == KARPENTER_NODE_POOL:
        requirements = {
            str(get(r, "key")): [str(v) for v in as_list(get(r, "values"))] for r in _karpenter_requirements(props)
        }
        types = requirements.get("node.kubernetes.io/instance-type", [])
        is_gpu = (
            "karpenter.k8s.aws/instance-gpu-manufacturer" in requirements
            or "karpenter.k8s.aws/instance-gpu-count" in requirements
            or bool({t.split(".")[0] for t in types} & _AWS_GPU_FAMILIES)
            or GPU_POOL_LABEL in _labels(get(props, "spec.template.metadata.labels"))
            or GPU_TAINT_KEY in _labels(get(props, "spec.limits"))
        )
        return is_gpu, None, None
    return False, None, None


def _karpenter_requirements(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(iter_dicts(get(props, "spec.template.spec.requirements")))


def pool_max_gpus(resource_type: str, props: Mapping[str, Any]) -> tuple[int | None, str]:
    """``(most GPUs the pool can reach, how that was computed)``; ``None`` with the reason when unbounded."""
    if resource_type == KARPENTER_NODE_POOL:
        limit = _labels(get(props, "spec.limits")).get(GPU_TAINT_KEY)
        if limit is None:
            return None, f"NodePool without spec.limits['{GPU_TAINT_KEY}']: cap the GPUs Karpenter may launch"
        return int(float(limit)), f"spec.limits['{GPU_TAINT_KEY}']"
    _, gpus, max_nodes = gpu_pool_info(resource_type, props)
    if max_nodes is None:
        return None, "GPU pool without a maximum node count: bound its autoscaling"
    if gpus is None:
        return None, "GPUs per node unknown for this instance/machine type: add guestAccelerators or a known type"
    return max_nodes * gpus, f"max {max_nodes} nodes x {gpus} GPUs"


def _gke_max_nodes(props: Mapping[str, Any]) -> int | None:
    total = get(props, "autoscaling.totalMaxNodeCount")
    if total is not None:
        return int(total)
    per_zone = get(props, "autoscaling.maxNodeCount")
    if per_zone is None:
        per_zone = get(props, "nodeCount", get(props, "initialNodeCount"))
    if per_zone is None:
        return None
    zones = len(as_list(get(props, "nodeLocations")))
    if not zones:
        location = str(get(props, "location", ""))
        zones = 1 if re.search(r"-[a-z]$", location) else 3  # a regional pool spans the region's 3 zones
    return int(per_zone) * zones


# --- control planes ---------------------------------------------------------------------------


@resource_policy(
    "eks-secrets-encryption",
    "EKS clusters envelope-encrypt Kubernetes secrets with a KMS key.",
    [EKS_CLUSTER],
    registry=POLICIES,
)
def _eks_secrets(args: ResourceValidationArgs, report: Report) -> None:
    resources = [str(r) for r in as_list(get(args.props, "encryptionConfig.resources"))]
    if "secrets" not in resources or not get(args.props, "encryptionConfig.provider.keyArn"):
        report("encryptionConfig does not encrypt 'secrets' with a provider.keyArn: add the KMS key")


@resource_policy(
    "eks-control-plane-logging",
    "EKS clusters send api, audit and authenticator control-plane logs to CloudWatch.",
    [EKS_CLUSTER],
    registry=POLICIES,
)
def _eks_logging(args: ResourceValidationArgs, report: Report) -> None:
    enabled = {str(t) for t in as_list(get(args.props, "enabledClusterLogTypes"))}
    missing = [t for t in REQUIRED_EKS_LOGS if t not in enabled]
    if missing:
        report(f"enabledClusterLogTypes lacks {', '.join(missing)}: enable {', '.join(REQUIRED_EKS_LOGS)}")


@resource_policy(
    "gke-workload-identity",
    "GKE clusters enable Workload Identity and node pools use the GKE metadata server.",
    [GKE_CLUSTER, GKE_NODE_POOL],
    registry=POLICIES,
)
def _gke_wi(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == GKE_CLUSTER:
        if not get(args.props, "workloadIdentityConfig.workloadPool"):
            report("workloadIdentityConfig.workloadPool is not set: use '<project>.svc.id.goog'")
        return
    mode = get(args.props, "nodeConfig.workloadMetadataConfig.mode")
    if mode is not None and mode != "GKE_METADATA":
        report(f"nodeConfig.workloadMetadataConfig.mode is {mode!r}: use 'GKE_METADATA'")


@resource_policy(
    "gke-shielded-nodes",
    "GKE clusters use Shielded GKE nodes with integrity monitoring.",
    [GKE_CLUSTER, GKE_NODE_POOL],
    registry=POLICIES,
)
def _gke_shielded(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == GKE_CLUSTER:
        if get(args.props, "enableShieldedNodes") is False:
            report("enableShieldedNodes is false: leave Shielded GKE nodes on")
        return
    if get(args.props, "nodeConfig.shieldedInstanceConfig.enableIntegrityMonitoring") is False:
        report("nodeConfig.shieldedInstanceConfig.enableIntegrityMonitoring is false: leave it on")


@resource_policy(
    "gke-node-secure-boot",
    "GKE node pools boot with Secure Boot.",
    [GKE_NODE_POOL],
    level=ADVISORY,
    registry=POLICIES,
)
def _gke_secure_boot(args: ResourceValidationArgs, report: Report) -> None:
    if not is_true(get(args.props, "nodeConfig.shieldedInstanceConfig.enableSecureBoot")):
        report("nodeConfig.shieldedInstanceConfig.enableSecureBoot is not true: turn on Secure Boot")


@resource_policy(
    "gke-secrets-encryption",
    "GKE clusters encrypt Kubernetes secrets with a Cloud KMS key (application-layer encryption).",
    [GKE_CLUSTER],
    level=ADVISORY,
    registry=POLICIES,
)
def _gke_secrets(args: ResourceValidationArgs, report: Report) -> None:
    if get(args.props, "databaseEncryption.state") != "ENCRYPTED" or not get(args.props, "databaseEncryption.keyName"):
        report("databaseEncryption is not ENCRYPTED with a keyName: encrypt secrets with the platform key")


# --- GPU pools --------------------------------------------------------------------------------


_TAINT_PATHS = {
    EKS_NODE_GROUP: "taints",
    GKE_NODE_POOL: "nodeConfig.taints",
    KARPENTER_NODE_POOL: "spec.template.spec.taints",
}
_NO_SCHEDULE = ("NO_SCHEDULE", "NO_EXECUTE", "NoSchedule", "NoExecute")


def _taints(resource_type: str, props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(iter_dicts(get(props, _TAINT_PATHS[resource_type])))


@resource_policy(
    "gpu-pool-tainted",
    "GPU node pools carry the nvidia.com/gpu NoSchedule taint so only GPU workloads land there.",
    GPU_POOL_TYPES,
    registry=POLICIES,
)
def _gpu_tainted(args: ResourceValidationArgs, report: Report) -> None:
    is_gpu, _, _ = gpu_pool_info(args.resource_type, args.props)
    if not is_gpu:
        return
    ok = any(
        get(t, "key") == GPU_TAINT_KEY and get(t, "effect") in _NO_SCHEDULE
        for t in _taints(args.resource_type, args.props)
    )
    if not ok:
        report(f"GPU pool without a '{GPU_TAINT_KEY}' NO_SCHEDULE taint: add it so CPU pods stay off GPU nodes")


@resource_policy(
    "gpu-pool-spot-in-dev",
    "GPU node pools of dev environments run on spot/preemptible capacity.",
    GPU_POOL_TYPES,
    config=("profile",),
    registry=POLICIES,
)
def _gpu_spot(args: ResourceValidationArgs, report: Report) -> None:
    if profile_of(args) != "dev":
        return
    is_gpu, _, _ = gpu_pool_info(args.resource_type, args.props)
    if not is_gpu:
        return
    if args.resource_type == EKS_NODE_GROUP:
        capacity = get(args.props, "capacityType", "ON_DEMAND")
        if capacity != "SPOT":
            report(f"capacityType is {capacity!r} in dev: use 'SPOT' for GPU pools")
    elif args.resource_type == KARPENTER_NODE_POOL:
        capacity = [
            [str(v) for v in as_list(get(r, "values"))]
            for r in _karpenter_requirements(args.props)
            if get(r, "key") == "karpenter.sh/capacity-type"
        ]
        if not capacity or capacity[0] != ["spot"]:
            report(f"karpenter.sh/capacity-type is {capacity[0] if capacity else 'unset'} in dev: require ['spot']")
    elif not (is_true(get(args.props, "nodeConfig.spot")) or is_true(get(args.props, "nodeConfig.preemptible"))):
        report("nodeConfig.spot is not true in dev: use spot VMs for GPU pools")
