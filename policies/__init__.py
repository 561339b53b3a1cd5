"""CrossGuard policies for the platform, importable so CI can evaluate them offline.

Each domain module holds its policies in ``POLICIES`` and the resource types they check in
``RESOURCE_TYPES`` (coverage reads these). The pack itself is built only in ``__main__.py``:
constructing ``PolicyPack`` starts the analyzer's gRPC server and never returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pulumi_policy import EnforcementLevel, Policy

from . import (
    apis,
    aws_services,
    bootstrap,
    capacity,
    compute,
    cost,
    databases,
    exposure,
    gcp_services,
    identity,
    kubernetes,
    lifecycle,
    ml_services,
    network,
    ordering,
    pods,
    prerequisites,
    rbac,
    reachability,
    references,
    registry,
    resource_access,
    stack,
    storage,
    tagging,
    transit,
)
from ._base import DEFAULT_CONFIG

if TYPE_CHECKING:
    from pulumi_mlops.spec import PlatformSpec

__all__ = [
    "ALL_MODULES",
    "ALL_POLICIES",
    "DEFAULT_CONFIG",
    "DEFAULT_ENFORCEMENT_LEVEL",
    "PACK_NAME",
    "POLICY_MODULES",
    "READINESS_MODULES",
    "READINESS_POLICIES",
    "allowed_registries_for",
    "own_registries_for",
    "policy_config_for",
    "policy_levels",
    "policy_types",
]

PACK_NAME = "pulumi-mlops"
DEFAULT_ENFORCEMENT_LEVEL = EnforcementLevel.MANDATORY
"""Level of the pack; policies that only advise set ``ADVISORY`` themselves."""

POLICY_MODULES = (
    storage,
    registry,
    compute,
    kubernetes,
    pods,
    rbac,
    exposure,
    identity,
    resource_access,
    transit,
    network,
    aws_services,
    gcp_services,
    ml_services,
    cost,
    tagging,
    stack,
)
"""Modules of resource guardrails and whole-stack rules."""
READINESS_MODULES = (
    ordering,
    prerequisites,
    capacity,
    reachability,
    references,
    databases,
    lifecycle,
    apis,
    bootstrap,
)
"""Modules of deploy-readiness analyses: would a real ``pulumi up`` converge and the platform work."""

ALL_MODULES = (*POLICY_MODULES, *READINESS_MODULES)

ALL_POLICIES: list[Policy] = [p for module in ALL_MODULES for p in module.POLICIES]
READINESS_POLICIES: list[Policy] = [p for module in READINESS_MODULES for p in module.POLICIES]

_names = [p.name for p in ALL_POLICIES]
if len(set(_names)) != len(_names):  # pragma: no cover - guarded by tests
    raise RuntimeError(f"duplicate policy names: {sorted(n for n in _names if _names.count(n) > 1)}")


def policy_types(policy: Policy) -> tuple[str, ...]:
    """Resource types a policy checks (declared by its module)."""
    return tuple(getattr(policy, "resource_types", ()))


def policy_levels() -> dict[str, EnforcementLevel]:
    """Effective enforcement level of every policy in the pack."""
    return {p.name: p.enforcement_level or DEFAULT_ENFORCEMENT_LEVEL for p in ALL_POLICIES}


def own_registries_for(spec: PlatformSpec) -> list[str]:
    """Prefixes of the stack's own repositories, where its image builds push: the ECR repositories
    ``<name>-<environment>/<repository>`` of any account in the region, or the stack's Artifact Registry repository."""
    if spec.cloud == "aws":
        return [f"*.dkr.ecr.{spec.region}.amazonaws.com/{spec.name}-{spec.environment}/"]
    return [f"{spec.region}-docker.pkg.dev/{spec.gcp_project}/{spec.resource_name('images')}/"]


def allowed_registries_for(spec: PlatformSpec) -> list[str]:
    """Image prefixes a stack's workloads may use: the repositories of the images ``spec.images`` names and the
    stack's own repositories (where the images it builds are pushed)."""
    prefixes: list[str] = []
    for image in (spec.images.runtime, spec.images.mlflow, spec.images.feast):
        if image is None:
            continue
        name = image.split("@", 1)[0]
        if "@" not in image and ":" in name.rsplit("/", 1)[-1]:
            name = name.rsplit(":", 1)[0]
        prefix = name.rsplit("/", 1)[0] + "/"
        if prefix not in prefixes:
            prefixes.append(prefix)
    return prefixes + [p for p in own_registries_for(spec) if p not in prefixes]


def policy_config_for(spec: PlatformSpec) -> dict[str, dict[str, Any]]:
    """Per-policy config for a stack, derived from its ``PlatformSpec`` (profile, cost caps, images, tags).

    The result is also a valid ``pulumi preview --policy-pack-config`` file.
    """
    values: dict[str, Any] = {
        "profile": spec.profile,
        "environment": spec.environment,
        "maxGpusPerPool": spec.cost.max_gpus_per_pool,
        "maxGpusPerStack": spec.cost.max_gpus_per_stack,
        "allowedRegistries": allowed_registries_for(spec),
        "imageRegistries": own_registries_for(spec),
        "requiredTags": list(DEFAULT_CONFIG["requiredTags"]),
        "requireCmek": spec.buckets.cmek,
        # An existing GKE cluster (1.30.3 and later) serves ComputeClass itself; a created one is its installer.
        "preinstalledCrdGroups": ["cloud.google.com"] if spec.cloud == "gcp" and spec.cluster.existing else [],
        "externalBuckets": list(spec.buckets.external),
        "helmHostAccessAllowed": {k: list(v) for k, v in DEFAULT_CONFIG["helmHostAccessAllowed"].items()},
        "trustedAccounts": list(DEFAULT_CONFIG["trustedAccounts"]),
    }
    config: dict[str, dict[str, Any]] = {}
    for policy in ALL_POLICIES:
        keys = getattr(policy, "config_keys", ())
        if keys:
            config[policy.name] = {k: values[k] for k in keys}
    return config
