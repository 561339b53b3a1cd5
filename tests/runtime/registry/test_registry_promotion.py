"""Champion/challenger promotion, refusal without alias changes, rollback and the audit log."""

from __future__ import annotations

import pytest
from pulumi_mlops.runtime.config import RuntimeSettings
from pulumi_mlops.runtime.registry import (
    ModelNotFoundError,
    list_versions,
    mlflow_client,
    promote,
    read_audit,
    rollback,
)


def _aliases(settings: RuntimeSettings, name: str) -> dict[str, str]:
    return {k: str(v) for k, v in mlflow_client(settings).get_registered_model(name).aliases.items()}


def test_promotion_lifecycle(train_version, local_settings: RuntimeSettings) -> None:
    name = "promo"
    train_version(name, "logistic_regression")
    first = promote(name, local_settings)
    assert first.promoted and first.champion_after == "1" and first.champion_before is None
    assert _aliases(local_settings, name) == {"champion": "1", "challenger": "1"}

    again = promote(name, local_settings)
    assert not again.promoted and "already the champion" in again.reason

    train_version(name, "mlp", params={"epochs": 1, "batch_size": 512, "learning_rate": 1e-4})
    before = _aliases(local_settings, name)
    refused = promote(name, local_settings)
    assert not refused.promoted and refused.action == "refuse"
    assert refused.challenger_auc is not None and refused.champion_auc is not None
    assert refused.challenger_auc < refused.champion_auc + refused.margin
    assert _aliases(local_settings, name) == before == {"champion": "1", "challenger": "2"}

    forced = promote(name, local_settings, margin=-1.0, note="accept any challenger")
    assert forced.promoted and forced.champion_before == "1" and forced.champion_after == "2"
    assert _aliases(local_settings, name)["champion"] == "2"

    back = rollback(name, local_settings)
    assert back.champion_before == "2" and back.champion_after == "1"
    assert _aliases(local_settings, name)["champion"] == "1"
    with pytest.raises(ModelNotFoundError, match="no earlier champion"):
        rollback(name, local_settings)
    assert rollback(name, local_settings, to_version="2").champion_after == "2"

    events = read_audit(local_settings, name)
    assert [e.action for e in events] == [
        "register", "promote", "refuse", "register", "refuse", "promote", "rollback", "rollback",
    ]  # fmt: skip
    for event in events:
        assert event.user and event.host and event.at.endswith("+00:00") and event.reason
    assert "accept any challenger" in events[5].reason
    assert events[4].versions == {"challenger": "2", "champion_before": "1", "champion_after": "1"}

    rows = list_versions(local_settings, name)
    assert [(r.version, r.aliases) for r in rows] == [("2", ["challenger", "champion"]), ("1", [])]
    assert all(r.auc is not None and len(r.artifact_sha256) == 64 for r in rows)


def test_promote_without_challenger_is_an_error(local_settings: RuntimeSettings) -> None:
    with pytest.raises(ModelNotFoundError, match="challenger"):
        promote("never-trained", local_settings)
