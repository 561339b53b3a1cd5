"""The GKE GPU layer in the preview graph: node auto-provisioning limits, a ComputeClass per pool with the spec's
capacity order, zones and compact placement, GPU sharing, and DWS queued provisioning through Kueue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pulumi_mlops.preview import CapturedResource, PreviewResult, ResourceGraph
from pulumi_mlops.spec.gke import pool_zones
from pulumi_mlops.spec.instances import instance_type

STACKS = ("gcp-dev", "gcp-prod")
Previews = Callable[[str], PreviewResult]

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
COMPUTE_CLASS = "kubernetes:cloud.google.com/v1:ComputeClass"
KUEUE = "kubernetes:kueue.x-k8s.io/v1beta2"
RELEASE = "kubernetes:helm.sh/v3:Release"
FIREWALL = "gcp:compute/firewall:Firewall"


def pools(graph: ResourceGraph) -> dict[str, dict[str, Any]]:
    return {r.props["name"]: r.props for r in graph.of_type(NODE_POOL)}


def classes(graph: ResourceGraph) -> dict[str, CapturedResource]:
    return {r.props["metadata"]["name"]: r for r in graph.of_type(COMPUTE_CLASS)}


def kueue(graph: ResourceGraph, kind: str) -> list[CapturedResource]:
    return graph.of_type(f"{KUEUE}:{kind}")


def waits_for(graph: ResourceGraph, res: CapturedResource, target: CapturedResource) -> bool:
    """``res`` waits for ``target``, through dependencies, property dependencies or parents' dependencies."""
    seen: set[str] = set()
    stack = [res.urn]
    while stack:
        urn = stack.pop()
        if urn in seen or urn not in graph.resources:
            continue
        seen.add(urn)
        current = graph.resources[urn]
        stack.extend(current.dependencies)
        for deps in current.property_dependencies.values():
            stack.extend(deps)
    return target.urn in seen


# --- node auto-provisioning ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_auto_provisioning_limits_add_up_to_the_pools_maxima(previews: Previews, stack: str) -> None:
    result = previews(stack)
    spec, graph = result.spec, result.graph
    autoscaling = graph.of_type(CLUSTER)[0].props["clusterAutoscaling"]
    assert autoscaling["enabled"] is True
    limits = {r["resourceType"]: r["maximum"] for r in autoscaling["resourceLimits"]}
    nodes = [(spec.cluster.system_instance_type or "e2-standard-4", spec.cluster.system_max_nodes)]
    nodes += [(p.instance_type, p.max_nodes) for p in spec.gpu_pools]
    machines = [(instance_type("gcp", n), count) for n, count in nodes]
    assert limits["cpu"] == sum(m.vcpus * c for m, c in machines if m)
    assert limits["memory"] == sum(-(-m.memory_mib // 1024) * c for m, c in machines if m)
    gpu_limits = {k: v for k, v in limits.items() if k.startswith("nvidia-")}
    assert gpu_limits == {p.accelerator: float(p.max_gpus) for p in spec.gpu_pools}
    # GKE counts every node pool against these limits: the auto-created pools never raise the spec's GPU caps.
    assert sum(gpu_limits.values()) == spec.max_gpus <= spec.cost.max_gpus_per_stack
    defaults = autoscaling["autoProvisioningDefaults"]
    nodes_sa = next(p["nodeConfig"]["serviceAccount"] for p in pools(graph).values())
    assert defaults["serviceAccount"] == nodes_sa
    assert defaults["oauthScopes"] == ["https://www.googleapis.com/auth/cloud-platform"]
    assert defaults["management"] == {"autoRepair": True, "autoUpgrade": True}
    assert defaults["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}


# --- ComputeClasses ------------------------------------------------------------------------------------------


def test_prod_l4_class_tries_its_pool_then_flex_start_then_spot(previews: Previews) -> None:
    result = previews("gcp-prod")
    graph, spec = result.graph, result.spec
    cls = classes(graph)["gpu-l4"]
    body = cls.props["spec"]
    rules = body["priorities"]
    assert rules[0] == {"nodepools": ["gpu-l4"]}, "the pool's own node pool stands for reservation and on-demand"
    machine = {
        "machineType": "g2-standard-8",
        "gpu": {"type": "nvidia-l4", "count": 1.0, "driverVersion": "latest"},
        "storage": {"bootDiskSize": 100.0, "bootDiskType": "pd-balanced"},
    }
    assert rules[1] == {
        **machine,
        "flexStart": {"enabled": True, "nodeRecycling": {"leadTimeSeconds": 3600.0}},
        "maxRunDurationSeconds": 604800.0,
    }
    assert rules[2] == {**machine, "spot": True}
    assert body["nodePoolAutoCreation"] == {"enabled": True}
    assert body["whenUnsatisfiable"] == "DoNotScaleUp"
    assert body["activeMigration"] == {"optimizeRulePriority": True}
    assert body["priorityDefaults"] == {"location": {"zones": pool_zones(spec, spec.pool("l4"))}}
    config = body["nodePoolConfig"]
    assert config["nodeLabels"] == {"pulumi-mlops.io/gpu-pool": "l4", "pulumi-mlops.io/accelerator": "nvidia-l4"}
    assert config["serviceAccount"] == pools(graph)["gpu-l4"]["nodeConfig"]["serviceAccount"]
    assert config["imageStreaming"] == {"enabled": True}
    node_pool = next(r for r in graph.of_type(NODE_POOL) if r.props["name"] == "gpu-l4")
    assert waits_for(graph, cls, node_pool)


def test_a_reservation_after_a_spot_pool_becomes_a_rule_of_its_own() -> None:
    from pulumi_mlops.components.gcp.compute_classes import priority_rules

    from pulumi_mlops.spec import GpuPoolSpec

    pool = GpuPoolSpec.model_validate(
        {
            "name": "l4",
            "accelerator": "nvidia-l4",
            "instance_type": "g2-standard-8",
            "spot": True,
            "gke": {"obtainability": ["reservation", "spot", "on_demand"]},
        }
    )
    rules = priority_rules(pool)
    assert rules[0]["reservations"] == {"affinity": "AnyBestEffort"} and rules[0]["spot"] is False
    assert rules[1] == {"nodepools": ["gpu-l4"]}
    assert rules[2]["spot"] is False and "reservations" not in rules[2]


@pytest.mark.parametrize("stack", STACKS)
def test_pools_with_a_class_carry_its_label_and_taint_and_their_pods_select_it(previews: Previews, stack: str) -> None:
    result = previews(stack)
    graph, spec = result.graph, result.spec
    node_pools = pools(graph)
    for pool in spec.gpu_pools:
        node = node_pools[f"gpu-{pool.name}"]["nodeConfig"]
        if pool.gke.queued_provisioning:
            assert "cloud.google.com/compute-class" not in node["labels"]
            continue
        name = f"gpu-{pool.name}"
        assert name in classes(graph)
        assert node["labels"]["cloud.google.com/compute-class"] == name
        assert {"key": "cloud.google.com/compute-class", "value": name, "effect": "NO_SCHEDULE"} in node["taints"]
        deployments = [
            d.props["spec"]["template"]["spec"]
            for d in graph.of_type("kubernetes:apps/v1:Deployment")
            if (d.props["spec"]["template"]["spec"].get("nodeSelector") or {}).get("pulumi-mlops.io/gpu-pool")
            == pool.name
        ]
        assert deployments, f"a Deployment runs on {pool.name}"
        for pod in deployments:
            assert pod["nodeSelector"]["cloud.google.com/compute-class"] == name
            assert {
                "key": "cloud.google.com/compute-class",
                "operator": "Equal",
                "value": name,
                "effect": "NoSchedule",
            } in (pod["tolerations"])


@pytest.mark.parametrize("stack", STACKS)
def test_gpu_pools_are_pinned_to_the_zones_that_offer_their_accelerator(previews: Previews, stack: str) -> None:
    result = previews(stack)
    node_pools = pools(result.graph)
    for pool in result.spec.gpu_pools:
        assert node_pools[f"gpu-{pool.name}"]["nodeLocations"] == pool_zones(result.spec, pool)


def test_the_multi_node_training_pool_is_compactly_placed_in_one_zone(previews: Previews) -> None:
    node_pools = pools(previews("gcp-prod").graph)
    assert node_pools["gpu-a100-train"]["placementPolicy"] == {"type": "COMPACT"}
    assert node_pools["gpu-a100-train"]["nodeLocations"] == ["europe-west4-a"]
    assert "placementPolicy" not in node_pools["gpu-l4"], "a serving pool spreads over the zones"


def test_on_demand_pools_consume_reservations_and_spot_pools_do_not(previews: Previews) -> None:
    prod, dev = pools(previews("gcp-prod").graph), pools(previews("gcp-dev").graph)
    assert prod["gpu-l4"]["nodeConfig"]["reservationAffinity"] == {"consumeReservationType": "ANY_RESERVATION"}
    assert dev["gpu-l4"]["nodeConfig"]["reservationAffinity"] == {"consumeReservationType": "NO_RESERVATION"}


# --- GPU sharing ---------------------------------------------------------------------------------------------


def test_dev_l4_gpus_are_time_shared_and_the_endpoint_asks_for_one_shared_gpu(previews: Previews) -> None:
    graph = previews("gcp-dev").graph
    accelerator = pools(graph)["gpu-l4"]["nodeConfig"]["guestAccelerators"][0]
    assert accelerator["gpuSharingConfig"] == {"gpuSharingStrategy": "TIME_SHARING", "maxSharedClientsPerGpu": 4.0}
    cls = classes(graph)["gpu-l4"].props["spec"]
    assert cls["priorities"] == [{"nodepools": ["gpu-l4"]}], "GKE auto-creates no shared-GPU nodes"
    assert cls["nodePoolAutoCreation"] == {"enabled": False}
    server = graph.named("mlops-services-endpoint-churn-gpu-stable-deployment").props["spec"]["template"]["spec"]
    assert server["nodeSelector"]["cloud.google.com/gke-gpu-sharing-strategy"] == "time-sharing"
    assert server["nodeSelector"]["cloud.google.com/gke-max-shared-clients-per-gpu"] == "4"
    assert server["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"


# --- DWS queued provisioning through Kueue -------------------------------------------------------------------


def test_the_queued_pool_scales_for_provisioning_requests_only(previews: Previews) -> None:
    pool = pools(previews("gcp-prod").graph)["gpu-a100-train"]
    assert pool["queuedProvisioning"] == {"enabled": True}
    assert pool["nodeConfig"]["flexStart"] is True
    assert pool["nodeConfig"]["reservationAffinity"] == {"consumeReservationType": "NO_RESERVATION"}
    assert pool["nodeConfig"]["spot"] is False
    assert pool["management"]["autoRepair"] is False
    assert pool["autoscaling"]["totalMinNodeCount"] == 0.0
    assert "gpu-a100-train" not in classes(previews("gcp-prod").graph)


def test_kueue_is_pinned_and_admits_training_jobs_through_a_provisioning_request(previews: Previews) -> None:
    result = previews("gcp-prod")
    graph, spec = result.graph, result.spec
    release = next(r for r in graph.of_type(RELEASE) if r.props["chart"].endswith("/kueue"))
    assert release.props["chart"] == "oci://registry.k8s.io/kueue/charts/kueue"
    assert release.props["version"] == "0.19.2"
    image = release.props["values"]["controllerManager"]["manager"]["image"]
    assert (image["repository"], image["tag"]) == ("registry.k8s.io/kueue/kueue", "v0.19.2")

    (config,) = kueue(graph, "ProvisioningRequestConfig")
    assert config.props["spec"]["provisioningClassName"] == "queued-provisioning.gke.io"
    assert config.props["spec"]["managedResources"] == ["nvidia.com/gpu"]
    assert config.props["spec"]["parameters"] == {
        "maxRunDurationSeconds": str(spec.training[0].active_deadline_seconds)
    }
    (check,) = kueue(graph, "AdmissionCheck")
    assert check.props["spec"]["controllerName"] == "kueue.x-k8s.io/provisioning-request"
    assert check.props["spec"]["parameters"]["name"] == config.props["metadata"]["name"]
    (flavor,) = kueue(graph, "ResourceFlavor")
    assert flavor.props["spec"] == {"nodeLabels": {"pulumi-mlops.io/gpu-pool": "a100-train"}}
    (queue,) = kueue(graph, "ClusterQueue")
    body = queue.props["spec"]
    assert body["admissionChecksStrategy"] == {"admissionChecks": [{"name": check.props["metadata"]["name"]}]}
    pool = spec.pool("a100-train")
    machine = instance_type("gcp", pool.instance_type)
    assert machine is not None
    quotas = {r["name"]: r["nominalQuota"] for r in body["resourceGroups"][0]["flavors"][0]["resources"]}
    assert quotas == {
        "cpu": str(machine.vcpus * pool.max_nodes),
        "memory": f"{machine.memory_mib * pool.max_nodes}Mi",
        "nvidia.com/gpu": float(pool.max_gpus),
    }
    (local,) = kueue(graph, "LocalQueue")
    assert local.props["metadata"]["namespace"] == "mlops-training"
    assert local.props["spec"] == {"clusterQueue": queue.props["metadata"]["name"]}
    for res in (config, check, flavor, queue, local):
        assert waits_for(graph, res, release), f"{res.name} waits for the chart that installs its CRD"
    assert waits_for(graph, local, queue)


def test_training_jobs_on_the_queued_pool_are_created_suspended_in_the_queue(previews: Previews) -> None:
    graph = previews("gcp-prod").graph
    (local,) = kueue(graph, "LocalQueue")
    cron = graph.named("mlops-services-training-churn-mlp-cronjob")
    bootstrap = graph.named("mlops-services-training-churn-mlp-bootstrap")
    template = cron.props["spec"]["jobTemplate"]
    for labels, job_spec in (
        (template["metadata"]["labels"], template["spec"]),
        (bootstrap.props["metadata"]["labels"], bootstrap.props["spec"]),
    ):
        assert labels["kueue.x-k8s.io/queue-name"] == local.props["metadata"]["name"]
        assert job_spec["suspend"] is True
        assert job_spec["template"]["spec"]["nodeSelector"] == {"pulumi-mlops.io/gpu-pool": "a100-train"}
    assert waits_for(graph, cron, local) and waits_for(graph, bootstrap, local)
    other = graph.named("mlops-services-batch-churn-nightly-cronjob")
    assert "kueue.x-k8s.io/queue-name" not in other.props["spec"]["jobTemplate"]["metadata"]["labels"]


def test_the_control_plane_reaches_kueues_webhook(previews: Previews) -> None:
    result = previews("gcp-prod")
    (rule,) = result.graph.of_type(FIREWALL)
    assert rule.props["direction"] == "INGRESS"
    assert rule.props["sourceRanges"] == [result.spec.network.master_cidr]
    assert rule.props["allows"] == [{"protocol": "tcp", "ports": ["9443"]}]
    assert previews("gcp-dev").graph.of_type(FIREWALL) == [], "no queued pool, no Kueue"
    assert kueue(previews("gcp-dev").graph, "ClusterQueue") == []
