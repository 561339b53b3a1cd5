"""Model quality on labelled predictions, for performance drift once labels of a window arrive.

Binary labels (0/1 or booleans) with scores give ``auc`` (rank-based, ties averaged) and ``accuracy``
(score >= 0.5); other numeric labels give ``mae`` and ``rmse``; anything else gives ``accuracy`` of
exact matches. The first metric listed is the one performance drift is judged on.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import rankdata

__all__ = ["HIGHER_IS_BETTER", "performance_metrics", "primary_metric"]

HIGHER_IS_BETTER = {"auc": True, "accuracy": True, "mae": False, "rmse": False}
_ORDER = ("auc", "accuracy", "mae", "rmse")


def primary_metric(metrics: dict[str, float]) -> str | None:
    """The metric performance drift is judged on: the first of auc, accuracy, mae, rmse present."""
    return next((name for name in _ORDER if name in metrics), None)


def performance_metrics(labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """Quality of ``predictions`` against ``labels`` (rows with a missing label or prediction are skipped)."""
    y = pd.Series(np.asarray(labels))
    p = pd.Series(np.asarray(predictions))
    keep = y.notna().to_numpy() & p.notna().to_numpy()
    y, p = y[keep], p[keep]
    if y.empty:
        return {}
    numeric_pred = pd.api.types.is_numeric_dtype(p.dtype)
    label_values = set(pd.unique(y).tolist())
    if numeric_pred and label_values <= {0, 1}:
        truth = y.astype(bool).to_numpy()
        score = p.to_numpy(dtype=np.float64)
        metrics = {"accuracy": float(np.mean((score >= 0.5) == truth))}
        positives = int(truth.sum())
        negatives = truth.size - positives
        if positives and negatives:
            ranks = rankdata(score)
            u = float(ranks[truth].sum()) - positives * (positives + 1) / 2.0
            metrics = {"auc": u / (positives * negatives), **metrics}
        return metrics
    if numeric_pred and pd.api.types.is_numeric_dtype(y.dtype):
        err = p.to_numpy(dtype=np.float64) - y.to_numpy(dtype=np.float64)
        return {"mae": float(np.mean(np.abs(err))), "rmse": math.sqrt(float(np.mean(err**2)))}
    return {"accuracy": float(np.mean(y.astype(str).to_numpy() == p.astype(str).to_numpy()))}
