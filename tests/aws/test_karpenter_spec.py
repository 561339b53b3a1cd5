"""The Karpenter fields of the spec: profile defaults, and the rules that fail loudly with the path and the fix."""

from __future__ import annotations

from typing import Any

import pytest
from aws_support import stack_raw

from pulumi_mlops.spec import SpecError, parse_spec


def karpenter_raw(stack: str = "dev", **pool: Any) -> dict[str, Any]:
    raw = stack_raw(stack)
    raw["autoscaler"] = "karpenter"
    raw["gpu_pools"][0].update(pool)
    return raw


def test_profiles_set_the_cpu_pool_and_the_spot_fallback() -> None:
    dev, staging, prod = (parse_spec(stack_raw(s)) for s in ("dev", "staging", "prod"))
    assert (dev.karpenter.cpu_spot, dev.karpenter.cpu_max_vcpus) == (True, 32)
    assert (staging.karpenter.cpu_spot, staging.karpenter.cpu_max_vcpus) == (True, 64)
    assert (prod.karpenter.cpu_spot, prod.karpenter.cpu_max_vcpus) == (False, 256)
    assert dev.pool("l4").on_demand_fallback is False, "dev GPU pools stay on spot"
    assert staging.pool("l4").on_demand_fallback is True
    assert prod.pool("a10g-train").on_demand_fallback is True
    assert (dev.autoscaler, staging.autoscaler, prod.autoscaler) == ("karpenter", "cluster-autoscaler", "karpenter")
    assert not any(p.instance_families or p.single_zone or p.efa for p in dev.gpu_pools)
    train = prod.pool("a10g-train")
    assert (train.single_zone, train.efa) == (True, True), "prod's multi-node training pool: one zone, EFA"


def test_karpenter_is_the_aws_default_unless_the_cluster_is_attached() -> None:
    raw = stack_raw("dev")
    raw.pop("autoscaler", None)
    assert parse_spec(raw).autoscaler == "karpenter"
    raw["cluster"]["existing"] = {"name": "shared-eks", "kubeconfig_secret": "kc"}
    assert parse_spec(raw).autoscaler == "cluster-autoscaler"
    gcp = stack_raw("gcp-dev")
    gcp.pop("autoscaler", None)
    assert parse_spec(gcp).autoscaler == "cluster-autoscaler"


def test_a_karpenter_pool_with_a_minimum_says_karpenter_keeps_none() -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(karpenter_raw(min_nodes=1))
    assert "gpu_pools[0] (l4).min_nodes: Karpenter keeps no minimum node count" in str(err.value)
    assert "set min_nodes to 0, or autoscaler: cluster-autoscaler" in str(err.value)


def test_a_valid_efa_pool_parses() -> None:
    raw = karpenter_raw("prod")
    raw["gpu_pools"][1].update({"instance_families": ["g5"], "single_zone": True, "efa": True})
    pool = parse_spec(raw).pool("a10g-train")
    assert (pool.instance_families, pool.single_zone, pool.efa) == (["g5"], True, True)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {
                **stack_raw("dev"),
                "autoscaler": "cluster-autoscaler",
                "gpu_pools": [{**stack_raw("dev")["gpu_pools"][0], "single_zone": True}],
            },
            "gpu_pools[0] (l4): single_zone shape Karpenter NodePools only: set autoscaler: karpenter (AWS) or remove",
        ),
        (
            karpenter_raw(instance_families=["g5"]),
            "gpu_pools[0] (l4).instance_families: 'g5' does not carry nvidia-l4; families that do: g6, gr6",
        ),
        (
            karpenter_raw(instance_families=["g6.xlarge"]),
            "gpu_pools[0].instance_families: 'g6.xlarge' is not an EC2 instance family: write its name without a size",
        ),
        (
            karpenter_raw(instance_families=["g6", "g6"]),
            "list each instance family once",
        ),
        (
            karpenter_raw(efa=True, instance_type="g6.8xlarge"),
            "gpu_pools[0] (l4).efa: EFA traffic does not cross availability zones: set single_zone: true",
        ),
        (
            karpenter_raw(efa=True, single_zone=True),
            "gpu_pools[0] (l4).efa: g6.xlarge has no EFA interface; sizes of g6 with EFA: g6.8xlarge, g6.12xlarge, "
            "g6.16xlarge, g6.24xlarge, g6.48xlarge",
        ),
        (
            {**karpenter_raw(single_zone=True), "cluster": {"existing": {"name": "shared-eks"}}},
            "gpu_pools[0] (l4).single_zone: needs the subnets this stack creates, and cluster.existing is set",
        ),
        (
            karpenter_raw(name="general"),
            "gpu_pools[0] (general): 'general' is the CPU NodePool's name under autoscaler: karpenter; rename it",
        ),
        (
            {**karpenter_raw(), "karpenter": {"cpu_categories": ["t"]}},
            "karpenter.cpu_categories[0]: Input should be 'c', 'm' or 'r'",
        ),
    ],
    ids=[
        "field-without-karpenter",
        "family-without-the-accelerator",
        "family-with-a-size",
        "family-twice",
        "efa-across-zones",
        "efa-on-a-type-without-it",
        "single-zone-on-an-existing-cluster",
        "pool-named-like-the-cpu-pool",
        "burstable-cpu-category",
    ],
)
def test_bad_karpenter_settings_fail_with_the_path_and_the_fix(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(raw)
    assert message in str(err.value)
