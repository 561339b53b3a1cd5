"""GCP parts of PlatformSpec: accelerator/machine-type checks, GKE network ranges, profile-resolved GKE fields."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from pulumi_mlops.preview import repo_root
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
    ("accelerator", "machine", "gpus"),
    [
        ("nvidia-l4", "g2-standard-24", 2),
        ("nvidia-h100-80gb", "a3-highgpu-8g", 8),
        ("nvidia-tesla-t4", "n1-standard-8", 2),
    ],
)
def test_valid_gcp_accelerator_combinations_pass(accelerator: str, machine: str, gpus: int) -> None:
    raw = with_pool(accelerator=accelerator, instance_type=machine, gpus_per_node=gpus)
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
