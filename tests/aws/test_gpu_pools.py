"""GPU node groups (``autoscaler: cluster-autoscaler``, the option to Karpenter: the stacks previewed on node groups),
their autoscaler tags, and the NVIDIA daemon sets' Helm values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest
from aws_support import props, statements
from pulumi_mlops.components.aws.cluster_autoscaler import AUTOSCALER_IMAGE_TAGS, CLUSTER_AUTOSCALER_CHART
from pulumi_mlops.components.aws.device_plugin import (
    DCGM_EXPORTER_CHART,
    DEVICE_PLUGIN_CHART,
    NvidiaGpuAddons,
    NvidiaGpuAddonsArgs,
)
from pulumi_mlops.components.aws.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from pulumi_mlops.components.k8s.context import GpuScheduling

from pulumi_mlops.preview import PreviewResult, run_program
from pulumi_mlops.spec import ClusterSpec, GpuPoolSpec, Taint

Previews = Callable[[str], PreviewResult]
CA = "k8s.io/cluster-autoscaler"
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}
KUBERNETES = ClusterSpec().kubernetes_version


def gpu_groups(result: PreviewResult) -> dict[str, dict[str, Any]]:
    groups = result.graph.of_type("aws:eks/nodeGroup:NodeGroup")
    return {g.name.removeprefix("mlops-gpu-").removesuffix("-nodes"): props(g) for g in groups if "-gpu-" in g.name}


def test_gpu_node_groups_follow_the_pool_spec(previews: Previews) -> None:
    result = previews("prod+node-groups")
    groups = gpu_groups(result)
    assert set(groups) == {p.name for p in result.spec.gpu_pools}
    for pool in result.spec.gpu_pools:
        group = groups[pool.name]
        assert group["amiType"] == "AL2023_x86_64_NVIDIA"
        assert group["instanceTypes"] == [pool.instance_type]
        assert group["diskSize"] == float(pool.disk_gb)
        assert group["scalingConfig"] == {
            "minSize": float(pool.min_nodes),
            "maxSize": float(pool.max_nodes),
            "desiredSize": float(pool.min_nodes),
        }
        assert group["taints"] == [GPU_TAINT]
        assert group["labels"] == {
            "accelerator": pool.accelerator,
            "k8s.amazonaws.com/accelerator": pool.accelerator,
            "pulumi-mlops.io/gpu-pool": pool.name,
            "nvidia.com/gpu.present": "true",
        }
        assert all("private" in s for s in group["subnetIds"])
    assert groups["l4"]["capacityType"] == "ON_DEMAND"
    assert groups["a10g-train"]["capacityType"] == "SPOT"
    floor = gpu_groups(previews("staging"))["l4"]["scalingConfig"]
    assert floor["minSize"] == floor["desiredSize"] == 2.0, "staging states its floor of two GPU nodes"


def test_dev_gpus_are_spot_and_scale_to_zero(previews: Previews) -> None:
    group = gpu_groups(previews("dev+node-groups"))["l4"]
    assert group["capacityType"] == "SPOT"
    assert group["scalingConfig"]["minSize"] == 0.0


def test_autoscaler_owns_the_desired_size_and_can_scale_from_zero(previews: Previews) -> None:
    graph = previews("prod+node-groups").graph
    group = graph.named("mlops-gpu-a10g-train-nodes")
    assert group.ignore_changes == ["scalingConfig.desiredSize"]
    tags = props(group)["tags"]
    expected = {
        f"{CA}/enabled": "true",
        f"{CA}/mlops-prod-eks": "owned",
        f"{CA}/node-template/label/pulumi-mlops.io/gpu-pool": "a10g-train",
        f"{CA}/node-template/label/accelerator": "nvidia-a10g",
        f"{CA}/node-template/taint/nvidia.com/gpu": "true:NoSchedule",
        f"{CA}/node-template/resources/nvidia.com/gpu": "4",
    }
    assert {k: tags.get(k) for k in expected} == expected
    asg_tags = {
        props(t)["tag"]["key"]: props(t) for t in graph.of_type("aws:autoscaling/tag:Tag") if t.parent == group.urn
    }
    assert {k: asg_tags[k]["tag"]["value"] for k in expected} == expected
    assert {t["autoscalingGroupName"] for t in asg_tags.values()} == {"eks-mlops-gpu-a10g-train-nodes-asg"}
    assert all(t["tag"]["propagateAtLaunch"] is False for t in asg_tags.values())


def _pool(**extra: Any) -> GpuPoolSpec:
    base: dict[str, Any] = {
        "name": "l40s",
        "accelerator": "nvidia-l40s",
        "instance_type": "g6e.xlarge",
        "max_nodes": 3,
    }
    return GpuPoolSpec.model_validate({**base, **extra})


def test_bottlerocket_pool_with_extra_taint_and_label() -> None:
    pool = _pool(
        ami_type="BOTTLEROCKET_x86_64_NVIDIA",
        spot=True,
        disk_gb=200,
        labels={"team": "vision"},
        taints=[Taint(key="dedicated", value="vision", effect="NoExecute")],
    )
    graph = run_program(
        lambda: GpuNodePool(
            "pool",
            GpuNodePoolArgs(pool=pool, cluster_name="c1", node_role_arn="arn:aws:iam::1:role/n", subnet_ids=["s1"]),
        ),
        config={},
    )
    group = props(graph.named("pool-nodes"))
    assert group["amiType"] == "BOTTLEROCKET_x86_64_NVIDIA"
    assert group["capacityType"] == "SPOT" and group["diskSize"] == 200.0
    assert group["taints"] == [GPU_TAINT, {"key": "dedicated", "value": "vision", "effect": "NO_EXECUTE"}]
    assert group["labels"]["team"] == "vision"
    assert group["tags"][f"{CA}/node-template/taint/dedicated"] == "vision:NoExecute"
    assert group["tags"][f"{CA}/node-template/label/team"] == "vision"


def _daemon_pod(values: dict[str, Any]) -> dict[str, Any]:
    """A pod carrying the scheduling fields of a chart's values, for schema validation."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe", "namespace": "kube-system"},
        "spec": {
            "containers": [{"name": "probe", "image": "registry.k8s.io/pause:3.10"}],
            "nodeSelector": values["nodeSelector"],
            "affinity": values["affinity"],
            "tolerations": values["tolerations"],
            **({"priorityClassName": values["priorityClassName"]} if "priorityClassName" in values else {}),
        },
    }


def test_device_plugin_and_dcgm_exporter_releases(previews: Previews) -> None:
    graph = previews("prod").graph
    releases = {props(r)["chart"]: props(r) for r in graph.of_type("kubernetes:helm.sh/v3:Release")}
    plugin, dcgm = releases["nvidia-device-plugin"], releases["dcgm-exporter"]
    assert (plugin["version"], plugin["repositoryOpts"]["repo"]) == (
        DEVICE_PLUGIN_CHART.version,
        DEVICE_PLUGIN_CHART.repo,
    )
    assert plugin["repositoryOpts"]["repo"] == "https://nvidia.github.io/k8s-device-plugin"
    assert dcgm["version"] == DCGM_EXPORTER_CHART.version
    assert dcgm["repositoryOpts"]["repo"] == "https://nvidia.github.io/dcgm-exporter/helm-charts"
    assert dcgm["values"]["serviceMonitor"]["enabled"] is True
    for release in (plugin, dcgm):
        assert release["version"][0].isdigit()
        tolerations = release["values"]["tolerations"]
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations
        kubernetes_validate.validate(_daemon_pod(release["values"]), KUBERNETES, strict=True)
        terms = release["values"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert terms["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["a10g-train", "l4"]


def test_every_gpu_taint_is_tolerated_and_bottlerocket_skips_the_plugin() -> None:
    pools = [
        _pool(taints=[Taint(key="dedicated", value="vision", effect="NoExecute")]),
        _pool(name="br", ami_type="BOTTLEROCKET_x86_64_NVIDIA"),
    ]
    graph = run_program(
        lambda: NvidiaGpuAddons("gpu", NvidiaGpuAddonsArgs(pools=pools, gpu=GpuScheduling())), config={}
    )
    releases = {props(r)["chart"]: props(r)["values"] for r in graph.of_type("kubernetes:helm.sh/v3:Release")}
    for values in releases.values():
        keys = {(t["key"], t["effect"]) for t in values["tolerations"]}
        assert keys == {("nvidia.com/gpu", "NoSchedule"), ("dedicated", "NoExecute")}
        kubernetes_validate.validate(_daemon_pod(values), KUBERNETES, strict=True)
    plugin_pools = releases["nvidia-device-plugin"]["affinity"]["nodeAffinity"]
    assert plugin_pools["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"][
        0
    ]["values"] == ["l40s"]

    only_br = [_pool(name="br", ami_type="BOTTLEROCKET_x86_64_NVIDIA")]
    graph = run_program(lambda: NvidiaGpuAddons("gpu", NvidiaGpuAddonsArgs(pools=only_br)), config={})
    assert [props(r)["chart"] for r in graph.of_type("kubernetes:helm.sh/v3:Release")] == ["dcgm-exporter"]


@pytest.mark.parametrize("stack", ["dev+node-groups", "staging", "prod+node-groups"])
def test_gpu_addons_wait_for_the_node_groups(stack: str, previews: Previews) -> None:
    graph = previews(stack).graph
    groups = {g.urn for g in graph.of_type("aws:eks/nodeGroup:NodeGroup")}
    system = {graph.named("mlops-cluster-system").urn}
    for release in graph.of_type("kubernetes:helm.sh/v3:Release"):
        if (
            str(props(release)["chart"]).endswith("/gateway-helm")
            or props(release)["chart"] == "prometheus-operator-crds"
        ):
            assert system <= set(release.dependencies), release.name  # runs on (or needs only) the system pool
            continue
        assert groups <= set(release.dependencies), release.name
        assert release.provider is not None and "kubernetes" in release.provider


def test_cluster_autoscaler_is_pinned_and_scoped_to_owned_groups(previews: Previews) -> None:
    result = previews("prod+node-groups")
    graph = result.graph
    release = props(graph.named("mlops-cluster-autoscaler-release"))
    assert (release["chart"], release["version"]) == ("cluster-autoscaler", CLUSTER_AUTOSCALER_CHART.version)
    assert release["values"]["autoDiscovery"] == {"clusterName": "mlops-prod-eks"}
    version = result.spec.cluster.kubernetes_version
    assert release["values"]["image"]["tag"] == AUTOSCALER_IMAGE_TAGS[version]
    assert release["values"]["image"]["tag"].startswith(f"v{version}.")
    assoc = props(graph.named("mlops-cluster-autoscaler-association"))
    assert (assoc["namespace"], assoc["serviceAccount"]) == ("kube-system", "cluster-autoscaler")
    policy = statements(props(graph.named("mlops-cluster-autoscaler-policy"))["policy"])
    by_sid = {s["Sid"]: s for s in policy}
    assert not [a for s in policy for a in s["Action"] if "*" in a]
    assert {s["Sid"] for s in policy if "*" in s["Resource"]} == {"RegionalReadActions"}
    assert all(":Describe" in a or ":Get" in a for a in by_sid["RegionalReadActions"]["Action"])
    scale = by_sid["ScaleOwnedGroups"]
    assert scale["Condition"] == {"StringEquals": {f"aws:ResourceTag/{CA}/mlops-prod-eks": "owned"}}
    assert by_sid["DescribeNodeGroups"]["Resource"] == ["arn:aws:eks:us-east-1:123456789012:nodegroup/mlops-prod-eks/*"]


def test_gpu_nodes_carry_the_label_cluster_autoscaler_reads_for_gpus(previews: Previews) -> None:
    from pulumi_mlops.components.aws.gpu_node_pool import AWS_GPU_LABEL

    graph = previews("dev+node-groups").graph
    group = graph.named("mlops-gpu-l4-nodes")
    assert props(group)["labels"][AWS_GPU_LABEL] == "nvidia-l4"
    tags = {props(t)["tag"]["key"]: props(t)["tag"]["value"] for t in graph.of_type("aws:autoscaling/tag:Tag")}
    assert tags[f"k8s.io/cluster-autoscaler/node-template/label/{AWS_GPU_LABEL}"] == "nvidia-l4"
