"""Karpenter variant (``autoscaler: karpenter``): CRDs and controller, interruption queue, the CPU NodePool,
diversified GPU NodePools with spot fallback, disruption that protects training and serving, a single-zone EFA pool
in a cluster placement group."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_support import props, run_platform, stack_raw, statements, untagged
from pulumi_mlops.components.aws.efa import EFA_DEVICE_PLUGIN_CHART, EFA_NODE_LABEL
from pulumi_mlops.components.aws.karpenter import INTERRUPTION_EVENTS, KARPENTER_CHART, KARPENTER_CRD_CHART
from pulumi_mlops.components.aws.karpenter_iam import CONTROLLER_POLICIES
from pulumi_mlops.components.aws.karpenter_pools import (
    CONSOLIDATE_AFTER,
    DEFAULT_TERMINATION_GRACE,
    capacity_types,
    duration,
)

from pulumi_mlops.preview import ResourceGraph
from pulumi_mlops.spec import GpuPoolSpec, PlatformSpec

NODE_ROLE = "arn:aws:iam::123456789012:role/mlops-karpenter-node-role"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:mlops-dev-eks-karpenter"
CLUSTER_SG = "sg-mlops-dev-eks-cluster"
TRAINING_WINDOW = {"nodes": "0", "reasons": ["Underutilized", "Drifted"]}

A10G_EFA_POOL = {
    "name": "a10g",
    "accelerator": "nvidia-a10g",
    "instance_type": "g5.12xlarge",
    "gpus_per_node": 4,
    "max_nodes": 2,
    "spot": False,
    "ami_type": "BOTTLEROCKET_x86_64_NVIDIA",
    "disk_gb": 300,
    "single_zone": True,
    "efa": True,
}
LARGE_TRAINING = {
    "name": "churn-mlp-large",
    "schedule": "0 5 * * 6",
    "nodes": 2,
    "gpu_pool": "a10g",
    "resources": {"cpu": "8", "memory": "32Gi", "gpus": 4},
    "active_deadline_seconds": 5400,
    "training": {"model": {"name": "churn-mlp-large"}, "estimator": "mlp"},
}


@pytest.fixture(scope="module")
def karpenter() -> tuple[PlatformSpec, ResourceGraph]:
    raw: dict[str, Any] = stack_raw("dev")
    raw["autoscaler"] = "karpenter"
    raw["gpu_pools"].append(dict(A10G_EFA_POOL))
    raw["training"].append(dict(LARGE_TRAINING))
    raw["cost"] = {"max_gpus_per_stack": 11}
    spec, graph, _ = run_platform(raw)
    return spec, graph


def custom(graph: ResourceGraph, kind: str) -> dict[str, dict[str, Any]]:
    found = [
        props(r) for r in graph.resources.values() if r.type.startswith("kubernetes:") and props(r).get("kind") == kind
    ]
    return {r["metadata"]["name"]: r for r in found}


def requirements(node_pool: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    return {r["key"]: (r["operator"], r["values"]) for r in node_pool["spec"]["template"]["spec"]["requirements"]}


def test_no_gpu_node_groups_only_the_system_pool(karpenter: tuple[PlatformSpec, ResourceGraph]) -> None:
    _, graph = karpenter
    groups = graph.of_type("aws:eks/nodeGroup:NodeGroup")
    assert [g.name for g in groups] == ["mlops-cluster-system"]
    assert not [r for r in graph.resources.values() if "cluster-autoscaler" in r.name]


def test_controller_release_is_pinned_and_bound_by_pod_identity(karpenter: tuple[PlatformSpec, ResourceGraph]) -> None:
    _, graph = karpenter
    release = props(graph.named("mlops-karpenter-release"))
    assert release["chart"] == "oci://public.ecr.aws/karpenter/karpenter"
    assert release["version"] == KARPENTER_CHART.version and release["version"][0].isdigit()
    assert release["namespace"] == "kube-system"
    assert release["values"]["replicas"] == 1.0, "dev has one system node"
    assert release["values"]["nodeSelector"] == {"pulumi-mlops.io/pool": "system"}, "never on nodes it manages"
    assert release["values"]["settings"] == {
        "clusterName": "mlops-dev-eks",
        "interruptionQueue": "mlops-dev-eks-karpenter",
        "featureGates": {"nodeRepair": True},
    }
    assoc = props(graph.named("mlops-karpenter-controller-association"))
    assert (assoc["namespace"], assoc["serviceAccount"]) == ("kube-system", "karpenter")
    assert assoc["roleArn"] == "arn:aws:iam::123456789012:role/mlops-karpenter-controller"
    access = props(graph.named("mlops-karpenter-node-access"))
    assert (access["type"], access["principalArn"]) == ("EC2_LINUX", NODE_ROLE)


def test_crds_come_from_the_crd_chart_before_the_controller(karpenter: tuple[PlatformSpec, ResourceGraph]) -> None:
    """Helm never upgrades a chart's crds/ folder, so the CRDs are the karpenter-crd chart at the controller's
    version, which adopts the CRDs an earlier controller release installed."""
    _, graph = karpenter
    crds, controller = graph.named("mlops-karpenter-crds"), graph.named("mlops-karpenter-release")
    assert props(crds)["chart"] == "oci://public.ecr.aws/karpenter/karpenter-crd"
    assert props(crds)["version"] == KARPENTER_CRD_CHART.version == KARPENTER_CHART.version
    assert (props(crds)["namespace"], props(crds)["takeOwnership"]) == ("kube-system", True)
    assert props(controller)["skipCrds"] is True
    assert crds.urn in controller.dependencies
    policies = [graph.named(f"mlops-karpenter-controller-{suffix}") for suffix in CONTROLLER_POLICIES.values()]
    assert {p.urn for p in policies} <= set(controller.dependencies), "the controller starts with its permissions"


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


def test_instance_profile_actions_are_scoped_by_tags(karpenter: tuple[PlatformSpec, ResourceGraph]) -> None:
    """The instance-profile writes need the cluster, region and node-class tags; the list action is present."""
    _, graph = karpenter
    policy = [
        st
        for suffix in CONTROLLER_POLICIES.values()
        for st in statements(props(graph.named(f"mlops-karpenter-controller-{suffix}"))["policy"])
    ]
    writes = {"iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"}
    for st in policy:
        touched = set(st["Action"]) & (writes | {"iam:CreateInstanceProfile", "iam:TagInstanceProfile"})
        if not touched:
            continue
        conditions = {k: v for block in st["Condition"].values() for k, v in block.items()}
        prefix = "aws:RequestTag" if "iam:CreateInstanceProfile" in touched else "aws:ResourceTag"
        assert conditions[f"{prefix}/kubernetes.io/cluster/mlops-dev-eks"] == "owned", st["Sid"]
        assert conditions[f"{prefix}/topology.kubernetes.io/region"] == "us-east-1", st["Sid"]
        assert conditions[f"{prefix}/karpenter.k8s.aws/ec2nodeclass"] == "*", st["Sid"]
    listing = [s for s in policy if "iam:ListInstanceProfiles" in s["Action"]]
    assert [s["Resource"] for s in listing] == [["*"]]


def test_the_controller_policies_fit_a_roles_inline_policy_quota(karpenter: tuple[PlatformSpec, ResourceGraph]) -> None:
    """IAM caps the inline policies of a role at 10,240 characters together, whitespace not counted (upstream moved
    to managed policies because one managed policy holds 6,144)."""
    _, graph = karpenter
    documents = [
        json.loads(props(graph.named(f"mlops-karpenter-controller-{suffix}"))["policy"])
        for suffix in CONTROLLER_POLICIES.values()
    ]
    assert sum(len(json.dumps(d, separators=(",", ":"))) for d in documents) <= 10_240


def test_cpu_node_pool_for_general_workloads(karpenter: tuple[PlatformSpec, ResourceGraph]) -> None:
    spec, graph = karpenter
    pool = custom(graph, "NodePool")["general"]
    reqs = requirements(pool)
    assert reqs["karpenter.k8s.aws/instance-category"] == ("In", ["c", "m", "r"])
    assert reqs["karpenter.k8s.aws/instance-generation"] == ("Gt", ["5"])
    assert reqs["karpenter.sh/capacity-type"] == ("In", ["spot", "on-demand"]), "dev CPU: spot, then on-demand"
    assert reqs["kubernetes.io/arch"] == ("In", ["amd64"]), "the arch the CPU images are built for"
    assert not [k for k in reqs if "gpu" in k]
    assert pool["spec"]["limits"] == {"cpu": str(spec.karpenter.cpu_max_vcpus)} == {"cpu": "32"}
    assert pool["spec"]["template"]["metadata"]["labels"] == {"pulumi-mlops.io/pool": "general"}
    assert "taints" not in pool["spec"]["template"]["spec"]
    budgets = pool["spec"]["disruption"]["budgets"]
    assert budgets[0] == {"nodes": "10%"}
    # The CPU training job (churn, weekly at 03:00, 6 h deadline) stops consolidation and drift while it runs.
    assert budgets[1:] == [{**TRAINING_WINDOW, "schedule": "0 3 * * 0", "duration": "6h5m"}]
    assert pool["spec"]["template"]["spec"]["terminationGracePeriod"] == "6h5m"
    node_class = custom(graph, "EC2NodeClass")["general"]["spec"]
    assert node_class["amiSelectorTerms"] == [{"alias": "al2023@latest"}]
    assert len(node_class["subnetSelectorTerms"]) == 2 and "instanceStorePolicy" not in node_class


def test_gpu_node_pools_diversify_families_and_sizes(karpenter: tuple[PlatformSpec, ResourceGraph]) -> None:
    spec, graph = karpenter
    pools = custom(graph, "NodePool")
    assert set(pools) == {"general", "l4", "a10g"}
    for name in ("l4", "a10g"):
        obj, pool = pools[name], spec.pool(name)
        reqs = requirements(obj)
        assert "node.kubernetes.io/instance-type" not in reqs, "not one instance type"
        assert reqs["karpenter.k8s.aws/instance-gpu-manufacturer"] == ("In", ["nvidia"])
        assert reqs["karpenter.k8s.aws/instance-gpu-count"] == ("In", [str(pool.gpus_per_node)])
        template = obj["spec"]["template"]
        assert template["spec"]["nodeClassRef"] == {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": name}
        assert template["spec"]["taints"][0] == {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
        assert template["metadata"]["labels"]["pulumi-mlops.io/gpu-pool"] == name
        assert obj["spec"]["limits"] == {"nvidia.com/gpu": str(pool.max_gpus)}
    l4, a10g = requirements(pools["l4"]), requirements(pools["a10g"])
    assert l4["karpenter.k8s.aws/instance-family"] == ("In", ["g6", "gr6"])
    assert l4["karpenter.k8s.aws/instance-gpu-name"] == ("In", ["l4"])
    assert (l4["karpenter.k8s.aws/instance-cpu"], l4["karpenter.k8s.aws/instance-memory"]) == (
        ("Gt", ["3"]),
        ("Gt", ["16383"]),
    ), "at least a g6.xlarge"
    assert a10g["karpenter.k8s.aws/instance-family"] == ("In", ["g5"])
    assert a10g["karpenter.k8s.aws/instance-cpu"] == ("Gt", ["47"]), "at least a g5.12xlarge"
    # dev keeps its GPUs on spot (the dev policy); a pool with spot: false is on-demand only.
    assert l4["karpenter.sh/capacity-type"] == ("In", ["spot"])
    assert a10g["karpenter.sh/capacity-type"] == ("In", ["on-demand"])
    assert pools["l4"]["spec"]["limits"] == {"nvidia.com/gpu": "3"}
    assert pools["a10g"]["spec"]["limits"] == {"nvidia.com/gpu": "8"}


@pytest.mark.parametrize(
    ("spot", "fallback", "expected"),
    [(True, True, ["spot", "on-demand"]), (True, False, ["spot"]), (False, True, ["on-demand"])],
)
def test_spot_pools_fall_back_to_on_demand(spot: bool, fallback: bool, expected: list[str]) -> None:
    pool = GpuPoolSpec(
        name="l4", accelerator="nvidia-l4", instance_type="g6.xlarge", spot=spot, on_demand_fallback=fallback
    )
    assert capacity_types(pool) == expected


def test_disruption_protects_training_and_serving(karpenter: tuple[PlatformSpec, ResourceGraph]) -> None:
    _, graph = karpenter
    pools = custom(graph, "NodePool")
    for name in ("l4", "a10g"):
        disruption = pools[name]["spec"]["disruption"]
        assert disruption["consolidationPolicy"] == "WhenEmptyOrUnderutilized"
        assert disruption["consolidateAfter"] == CONSOLIDATE_AFTER == "15m"
        assert disruption["budgets"][0] == {"nodes": "1"}, "serving replicas move one GPU node at a time"
        assert pools[name]["spec"]["template"]["spec"]["expireAfter"] == "720h"
    # l4 runs churn-mlp (Sundays 04:00, 6 h); a10g runs churn-mlp-large (Saturdays 05:00, 90 min).
    assert pools["l4"]["spec"]["disruption"]["budgets"][1:] == [
        {**TRAINING_WINDOW, "schedule": "0 4 * * 0", "duration": "6h5m"}
    ]
    assert pools["a10g"]["spec"]["disruption"]["budgets"][1:] == [
        {**TRAINING_WINDOW, "schedule": "0 5 * * 6", "duration": "1h35m"}
    ]
    # Expiry and drift wait for the longest training run of the pool before pods are deleted.
    assert pools["l4"]["spec"]["template"]["spec"]["terminationGracePeriod"] == "6h5m"
    assert pools["a10g"]["spec"]["template"]["spec"]["terminationGracePeriod"] == "1h35m"


@pytest.mark.parametrize(
    ("seconds", "expected"), [(59, "1m"), (60, "1m"), (3600, "1h"), (5400, "1h30m"), (21900, "6h5m"), (90000, "25h")]
)
def test_budget_durations_are_hours_and_minutes_rounded_up(seconds: int, expected: str) -> None:
    assert duration(seconds) == expected


def test_a_pool_without_training_keeps_a_bounded_drain() -> None:
    raw: dict[str, Any] = stack_raw("dev")
    raw["autoscaler"] = "karpenter"
    raw["training"] = [t for t in raw["training"] if t.get("gpu_pool") != "l4"]
    raw["endpoints"] = [e for e in raw["endpoints"] if e["name"] != "churn-gpu"]
    _, graph, _ = run_platform(raw)
    l4 = custom(graph, "NodePool")["l4"]["spec"]
    assert l4["disruption"]["budgets"] == [{"nodes": "1"}]
    assert l4["template"]["spec"]["terminationGracePeriod"] == DEFAULT_TERMINATION_GRACE == "1h"


def test_gpu_node_classes_use_nvme_instance_store(karpenter: tuple[PlatformSpec, ResourceGraph]) -> None:
    _, graph = karpenter
    classes = custom(graph, "EC2NodeClass")
    assert set(classes) == {"general", "l4", "a10g"}
    for name, obj in classes.items():
        assert obj["apiVersion"] == "karpenter.k8s.aws/v1"
        spec = obj["spec"]
        assert spec["role"] == "mlops-karpenter-node-role"
        assert spec["metadataOptions"]["httpTokens"] == "required"
        assert spec["blockDeviceMappings"][0]["ebs"]["encrypted"] is True
        assert not [k for k in spec["tags"] if k.startswith(("kubernetes.io/cluster/", "karpenter.sh/", "eks:"))]
        assert {"owner", "cost-center", "environment", "managed-by"} <= set(spec["tags"])
        assert spec.get("instanceStorePolicy") == (None if name == "general" else "RAID0"), name
    assert classes["l4"]["spec"]["amiSelectorTerms"] == [{"alias": "al2023@latest"}]
    assert classes["a10g"]["spec"]["amiSelectorTerms"] == [{"alias": "bottlerocket@latest"}]
    assert classes["a10g"]["spec"]["blockDeviceMappings"][0]["deviceName"] == "/dev/xvdb"
    assert classes["a10g"]["spec"]["blockDeviceMappings"][0]["ebs"]["volumeSize"] == "300Gi"


def test_multi_node_training_pool_is_single_zone_with_efa(karpenter: tuple[PlatformSpec, ResourceGraph]) -> None:
    _, graph = karpenter
    efa_sg = graph.named("mlops-karpenter-efa-sg")
    classes, pools = custom(graph, "EC2NodeClass"), custom(graph, "NodePool")
    a10g, l4 = classes["a10g"]["spec"], classes["l4"]["spec"]
    assert a10g["subnetSelectorTerms"] == [{"id": "mlops-network-private-0-id"}], "one subnet, one zone"
    assert a10g["securityGroupSelectorTerms"] == [{"id": CLUSTER_SG}, {"id": "mlops-karpenter-efa-sg-id"}]
    assert requirements(pools["a10g"])["topology.kubernetes.io/zone"] == ("In", ["us-east-1a"]), "private-0's zone"
    assert pools["a10g"]["spec"]["template"]["metadata"]["labels"][EFA_NODE_LABEL] == "true"
    # The serving pool keeps spreading over the zones and carries no EFA group.
    assert l4["subnetSelectorTerms"] == [{"id": "mlops-network-private-0-id"}, {"id": "mlops-network-private-1-id"}]
    assert l4["securityGroupSelectorTerms"] == [{"id": CLUSTER_SG}]
    assert "topology.kubernetes.io/zone" not in requirements(pools["l4"])
    assert EFA_NODE_LABEL not in pools["l4"]["spec"]["template"]["metadata"]["labels"]
    # EFA needs all traffic in from and out to the group itself.
    sg = props(efa_sg)
    assert sg["vpcId"] == "mlops-network-vpc-id"
    for direction in ("ingress", "egress"):
        assert [(r["protocol"], r["fromPort"], r["toPort"], r["self"]) for r in sg[direction]] == [
            ("-1", 0.0, 0.0, True)
        ], direction
        assert not [r for r in sg[direction] if r.get("cidrBlocks")], direction


def test_efa_device_plugin_runs_on_the_efa_pools(karpenter: tuple[PlatformSpec, ResourceGraph]) -> None:
    _, graph = karpenter
    release = graph.named("mlops-karpenter-aws-efa-k8s-device-plugin")
    values = props(release)
    assert (values["chart"], values["version"]) == ("aws-efa-k8s-device-plugin", EFA_DEVICE_PLUGIN_CHART.version)
    assert values["repositoryOpts"]["repo"] == "https://aws.github.io/eks-charts"
    assert values["namespace"] == "kube-system"
    assert values["values"]["nodeSelector"] == {EFA_NODE_LABEL: "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in values["values"]["tolerations"]
    # It waits for the system nodes, as the controller does.
    assert graph.named("mlops-cluster-system").urn in release.dependencies


def test_the_efa_pool_launches_into_its_own_placement_group(karpenter: tuple[PlatformSpec, ResourceGraph]) -> None:
    _, graph = karpenter
    [group] = graph.of_type("aws:ec2/placementGroup:PlacementGroup")
    assert group.name == "mlops-karpenter-a10g-pg" and group.delete_before_replace
    assert (props(group)["name"], props(group)["strategy"]) == ("mlops-dev-eks-a10g", "cluster")
    classes = custom(graph, "EC2NodeClass")
    assert classes["a10g"]["spec"]["placementGroupSelector"] == {"name": "mlops-dev-eks-a10g"}
    assert "placementGroupSelector" not in classes["l4"]["spec"], "serving spreads over the zones"
    assert "placementGroupSelector" not in classes["general"]["spec"]
    assert group.urn in graph.named("mlops-karpenter-a10g-nodeclass").dependencies, "the group exists first"
    assert group.urn not in graph.named("mlops-karpenter-l4-nodeclass").dependencies


def test_no_efa_resources_without_an_efa_pool() -> None:
    raw: dict[str, Any] = stack_raw("dev")
    raw["autoscaler"] = "karpenter"
    _, graph, _ = run_platform(raw)
    assert not [r.name for r in graph.resources.values() if "efa" in r.name]
    assert not graph.of_type("aws:ec2/placementGroup:PlacementGroup")
    assert not [c for c in custom(graph, "EC2NodeClass").values() if "placementGroupSelector" in c["spec"]]
    assert set(custom(graph, "NodePool")) == {"general", "l4"}


def test_custom_resources_wait_for_the_karpenter_release(karpenter: tuple[PlatformSpec, ResourceGraph]) -> None:
    _, graph = karpenter
    release = graph.named("mlops-karpenter-release")
    crs = [r for r in graph.resources.values() if r.type.startswith("kubernetes:karpenter")]
    assert len(crs) == 6, "a NodePool and an EC2NodeClass for general, l4 and a10g"
    for cr in crs:
        assert release.urn in cr.dependencies
        assert cr.provider is not None and "kubernetes" in cr.provider


def test_karpenter_aws_resources_are_tagged(karpenter: tuple[PlatformSpec, ResourceGraph]) -> None:
    spec, graph = karpenter
    assert untagged(graph, spec.labels) == []
    assert graph.of_type("aws:sqs/queue:Queue") and graph.of_type("aws:ec2/securityGroup:SecurityGroup")
    assert graph.of_type("aws:ec2/placementGroup:PlacementGroup")
