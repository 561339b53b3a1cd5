"""Feast feature store: the churn repo (sqlite or Redis online store), online lookups and historical retrieval."""

from .repo import (
    ENTITY_NAME,
    FEATURE_VIEW,
    FeatureRepoConfig,
    apply_feature_repo,
    churn_definitions,
    repo_ttl,
    write_feature_repo,
)
from .store import FEATURE_REFS, FeatureStoreClient, HistoricalFeatures, RetrievalReport

__all__ = [
    "ENTITY_NAME",
    "FEATURE_REFS",
    "FEATURE_VIEW",
    "FeatureRepoConfig",
    "FeatureStoreClient",
    "HistoricalFeatures",
    "RetrievalReport",
    "apply_feature_repo",
    "churn_definitions",
    "repo_ttl",
    "write_feature_repo",
]
