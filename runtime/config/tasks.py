"""The learning tasks a training run can have, and the metrics the promotion gate may compare.

Depends on nothing but the standard library, so the spec classes, the trainer, the registry and the
drift detector share one table.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "DEFAULT_PROMOTION_METRIC",
    "PROMOTION_METRICS",
    "TASKS",
    "Task",
    "higher_is_better",
    "promotion_metric_for",
]

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[Task, ...] = ("binary", "multiclass", "regression")

PROMOTION_METRICS: dict[str, dict[str, bool]] = {
    "binary": {"auc": True, "log_loss": False, "brier": False, "ece": False, "f1": True, "accuracy": True},
    "multiclass": {"macro_f1": True, "log_loss": False, "accuracy": True},
    "regression": {"r2": True, "rmse": False, "mae": False},
}
"""Holdout metrics the gate may compare, per task, and whether higher is better."""

DEFAULT_PROMOTION_METRIC: dict[str, str] = {"binary": "auc", "multiclass": "macro_f1", "regression": "r2"}
"""The gate's metric when ``TrainingSpec.promotion_metric`` is not set: scale-free, so the default
``promotion_margin`` (0.005) means the same for every model of a task."""


def promotion_metric_for(task: str, requested: str | None) -> str:
    """The gate metric of ``task``: ``requested`` if the task has it, else the default; ValueError otherwise."""
    if task not in PROMOTION_METRICS:
        raise ValueError(f"unknown task {task!r}: use one of {', '.join(TASKS)}")
    if requested is None:
        return DEFAULT_PROMOTION_METRIC[task]
    if requested not in PROMOTION_METRICS[task]:
        raise ValueError(
            f"promotion_metric {requested!r} is not a {task} metric: use one of {', '.join(PROMOTION_METRICS[task])}"
        )
    return requested


def higher_is_better(task: str, metric: str) -> bool:
    """Whether a larger ``metric`` is a better model (``rmse``, ``log_loss`` ...: smaller is better)."""
    return PROMOTION_METRICS.get(task, {}).get(metric, metric not in ("rmse", "mae", "log_loss", "brier", "ece"))
