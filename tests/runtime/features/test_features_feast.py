"""The local Feast repo (sqlite online store) and, when Redis is up, the same repo on Redis."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pandas as pd
import pytest
from pulumi_mlops.runtime.config import RuntimeSettings
from pulumi_mlops.runtime.data import generate_churn, load_frame
from pulumi_mlops.runtime.features import FeatureRepoConfig, FeatureStoreClient, apply_feature_repo, write_feature_repo

REDIS = ("127.0.0.1", 6379)


def _reachable(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=0.5):
            return True
    except OSError:
        return False


def _entity_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Half the rows ask 1 day after the feature row (inside the 10-day TTL), half 20 days after (outside)."""
    entities = frame[["customer_id", "event_timestamp", "churned"]].copy()
    days = [1 if i % 2 else 20 for i in range(len(entities))]
    entities["event_timestamp"] = entities["event_timestamp"] + pd.to_timedelta(days, unit="D")
    return entities


def _check_store(client: FeatureStoreClient, frame: pd.DataFrame) -> None:
    client.materialize()
    ids = [int(frame["customer_id"].iloc[0]), int(frame["customer_id"].iloc[1]), 1]
    online = client.get_online_features(ids)
    assert online["customer_id"] == ids
    assert online["plan"][:2] == frame["plan"].iloc[:2].tolist()
    assert online["tenure_months"][:2] == pytest.approx(frame["tenure_months"].iloc[:2].tolist())
    assert online["plan"][2] is None and online["tenure_months"][2] is None


def test_local_repo_online_and_point_in_time(tmp_path: Path) -> None:
    frame = generate_churn(200, seed=0)
    root = write_feature_repo(tmp_path / "repo", frame, FeatureRepoConfig(ttl_days=10))
    apply_feature_repo(root)
    client = FeatureStoreClient(RuntimeSettings(feature_repo=str(root)))
    _check_store(client, frame)

    historical = client.get_historical_features(_entity_rows(frame))
    report = historical.report
    assert report.requested == 200
    assert report.usable == 100 and report.dropped + report.null_features == 100
    assert "outside TTL" in report.render()
    assert len(historical.frame) == 100
    expected = frame.set_index("customer_id").loc[historical.frame["customer_id"], "monthly_charges"].to_numpy()
    assert historical.frame["monthly_charges"].to_numpy() == pytest.approx(expected)
    assert "churned" in historical.frame.columns

    entities = tmp_path / "entities.parquet"
    _entity_rows(frame).to_parquet(entities, index=False)
    loaded = load_frame(f"feast://{entities}", RuntimeSettings(feature_repo=str(root)))
    pd.testing.assert_frame_equal(loaded, historical.frame)


def test_missing_repo_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="MLOPS_FEATURE_REPO"):
        FeatureStoreClient(RuntimeSettings(feature_repo=str(tmp_path / "none"))).get_online_features([1])
    with pytest.raises(ValueError, match="event_timestamp"):
        client = FeatureStoreClient(RuntimeSettings(feature_repo=str(tmp_path)))
        client.get_historical_features(pd.DataFrame({"customer_id": [1]}))


@pytest.mark.integration
def test_redis_online_store(tmp_path: Path) -> None:
    if not _reachable(REDIS):
        pytest.skip("Redis is not reachable on 127.0.0.1:6379 (start redis-server to run this test)")
    project = f"mlops_test_{uuid.uuid4().hex[:10]}"
    frame = generate_churn(100, seed=1, id_offset=500_000)
    config = FeatureRepoConfig(project=project, online_store="redis", redis_connection="127.0.0.1:6379")
    root = write_feature_repo(tmp_path / "repo", frame, config)
    store = apply_feature_repo(root)
    try:
        _check_store(FeatureStoreClient(RuntimeSettings(feature_repo=str(root))), frame)
    finally:
        store.teardown()
