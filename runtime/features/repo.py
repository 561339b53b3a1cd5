"""A Feast repository for the churn features: entity ``customer``, one FeatureView over parquet.

Locally the repo lives at ``RuntimeSettings.resolved_feature_repo()`` with a sqlite online store
and the file (parquet) offline store; ``online_store="redis"`` writes a repo whose online store is
Redis (keys are namespaced by the Feast ``project``, so one Redis serves many repos).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import yaml
from pulumi_mlops.runtime.config import StrictModel
from pulumi_mlops.runtime.data import CATEGORICAL_FEATURES, ENTITY_COLUMN, NUMERIC_FEATURES, TIMESTAMP_COLUMN
from pydantic import Field

if TYPE_CHECKING:
    from feast import Entity, FeatureStore, FeatureView

__all__ = [
    "ENTITY_NAME",
    "FEATURE_VIEW",
    "FeatureRepoConfig",
    "apply_feature_repo",
    "churn_definitions",
    "repo_ttl",
    "write_feature_repo",
]

ENTITY_NAME = "customer"
FEATURE_VIEW = "customer_features"
SOURCE_FILE = "customer_features.parquet"


class FeatureRepoConfig(StrictModel):
    """How :func:`write_feature_repo` lays out a repo."""

    project: str = Field(default="mlops", pattern=r"^[a-zA-Z0-9_]+$")
    """Feast project name (also the key namespace in Redis)."""
    online_store: Literal["sqlite", "redis"] = "sqlite"
    """Online store type."""
    redis_connection: str = "127.0.0.1:6379"
    """Redis connection string (``host:port[,password=...]``) when ``online_store`` is redis."""
    ttl_days: float = Field(default=30.0, gt=0)
    """FeatureView TTL: a feature row older than this (at the entity's timestamp) is not joined."""


def write_feature_repo(
    path: str | Path, features: pd.DataFrame | None = None, config: FeatureRepoConfig | None = None
) -> Path:
    """Write ``feature_store.yaml`` (and ``customer_features.parquet`` from ``features``) under ``path``."""
    config = config or FeatureRepoConfig()
    root = Path(path).resolve()
    (root / "data").mkdir(parents=True, exist_ok=True)
    online: dict[str, Any]
    if config.online_store == "redis":
        online = {"type": "redis", "connection_string": config.redis_connection}
    else:
        online = {"type": "sqlite", "path": str(root / "data" / "online.db")}
    document = {
        "project": config.project,
        "registry": str(root / "data" / "registry.db"),
        "provider": "local",
        "online_store": online,
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }
    (root / "feature_store.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    (root / "mlops_repo.yaml").write_text(yaml.safe_dump({"ttl_days": config.ttl_days}))
    if features is not None:
        columns = [ENTITY_COLUMN, TIMESTAMP_COLUMN, *NUMERIC_FEATURES, *CATEGORICAL_FEATURES]
        missing = [c for c in columns if c not in features.columns]
        if missing:
            raise ValueError(f"feature frame lacks columns {missing}; pass the generated churn frame or add them")
        features[columns].to_parquet(root / "data" / SOURCE_FILE, index=False)
    return root


def repo_ttl(root: str | Path) -> timedelta:
    """The TTL written by :func:`write_feature_repo` (30 days when absent)."""
    meta = Path(root) / "mlops_repo.yaml"
    days = yaml.safe_load(meta.read_text()).get("ttl_days", 30.0) if meta.exists() else 30.0
    return timedelta(days=float(days))


def churn_definitions(source_path: str | Path, ttl: timedelta) -> tuple[Entity, FeatureView]:
    """The ``customer`` entity and the ``customer_features`` view over ``source_path``."""
    from feast import Entity, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64, String

    entity = Entity(name=ENTITY_NAME, join_keys=[ENTITY_COLUMN], value_type=ValueType.INT64)
    source = FileSource(name="customer_features_source", path=str(source_path), timestamp_field=TIMESTAMP_COLUMN)
    integer = {"support_calls", "days_since_last_login"}
    schema = [Field(name=n, dtype=Int64 if n in integer else Float64) for n in NUMERIC_FEATURES]
    schema += [Field(name=n, dtype=String) for n in CATEGORICAL_FEATURES]
    view = FeatureView(name=FEATURE_VIEW, entities=[entity], ttl=ttl, schema=schema, source=source, online=True)
    return entity, view


def apply_feature_repo(root: str | Path) -> FeatureStore:
    """Register the entity and view of the repo at ``root`` (``feast apply``) and return its store."""
    from feast import FeatureStore

    root = Path(root).resolve()
    if not (root / "feature_store.yaml").is_file():
        raise FileNotFoundError(f"{root}: no feature_store.yaml; create the repo with write_feature_repo first")
    source = root / "data" / SOURCE_FILE
    if not source.is_file():
        raise FileNotFoundError(f"{source}: feature data missing; pass a frame to write_feature_repo")
    store = FeatureStore(repo_path=str(root))
    entity, view = churn_definitions(source, repo_ttl(root))
    store.apply([entity, view])
    return store
