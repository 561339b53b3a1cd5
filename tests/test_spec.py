"""PlatformSpec: every stack file validates; broken configs fail with the YAML path and the fix."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from pulumi_mlops.preview import repo_root
from pulumi_mlops.spec import CONFIG_KEY, PROFILE_DEFAULTS, PlatformSpec, SpecError, parse_spec, stack_names

ROOT = repo_root()
STACKS = stack_names(ROOT / "stacks")


def raw_config(stack: str) -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    return copy.deepcopy(doc["config"][CONFIG_KEY])


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_file_is_a_valid_platform(stack: str) -> None:
    spec = parse_spec(raw_config(stack))
    assert spec.environment
    assert spec.gpu_pools, "every environment has at least one GPU pool"
    assert len(spec.endpoints) >= 2
    assert any(e.canary for e in spec.endpoints) and any(e.shadow for e in spec.endpoints)


def test_expected_stacks_exist() -> None:
    assert {"dev", "staging", "prod", "gcp-dev", "gcp-prod"} <= set(STACKS)


def test_profile_defaults_fill_what_the_stack_leaves_out() -> None:
    dev, prod = parse_spec(raw_config("dev")), parse_spec(raw_config("prod"))
    assert (dev.network.az_count, dev.network.nat) == (2, "single")
    assert (prod.network.az_count, prod.network.nat) == (3, "per_az")
    assert dev.buckets.force_destroy and not prod.buckets.force_destroy
    assert prod.tracking.high_availability and prod.tracking.deletion_protection
    assert not dev.tracking.deletion_protection
    assert dev.pool("l4").spot is True
    assert prod.pool("l4").spot is False, "prod keeps an on-demand floor"
    assert prod.pool("a10g-train").spot is True, "an explicit value beats the profile default"
    assert prod.cluster.public_endpoint is True, "the AWS prod stack restricts a public endpoint to its deployers"
    assert prod.cluster.deletion_protection is True


def test_explicit_values_override_profile_defaults() -> None:
    raw = raw_config("dev")
    raw["network"] = {"az_count": 3}
    spec = parse_spec(raw)
    assert spec.network.az_count == 3
    assert spec.network.nat == PROFILE_DEFAULTS["dev"]["network"]["nat"]


def _set(raw: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    target: Any = raw
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target.setdefault(key, {})
    last = keys[-1]
    if value is _DELETE:
        del target[last]
    elif last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value


_DELETE = object()

BROKEN: list[tuple[str, str, str, Any, str]] = [
    # (stack, path, id, value, expected fragment of the message)
    (
        "dev",
        "gpu_pools.0.min_nodes",
        "min-over-max",
        5,
        "platform.gpu_pools[0]: min_nodes (5) must not exceed max_nodes (3)",
    ),
    ("dev", "gpu_pools.0.instance_type", "wrong-family", "g5.xlarge", "nvidia-l4 needs a g6.* or gr6.* instance type"),
    ("dev", "gpu_pools.0.accelerator", "gcp-accelerator-on-aws", "nvidia-tesla-t4", "not offered on aws"),
    ("gcp-dev", "gpu_pools.0.instance_type", "l4-on-n1", "n1-standard-8", "nvidia-l4 needs a g2-* machine type"),
    ("gcp-dev", "gpu_pools.0.gpus_per_node", "gpu-count", 4, "g2-standard-8 carries 1 GPU(s)"),
    ("dev", "endpoints.1.gpu_pool", "unknown-pool", "a100", "gpu_pool 'a100' is not defined"),
    ("dev", "endpoints.1.gpu_pool", "gpu-without-pool", None, "so gpu_pool must name a GPU pool"),
    ("prod", "endpoints.0.min_replicas", "prod-single-replica", 1, "prod needs min_replicas >= 2"),
    (
        "prod",
        "cluster.public_endpoint",
        "prod-private-only-eks",
        False,
        "a private-only EKS endpoint cannot be reached",
    ),
    ("dev", "cluster.api_allowed_cidrs", "documentation-range", ["203.0.113.0/24"], "documentation range"),
    ("dev", "cluster.api_allowed_cidrs", "open-world", ["0.0.0.0/0"], "would expose the Kubernetes API"),
    ("dev", "tags.owner", "missing-owner", _DELETE, "config.pulumi-mlops:platform.tags.owner: required key is missing"),
    ("dev", "gpu_pool", "typo-key", [], "config.pulumi-mlops:platform.gpu_pool: unknown key"),
    ("dev", "profile", "bad-profile", "production", "platform.profile: Input should be 'dev', 'staging' or 'prod'"),
    ("dev", "region", "bad-region", "US East", "is not a region name"),
    ("dev", "gcp_project", "project-on-aws", "acme-ml-dev", "only valid when cloud is gcp"),
    ("gcp-dev", "gcp_project", "gcp-without-project", _DELETE, "gcp_project: required when cloud is gcp"),
    ("gcp-dev", "autoscaler", "karpenter-on-gcp", "karpenter", "karpenter runs on AWS only"),
    ("dev", "images.runtime", "latest-image", "ghcr.io/acme/runtime:latest", "is not pinned"),
    ("dev", "endpoints.0.canary.weight", "canary-100", 100, "endpoints[0].canary.weight"),
    ("dev", "endpoints.0.serving.model", "model-bad-name", {"name": "Churn_Model"}, "serving.model.name"),
    ("dev", "training.0.schedule", "bad-cron", "every day", "is not a cron schedule"),
    ("dev", "cluster.kubernetes_version", "old-k8s", "1.21", "cluster.kubernetes_version"),
    ("dev", "gpu_pools.0.max_nodes", "gpu-cap", 20, "exceeds cost.max_gpus_per_pool (8)"),
    ("dev", "network.cidr", "public-cidr", "8.8.0.0/16", "is not a private range"),
    (
        "dev",
        "cluster.system_instance_type",
        "cpu-job-over-system-node",
        "m6i.large",
        "training[0] (churn): requests (2 CPU, 4Gi) exceed what one m6i.large node leaves to pods (1.93 CPU, "
        "7518 Mi after kube-reserved and the eviction threshold), so the pod never schedules: set "
        "cluster.system_instance_type to a larger type than m6i.large",
    ),
    (
        "dev",
        "training.1.resources.memory",
        "gpu-job-over-gpu-node",
        "32Gi",
        "training[1] (churn-mlp): requests (2 CPU, 32Gi, 1 GPU) exceed what one g6.xlarge node leaves to pods "
        "(3.92 CPU, 14162 Mi, 1 GPU",
    ),
    (
        "dev",
        "endpoints.0.shadow",
        "gpu-shadow-without-pool",
        {"alias": "challenger", "resources": {"gpus": 1}},
        "endpoints[0] (churn).shadow: resources.gpus is 1, so gpu_pool must name a GPU pool",
    ),
]


@pytest.mark.parametrize(
    ("stack", "path", "value", "expected"), [b[:2] + b[3:] for b in BROKEN], ids=[b[2] for b in BROKEN]
)
def test_broken_config_names_the_path_and_the_fix(stack: str, path: str, value: Any, expected: str) -> None:
    raw = raw_config(stack)
    _set(raw, path, value)
    with pytest.raises(SpecError) as info:
        parse_spec(raw, source=f"Pulumi.{stack}.yaml")
    message = str(info.value)
    assert message.startswith(f"Pulumi.{stack}.yaml: invalid platform configuration")
    assert expected in message, message
    assert "Traceback" not in message


def test_every_field_is_documented() -> None:
    undocumented: list[str] = []

    def walk(model: type[Any], seen: set[type[Any]]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, field in model.model_fields.items():
            if not field.description:
                undocumented.append(f"{model.__name__}.{name}")
            for arg in _model_types(field.annotation):
                walk(arg, seen)

    walk(PlatformSpec, set())
    assert undocumented == []


def _model_types(annotation: Any) -> list[type[Any]]:
    from typing import get_args

    from pydantic import BaseModel

    found: list[type[Any]] = []
    stack = [annotation]
    while stack:
        item = stack.pop()
        if isinstance(item, type) and issubclass(item, BaseModel):
            found.append(item)
        stack.extend(get_args(item))
    return found
