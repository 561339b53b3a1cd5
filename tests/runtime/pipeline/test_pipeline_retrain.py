"""The retraining loop's decisions, with injected steps: drift gate, guard, promotion gate, audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pulumi_mlops.runtime.pipeline import (
    DriftOutcome,
    PromotionOutcome,
    RetrainGuard,
    RetrainHistory,
    RetrainSteps,
    run_retrain,
)

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class Recorder:
    def __init__(self, drift: DriftOutcome, promote_ok: bool = True, train_error: Exception | None = None) -> None:
        self.drift, self.promote_ok, self.train_error = drift, promote_ok, train_error
        self.trained = 0
        self.audit: list[dict[str, Any]] = []

    def steps(self) -> RetrainSteps:
        def train() -> str:
            if self.train_error:
                raise self.train_error
            self.trained += 1
            return str(1 + self.trained)

        def promote(version: str) -> PromotionOutcome:
            reason = "challenger AUC 0.91 beats champion 0.85" if self.promote_ok else "challenger is not better"
            return PromotionOutcome(self.promote_ok, reason, "1", version)

        return RetrainSteps(detect=lambda: self.drift, train=train, promote=promote)


def guard(tmp_path: Path, cooldown: float = 6, cap: int = 2) -> RetrainGuard:
    return RetrainGuard(RetrainHistory(tmp_path / "history.json"), cooldown, cap)


DRIFTED = DriftOutcome(dataset_drift=True, drift_share=0.5)


def test_no_drift_trains_nothing_and_says_why(tmp_path: Path) -> None:
    rec = Recorder(DriftOutcome(dataset_drift=False, drift_share=0.1))
    decision = run_retrain("churn", rec.steps(), guard(tmp_path), rec.audit.append, now=lambda: T0)
    assert decision.action == "skipped-no-drift" and rec.trained == 0
    assert rec.audit == [decision.to_record()]
    assert "0.10" in rec.audit[0]["why"]


def test_insufficient_window_is_not_drift(tmp_path: Path) -> None:
    rec = Recorder(DriftOutcome(dataset_drift=True, drift_share=1.0, insufficient_data=True, detail="12 rows < 500"))
    decision = run_retrain("churn", rec.steps(), guard(tmp_path), rec.audit.append, now=lambda: T0)
    assert decision.action == "skipped-insufficient-data" and rec.trained == 0
    assert decision.reason == "12 rows < 500"


def test_drift_retrains_and_promotes(tmp_path: Path) -> None:
    rec = Recorder(DRIFTED)
    decision = run_retrain("churn", rec.steps(), guard(tmp_path), rec.audit.append, now=lambda: T0)
    assert decision.promoted and rec.trained == 1
    assert (decision.champion_version, decision.challenger_version) == ("1", "2")
    assert rec.audit[0]["action"] == "retrained-promoted"


def test_a_worse_challenger_keeps_the_champion(tmp_path: Path) -> None:
    rec = Recorder(DRIFTED, promote_ok=False)
    decision = run_retrain("churn", rec.steps(), guard(tmp_path), rec.audit.append, now=lambda: T0)
    assert decision.action == "retrained-kept-champion"
    assert "not better" in decision.reason


def test_cooldown_blocks_a_second_retrain(tmp_path: Path) -> None:
    g = guard(tmp_path, cooldown=6, cap=5)
    rec = Recorder(DRIFTED)
    run_retrain("churn", rec.steps(), g, rec.audit.append, now=lambda: T0)
    second = run_retrain("churn", rec.steps(), g, rec.audit.append, now=lambda: T0 + timedelta(hours=2))
    assert second.action == "skipped-guard" and "cooldown" in second.reason
    third = run_retrain("churn", rec.steps(), g, rec.audit.append, now=lambda: T0 + timedelta(hours=7))
    assert third.promoted
    assert rec.trained == 2
    assert [a["action"] for a in rec.audit] == ["retrained-promoted", "skipped-guard", "retrained-promoted"]


def test_daily_cap(tmp_path: Path) -> None:
    g = guard(tmp_path, cooldown=0, cap=2)
    rec = Recorder(DRIFTED)
    actions = [
        run_retrain("churn", rec.steps(), g, rec.audit.append, now=lambda h=h: T0 + timedelta(hours=h)).action
        for h in (0, 1, 2, 25)
    ]
    assert actions == ["retrained-promoted", "retrained-promoted", "skipped-guard", "retrained-promoted"]


def test_guard_is_per_model(tmp_path: Path) -> None:
    g = guard(tmp_path, cooldown=6, cap=5)
    rec = Recorder(DRIFTED)
    run_retrain("churn", rec.steps(), g, rec.audit.append, now=lambda: T0)
    other = run_retrain("fraud", rec.steps(), g, rec.audit.append, now=lambda: T0)
    assert other.promoted


def test_training_failure_is_audited_and_keeps_the_champion(tmp_path: Path) -> None:
    rec = Recorder(DRIFTED, train_error=RuntimeError("out of memory"))
    decision = run_retrain("churn", rec.steps(), guard(tmp_path), rec.audit.append, now=lambda: T0)
    assert decision.action == "failed" and "out of memory" in decision.reason
    assert rec.audit[0]["action"] == "failed"


def test_history_survives_reload_and_is_pruned(tmp_path: Path) -> None:
    history = RetrainHistory(tmp_path / "h.json")
    history.record("churn", T0 - timedelta(days=10))
    history.record("churn", T0)
    assert RetrainHistory(tmp_path / "h.json").load() == {"churn": [T0]}


def test_cap_zero_disables(tmp_path: Path) -> None:
    rec = Recorder(DRIFTED)
    decision = run_retrain("churn", rec.steps(), guard(tmp_path, cap=0), rec.audit.append, now=lambda: T0)
    assert decision.action == "skipped-guard" and "disabled" in decision.reason and rec.trained == 0


def test_a_failed_training_does_not_use_up_the_cooldown(tmp_path: Path) -> None:
    g = guard(tmp_path, cooldown=6, cap=5)
    failing = Recorder(DRIFTED, train_error=RuntimeError("disk full"))
    assert run_retrain("churn", failing.steps(), g, failing.audit.append, now=lambda: T0).action == "failed"
    assert g.history.load().get("churn", []) == []
    rec = Recorder(DRIFTED)
    retried = run_retrain("churn", rec.steps(), g, rec.audit.append, now=lambda: T0 + timedelta(minutes=10))
    assert retried.promoted and g.history.load()["churn"] == [T0 + timedelta(minutes=10)]


def test_force_retrains_without_drift_and_within_the_cooldown(tmp_path: Path) -> None:
    g = guard(tmp_path, cooldown=6, cap=5)
    rec = Recorder(DRIFTED)
    run_retrain("churn", rec.steps(), g, rec.audit.append, now=lambda: T0)
    quiet = Recorder(DriftOutcome(dataset_drift=False, drift_share=0.05))
    soon = T0 + timedelta(hours=1)
    unforced = run_retrain("churn", quiet.steps(), g, quiet.audit.append, now=lambda: soon)
    assert unforced.action == "skipped-no-drift" and not unforced.forced
    forced = run_retrain("churn", quiet.steps(), g, quiet.audit.append, now=lambda: soon, force=True)
    assert forced.promoted and forced.forced and quiet.trained == 1
    record = quiet.audit[-1]
    assert record["forced"] is True and record["why"].startswith("forced (--force) despite no drift (share 0.05)")
    assert "cooldown" in record["why"]
