"""EFA end to end on AWS: prod on Karpenter, whose multi-node training pool has ``efa: true``, launches that pool's
nodes into a cluster placement group in one zone and runs training pods that request the pool's EFA interfaces and
set NCCL's libfabric transport; the table of interfaces covers every instance type the spec accepts with ``efa``."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_mlops.components.aws.efa import EFA_INTERFACES, EFA_RDMA_FAMILIES, efa_devices
from pulumi_mlops.components.k8s.context import EFA_RESOURCE
from pulumi_mlops.components.k8s.manifests import to_manifest
from test_karpenter_stacks import program

from pulumi_mlops.spec import GpuPoolSpec
from pulumi_mlops.spec.accelerators import EFA_INSTANCE_TYPES

PLACEMENT_GROUP = "aws:ec2/placementGroup:PlacementGroup"


def test_the_efa_pool_is_one_zone_in_one_cluster_placement_group() -> None:
    graph, spec = program("prod")
    [group] = graph.of_type(PLACEMENT_GROUP)
    assert group.name == "mlops-karpenter-a10g-train-pg"
    assert (group.inputs["name"], group.inputs["strategy"]) == ("mlops-prod-eks-a10g-train", "cluster")
    assert group.delete_before_replace, "a replacement frees the name first"
    assert {k: group.inputs["tags"].get(k) for k in spec.labels} == spec.labels
    [node_class] = [
        r
        for r in graph.of_type("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass")
        if r.inputs["metadata"]["name"] == "a10g-train"
    ]
    assert node_class.inputs["spec"]["placementGroupSelector"] == {"name": group.inputs["name"]}
    assert group.urn in node_class.dependencies, "created before, deleted after the EC2NodeClass that selects it"
    assert len(node_class.inputs["spec"]["subnetSelectorTerms"]) == 1, "a cluster placement group is in one zone"
    [node_pool] = [
        r for r in graph.of_type("kubernetes:karpenter.sh/v1:NodePool") if r.inputs["metadata"]["name"] == "a10g-train"
    ]
    zones = [r for r in node_pool.inputs["spec"]["template"]["spec"]["requirements"] if r["key"].endswith("/zone")]
    assert [z["values"] for z in zones] == [["us-east-1a"]]
    others = [r for r in graph.of_type("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass") if r is not node_class]
    assert others and not [r for r in others if "placementGroupSelector" in r.inputs["spec"]]


def _trainers() -> dict[str, dict[str, Any]]:
    graph, _ = program("prod")
    found = {}
    for cron in graph.of_type("kubernetes:batch/v1:CronJob"):
        manifest = to_manifest(cron)
        if manifest["metadata"]["name"].startswith("train-"):
            found[manifest["metadata"]["name"]] = manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    for job in graph.of_type("kubernetes:batch/v1:Job"):
        manifest = to_manifest(job)
        found[manifest["metadata"]["name"]] = manifest["spec"]["template"]["spec"]
    return found


def test_multi_node_training_on_the_efa_pool_requests_efa() -> None:
    _, spec = program("prod")
    pool = spec.pool("a10g-train")
    assert pool.efa and pool.instance_type == "g5.12xlarge"
    [job] = [j for j in spec.training if j.gpu_pool == pool.name]
    assert job.nodes == 2 and job.resources.gpus == pool.gpus_per_node
    pods = _trainers()
    for name in (f"train-{job.name}", f"train-{job.name}-bootstrap"):
        [trainer] = pods[name]["containers"]
        requests, limits = trainer["resources"]["requests"], trainer["resources"]["limits"]
        assert requests[EFA_RESOURCE] == limits[EFA_RESOURCE] == str(EFA_INTERFACES["g5.12xlarge"]), name
        env = {e["name"]: e.get("value") for e in trainer["env"]}
        assert (env["FI_PROVIDER"], env["FI_EFA_USE_HUGE_PAGE"]) == ("efa", "0"), name
        assert "FI_EFA_USE_DEVICE_RDMA" not in env, "g5 has no GPUDirect RDMA over EFA"
    [single] = [j for j in spec.training if j.nodes == 1]
    assert EFA_RESOURCE not in pods[f"train-{single.name}"]["containers"][0]["resources"]["requests"]


def test_every_instance_type_with_efa_has_its_interface_count() -> None:
    assert set(EFA_INTERFACES) == set(EFA_INSTANCE_TYPES)
    assert all(n >= 1 for n in EFA_INTERFACES.values())
    assert {t.split(".")[0] for t in EFA_INSTANCE_TYPES} >= EFA_RDMA_FAMILIES


@pytest.mark.parametrize(
    ("instance_type", "gpus", "interfaces", "rdma"),
    [("p5.48xlarge", 8, 32, True), ("p4d.24xlarge", 8, 4, True), ("g6e.48xlarge", 8, 4, False)],
)
def test_a_pools_devices_follow_its_instance_type(instance_type: str, gpus: int, interfaces: int, rdma: bool) -> None:
    accelerator = {"p5": "nvidia-h100", "p4d": "nvidia-a100", "g6e": "nvidia-l40s"}[instance_type.split(".")[0]]
    pool = GpuPoolSpec(name="train", accelerator=accelerator, instance_type=instance_type, gpus_per_node=gpus)
    devices = efa_devices(pool)
    assert (devices.interfaces, devices.gpus, devices.rdma) == (interfaces, gpus, rdma)


def test_a_type_without_efa_is_refused() -> None:
    pool = GpuPoolSpec(name="small", accelerator="nvidia-l4", instance_type="g6.xlarge")
    with pytest.raises(ValueError, match=r"g6\.xlarge has no EFA interface"):
        efa_devices(pool)
