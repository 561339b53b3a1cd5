"""Online lookups and point-in-time historical retrieval from the churn Feast repo.

Historical retrieval joins, for each entity row, the latest feature row at or before its
timestamp and no older than the view's TTL. Rows with no such feature row come back with
null features (file store) or not at all (some offline stores); both are counted in the
:class:`RetrievalReport` rather than passed on silently.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pulumi_mlops.runtime.config import RuntimeSettings, StrictModel
from pulumi_mlops.runtime.data import CATEGORICAL_FEATURES, ENTITY_COLUMN, NUMERIC_FEATURES, TIMESTAMP_COLUMN
from pydantic import Field

from .repo import FEATURE_VIEW

if TYPE_CHECKING:
    from feast import FeatureStore

__all__ = ["FEATURE_REFS", "FeatureStoreClient", "HistoricalFeatures", "RetrievalReport"]

FEATURE_NAMES = (*NUMERIC_FEATURES, *CATEGORICAL_FEATURES)
FEATURE_REFS = tuple(f"{FEATURE_VIEW}:{name}" for name in FEATURE_NAMES)


class RetrievalReport(StrictModel):
    """What historical retrieval did with the entity rows."""

    requested: int
    """Entity rows asked for."""
    returned: int
    """Rows the store returned."""
    dropped: int
    """Entity rows the store did not return at all."""
    null_features: int
    """Returned rows whose features are all null (no feature row within the TTL)."""
    usable: int = Field(default=0)
    """Rows with features: ``returned - null_features``."""

    def render(self) -> str:
        return (
            f"{self.requested} entity rows: {self.usable} with features, {self.null_features} with null features "
            f"(outside TTL or unknown entity), {self.dropped} dropped by the store"
        )


class HistoricalFeatures(StrictModel):
    """Training frame from Feast and the report of rows without features."""

    model_config = StrictModel.model_config | {"arbitrary_types_allowed": True}

    frame: pd.DataFrame
    """Entity rows with their features; rows without features are removed when ``drop_missing``."""
    report: RetrievalReport
    """Counts of dropped and null rows."""


class FeatureStoreClient:
    """The churn features of the repo at ``MLOPS_FEATURE_REPO`` (or ``repo_path``)."""

    def __init__(self, settings: RuntimeSettings | None = None, *, repo_path: str | Path | None = None) -> None:
        self.settings = settings or RuntimeSettings.from_env()
        self.repo_path = Path(repo_path) if repo_path is not None else self.settings.resolved_feature_repo()
        self._store: FeatureStore | None = None

    @property
    def store(self) -> FeatureStore:
        if self._store is None:
            from feast import FeatureStore

            if not (self.repo_path / "feature_store.yaml").is_file():
                raise FileNotFoundError(
                    f"{self.repo_path}: no feature_store.yaml; set MLOPS_FEATURE_REPO or create the repo "
                    "(pulumi_mlops.runtime.features.write_feature_repo + apply_feature_repo)"
                )
            self._store = FeatureStore(repo_path=str(self.repo_path.resolve()))
        return self._store

    def materialize(self, end: datetime | None = None, start: datetime | None = None) -> None:
        """Load feature rows with timestamps in ``[start, end]`` into the online store (default: all up to now)."""
        end = end or datetime.now(UTC)
        start = start or datetime(1970, 1, 2, tzinfo=UTC)
        self.store.materialize(start_date=start, end_date=end, feature_views=[FEATURE_VIEW])

    def get_online_features(self, entity_ids: list[int] | list[str]) -> dict[str, list[Any]]:
        """Latest materialized features per ``customer_id``: ``{"customer_id": [...], "<feature>": [...]}``.

        Unknown ids get ``None`` for every feature.
        """
        rows = [{ENTITY_COLUMN: int(i)} for i in entity_ids]
        response = self.store.get_online_features(features=list(FEATURE_REFS), entity_rows=rows)
        result: dict[str, list[Any]] = response.to_dict()
        return result

    def get_historical_features(self, entity_df: pd.DataFrame, *, drop_missing: bool = True) -> HistoricalFeatures:
        """Point-in-time join of ``entity_df`` (``customer_id``, ``event_timestamp``, any label columns)."""
        missing = [c for c in (ENTITY_COLUMN, TIMESTAMP_COLUMN) if c not in entity_df.columns]
        if missing:
            raise ValueError(f"entity dataframe lacks {missing}; it needs {ENTITY_COLUMN} and {TIMESTAMP_COLUMN}")
        entities = entity_df.copy()
        entities[TIMESTAMP_COLUMN] = pd.to_datetime(entities[TIMESTAMP_COLUMN], utc=True)
        entities["_mlops_row"] = range(len(entities))
        job = self.store.get_historical_features(entity_df=entities, features=list(FEATURE_REFS))
        frame = job.to_df()
        returned = frame["_mlops_row"].nunique() if "_mlops_row" in frame.columns else len(frame)
        features = [c for c in FEATURE_NAMES if c in frame.columns]
        all_null = frame[features].isna().all(axis=1) if features else pd.Series(False, index=frame.index)
        report = RetrievalReport(
            requested=len(entities),
            returned=int(returned),
            dropped=int(len(entities) - returned),
            null_features=int(all_null.sum()),
            usable=int(returned - all_null.sum()),
        )
        if drop_missing:
            frame = frame[~all_null]
        frame = frame.sort_values("_mlops_row").drop(columns="_mlops_row").reset_index(drop=True)
        return HistoricalFeatures(frame=frame, report=report)
