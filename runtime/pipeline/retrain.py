"""The automated retraining loop: drift → guard → train a challenger → champion/challenger gate.

Each step is injected, so the loop is the same on a laptop and on the cluster (where the drift
CronJob runs ``mlops retrain``); every decision, including "nothing to do", is audited. A retraining
counts against the guard (cooldown, daily cap) once its training succeeded: a failed one leaves the
guard as it was. ``force`` retrains whatever the drift verdict and the guard say, and the decision
records that it was forced.
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
    forced: bool = False
    """Whether ``force`` overrode the drift verdict and the guard."""

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
            "forced": self.forced,
        }


def run_retrain(
    model: str,
    steps: RetrainSteps,
    guard: RetrainGuard,
    audit: Callable[[dict[str, Any]], None],
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    *,
    force: bool = False,
) -> RetrainDecision:
    """Run the loop once for ``model`` and audit the decision; ``force`` retrains without drift or the guard's
    consent."""
    decision = _decide(model, steps, guard, now, force)
    audit(decision.to_record())
    return decision


def _overridden(drift: DriftOutcome, blocked: str | None) -> str:
    """What ``force`` overrode, for the decision's reason."""
    if drift.insufficient_data:
        verdict = f"no drift verdict ({drift.detail or 'window too small'})"
    elif drift.dataset_drift:
        verdict = f"drift share {drift.drift_share:.2f}"
    else:
        verdict = f"no drift (share {drift.drift_share:.2f})"
    return f"forced (--force) despite {verdict}" + (f" and the guard ({blocked})" if blocked else "")


def _decide(
    model: str, steps: RetrainSteps, guard: RetrainGuard, now: Callable[[], datetime], force: bool
) -> RetrainDecision:
    drift = steps.detect()
    share = None if drift.insufficient_data else drift.drift_share
    started = now()
    blocked = guard.blocked(model, started)
    if not force:
        if drift.insufficient_data:
            return RetrainDecision(model, "skipped-insufficient-data", drift.detail or "window too small", started)
        if not drift.dataset_drift:
            reason = f"drift share {drift.drift_share:.2f} is under the threshold"
            return RetrainDecision(model, "skipped-no-drift", reason, started, drift.drift_share)
        if blocked:
            return RetrainDecision(model, "skipped-guard", blocked, started, drift.drift_share)
    note = f"{_overridden(drift, blocked)}: " if force else ""
    try:
        version = steps.train()
    except Exception as exc:  # the champion keeps serving; the failure is audited and does not count
        return RetrainDecision(model, "failed", f"{note}training failed: {exc}", now(), share, forced=force)
    guard.history.record(model, started)
    try:
        outcome = steps.promote(version)
    except Exception as exc:
        return RetrainDecision(
            model, "failed", f"{note}promotion check failed: {exc}", now(), share, challenger_version=version,
            forced=force,
        )  # fmt: skip
    action: Action = "retrained-promoted" if outcome.promoted else "retrained-kept-champion"
    return RetrainDecision(
        model,
        action,
        note + outcome.reason,
        now(),
        share,
        outcome.champion_version,
        outcome.challenger_version,
        forced=force,
    )
