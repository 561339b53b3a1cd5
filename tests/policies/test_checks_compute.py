"""How GPU pools are recognised and sized, and the exact messages of the control plane and GPU pool checks (see
``exact.py``)."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_mlops.policies.compute import gpu_pool_info, pool_max_gpus

from .exact import DELETE, Exact, changed, reported

EKS = "aws:eks/cluster:Cluster"
NG = "aws:eks/nodeGroup:NodeGroup"
GKE = "gcp:container/cluster:Cluster"
NP = "gcp:container/nodePool:NodePool"
KP = "kubernetes:karpenter.sh/v1:NodePool"
LABEL = "pulumi-mlops.io/gpu-pool"
DEV = {"profile": "dev"}


def _karpenter(*requirements: tuple[str, list[str]], **spec: Any) -> dict[str, Any]:
    rules = [{"key": k, "operator": "In", "values": v} for k, v in requirements]
    return {"spec": {"template": {"spec": {"requirements": rules}}, **spec}}


@pytest.mark.parametrize(
    ("resource_type", "props", "info"),
    [
        (NG, {"instanceTypes": ["g6.xlarge"], "scalingConfig": {"maxSize": 2.0}}, (True, 1, 2)),
        (NG, {"instanceTypes": ["g5.xlarge", "g5.12xlarge", "x9.huge"]}, (True, 4, None)),
        (NG, {"instanceTypes": ["m5.large"], "amiType": "AL2023_x86_64_NVIDIA"}, (True, None, None)),
        (NG, {"instanceTypes": ["m5.large"], "amiType": "AL2_x86_64_GPU"}, (True, None, None)),
        (NG, {"instanceTypes": ["m5.large"], "labels": {LABEL: "l4"}}, (True, None, None)),
        (
            NG,
            {"instanceTypes": ["m5.large"], "amiType": "AL2023_x86_64_STANDARD", "scalingConfig": {"maxSize": 3.0}},
            (False, None, 3),
        ),
        (
            NP,
            {
                "nodeConfig": {"machineType": "g2-standard-8", "guestAccelerators": [{"count": 2.0}]},
                "autoscaling": {"totalMaxNodeCount": 4.0},
            },
            (True, 2, 4),
        ),
        (
            NP,
            {"nodeConfig": {"machineType": "n2-standard-8", "guestAccelerators": [{"type": "nvidia-l4"}]}},
            (True, 1, None),
        ),
        (
            NP,
            {
                "nodeConfig": {"machineType": "a2-highgpu-1g"},
                "location": "us-central1-a",
                "autoscaling": {"maxNodeCount": 2.0},
            },
            (True, 1, 2),
        ),
        (NP, {"nodeConfig": {"machineType": "n2-standard-8", "labels": {LABEL: "l4"}}}, (True, None, None)),
        (
            NP,
            {"nodeConfig": {"machineType": "n2-standard-8"}, "nodeCount": 2.0, "location": "europe-west4"},
            (False, None, 6),
        ),
        (NP, {"initialNodeCount": 1.0, "nodeLocations": ["europe-west4-a", "europe-west4-b"]}, (False, None, 2)),
        (NP, {"autoscaling": {"maxNodeCount": 2.0}, "nodeCount": 5.0}, (False, None, 6)),
        (KP, _karpenter(("karpenter.k8s.aws/instance-gpu-manufacturer", ["nvidia"])), (True, None, None)),
        (KP, _karpenter(("karpenter.k8s.aws/instance-gpu-count", ["1"])), (True, None, None)),
        (KP, _karpenter(("node.kubernetes.io/instance-type", ["g5.2xlarge"])), (True, None, None)),
        (KP, {"spec": {"template": {"metadata": {"labels": {LABEL: "l4"}}}}}, (True, None, None)),
        (KP, {"spec": {"limits": {"nvidia.com/gpu": "2"}}}, (True, None, None)),
        (KP, _karpenter(("node.kubernetes.io/instance-type", ["m5.large"]), limits={"cpu": "64"}), (False, None, None)),
        ("aws:ec2/instance:Instance", {"instanceType": "g5.xlarge"}, (False, None, None)),
    ],
)
def test_gpu_pools_are_recognised_by_type_ami_accelerators_labels_or_limits(
    resource_type: str, props: dict[str, Any], info: tuple[bool, int | None, int | None]
) -> None:
    assert gpu_pool_info(resource_type, props) == info


@pytest.mark.parametrize(
    ("resource_type", "props", "result"),
    [
        (NG, {"instanceTypes": ["g5.12xlarge"], "scalingConfig": {"maxSize": 2.0}}, (8, "max 2 nodes x 4 GPUs")),
        (
            NG,
            {"instanceTypes": ["g5.12xlarge"]},
            (None, "GPU pool without a maximum node count: bound its autoscaling"),
        ),
        (
            NG,
            {"instanceTypes": ["x9.huge"], "amiType": "AL2023_x86_64_NVIDIA", "scalingConfig": {"maxSize": 2.0}},
            (None, "GPUs per node unknown for this instance/machine type: add guestAccelerators or a known type"),
        ),
        (KP, {"spec": {"limits": {"nvidia.com/gpu": "4"}}}, (4, "spec.limits['nvidia.com/gpu']")),
        (KP, {"spec": {}}, (None, "NodePool without spec.limits['nvidia.com/gpu']: cap the GPUs Karpenter may launch")),
    ],
)
def test_the_gpu_cap_of_a_pool_says_how_it_was_found(
    resource_type: str, props: dict[str, Any], result: tuple[int | None, str]
) -> None:
    assert pool_max_gpus(resource_type, props) == result


CASES = [
    Exact(
        "eks-secrets-without-key",
        "eks-secrets-encryption",
        EKS,
        changed(EKS, encryptionConfig__provider=DELETE),
        ["encryptionConfig does not encrypt 'secrets' with a provider.keyArn: add the KMS key"],
    ),
    Exact(
        "eks-logs",
        "eks-control-plane-logging",
        EKS,
        changed(EKS, enabledClusterLogTypes=["audit"]),
        ["enabledClusterLogTypes lacks api, authenticator: enable api, audit, authenticator"],
    ),
    Exact(
        "gke-workload-identity",
        "gke-workload-identity",
        GKE,
        changed(GKE, workloadIdentityConfig=DELETE),
        ["workloadIdentityConfig.workloadPool is not set: use '<project>.svc.id.goog'"],
    ),
    Exact(
        "gke-shielded-off",
        "gke-shielded-nodes",
        GKE,
        changed(GKE, enableShieldedNodes=False),
        ["enableShieldedNodes is false: leave Shielded GKE nodes on"],
    ),
    Exact(
        "gke-pool-integrity-monitoring-off",
        "gke-shielded-nodes",
        NP,
        changed(NP, nodeConfig__shieldedInstanceConfig__enableIntegrityMonitoring=False),
        ["nodeConfig.shieldedInstanceConfig.enableIntegrityMonitoring is false: leave it on"],
    ),
    Exact(
        "gke-pool-secure-boot",
        "gke-node-secure-boot",
        NP,
        changed(NP, nodeConfig__shieldedInstanceConfig__enableSecureBoot=DELETE),
        ["nodeConfig.shieldedInstanceConfig.enableSecureBoot is not true: turn on Secure Boot"],
    ),
    Exact(
        "gke-secrets",
        "gke-secrets-encryption",
        GKE,
        changed(GKE, databaseEncryption__state="DECRYPTED"),
        ["databaseEncryption is not ENCRYPTED with a keyName: encrypt secrets with the platform key"],
    ),
    Exact(
        "node-group-capacity-defaults-to-on-demand",
        "gpu-pool-spot-in-dev",
        NG,
        changed(NG, capacityType=DELETE),
        ["capacityType is 'ON_DEMAND' in dev: use 'SPOT' for GPU pools"],
        DEV,
    ),
    Exact(
        "karpenter-capacity-unset",
        "gpu-pool-spot-in-dev",
        KP,
        _karpenter(("karpenter.k8s.aws/instance-gpu-manufacturer", ["nvidia"])),
        ["karpenter.sh/capacity-type is unset in dev: require ['spot']"],
        DEV,
    ),
    Exact(
        "karpenter-capacity-on-demand",
        "gpu-pool-spot-in-dev",
        KP,
        _karpenter(
            ("karpenter.k8s.aws/instance-gpu-manufacturer", ["nvidia"]),
            ("karpenter.sh/capacity-type", ["spot", "on-demand"]),
        ),
        ["karpenter.sh/capacity-type is ['spot', 'on-demand'] in dev: require ['spot']"],
        DEV,
    ),
    Exact(
        "gke-pool-preemptible",
        "gpu-pool-spot-in-dev",
        NP,
        changed(NP, nodeConfig__spot=DELETE, nodeConfig__preemptible=True),
        [],
        DEV,
    ),
    Exact(
        "gke-pool-on-demand",
        "gpu-pool-spot-in-dev",
        NP,
        changed(NP, nodeConfig__spot=False),
        ["nodeConfig.spot is not true in dev: use spot VMs for GPU pools"],
        DEV,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_check_reports_exactly(case: Exact) -> None:
    assert reported(case) == case.messages
