"""Karpenter variant (``autoscaler: karpenter``): controller IAM, interruption queue, NodePool and EC2NodeClass."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_support import props, run_platform, stack_raw, statements, untagged
from pulumi_mlops.components.aws.karpenter import CONSOLIDATE_AFTER, INTERRUPTION_EVENTS, KARPENTER_CHART

from pulumi_mlops.preview import ResourceGraph
from pulumi_mlops.spec import PlatformSpec

NODE_ROLE = "arn:aws:iam::123456789012:role/mlops-karpenter-node-role"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:mlops-dev-eks-karpenter"


@pytest.fixture(scope="module")
def karpenter() -> tuple[PlatformSpec, ResourceGraph]:
    raw: dict[str, Any] = stack_raw("dev")
    raw["autoscaler"] = "karpenter"
    raw["gpu_pools"].append(
        {
            "name": "a10g",
            "accelerator": "nvidia-a10g",
            "instance_type": "g5.12xlarge",
            "gpus_per_node": 4,
            "max_nodes": 2,
            "spot": False,
            "ami_type": "BOTTLEROCKET_x86_64_NVIDIA",
            "disk_gb": 300,
        }
    )
    raw["cost"] = {"max_gpus_per_stack": 11}
    spec, graph, _ = run_platform(raw)
    return spec, graph


def custom(graph: ResourceGraph, kind: str) -> dict[str, dict[str, Any]]:
    found = [
        props(r) for r in graph.resources.values() if r.type.startswith("kubernetes:") and props(r).get("kind") == kind
    ]
    return {r["metadata"]["name"]: r for r in found}


def test_no_gpu_node_groups_only_the_system_pool(karpenter: tuple[PlatformSpec, ResourceGraph]) -> None:
    _, graph = karpenter
    groups = graph.of_type("aws:eks/nodeGroup:NodeGroup")
    assert [g.name for g in groups] == ["mlops-cluster-system"]


def test_controller_release_is_pinned_and_bound_by_pod_identity(karpenter: tuple[PlatformSpec, ResourceGraph]) -> None:
    _, graph = karpenter
    release = props(graph.named("mlops-karpenter-release"))
    assert release["chart"] == "oci://public.ecr.aws/karpenter/karpenter"
    assert release["version"] == KARPENTER_CHART.version and release["version"][0].isdigit()
    assert release["namespace"] == "kube-system"
    assert release["values"]["replicas"] == 1.0, "dev has one system node"
    assert release["values"]["settings"] == {
        "clusterName": "mlops-dev-eks",
        "interruptionQueue": "mlops-dev-eks-karpenter",
    }
    assoc = props(graph.named("mlops-karpenter-controller-association"))
    assert (assoc["namespace"], assoc["serviceAccount"]) == ("kube-system", "karpenter")
    assert assoc["roleArn"] == "arn:aws:iam::123456789012:role/mlops-karpenter-controller"
    access = props(graph.named("mlops-karpenter-node-access"))
    assert (access["type"], access["principalArn"]) == ("EC2_LINUX", NODE_ROLE)


def test_interruption_queue_and_event_rules(karpenter: tuple[PlatformSpec, ResourceGraph]) -> None:
    _, graph = karpenter
    queue = props(graph.named("mlops-karpenter-interruptions"))
    assert queue["sqsManagedSseEnabled"] is True and queue["messageRetentionSeconds"] == 300.0
    rules = graph.of_type("aws:cloudwatch/eventRule:EventRule")
    patterns = sorted(json.loads(props(r)["eventPattern"])["detail-type"][0] for r in rules)
    assert patterns == sorted(p["detail-type"][0] for p in INTERRUPTION_EVENTS.values())
    targets = graph.of_type("aws:cloudwatch/eventTarget:EventTarget")
    assert len(targets) == len(INTERRUPTION_EVENTS) and {props(t)["arn"] for t in targets} == {QUEUE}
    policy = statements(props(graph.named("mlops-karpenter-interruptions-policy"))["policy"])
    allow = [s for s in policy if s["Effect"] == "Allow"]
    assert allow[0]["Action"] == ["sqs:SendMessage"] and allow[0]["Resource"] == [QUEUE]
    assert sorted(allow[0]["Principal"]["Service"]) == ["events.amazonaws.com", "sqs.amazonaws.com"]


def test_controller_policy_is_scoped(karpenter: tuple[PlatformSpec, ResourceGraph]) -> None:
    _, graph = karpenter
    policy = statements(props(graph.named("mlops-karpenter-controller-policy"))["policy"])
    by_sid = {s["Sid"]: s for s in policy}
    for st in policy:
        assert st["Effect"] == "Allow"
        for action in st["Action"]:
            assert "*" not in action, action
    unscoped = {s["Sid"] for s in policy if "*" in s["Resource"]}
    assert unscoped == {"RegionalReadActions", "PricingReadActions"}, "only APIs without resource-level permissions"
    assert all(a.startswith("ec2:Describe") for a in by_sid["RegionalReadActions"]["Action"])
    assert by_sid["RegionalReadActions"]["Condition"] == {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}
    assert by_sid["PassNodeIAMRole"]["Resource"] == [NODE_ROLE]
    assert by_sid["InterruptionQueueActions"]["Resource"] == [QUEUE]
    assert by_sid["EKSClusterEndpointLookup"]["Resource"] == [
        "arn:aws:eks:us-east-1:123456789012:cluster/mlops-dev-eks"
    ]
    for sid in ("ScopedEC2InstanceActionsWithTags", "ScopedResourceCreationTagging"):
        cond = by_sid[sid]["Condition"]["StringEquals"]
        assert cond["aws:RequestTag/kubernetes.io/cluster/mlops-dev-eks"] == "owned"
    assert by_sid["ScopedDeletion"]["Condition"]["StringEquals"] == {
        "aws:ResourceTag/kubernetes.io/cluster/mlops-dev-eks": "owned"
    }
    assert not [a for s in policy for a in s["Action"] if a.startswith("s3:")]


def test_node_pools(karpenter: tuple[PlatformSpec, ResourceGraph]) -> None:
    spec, graph = karpenter
    pools = custom(graph, "NodePool")
    assert set(pools) == {"l4", "a10g"}
    for name, obj in pools.items():
        assert obj["apiVersion"] == "karpenter.sh/v1"
        pool = spec.pool(name)
        template = obj["spec"]["template"]
        assert template["spec"]["nodeClassRef"] == {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": name}
        reqs = {r["key"]: (r["operator"], r["values"]) for r in template["spec"]["requirements"]}
        assert reqs["karpenter.k8s.aws/instance-gpu-manufacturer"] == ("In", ["nvidia"])
        assert reqs["karpenter.sh/capacity-type"] == ("In", ["spot" if pool.spot else "on-demand"])
        assert reqs["node.kubernetes.io/instance-type"] == ("In", [pool.instance_type])
        assert template["spec"]["taints"][0] == {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
        assert template["metadata"]["labels"]["pulumi-mlops.io/gpu-pool"] == name
        assert template["metadata"]["labels"]["nvidia.com/gpu.present"] == "true"
        assert obj["spec"]["limits"] == {"nvidia.com/gpu": str(pool.max_gpus)}
        assert obj["spec"]["disruption"] == {
            "consolidationPolicy": "WhenEmptyOrUnderutilized",
            "consolidateAfter": CONSOLIDATE_AFTER,
        }
    assert CONSOLIDATE_AFTER == "15m"
    assert pools["l4"]["spec"]["limits"] == {"nvidia.com/gpu": "3"}
    assert pools["a10g"]["spec"]["limits"] == {"nvidia.com/gpu": "8"}


def test_ec2_node_classes(karpenter: tuple[PlatformSpec, ResourceGraph]) -> None:
    _, graph = karpenter
    classes = custom(graph, "EC2NodeClass")
    assert set(classes) == {"l4", "a10g"}
    for obj in classes.values():
        assert obj["apiVersion"] == "karpenter.k8s.aws/v1"
        spec = obj["spec"]
        for required in ("amiSelectorTerms", "subnetSelectorTerms", "securityGroupSelectorTerms", "role"):
            assert spec.get(required), required
        assert spec["role"] == "mlops-karpenter-node-role"
        assert spec["subnetSelectorTerms"] == [
            {"id": "mlops-network-private-0-id"},
            {"id": "mlops-network-private-1-id"},
        ]
        assert spec["securityGroupSelectorTerms"] == [{"id": "sg-mlops-dev-eks-cluster"}]
        assert spec["metadataOptions"]["httpTokens"] == "required"
        assert spec["blockDeviceMappings"][0]["ebs"]["encrypted"] is True
        assert not [k for k in spec["tags"] if k.startswith(("kubernetes.io/cluster/", "karpenter.sh/", "eks:"))]
        assert {"owner", "cost-center", "environment", "managed-by"} <= set(spec["tags"])
    assert classes["l4"]["spec"]["amiSelectorTerms"] == [{"alias": "al2023@latest"}]
    assert classes["a10g"]["spec"]["amiSelectorTerms"] == [{"alias": "bottlerocket@latest"}]
    assert classes["a10g"]["spec"]["blockDeviceMappings"][0]["deviceName"] == "/dev/xvdb"
    assert classes["a10g"]["spec"]["blockDeviceMappings"][0]["ebs"]["volumeSize"] == "300Gi"


def test_custom_resources_wait_for_the_karpenter_release(karpenter: tuple[PlatformSpec, ResourceGraph]) -> None:
    _, graph = karpenter
    release = graph.named("mlops-karpenter-release")
    crs = [r for r in graph.resources.values() if r.type.startswith("kubernetes:karpenter")]
    assert len(crs) == 4
    for cr in crs:
        assert release.urn in cr.dependencies
        assert cr.provider is not None and "kubernetes" in cr.provider


def test_karpenter_aws_resources_are_tagged(karpenter: tuple[PlatformSpec, ResourceGraph]) -> None:
    spec, graph = karpenter
    assert untagged(graph, spec.labels) == []
    assert graph.of_type("aws:sqs/queue:Queue") and graph.of_type("aws:cloudwatch/eventRule:EventRule")
