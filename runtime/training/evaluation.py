"""Holdout metrics per task.

- binary: discrimination (``auc``), threshold metrics at 0.5 (``f1``, ``accuracy``), calibration (``brier``,
  ``ece``), ``log_loss`` and ``positive_rate``;
- multiclass: ``macro_f1``, ``log_loss``, ``accuracy`` and ``recall_<class>`` for every class;
- regression: ``rmse``, ``mae`` and ``r2``.

Every task also reports ``rows``.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    recall_score,
    roc_auc_score,
)

from .tasks import binary_targets

__all__ = [
    "evaluate_model",
    "evaluate_multiclass",
    "evaluate_probabilities",
    "evaluate_regression",
    "expected_calibration_error",
    "metric_class_name",
]


def expected_calibration_error(y_true: Any, proba: Any, bins: int = 10) -> float:
    """ECE over ``bins`` equal-width probability bins: sum of |accuracy - confidence| weighted by bin share."""
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(proba, dtype=float)
    if len(p) == 0:
        return 0.0
    index = np.minimum((p * bins).astype(int), bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            ece += mask.mean() * abs(y[mask].mean() - p[mask].mean())
    return float(ece)


def evaluate_probabilities(y_true: Any, proba: Any, threshold: float = 0.5) -> dict[str, float]:
    """Metrics of positive-class probabilities against 0/1 labels."""
    y = np.asarray(y_true).astype(int)
    p = np.clip(np.asarray(proba, dtype=float), 0.0, 1.0)
    predicted = (p >= threshold).astype(int)
    single_class = len(np.unique(y)) < 2
    return {
        "auc": float("nan") if single_class else float(roc_auc_score(y, p)),
        "f1": float(f1_score(y, predicted, zero_division=0)),
        "accuracy": float(accuracy_score(y, predicted)),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "log_loss": float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "positive_rate": float(y.mean()) if len(y) else 0.0,
        "rows": float(len(y)),
    }


def metric_class_name(value: Any) -> str:
    """A class label as it appears in metric names (``recall_<class>``): characters MLflow refuses become '_'."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", str(value))


def evaluate_multiclass(y_true: Any, proba: Any, classes: Any) -> dict[str, float]:
    """Metrics of per-class probabilities (columns in ``classes`` order) against class labels."""
    labels = np.asarray(classes)
    p = np.asarray(proba, dtype=float)
    y = np.asarray(y_true)
    predicted = labels[np.argmax(p, axis=1)]
    recalls = recall_score(y, predicted, labels=labels, average=None, zero_division=0)
    metrics = {
        "macro_f1": float(f1_score(y, predicted, labels=labels, average="macro", zero_division=0)),
        "log_loss": float(log_loss(y, p, labels=labels)),
        "accuracy": float(accuracy_score(y, predicted)),
    }
    metrics.update({f"recall_{metric_class_name(c)}": float(r) for c, r in zip(labels, recalls, strict=True)})
    metrics["rows"] = float(len(y))
    return metrics


def evaluate_regression(y_true: Any, predicted: Any) -> dict[str, float]:
    """Metrics of predicted values against the target."""
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(predicted, dtype=float)
    return {
        "rmse": float(np.sqrt(mean_squared_error(y, p))),
        "mae": float(mean_absolute_error(y, p)),
        "r2": float(r2_score(y, p)) if len(y) > 1 else float("nan"),
        "rows": float(len(y)),
    }


def evaluate_model(model: Any, features: Any, y_true: Any, task: str = "binary") -> dict[str, float]:
    """The ``task``'s metrics of ``model`` on ``features`` (binary: of ``predict_proba(features)[:, 1]``)."""
    if task == "regression":
        return evaluate_regression(y_true, model.predict(features))
    proba = model.predict_proba(features)
    classes = getattr(model, "classes_", None)
    if task == "multiclass":
        return evaluate_multiclass(y_true, proba, classes if classes is not None else np.arange(proba.shape[1]))
    positive = classes[1] if classes is not None and len(classes) == 2 else 1
    return evaluate_probabilities(binary_targets(y_true, positive), np.asarray(proba)[:, 1])
