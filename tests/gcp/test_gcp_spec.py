"""GCP parts of PlatformSpec: accelerator/machine-type checks, GKE network ranges, profile-resolved GKE fields."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from pulumi_mlops.preview import PreviewResult, repo_root, run_program
from pulumi_mlops.spec import CONFIG_KEY, SpecError, parse_spec

ROOT = repo_root()


def raw_config(stack: str) -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    return copy.deepcopy(doc["config"][CONFIG_KEY])


def with_pool(**pool: Any) -> dict[str, Any]:
    raw = raw_config("gcp-dev")
    raw["gpu_pools"] = [{"name": "p", "min_nodes": 0, "max_nodes": 1, **pool}]
    raw["endpoints"][1]["gpu_pool"] = "p"
    return raw


MISMATCHES = [
    # (accelerator, machine type, gpus per node, expected message)
    (
        "nvidia-l4",
        "n1-standard-8",
        1,
        "gpu_pools[0] (p): nvidia-l4 needs a g2-* machine type, not 'n1-standard-8'",
    ),
    (
        "nvidia-h100-80gb",
        "a2-highgpu-1g",
        1,
        "gpu_pools[0] (p): nvidia-h100-80gb needs a a3-* machine type, not 'a2-highgpu-1g'",
    ),
    (
        "nvidia-tesla-a100",
        "a2-highgpu-4g",
        1,
        "gpu_pools[0] (p): a2-highgpu-4g carries 4 GPU(s), but gpus_per_node is 1",
    ),
    ("nvidia-tesla-t4", "g2-standard-8", 1, "nvidia-tesla-t4 needs a n1-* machine type, not 'g2-standard-8'"),
    ("nvidia-a10g", "g2-standard-8", 1, "accelerator 'nvidia-a10g' is not offered on gcp"),
]


@pytest.mark.parametrize(
    ("accelerator", "machine", "gpus", "expected"), MISMATCHES, ids=[m[0] + "@" + m[1] for m in MISMATCHES]
)
def test_accelerator_machine_type_mismatch_fails_with_a_clear_message(
    accelerator: str, machine: str, gpus: int, expected: str
) -> None:
    raw = with_pool(accelerator=accelerator, instance_type=machine, gpus_per_node=gpus)
    with pytest.raises(SpecError) as err:
        parse_spec(raw, source="Pulumi.gcp-dev.yaml")
    assert expected in str(err.value)
    assert "config.pulumi-mlops:platform" in str(err.value)


@pytest.mark.parametrize(
    ("accelerator", "machine", "gpus", "gke"),
    [
        ("nvidia-l4", "g2-standard-24", 2, {}),
        ("nvidia-h100-80gb", "a3-highgpu-8g", 8, {}),
        # T4s attach to N1 machines almost everywhere; the zone table leaves them out, so the pool names its zones.
        ("nvidia-tesla-t4", "n1-standard-8", 2, {"zones": ["europe-west4-b"]}),
    ],
)
def test_valid_gcp_accelerator_combinations_pass(
    accelerator: str, machine: str, gpus: int, gke: dict[str, Any]
) -> None:
    raw = with_pool(accelerator=accelerator, instance_type=machine, gpus_per_node=gpus, gke=gke)
    spec = parse_spec(raw)
    assert spec.pool("p").instance_type == machine
    assert spec.pool("p").gpu_driver_version == "LATEST"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("pods_cidr", "10.0.128.0/17", "network.cidr: 10.0.0.0/16 overlaps network.pods_cidr"),
        ("proxy_cidr", "10.68.0.0/23", "network.services_cidr: 10.68.0.0/20 overlaps network.proxy_cidr"),
        ("master_cidr", "172.16.0.0/24", "network.master_cidr: GKE needs a /28"),
    ],
)
def test_gke_network_ranges_must_be_disjoint(key: str, value: str, expected: str) -> None:
    raw = raw_config("gcp-dev")
    raw["network"] = {key: value}
    with pytest.raises(SpecError) as err:
        parse_spec(raw)
    assert expected in str(err.value)


def test_profiles_resolve_the_gke_fields_components_read() -> None:
    dev, prod = parse_spec(raw_config("gcp-dev")), parse_spec(raw_config("gcp-prod"))
    assert (dev.cluster.public_endpoint, dev.cluster.deletion_protection) == (False, False)
    assert dev.cluster.dns_endpoint and prod.cluster.dns_endpoint
    assert (prod.cluster.public_endpoint, prod.cluster.deletion_protection) == (False, True)
    assert dev.tracking.high_availability is False and prod.tracking.high_availability is True
    assert dev.feature_store.redis_replicas == 0 and prod.feature_store.redis_replicas > 0
    assert dev.pool("l4").spot is True and prod.pool("l4").spot is False


@pytest.mark.parametrize(
    ("accelerator", "machine", "fragment"),
    [
        ("nvidia-h100-80gb", "a3-megagpu-8g", "it carries nvidia-h100-mega-80gb"),
        ("nvidia-h100-80gb", "a3-ultragpu-8g", "it carries nvidia-h200-141gb"),
        ("nvidia-a100-80gb", "a2-highgpu-2g", "it carries nvidia-tesla-a100"),
        ("nvidia-l4", "g2-standard-6", "known nvidia-l4 types"),
    ],
)
def test_accelerator_optimized_machines_carry_exactly_one_gpu_model(
    accelerator: str, machine: str, fragment: str
) -> None:
    raw = raw_config("gcp-dev")
    raw["gpu_pools"][0].update(
        accelerator=accelerator, instance_type=machine, gpus_per_node=8 if "8g" in machine else 1
    )
    with pytest.raises(SpecError) as err:
        parse_spec(raw)
    assert f"does not carry {accelerator} ({fragment}" in str(err.value)


def test_disabled_driver_installation_is_refused_on_gke() -> None:
    raw = raw_config("gcp-dev")
    raw["gpu_pools"][0]["gpu_driver_version"] = "INSTALLATION_DISABLED"
    with pytest.raises(SpecError) as err:
        parse_spec(raw)
    assert "INSTALLATION_DISABLED leaves the nodes without NVIDIA drivers" in str(err.value)


def test_admin_principals_are_iam_members_and_get_cluster_admin() -> None:
    raw = raw_config("gcp-dev")
    raw["cluster"]["admin_principals"] = ["ml-admins@acme.example"]
    with pytest.raises(SpecError) as err:
        parse_spec(raw)
    assert "is not an IAM member on GCP: write 'user:" in str(err.value)
    from pulumi_mlops.components.gcp.cluster import CLUSTER_ADMIN_ROLE, GkeCluster, GkeClusterArgs

    spec = parse_spec({**raw, "cluster": {**raw["cluster"], "admin_principals": ["group:ml-admins@acme.example"]}})

    def program() -> None:
        GkeCluster(
            "gke",
            GkeClusterArgs(
                spec=spec.cluster,
                project="acme-ml-dev",
                region="europe-west4",
                cluster_name="c",
                network="n",
                subnetwork="s",
                master_cidr="172.16.0.32/28",
                node_service_account="nodes@acme-ml-dev.iam.gserviceaccount.com",
            ),
        )

    graph = run_program(program, config={})
    grants = [r.props for r in graph.of_type("gcp:projects/iAMMember:IAMMember")]
    assert grants == [{"project": "acme-ml-dev", "role": CLUSTER_ADMIN_ROLE, "member": "group:ml-admins@acme.example"}]


def test_memorystore_replicas_are_the_replica_count(previews: Callable[[str], PreviewResult]) -> None:
    prod = next(r.props for r in previews("gcp-prod").graph.of_type("gcp:redis/instance:Instance"))
    spec = previews("gcp-prod").spec.feature_store
    assert (prod["tier"], prod["replicaCount"]) == ("STANDARD_HA", spec.redis_replicas)
    assert prod["readReplicasMode"] == ("READ_REPLICAS_ENABLED" if spec.redis_replicas > 1 else None)
    raw = raw_config("gcp-dev")
    raw["feature_store"] = {"redis_replicas": 2, "redis_memory_gb": 1}
    with pytest.raises(SpecError) as err:
        parse_spec(raw)
    assert "Memorystore offers from 5 GB" in str(err.value)
