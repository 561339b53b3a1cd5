"""Training pods on EFA pools and with the datasets volume: what a multi-node job's pods request and set for NCCL over
Elastic Fabric Adapter, and how the read-only datasets volume is mounted."""

from __future__ import annotations

from typing import Any

import pulumi_kubernetes as k8s
import pytest
from pulumi_mlops.components.k8s import ClusterContext, GpuScheduling, TrainingJob, TrainingJobArgs
from pulumi_mlops.components.k8s.context import EFA_RESOURCE, DatasetsVolume, EfaDevices
from pulumi_mlops.components.k8s.manifests import check_manifests, to_manifest
from pulumi_mlops.components.k8s.training import EFA_ENV, efa_interfaces
from pulumi_mlops.runtime.config import ResourceSpec, TrainingSpec

from pulumi_mlops.preview import ResourceGraph, run_program
from pulumi_mlops.spec import TrainingJobSpec

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops/runtime:0.1.0-cuda"
P5 = EfaDevices(interfaces=32, gpus=8, rdma=True)
G5 = EfaDevices(interfaces=1, gpus=4)


def _pod(
    *,
    nodes: int,
    gpus: int,
    pool_efa: dict[str, EfaDevices] | None = None,
    datasets: DatasetsVolume | None = None,
) -> tuple[ResourceGraph, dict[str, Any]]:
    job = TrainingJobSpec(
        name="llm",
        nodes=nodes,
        gpu_pool="train",
        resources=ResourceSpec(cpu="8", memory="64Gi", gpus=gpus),
        training=TrainingSpec(model={"name": "llm"}, estimator="mlp"),
    )

    def program() -> None:
        ctx = ClusterContext(
            provider=k8s.Provider("k8s", kubeconfig="{}"),
            cloud="aws",
            bucket_uris={},
            gpu=GpuScheduling(pool_efa=pool_efa or {}),
            datasets_volume=datasets,
        )
        TrainingJob(
            "t",
            TrainingJobArgs(job=job, context=ctx, namespace="mlops-training", image=IMAGE, service_account="trainer"),
        )

    graph = run_program(program, config={})
    [cron] = graph.of_type("kubernetes:batch/v1:CronJob")
    return graph, to_manifest(cron)["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container["env"]}


def test_multi_node_pods_on_an_efa_pool_request_every_interface_of_their_node() -> None:
    graph, pod = _pod(nodes=2, gpus=8, pool_efa={"train": P5})
    [trainer] = pod["containers"]
    resources = trainer["resources"]
    assert resources["requests"][EFA_RESOURCE] == resources["limits"][EFA_RESOURCE] == "32"
    assert resources["requests"]["nvidia.com/gpu"] == "8", "the GPU request stays"
    env = _env(trainer)
    assert {k: env[k] for k in EFA_ENV} == {"FI_PROVIDER": "efa", "FI_EFA_USE_HUGE_PAGE": "0"}
    assert env["FI_EFA_USE_DEVICE_RDMA"] == "1", "p5 does GPUDirect RDMA over EFA"
    assert not any(k.startswith("hugepages-") for k in resources["requests"])
    assert check_manifests(graph, "1.35") == []


def test_a_pod_on_part_of_a_node_requests_its_share_and_no_rdma_where_there_is_none() -> None:
    _, pod = _pod(nodes=4, gpus=2, pool_efa={"train": G5})
    [trainer] = pod["containers"]
    assert trainer["resources"]["requests"][EFA_RESOURCE] == "1", "at least one interface"
    assert "FI_EFA_USE_DEVICE_RDMA" not in _env(trainer)
    assert _env(trainer)["FI_PROVIDER"] == "efa"


@pytest.mark.parametrize(
    ("devices", "gpus", "interfaces"),
    [(P5, 8, 32), (P5, 4, 16), (P5, 1, 4), (EfaDevices(4, 8), 2, 1), (EfaDevices(4, 8), 1, 1), (G5, 4, 1)],
)
def test_the_share_of_the_interfaces(devices: EfaDevices, gpus: int, interfaces: int) -> None:
    assert efa_interfaces(devices, gpus) == interfaces


@pytest.mark.parametrize(
    ("nodes", "pool_efa"), [(1, {"train": P5}), (2, {}), (2, {"serve": P5})], ids=["one-node", "no-efa", "other-pool"]
)
def test_no_efa_for_single_node_jobs_or_pools_without_it(nodes: int, pool_efa: dict[str, EfaDevices]) -> None:
    _, pod = _pod(nodes=nodes, gpus=8, pool_efa=pool_efa)
    [trainer] = pod["containers"]
    assert EFA_RESOURCE not in trainer["resources"]["requests"]
    assert not {"FI_PROVIDER", "FI_EFA_USE_DEVICE_RDMA"} & set(_env(trainer))


def test_the_datasets_volume_is_mounted_read_only_at_its_path() -> None:
    volume = DatasetsVolume(volume_name="mlops-dev-datasets", claim_name="datasets", mount_path="/data/s3")
    graph, pod = _pod(nodes=2, gpus=8, datasets=volume)
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["datasets"] == {
        "name": "datasets",
        "persistentVolumeClaim": {"claimName": "datasets", "readOnly": True},
    }
    [trainer] = pod["containers"]
    assert {"name": "datasets", "mountPath": "/data/s3", "readOnly": True} in trainer["volumeMounts"]
    assert check_manifests(graph, "1.35") == []
    _, without = _pod(nodes=2, gpus=8)
    assert "datasets" not in {v["name"] for v in without["volumes"]}
