"""The retraining loop's steps bound to the runtime: drift check, training, champion/challenger gate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pulumi_mlops.runtime.config import DriftSpec, RuntimeSettings, TrainingSpec

from .retrain import DriftOutcome, PromotionOutcome, RetrainSteps

__all__ = ["LocalRetrain", "local_steps"]


@dataclass(frozen=True)
class LocalRetrain:
    """What one in-process retraining needs."""

    training: TrainingSpec
    """The challenger's training run (its ``data`` is the fresh window to train on)."""
    drift: DriftSpec
    """Thresholds and window of the drift check."""
    window: str
    """Prediction logs of the served model (directory or bucket URI)."""
    out: Path | str
    """Where the drift reports go (a folder or a bucket prefix)."""
    served_alias: str = "champion"
    """Alias whose reference profile the window is compared with."""
    since: datetime | None = None
    """Start of the window (default: ``drift.window_hours`` before now)."""
    train_window: tuple[datetime, datetime] | None = None
    """Train on the rows of ``training.data`` from this period (the drift window) rather than all of it; None
    when ``training.data`` already is the fresh data."""


def local_steps(job: LocalRetrain, settings: RuntimeSettings) -> RetrainSteps:
    """Steps that run in this process against the settings' registry."""
    from pulumi_mlops.runtime.config import ModelRef

    served = ModelRef(name=job.training.model.name, alias=job.served_alias)

    def detect() -> DriftOutcome:
        from pulumi_mlops.runtime.drift.check import run_drift_check

        check = run_drift_check(served, job.window, job.drift, settings, job.out, since=job.since)
        report = check.report
        detail = report.findings[0].message if report.status == "insufficient_data" and report.findings else ""
        return DriftOutcome(
            dataset_drift=report.dataset_drift,
            drift_share=report.drift_share,
            insufficient_data=report.status == "insufficient_data",
            detail=detail,
        )

    def train() -> str:
        from pulumi_mlops.runtime.training.trainer import train as run_training

        result = run_training(job.training, settings, window=job.train_window)
        if result.version is None:
            raise RuntimeError("training finished without registering a version")
        return str(result.version)

    def promote(version: str) -> PromotionOutcome:
        from pulumi_mlops.runtime.registry.promotion import promote as gate

        decision = gate(job.training.model.name, settings, note="automatic retraining after drift")
        return PromotionOutcome(
            promoted=decision.promoted,
            reason=decision.reason,
            champion_version=decision.champion_before,
            challenger_version=decision.challenger or version,
        )

    return RetrainSteps(detect=detect, train=train, promote=promote)
