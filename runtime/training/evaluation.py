"""Holdout metrics: discrimination (AUC), threshold metrics (F1, accuracy) and calibration (Brier, ECE)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, brier_score_loss, f1_score, log_loss, roc_auc_score

__all__ = ["evaluate_model", "evaluate_probabilities", "expected_calibration_error"]


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


def evaluate_model(model: Any, features: Any, y_true: Any) -> dict[str, float]:
    """Metrics of ``model.predict_proba(features)[:, 1]``."""
    return evaluate_probabilities(y_true, model.predict_proba(features)[:, 1])
