"""GKE settings of the spec: zones checked against the accelerator table, capacity order, queued provisioning, GPU
sharing, and the Gateway's exposure and TLS. Each rule is broken once from a valid stack file."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from pulumi_mlops.preview import repo_root
from pulumi_mlops.spec import CONFIG_KEY, PlatformSpec, SpecError, parse_spec
from pulumi_mlops.spec.accelerators import GCP_GPU_ZONES, gpu_zones
from pulumi_mlops.spec.gke import obtainability, pool_zones, public_endpoints

ROOT = repo_root()


def raw_config(stack: str) -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    return copy.deepcopy(doc["config"][CONFIG_KEY])


def errors_of(raw: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as err:
        parse_spec(raw)
    return str(err.value)


def prod_pool(raw: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in raw["gpu_pools"] if p["name"] == name)


# --- zones --------------------------------------------------------------------------------------------------


def test_zones_default_to_every_zone_of_the_region_that_offers_the_accelerator() -> None:
    spec = parse_spec(raw_config("gcp-prod"))
    assert pool_zones(spec, spec.pool("l4")) == ["europe-west4-a", "europe-west4-b", "europe-west4-c"]
    assert pool_zones(spec, spec.pool("a100-train")) == ["europe-west4-a"]
    assert gpu_zones("nvidia-tesla-a100", "europe-west4") == ("europe-west4-a", "europe-west4-b")
    assert gpu_zones("nvidia-tesla-t4", "europe-west4") is None, "T4 zones are named by the pool"
    assert all(z.startswith(f"{r}-") for table in GCP_GPU_ZONES.values() for r, zones in table.items() for z in zones)


def test_a_zone_without_the_accelerator_is_refused_with_the_zones_that_have_it() -> None:
    raw = raw_config("gcp-prod")
    prod_pool(raw, "a100-train")["gke"]["zones"] = ["europe-west4-c"]
    assert (
        "gpu_pools[1] (a100-train).gke.zones: europe-west4-c offer(s) no nvidia-tesla-a100; zones of europe-west4 "
        "that do: europe-west4-a, europe-west4-b"
    ) in errors_of(raw)


def test_a_zone_of_another_region_is_refused() -> None:
    raw = raw_config("gcp-prod")
    prod_pool(raw, "l4")["gke"]["zones"] = ["us-central1-a"]
    assert "gpu_pools[0] (l4).gke.zones: 'us-central1-a' is not a zone of europe-west4" in errors_of(raw)


def test_an_accelerator_the_region_does_not_offer_is_refused_with_the_regions_that_do() -> None:
    raw = raw_config("gcp-dev")
    raw["gpu_pools"][0].update(accelerator="nvidia-a100-80gb", instance_type="a2-ultragpu-1g")
    raw["region"] = "europe-west1"
    message = errors_of(raw)
    assert "gpu_pools[0] (l4): nvidia-a100-80gb is not offered in europe-west1; regions that offer it:" in message
    assert "europe-west4" in message


def test_an_accelerator_missing_from_the_table_must_name_its_zones() -> None:
    raw = raw_config("gcp-dev")
    raw["gpu_pools"][0].update(accelerator="nvidia-tesla-t4", instance_type="n1-standard-8")
    raw["gpu_pools"][0]["gke"] = {}
    assert "gpu_pools[0] (l4).gke.zones: the zone table (pulumi_mlops/spec/accelerators.py) does not list" in (
        errors_of(raw)
    )
    raw["gpu_pools"][0]["gke"] = {"zones": ["europe-west4-b"]}
    assert pool_zones(parse_spec(raw), parse_spec(raw).pool("l4")) == ["europe-west4-b"]


def test_multi_node_training_needs_one_zone_and_a_machine_that_takes_compact_placement() -> None:
    raw = raw_config("gcp-prod")
    prod_pool(raw, "a100-train")["gke"]["zones"] = ["europe-west4-a", "europe-west4-b"]
    assert (
        "gpu_pools[1] (a100-train).gke.zones: training[0] (churn-mlp) run(s) several nodes on this pool, so its "
        "nodes are placed compactly"
    ) in errors_of(raw)
    raw = raw_config("gcp-dev")
    raw["gpu_pools"][0].update(accelerator="nvidia-tesla-t4", instance_type="n1-standard-8", max_nodes=2)
    raw["gpu_pools"][0]["gke"] = {"zones": ["europe-west4-b"]}
    raw["training"].append(
        {
            "name": "dist",
            "nodes": 2,
            "gpu_pool": "l4",
            "resources": {"cpu": "2", "memory": "4Gi", "gpus": 1},
            "training": {"model": {"name": "churn-mlp"}, "estimator": "mlp"},
        }
    )
    assert "training[1] (dist) need(s) compact placement, which n1-standard-8 does not take" in errors_of(raw)


# --- capacity order -----------------------------------------------------------------------------------------


def test_obtainability_defaults_to_the_pools_own_capacity() -> None:
    dev = parse_spec(raw_config("gcp-dev"))
    assert obtainability(dev.pool("l4")) == ["spot"]
    raw = raw_config("gcp-prod")
    del prod_pool(raw, "l4")["gke"]["obtainability"]
    assert obtainability(parse_spec(raw).pool("l4")) == ["reservation", "on_demand"]


def test_obtainability_must_include_the_capacity_of_the_pools_own_node_pool() -> None:
    raw = raw_config("gcp-prod")
    prod_pool(raw, "l4")["gke"]["obtainability"] = ["flex_start", "spot"]
    assert "gpu_pools[0] (l4).gke.obtainability: lacks reservation or on_demand" in errors_of(raw)


def test_obtainability_lists_each_capacity_once() -> None:
    raw = raw_config("gcp-prod")
    prod_pool(raw, "l4")["gke"]["obtainability"] = ["on_demand", "spot", "on_demand"]
    assert "list each capacity type once" in errors_of(raw)


# --- queued provisioning ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"spot": True}, "gpu_pools[1] (a100-train).spot: queued provisioning obtains flex-start capacity"),
        ({"min_nodes": 1}, "gpu_pools[1] (a100-train).min_nodes: a queued-provisioning pool starts at zero"),
        (
            {"gke": {"zones": ["europe-west4-a"], "queued_provisioning": True, "obtainability": ["on_demand"]}},
            "gpu_pools[1] (a100-train).gke.obtainability: a queued-provisioning pool gets its nodes",
        ),
    ],
)
def test_a_queued_pool_is_flex_start_capacity_from_zero(change: dict[str, Any], expected: str) -> None:
    raw = raw_config("gcp-prod")
    prod_pool(raw, "a100-train").update(change)
    assert expected in errors_of(raw)


def test_a_queued_pool_runs_training_jobs_only_and_within_seven_days() -> None:
    raw = raw_config("gcp-prod")
    raw["batch_jobs"][0].update(gpu_pool="a100-train", resources={"cpu": "1", "memory": "2Gi", "gpus": 1})
    assert "batch_jobs[0] (churn-nightly): runs on a100-train, whose nodes only come for queued training Jobs" in (
        errors_of(raw)
    )
    raw = raw_config("gcp-prod")
    raw["training"][0]["active_deadline_seconds"] = 8 * 24 * 3600
    assert "training[0] (churn-mlp).active_deadline_seconds: 691200 is longer than the seven days" in errors_of(raw)


# --- GPU sharing ---------------------------------------------------------------------------------------------


def test_a_shared_gpu_is_one_per_container() -> None:
    raw = raw_config("gcp-dev")
    raw["gpu_pools"][0].update(instance_type="g2-standard-24", gpus_per_node=2)
    raw["endpoints"][1]["resources"] = {"cpu": "1", "memory": "2Gi", "gpus": 2}
    assert "endpoints[1] (churn-gpu): asks for 2 GPUs on l4, whose GPUs are shared" in errors_of(raw)


def test_a_shared_pool_uses_its_own_node_pool_only() -> None:
    raw = raw_config("gcp-dev")
    raw["gpu_pools"][0]["gke"]["obtainability"] = ["spot", "on_demand"]
    assert "gpu_pools[0] (l4).gke.obtainability: on_demand: GKE creates no shared-GPU nodes" in errors_of(raw)


def test_gpu_sharing_takes_two_to_forty_eight_clients() -> None:
    raw = raw_config("gcp-dev")
    raw["gpu_pools"][0]["gke"]["gpu_sharing"]["max_shared_clients_per_gpu"] = 1
    assert "gpu_pools[0].gke.gpu_sharing.max_shared_clients_per_gpu: Input should be greater than or equal to 2" in (
        errors_of(raw)
    )


# --- ingress -------------------------------------------------------------------------------------------------


def test_prod_endpoints_are_internal_and_dev_ones_public_by_default() -> None:
    dev, prod = parse_spec(raw_config("gcp-dev")), parse_spec(raw_config("gcp-prod"))
    assert (public_endpoints(dev), public_endpoints(prod)) == (True, False)
    raw = raw_config("gcp-prod")
    raw["gke_ingress"]["public"] = True
    assert public_endpoints(parse_spec(raw)) is True


def test_tls_is_required_in_prod_and_for_public_endpoints() -> None:
    raw = raw_config("gcp-prod")
    del raw["gke_ingress"]
    assert "gke_ingress.hostnames: prod endpoints are served over TLS only" in errors_of(raw)
    raw = raw_config("gcp-dev")
    del raw["gke_ingress"]
    assert "gke_ingress.hostnames: public endpoints are served over TLS only" in errors_of(raw)
    raw["gke_ingress"] = {"public": False}
    assert parse_spec(raw).gke_ingress.hostnames == [], "an internal dev Gateway may serve plain HTTP"


def test_hostnames_are_dns_names() -> None:
    raw = raw_config("gcp-prod")
    raw["gke_ingress"]["hostnames"] = ["https://ml.acme.example"]
    assert "'https://ml.acme.example' is not a DNS name" in errors_of(raw)


@pytest.mark.parametrize(
    ("gateway_class", "public", "expected"),
    [
        ("gke-l7-global-external-managed", None, "gateway_class: 'gke-l7-global-external-managed' is not a regional"),
        ("gke-l7-rilb", True, "gke_ingress.public: true contradicts gateway_class 'gke-l7-rilb'"),
    ],
)
def test_an_explicit_gateway_class_must_be_regional_and_agree(
    gateway_class: str, public: bool | None, expected: str
) -> None:
    raw = raw_config("gcp-prod")
    raw["gateway_class"] = gateway_class
    if public is not None:
        raw["gke_ingress"]["public"] = public
    assert expected in errors_of(raw)


def test_gke_settings_are_refused_on_aws() -> None:
    raw = raw_config("dev")
    raw["gpu_pools"][0]["gke"] = {"zones": ["us-east-1a"]}
    raw["gke_ingress"] = {"public": False}
    message = errors_of(raw)
    assert "gpu_pools[0] (l4).gke: GKE settings on cloud aws: remove them" in message
    assert "gke_ingress: GKE settings on cloud aws: remove them" in message
    assert isinstance(parse_spec(raw_config("dev")), PlatformSpec)
