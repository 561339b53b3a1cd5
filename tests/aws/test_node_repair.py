"""Node auto-repair: every managed node group repairs its nodes, the node monitoring agent that reports GPU (Xid) and
node faults runs on the cluster (Karpenter's node repair gate: test_karpenter.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aws_support import props
from pulumi_mlops.components.aws.cluster import ADDON_VERSIONS, EksCluster, EksClusterArgs
from pulumi_mlops.components.aws.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from pulumi_mlops.components.aws.node_health import NODE_MONITORING_AGENT, NODES_REPAIRED_AT_ONCE

from pulumi_mlops.preview import PreviewResult, run_program
from pulumi_mlops.spec import ClusterSpec, GpuPoolSpec

Previews = Callable[[str], PreviewResult]
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ADDON = "aws:eks/addon:Addon"
REPAIR = {"enabled": True, "maxParallelNodesRepairedCount": float(NODES_REPAIRED_AT_ONCE)}


@pytest.mark.parametrize("stack", ["dev+node-groups", "staging", "prod+node-groups"])
def test_every_managed_node_group_repairs_its_nodes(previews: Previews, stack: str) -> None:
    result = previews(stack)
    groups = {g.name: props(g) for g in result.graph.of_type(NODE_GROUP)}
    assert "mlops-cluster-system" in groups
    assert len(groups) == 1 + len(result.spec.gpu_pools), "the system group and one per GPU pool"
    assert {name: group.get("nodeRepairConfig") for name, group in groups.items()} == dict.fromkeys(groups, REPAIR)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_node_monitoring_agent_runs_after_the_system_nodes(previews: Previews, stack: str) -> None:
    result = previews(stack)
    [agent] = [a for a in result.graph.of_type(ADDON) if props(a)["addonName"] == NODE_MONITORING_AGENT]
    assert props(agent)["addonVersion"] == ADDON_VERSIONS[result.spec.cluster.kubernetes_version][NODE_MONITORING_AGENT]
    assert result.graph.named("mlops-cluster-system").urn in agent.dependencies
    assert props(agent)["clusterName"] == f"mlops-{stack}-eks"


def test_a_gpu_node_group_on_its_own_repairs_one_node_at_a_time() -> None:
    pool = GpuPoolSpec(name="h100", accelerator="nvidia-h100", instance_type="p5.48xlarge", gpus_per_node=8)
    graph = run_program(
        lambda: GpuNodePool(
            "p", GpuNodePoolArgs(pool=pool, cluster_name="c1", node_role_arn="arn:aws:iam::1:role/n", subnet_ids=["s"])
        ),
        config={},
    )
    [group] = graph.of_type(NODE_GROUP)
    assert props(group)["nodeRepairConfig"] == REPAIR


@pytest.mark.parametrize("version", sorted(ADDON_VERSIONS))
def test_the_cluster_pins_the_agent_for_each_version(version: str) -> None:
    graph = run_program(
        lambda: EksCluster(
            "c",
            EksClusterArgs(spec=ClusterSpec(kubernetes_version=version), cluster_name="c1", region="us-east-1"),
        ),
        config={},
    )
    agent = graph.named(f"c-{NODE_MONITORING_AGENT}")
    assert agent.type == ADDON
    assert props(agent)["addonVersion"] == ADDON_VERSIONS[version][NODE_MONITORING_AGENT]
    assert props(agent)["addonVersion"].startswith("v1.") and "-eksbuild." in props(agent)["addonVersion"]
    assert "configurationValues" not in props(agent), "the agent's defaults tolerate every taint (GPU nodes too)"
