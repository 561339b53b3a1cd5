"""The automated retraining loop: drift → guard → train a challenger → champion/challenger gate.

Each step is injected, so the loop is the same on a laptop and on the cluster (where the drift
CronJob runs ``mlops retrain``); every decision, including "nothing to do", is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from .guard import RetrainGuard

__all__ = ["DriftOutcome", "PromotionOutcome", "RetrainDecision", "RetrainSteps", "run_retrain"]

Action = Literal[
    "skipped-insufficient-data",
    "skipped-no-drift",
    "skipped-guard",
    "retrained-promoted",
    "retrained-kept-champion",
    "failed",
]


@dataclass(frozen=True)
class DriftOutcome:
    """What the drift check found in the current window."""

    dataset_drift: bool
    drift_share: float
    insufficient_data: bool = False
    detail: str = ""


@dataclass(frozen=True)
class PromotionOutcome:
    """What the champion/challenger gate decided."""

    promoted: bool
    reason: str
    champion_version: str | None
    challenger_version: str


@dataclass(frozen=True)
class RetrainSteps:
    """The loop's steps; each raises on failure."""

    detect: Callable[[], DriftOutcome]
    train: Callable[[], str]
    """Train a challenger on a fresh window and register it; returns its version."""
    promote: Callable[[str], PromotionOutcome]
    """Compare the challenger with the champion on the fixed holdout; move ``champion`` only if better."""


@dataclass(frozen=True)
class RetrainDecision:
    """One run of the loop, as written to the audit log."""

    model: str
    action: Action
    reason: str
    at: datetime
    drift_share: float | None = None
    champion_version: str | None = None
    challenger_version: str | None = None

    @property
    def promoted(self) -> bool:
        return self.action == "retrained-promoted"

    def to_record(self) -> dict[str, Any]:
        return {
            "what": "retrain",
            "model": self.model,
            "action": self.action,
            "why": self.reason,
            "when": self.at.isoformat(),
            "drift_share": self.drift_share,
            "champion_version": self.champion_version,
            "challenger_version": self.challenger_version,
        }


def run_retrain(
    model: str,
    steps: RetrainSteps,
    guard: RetrainGuard,
    audit: Callable[[dict[str, Any]], None],
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> RetrainDecision:
    """Run the loop once for ``model`` and audit the decision."""
    decision = _decide(model, steps, guard, now)
    audit(decision.to_record())
    return decision


def _decide(model: str, steps: RetrainSteps, guard: RetrainGuard, now: Callable[[], datetime]) -> RetrainDecision:
    drift = steps.detect()
    if drift.insufficient_data:
        return RetrainDecision(model, "skipped-insufficient-data", drift.detail or "window too small", now())
    if not drift.dataset_drift:
        reason = f"drift share {drift.drift_share:.2f} is under the threshold"
        return RetrainDecision(model, "skipped-no-drift", reason, now(), drift.drift_share)
    started = now()
    blocked = guard.blocked(model, started)
    if blocked:
        return RetrainDecision(model, "skipped-guard", blocked, started, drift.drift_share)
    guard.history.record(model, started)
    try:
        version = steps.train()
    except Exception as exc:  # the champion keeps serving; the failure is audited
        return RetrainDecision(model, "failed", f"training failed: {exc}", now(), drift.drift_share)
    try:
        outcome = steps.promote(version)
    except Exception as exc:
        return RetrainDecision(
            model, "failed", f"promotion check failed: {exc}", now(), drift.drift_share, challenger_version=version
        )
    action: Action = "retrained-promoted" if outcome.promoted else "retrained-kept-champion"
    return RetrainDecision(
        model,
        action,
        outcome.reason,
        now(),
        drift.drift_share,
        outcome.champion_version,
        outcome.challenger_version,
    )
