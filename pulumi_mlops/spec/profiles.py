"""Defaults per environment profile, stated once.

A stack names its profile (dev, staging or prod); every key below that the stack file leaves
out takes the profile's value. Components read resolved fields and never branch on the profile.
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = ["PROFILE_DEFAULTS", "Profile", "apply_profile_defaults"]

Profile = Literal["dev", "staging", "prod"]

PROFILE_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "dev": {
        "network": {"az_count": 2, "nat": "single"},
        "cluster": {
            "public_endpoint": True,
            "system_min_nodes": 1,
            "system_max_nodes": 3,
            "deletion_protection": False,
        },
        "gpu_pool": {"spot": True, "on_demand_fallback": False},
        "karpenter": {"cpu_spot": True, "cpu_max_vcpus": 32},
        "buckets": {"force_destroy": True},
        "tracking": {
            "db_instance_class": "db.t4g.micro",
            "db_tier": "db-custom-1-3840",
            "db_storage_gb": 20,
            "high_availability": False,
            "deletion_protection": False,
            "backup_retention_days": 1,
        },
        "feature_store": {"redis_node_type": "cache.t4g.micro", "redis_memory_gb": 1, "redis_replicas": 0},
        "monitoring": {"retention_days": 3, "storage_gb": 20},
        "cost": {"max_gpus_per_pool": 8, "max_gpus_per_stack": 16},
    },
    "staging": {
        "network": {"az_count": 2, "nat": "single"},
        "cluster": {
            "public_endpoint": True,
            "system_min_nodes": 2,
            "system_max_nodes": 4,
            "deletion_protection": True,
        },
        "gpu_pool": {"spot": True},
        "karpenter": {"cpu_spot": True, "cpu_max_vcpus": 64},
        "buckets": {"force_destroy": False},
        "tracking": {
            "db_instance_class": "db.t4g.medium",
            "db_tier": "db-custom-2-7680",
            "db_storage_gb": 50,
            "high_availability": False,
            "deletion_protection": True,
            "backup_retention_days": 7,
        },
        "feature_store": {"redis_node_type": "cache.t4g.small", "redis_memory_gb": 2, "redis_replicas": 1},
        "monitoring": {"retention_days": 7, "storage_gb": 50},
        "cost": {"max_gpus_per_pool": 16, "max_gpus_per_stack": 32},
    },
    "prod": {
        "network": {"az_count": 3, "nat": "per_az"},
        "cluster": {
            "public_endpoint": False,
            "system_min_nodes": 3,
            "system_max_nodes": 6,
            "deletion_protection": True,
        },
        "gpu_pool": {"spot": False},
        "karpenter": {"cpu_spot": False, "cpu_max_vcpus": 256},
        "buckets": {"force_destroy": False},
        "tracking": {
            "db_instance_class": "db.r6g.large",
            "db_tier": "db-custom-4-15360",
            "db_storage_gb": 100,
            "high_availability": True,
            "deletion_protection": True,
            "backup_retention_days": 14,
        },
        "feature_store": {"redis_node_type": "cache.r6g.large", "redis_memory_gb": 5, "redis_replicas": 2},
        "monitoring": {"retention_days": 30, "storage_gb": 200},
        "cost": {"max_gpus_per_pool": 64, "max_gpus_per_stack": 128},
    },
}


def _fill(target: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    merged = dict(defaults)
    merged.update(target)
    return merged


def apply_profile_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """Return ``raw`` with every key it leaves out filled from its profile (default ``dev``)."""
    profile = raw.get("profile", "dev")
    defaults = PROFILE_DEFAULTS.get(profile) if isinstance(profile, str) else None
    if defaults is None:
        return raw  # field validation reports the bad profile
    out = dict(raw)
    for section in ("network", "cluster", "karpenter", "buckets", "tracking", "feature_store", "monitoring", "cost"):
        current = out.get(section, {})
        if isinstance(current, dict):
            out[section] = _fill(current, defaults[section])
    pools = out.get("gpu_pools")
    if isinstance(pools, list):
        out["gpu_pools"] = [_fill(p, defaults["gpu_pool"]) if isinstance(p, dict) else p for p in pools]
    return out
