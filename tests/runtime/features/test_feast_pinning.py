"""A ``feast://`` location records its feature view, feature references, entity time range and entity file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
from pulumi_mlops.runtime.config import RuntimeSettings
from pulumi_mlops.runtime.data import DataPinError, generate_churn, read_frame
from pulumi_mlops.runtime.features import (
    FEATURE_REFS,
    FEATURE_VIEW,
    FeatureRepoConfig,
    apply_feature_repo,
    write_feature_repo,
)


def test_feast_records_the_join_and_pins_the_entity_file(tmp_path: Path) -> None:
    frame = generate_churn(120, seed=0)
    root = write_feature_repo(tmp_path / "repo", frame, FeatureRepoConfig(ttl_days=10))
    apply_feature_repo(root)
    settings = RuntimeSettings(feature_repo=str(root))
    entities = frame[["customer_id", "event_timestamp", "churned"]].copy()
    entities["event_timestamp"] = entities["event_timestamp"] + pd.Timedelta(days=1)
    path = tmp_path / "entities.parquet"
    entities.to_parquet(path, index=False)

    loaded = read_frame(f"feast://{path}", settings)
    feast = loaded.versions.feast
    assert feast is not None and feast.feature_view == FEATURE_VIEW and feast.feature_refs == list(FEATURE_REFS)
    assert feast.entity_rows == 120 and feast.repo == str(root)
    times = pd.to_datetime(entities["event_timestamp"], utc=True)
    assert (feast.entity_since, feast.entity_until) == (times.min().to_pydatetime(), times.max().to_pydatetime())
    assert loaded.versions.pin() == {str(path): hashlib.sha256(path.read_bytes()).hexdigest()}

    again = read_frame(f"feast://{path}", settings, pin=loaded.versions.pin())
    pd.testing.assert_frame_equal(again.frame, loaded.frame)
    entities.iloc[:60].to_parquet(path, index=False)
    with pytest.raises(DataPinError, match="changed since it was recorded"):
        read_frame(f"feast://{path}", settings, pin=loaded.versions.pin())
