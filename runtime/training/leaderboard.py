"""The search's leaderboard: every trial with its family, parameters, validation score, fit time and predict latency.

It is built from the study (so a shared study lists the trials of every worker), saved with the run as
``leaderboard.json`` and shown in the model card.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pulumi_mlops.runtime.config import StrictModel

from .search_space import family_params

__all__ = ["LEADERBOARD_ARTIFACT", "LeaderboardEntry", "entry_from_trial", "leaderboard_markdown", "ranked"]

LEADERBOARD_ARTIFACT = "leaderboard.json"
"""Run artifact with the search's metric, winner and leaderboard (every trial, best first)."""


class LeaderboardEntry(StrictModel):
    """One trial of the search."""

    trial: int
    """Optuna trial number."""
    family: str
    """Built-in estimator family of the trial."""
    estimator_class: str
    """The class the family fits for the task (``Ridge`` for ``logistic_regression`` on regression)."""
    params: dict[str, float | int | str | bool]
    """The family's sampled hyperparameters (the defaults fill in the rest)."""
    state: Literal["complete", "pruned", "failed"]
    """complete, pruned (stopped early by the pruner) or failed (the fit raised; see ``error``)."""
    score: float | None = None
    """Inner-validation value of the search metric; for a pruned trial the last value it reported."""
    fit_s: float | None = None
    """Seconds spent fitting (every rung or epoch of the trial), scoring excluded."""
    predict_ms: float | None = None
    """Median milliseconds of a single-row prediction (class probabilities for a classifier) by the trial's
    fitted pipeline; None for pruned and failed trials."""
    worker: int = 0
    """Search worker that ran the trial."""
    error: str | None = None
    """Why a failed trial failed."""


def entry_from_trial(trial: Any, families: Sequence[str]) -> LeaderboardEntry:
    """The leaderboard entry of an Optuna trial of a search over ``families``."""
    from optuna.trial import TrialState

    family = str(trial.user_attrs.get("family", families[0]))
    state: Literal["complete", "pruned", "failed"]
    if trial.state == TrialState.COMPLETE:
        state, score = "complete", trial.value
    elif trial.state == TrialState.PRUNED:
        steps = trial.intermediate_values
        state, score = "pruned", steps[max(steps)] if steps else None
    else:
        state, score = "failed", None
    return LeaderboardEntry(
        trial=trial.number,
        family=family,
        estimator_class=str(trial.user_attrs.get("estimator_class", "")),
        params=family_params(trial.params, family, families),
        state=state,
        score=score,
        fit_s=trial.user_attrs.get("fit_s"),
        predict_ms=trial.user_attrs.get("predict_ms") if state == "complete" else None,
        worker=int(trial.user_attrs.get("worker", 0)),
        error=trial.user_attrs.get("error"),
    )


def ranked(entries: Sequence[LeaderboardEntry], higher_is_better: bool) -> list[LeaderboardEntry]:
    """Complete trials best first, then pruned (best first), then failed, each group by trial number on ties."""
    order = {"complete": 0, "pruned": 1, "failed": 2}
    sign = -1.0 if higher_is_better else 1.0

    def key(entry: LeaderboardEntry) -> tuple[int, float, int]:
        score = sign * entry.score if entry.score is not None else float("inf")
        return order[entry.state], score, entry.trial

    return sorted(entries, key=key)


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def leaderboard_markdown(entries: Sequence[LeaderboardEntry], metric: str, limit: int = 10) -> str:
    """A markdown table of the first ``limit`` entries (already ranked), with a line for those left out."""
    rows = []
    for rank, entry in enumerate(entries[:limit], start=1):
        params = ", ".join(f"{k}={_value(v)}" for k, v in sorted(entry.params.items())) or "(defaults)"
        rows.append(
            f"| {rank} | {entry.trial} | {entry.family} ({entry.estimator_class}) | {params} | "
            f"{_number(entry.score, 4)} | {entry.state} | {_number(entry.fit_s, 2)} | {_number(entry.predict_ms, 2)} |"
        )
    more = f"\n{len(entries) - limit} more trials in `{LEADERBOARD_ARTIFACT}`.\n" if len(entries) > limit else ""
    return (
        f"| rank | trial | family | parameters | validation {metric} | state | fit s | predict ms (1 row) |\n"
        "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n" + more
    )
