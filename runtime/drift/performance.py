"""Model quality on labelled predictions, for performance drift once labels of a window arrive.

With the model's task (recorded in the reference profile):

- binary: ``auc`` (rank-based, ties averaged) and ``accuracy`` (score >= 0.5) of positive-class
  probabilities, the positive class being the last of ``classes`` (1 without classes);
- multiclass: ``macro_f1`` and ``accuracy`` of predicted classes;
- regression: ``rmse``, ``mae`` and ``r2`` of predicted values.

Without a task (profiles written before tasks were recorded) it is inferred: 0/1 labels with scores
give ``auc`` and ``accuracy``, other numeric labels ``mae`` and ``rmse``, anything else ``accuracy`` of
exact matches. Performance drift is judged on the task's metric (:func:`primary_metric`), over the window
rows :func:`join_labels` finds a label for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

__all__ = ["HIGHER_IS_BETTER", "TASK_METRIC", "join_labels", "performance_metrics", "primary_metric"]

HIGHER_IS_BETTER = {"auc": True, "accuracy": True, "macro_f1": True, "r2": True, "mae": False, "rmse": False}
TASK_METRIC = {"binary": "auc", "multiclass": "macro_f1", "regression": "rmse"}
"""The metric performance drift is judged on, per task (rmse relative to the reference)."""
_ORDER = ("auc", "accuracy", "mae", "rmse")
_PREDICTION = "prediction"
"""The prediction-log column of the model's output (``profile.PREDICTION``)."""


def primary_metric(metrics: dict[str, float], task: str | None = None) -> str | None:
    """The metric performance drift is judged on: the task's (:data:`TASK_METRIC`), else the first of auc,
    accuracy, mae, rmse present."""
    if task in TASK_METRIC and TASK_METRIC[task] in metrics:
        return TASK_METRIC[task]
    return next((name for name in _ORDER if name in metrics), None)


def _binary(truth: np.ndarray, score: np.ndarray) -> dict[str, float]:
    metrics = {"accuracy": float(np.mean((score >= 0.5) == truth))}
    positives = int(truth.sum())
    negatives = truth.size - positives
    if positives and negatives:
        ranks = rankdata(score)
        u = float(ranks[truth].sum()) - positives * (positives + 1) / 2.0
        metrics = {"auc": u / (positives * negatives), **metrics}
    return metrics


def _macro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    scores = []
    for cls in np.unique(np.concatenate([truth, predicted])):
        tp = float(np.sum((predicted == cls) & (truth == cls)))
        fp = float(np.sum((predicted == cls) & (truth != cls)))
        fn = float(np.sum((predicted != cls) & (truth == cls)))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(scores)) if scores else 0.0


def _text(values: pd.Series) -> np.ndarray:
    """Class labels as text; integral floats print as integers (3.0 and 3 are one class)."""
    return np.array([str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in values], dtype=object)


def _regression(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    err = predicted - truth
    metrics = {"mae": float(np.mean(np.abs(err))), "rmse": math.sqrt(float(np.mean(err**2)))}
    spread = float(np.sum((truth - truth.mean()) ** 2))
    if truth.size > 1 and spread > 0:
        metrics["r2"] = 1.0 - float(np.sum(err**2)) / spread
    return metrics


def performance_metrics(
    labels: np.ndarray, predictions: np.ndarray, *, task: str | None = None, classes: Sequence[Any] | None = None
) -> dict[str, float]:
    """Quality of ``predictions`` against ``labels`` (rows with a missing label or prediction are skipped)."""
    y = pd.Series(np.asarray(labels))
    p = pd.Series(np.asarray(predictions))
    keep = y.notna().to_numpy() & p.notna().to_numpy()
    y, p = y[keep], p[keep]
    if y.empty:
        return {}
    numeric_pred = pd.api.types.is_numeric_dtype(p.dtype)
    if task == "binary":
        positive = _text(pd.Series([classes[-1] if classes else 1]))[0]
        return _binary(_text(y) == positive, p.to_numpy(dtype=np.float64))
    if task == "multiclass":
        truth, predicted = _text(y), _text(p)
        return {"macro_f1": _macro_f1(truth, predicted), "accuracy": float(np.mean(truth == predicted))}
    if task == "regression":
        return _regression(y.to_numpy(dtype=np.float64), p.to_numpy(dtype=np.float64))
    label_values = set(pd.unique(y).tolist())
    if numeric_pred and label_values <= {0, 1}:
        return _binary(y.astype(bool).to_numpy(), p.to_numpy(dtype=np.float64))
    if numeric_pred and pd.api.types.is_numeric_dtype(y.dtype):
        err = p.to_numpy(dtype=np.float64) - y.to_numpy(dtype=np.float64)
        return {"mae": float(np.mean(np.abs(err))), "rmse": math.sqrt(float(np.mean(err**2)))}
    return {"accuracy": float(np.mean(y.astype(str).to_numpy() == p.astype(str).to_numpy()))}


def join_labels(current: pd.DataFrame, labels: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Window rows with their labels: ``(request_id, prediction, label)`` per labelled row, and a note when the
    labels carry no ``row`` and were matched to the rows of their request by position.

    With ``row`` in both, the join is on ``(request_id, row)`` (the last label of a row wins). Without it, the
    k-th label of a request labels its k-th logged row (in log order), so nothing is copied to the other rows of
    a longer request; a request of one row takes its last label.
    """
    logged = current[["request_id", _PREDICTION, *(["row"] if "row" in current.columns else [])]]
    if "row" not in logged.columns:
        logged = logged.assign(row=logged.groupby("request_id", sort=False).cumcount())
    note = ""
    if "row" in labels.columns:
        given = labels[["request_id", "row", "label"]].dropna(subset=["row"]).astype({"row": "int64"})
        given = given.drop_duplicates(["request_id", "row"], keep="last")
    else:
        given = labels[["request_id", "label"]].assign(row=labels.groupby("request_id", sort=False).cumcount())
        single = logged["request_id"].value_counts()
        single_ids = set(single.index[single.to_numpy() == 1])
        last = given[given["request_id"].isin(single_ids)].drop_duplicates("request_id", keep="last").assign(row=0)
        given = pd.concat([given[~given["request_id"].isin(single_ids)], last], ignore_index=True)
        note = (
            "labels have no row column: each request's labels were matched to its rows in order; write request_id, "
            "row and label to join them per row"
        )
    logged = logged.astype({"row": "int64"})
    joined = logged.merge(given, on=["request_id", "row"], how="inner")
    return joined, note
