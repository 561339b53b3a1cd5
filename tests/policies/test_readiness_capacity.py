"""Schedulability and capacity: each test takes a real stack's preview graph and breaks one thing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pulumi_mlops.preview import CapturedResource, ResourceGraph, run_program
from pulumi_mlops.preview.mocks import PlatformMocks
from pulumi_mlops.spec import CONFIG_KEY, PlatformSpec, load_stack_config, parse_spec, stack_file

from .readiness import Previews, baseline, broken, first, named, run

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("dev", "staging", "prod", "gcp-dev", "gcp-prod")
MANDATORY = ("workload-fits-node-pool", "node-pool-type-known", "gpu-pool-demand-fits", "gpu-stack-demand-fits")
FLOOR = "gpu-pool-floor-blocks-scale-to-zero"
CRON_JOB = "kubernetes:batch/v1:CronJob"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def _only(report: Any, policy: str) -> Any:
    found = [v for v in report.violations if v.policy == policy]
    assert len(found) == 1, [f"{v.resource_name}: {v.message}" for v in report.violations]
    return found[0]


def _with_bootstrap(report: Any, policy: str, cron_job: str) -> Any:
    """The violation of a training CronJob; its bootstrap Job runs the same pod template and is reported too."""
    found = {v.resource_name: v for v in report.violations if v.policy == policy}
    bootstrap = cron_job.removesuffix("-cronjob") + "-bootstrap"
    assert set(found) == {cron_job, bootstrap}, [f"{v.resource_name}: {v.message}" for v in report.violations]
    assert found[bootstrap].mandatory
    assert found[bootstrap].message.split(" requests ", 1)[1] == found[cron_job].message.split(" requests ", 1)[1]
    return found[cron_job]


def _containers(res: CapturedResource) -> list[dict[str, Any]]:
    spec = res.inputs["spec"]
    pod = spec["jobTemplate"]["spec"]["template"]["spec"] if res.type == CRON_JOB else spec["template"]["spec"]
    containers: list[dict[str, Any]] = pod["containers"]
    return containers


def _preview_with(stack: str, change: Callable[[dict[str, Any]], None]) -> tuple[ResourceGraph, PlatformSpec]:
    """The stack's program run on its stack file with one change to the platform spec."""
    config = load_stack_config(stack_file(stack, ROOT / "stacks"))
    change(config[CONFIG_KEY])
    spec = parse_spec(config[CONFIG_KEY])
    mocks = PlatformMocks(region=spec.region, gcp_project=spec.gcp_project or "preview-project")
    return run_program(ROOT / "stacks" / "__main__.py", config, stack=stack, mocks=mocks), spec


# --- the real stacks are clean --------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_passes_the_capacity_checks(previews: Previews, stack: str) -> None:
    graph, spec = baseline(previews, stack)
    report = run(graph, spec, *MANDATORY)
    assert [f"{v.policy} {v.resource_name}: {v.message}" for v in report.violations] == []


@pytest.mark.parametrize("stack", ["staging", "gcp-prod"])
def test_pools_that_declare_their_floor_are_not_flagged(previews: Previews, stack: str) -> None:
    graph, spec = baseline(previews, stack)
    assert run(graph, spec, FLOOR).violations == []


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_karpenter_node_pools_declare_no_minimum_to_contradict(previews: Previews, stack: str) -> None:
    """On Karpenter the serving floor's GPU pods keep their nodes, and no pool claims to scale to zero; on node groups
    with min 0 the same floor is flagged."""
    graph, spec = baseline(previews, stack)
    assert graph.of_type("kubernetes:karpenter.sh/v1:NodePool")
    assert run(graph, spec, FLOOR).violations == []
    on_groups, spec = baseline(previews, f"{stack}+node-groups")
    assert {v.resource_name for v in run(on_groups, spec, FLOOR).violations} == {"mlops-gpu-l4-nodes"}


@pytest.mark.parametrize(
    ("stack", "pool"), [("dev+node-groups", "mlops-gpu-l4-nodes"), ("gcp-dev", "mlops-gpu-l4-pool")]
)
def test_dev_gpu_endpoint_keeps_one_node_of_a_scale_to_zero_pool(previews: Previews, stack: str, pool: str) -> None:
    graph, spec = baseline(previews, stack)
    found = _only(run(graph, spec, FLOOR), FLOOR)
    assert found.resource_name == pool and not found.mandatory
    assert "Deployment mlops-serving/churn-gpu-stable (1 pods) can run only there" in found.message
    assert "churn-gpu-shadow" not in found.message, "dev shadows serve on CPU nodes"


# --- workload-fits-node-pool ----------------------------------------------------------------


def test_cpu_training_job_does_not_fit_a_two_vcpu_system_node(previews: Previews) -> None:
    def shrink(graph: ResourceGraph) -> None:
        named(graph, "mlops-cluster-system").inputs["instanceTypes"] = ["m6i.large"]

    graph, spec = broken(previews, "dev+node-groups", shrink)
    report = run(graph, spec, "workload-fits-node-pool")
    found = _with_bootstrap(report, "workload-fits-node-pool", "mlops-services-training-churn-cronjob")
    assert found.mandatory
    assert found.message.startswith("CronJob mlops-training/train-churn requests 2.00 CPU, 4096 Mi per pod")
    assert "mlops-cluster-system (m6i.large: 1.93 CPU, 7518 Mi)" in found.message
    assert "cluster.system_instance_type" in found.message


def test_gpu_training_pod_larger_than_its_gpu_node(previews: Previews) -> None:
    def grow(graph: ResourceGraph) -> None:
        for res in ("mlops-services-training-churn-mlp-cronjob", "mlops-services-training-churn-mlp-bootstrap"):
            _containers(named(graph, res))[0]["resources"]["requests"]["memory"] = "32Gi"

    graph, spec = broken(previews, "dev+node-groups", grow)
    report = run(graph, spec, "workload-fits-node-pool")
    found = _with_bootstrap(report, "workload-fits-node-pool", "mlops-services-training-churn-mlp-cronjob")
    assert found.mandatory
    assert "requests 2.00 CPU, 32768 Mi, 1 GPU per pod" in found.message
    assert "mlops-gpu-l4-nodes (g6.xlarge: 3.92 CPU, 15391 Mi, 1 GPU)" in found.message


def test_an_untolerated_pool_taint_is_named_as_the_reason(previews: Previews) -> None:
    def taint(graph: ResourceGraph) -> None:
        pool = named(graph, "mlops-gpu-l4-nodes")
        pool.inputs["taints"] = [*pool.inputs["taints"], {"key": "dedicated", "value": "ml", "effect": "NO_SCHEDULE"}]

    graph, spec = broken(previews, "dev+node-groups", taint)
    report = run(graph, spec, "workload-fits-node-pool")
    assert {v.resource_name for v in report.violations} == {
        "mlops-services-endpoint-churn-gpu-stable-deployment",
        "mlops-services-training-churn-mlp-cronjob",
        "mlops-services-training-churn-mlp-bootstrap",
    }
    for v in report.violations:
        assert v.mandatory
        assert "mlops-gpu-l4-nodes (taint dedicated=ml:NoSchedule not tolerated)" in v.message
        assert "A taint is the reason: mlops-gpu-l4-nodes carries dedicated=ml:NoSchedule" in v.message
        assert "GpuPoolSpec.taints" in v.message


def test_a_selector_no_pool_matches(previews: Previews) -> None:
    def retarget(graph: ResourceGraph) -> None:
        dep = named(graph, "mlops-services-endpoint-churn-gpu-stable-deployment")
        dep.inputs["spec"]["template"]["spec"]["nodeSelector"] = {"pulumi-mlops.io/gpu-pool": "a100"}

    graph, spec = broken(previews, "dev+node-groups", retarget)
    found = _only(run(graph, spec, "workload-fits-node-pool"), "workload-fits-node-pool")
    assert found.resource_name == "mlops-services-endpoint-churn-gpu-stable-deployment"
    assert "can land on no node pool" in found.message
    assert "mlops-gpu-l4-nodes (nodeSelector pulumi-mlops.io/gpu-pool=a100 (its nodes have " in found.message
    assert "pulumi-mlops.io/gpu-pool=l4" in found.message


def _with_init(cpu: str) -> Callable[[ResourceGraph], None]:
    def add(graph: ResourceGraph) -> None:
        pod = named(graph, "mlops-services-mlflow-deployment").inputs["spec"]["template"]["spec"]
        pod["initContainers"] = [
            {"name": "migrate", "image": "x:1", "resources": {"requests": {"cpu": cpu, "memory": "1Gi"}}}
        ]

    return add


def test_init_containers_count_once_not_on_top_of_the_app(previews: Previews) -> None:
    """3.5 CPU of init plus the 0.5 CPU server would not fit a 3.92-CPU node; Kubernetes takes the larger."""
    graph, spec = broken(previews, "dev", _with_init("3500m"))
    assert run(graph, spec, "workload-fits-node-pool").violations == []


def test_an_init_container_larger_than_any_node(previews: Previews) -> None:
    graph, spec = broken(previews, "dev+node-groups", _with_init("4"))
    found = _only(run(graph, spec, "workload-fits-node-pool"), "workload-fits-node-pool")
    assert found.resource_name == "mlops-services-mlflow-deployment"
    assert "requests 4.00 CPU, 1024 Mi per pod" in found.message


def test_gke_system_pool_too_small_for_the_training_job(previews: Previews) -> None:
    def shrink(graph: ResourceGraph) -> None:
        named(graph, "mlops-gke-system").inputs["nodeConfig"]["machineType"] = "e2-standard-2"
        # Without node auto-provisioning nothing but the system pool can take the job (the next test has it on).
        del named(graph, "mlops-gke-cluster").inputs["clusterAutoscaling"]

    graph, spec = broken(previews, "gcp-dev", shrink)
    report = run(graph, spec, "workload-fits-node-pool")
    found = _with_bootstrap(report, "workload-fits-node-pool", "mlops-services-training-churn-cronjob")
    assert found.mandatory
    assert "mlops-gke-system (e2-standard-2: 1.93 CPU, 5511 Mi)" in found.message


def test_node_auto_provisioning_counts_as_a_pool_when_the_cluster_enables_it(previews: Previews) -> None:
    def shrink_but_autoprovision(graph: ResourceGraph) -> None:
        named(graph, "mlops-gke-system").inputs["nodeConfig"]["machineType"] = "e2-standard-2"
        named(graph, "mlops-gke-cluster").inputs["clusterAutoscaling"] = {
            "enabled": True,
            "resourceLimits": [
                {"resourceType": "cpu", "maximum": 32.0},
                {"resourceType": "memory", "maximum": 128.0},
            ],
        }

    graph, spec = broken(previews, "gcp-dev", shrink_but_autoprovision)
    assert run(graph, spec, "workload-fits-node-pool").violations == []


def test_auto_provisioning_takes_only_what_the_limits_leave_over_the_node_pools(previews: Previews) -> None:
    def shrink_with_no_headroom(graph: ResourceGraph) -> None:
        named(graph, "mlops-gke-system").inputs["nodeConfig"]["machineType"] = "e2-standard-2"
        limits = named(graph, "mlops-gke-cluster").inputs["clusterAutoscaling"]["resourceLimits"]
        for limit in limits:
            if limit["resourceType"] == "cpu":
                limit["maximum"] = 3 * 2.0 + 2 * 8.0  # the system and GPU pools at their maxima: GKE counts them all

    graph, spec = broken(previews, "gcp-dev", shrink_with_no_headroom)
    report = run(graph, spec, "workload-fits-node-pool")
    found = _with_bootstrap(report, "workload-fits-node-pool", "mlops-services-training-churn-cronjob")
    assert found.mandatory


# --- node-pool-type-known -------------------------------------------------------------------


def test_an_instance_type_missing_from_the_table(previews: Previews) -> None:
    def exotic(graph: ResourceGraph) -> None:
        named(graph, "mlops-cluster-system").inputs["instanceTypes"] = ["m9z.large"]

    graph, spec = broken(previews, "dev", exotic)
    found = _only(run(graph, spec, "node-pool-type-known"), "node-pool-type-known")
    assert found.resource_name == "mlops-cluster-system" and found.mandatory
    assert "uses m9z.large, which the capacity table does not know" in found.message
    assert "pulumi_mlops/spec/instances.py INSTANCE_TYPES" in found.message
    assert run(graph, spec, "workload-fits-node-pool").violations == [], "an unknown pool is not judged twice"


# --- gpu-pool-demand-fits -------------------------------------------------------------------


def test_dev_pool_maximum_without_room_for_training(previews: Previews) -> None:
    """The dev defect: a pool whose maximum the serving floor fills, so the 2-node training job never starts."""

    def cap(graph: ResourceGraph) -> None:
        named(graph, "mlops-gpu-l4-nodes").inputs["scalingConfig"]["maxSize"] = 2.0

    graph, spec = broken(previews, "dev+node-groups", cap)
    found = _only(run(graph, spec, "gpu-pool-demand-fits"), "gpu-pool-demand-fits")
    assert found.resource_name == "mlops-gpu-l4-nodes" and found.mandatory
    assert "max 2 nodes x 1 GPUs = 2 GPUs cannot hold its demand of 3 GPUs" in found.message
    assert "serving floor 1 GPUs (churn-gpu-stable 1 x 1)" in found.message
    assert "largest job train-churn-mlp 2 pods x 1 GPUs = 2" in found.message
    assert "raise max_nodes of gpu_pools (l4) so it holds at least 3 GPUs" in found.message


def test_every_track_counts_towards_the_floor(previews: Previews) -> None:
    def cap(graph: ResourceGraph) -> None:
        named(graph, "mlops-gpu-l4-nodes").inputs["scalingConfig"]["maxSize"] = 3.0

    graph, spec = broken(previews, "staging", cap)
    found = _only(run(graph, spec, "gpu-pool-demand-fits"), "gpu-pool-demand-fits")
    assert "cannot hold its demand of 4 GPUs" in found.message
    assert "churn-gpu-shadow 1 x 1" in found.message and "churn-gpu-stable 1 x 1" in found.message


def test_pods_that_do_not_share_a_node_need_more_nodes_than_the_pool_has(previews: Previews) -> None:
    """Four 2-GPU pods fit 2 x 4 GPUs by count, but at 120 GiB each only one pod fits a g5.12xlarge."""

    def resize(graph: ResourceGraph) -> None:
        job = named(graph, "mlops-services-training-churn-mlp-cronjob")
        spec = job.inputs["spec"]["jobTemplate"]["spec"]
        spec["parallelism"] = spec["completions"] = 4.0
        requests = _containers(job)[0]["resources"]["requests"]
        requests.update({"memory": "120Gi", "nvidia.com/gpu": "2"})

    graph, spec = broken(previews, "prod+node-groups", resize)
    found = _only(run(graph, spec, "gpu-pool-demand-fits"), "gpu-pool-demand-fits")
    assert found.resource_name == "mlops-gpu-a10g-train-nodes" and found.mandatory
    assert "needs 4 nodes for its demand but may grow to 2" in found.message
    assert "pods do not split across nodes" in found.message


# --- gpu-stack-demand-fits ------------------------------------------------------------------


def test_stack_gpu_demand_over_the_stack_cap(previews: Previews) -> None:
    graph, spec = baseline(previews, "prod+node-groups")
    report = run(graph, spec, "gpu-stack-demand-fits", config={"gpu-stack-demand-fits": {"maxGpusPerStack": 8}})
    found = _only(report, "gpu-stack-demand-fits")
    assert found.mandatory and found.resource_name == "mlops-gpu-a10g-train-nodes"
    assert "GPU demand of the stack is 11 GPUs, over maxGpusPerStack (8)" in found.message
    assert "mlops-gpu-l4-nodes: 3" in found.message and "mlops-gpu-a10g-train-nodes: 8" in found.message


# --- gpu-pool-floor-blocks-scale-to-zero ----------------------------------------------------


def test_a_serving_floor_on_a_pool_declared_to_scale_to_zero(previews: Previews) -> None:
    def zero(graph: ResourceGraph) -> None:
        named(graph, "mlops-gpu-l4-nodes").inputs["scalingConfig"]["minSize"] = 0.0

    graph, spec = broken(previews, "staging", zero)
    found = _only(run(graph, spec, FLOOR), FLOOR)
    assert found.resource_name == "mlops-gpu-l4-nodes" and not found.mandatory
    assert "churn-gpu-shadow (1 pods), Deployment mlops-serving/churn-gpu-stable (1 pods)" in found.message
    assert "at least 2 node(s) stay up" in found.message


# --- Karpenter and pool taints, through the real program ------------------------------------


@pytest.fixture(scope="module")
def karpenter() -> Iterator[tuple[ResourceGraph, PlatformSpec]]:
    def use_karpenter(raw: dict[str, Any]) -> None:
        raw["autoscaler"] = "karpenter"

    yield _preview_with("dev", use_karpenter)


def test_karpenter_pools_pass(karpenter: tuple[ResourceGraph, PlatformSpec]) -> None:
    graph, spec = karpenter
    assert not graph.of_type("aws:eks/nodeGroup:NodeGroup")[1:], "GPU pools are Karpenter NodePools"
    assert run(graph, spec, *MANDATORY).violations == []


def test_karpenter_gpu_limit_below_the_demand(karpenter: tuple[ResourceGraph, PlatformSpec]) -> None:
    import copy

    graph = copy.deepcopy(karpenter[0])
    pool = first(graph, "kubernetes:karpenter.sh/v1:NodePool", lambda r: r.inputs["metadata"]["name"] == "l4")
    pool.inputs["spec"]["limits"] = {"nvidia.com/gpu": "2"}
    found = _only(run(graph, karpenter[1], "gpu-pool-demand-fits"), "gpu-pool-demand-fits")
    assert found.resource_name == pool.name and found.mandatory
    assert "= 2 GPUs cannot hold its demand of 3 GPUs" in found.message


def test_karpenter_requirements_no_table_type_satisfies(karpenter: tuple[ResourceGraph, PlatformSpec]) -> None:
    import copy

    graph = copy.deepcopy(karpenter[0])
    pool = first(graph, "kubernetes:karpenter.sh/v1:NodePool", lambda r: r.inputs["metadata"]["name"] == "l4")
    for req in pool.inputs["spec"]["template"]["spec"]["requirements"]:
        if req["key"] == "node.kubernetes.io/instance-type":
            req["values"] = ["g6.xlarge"]
    pool.inputs["spec"]["limits"] = {"nvidia.com/gpu": "0"}
    found = _only(run(graph, karpenter[1], "node-pool-type-known"), "node-pool-type-known")
    assert found.resource_name == pool.name
    assert "no instance type in pulumi_mlops/spec/instances.py INSTANCE_TYPES satisfies its requirements" in (
        found.message
    )


def test_spec_taints_on_a_gpu_pool_are_tolerated_by_its_workloads() -> None:
    def taint_l4(raw: dict[str, Any]) -> None:
        raw["autoscaler"] = "cluster-autoscaler"
        raw["gpu_pools"][0]["taints"] = [{"key": "dedicated", "value": "ml"}]

    graph, spec = _preview_with("dev", taint_l4)
    pool = named(graph, "mlops-gpu-l4-nodes")
    assert {"key": "dedicated", "value": "ml", "effect": "NO_SCHEDULE"} in pool.inputs["taints"]
    stable = named(graph, "mlops-services-endpoint-churn-gpu-stable-deployment")
    tolerations = stable.inputs["spec"]["template"]["spec"]["tolerations"]
    assert {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"} in tolerations
    assert run(graph, spec, *MANDATORY).violations == []
