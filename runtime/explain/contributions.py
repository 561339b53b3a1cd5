"""Per-row explanations by occlusion: how much each feature moves a row's score from a reference.

For every feature, the row's value is replaced by a reference value and the change of the score is
the feature's contribution: ``s(row) - s(row with that feature at reference)``. The score is the
positive-class probability of a binary classifier, the probability of the class predicted for the row
of a multiclass one, and the predicted value of a regressor. :func:`pipeline_reference` takes the
reference from the fitted pipeline itself (the training median of each numeric feature, as its
imputer holds it; a missing value for each categorical feature, which the pipeline encodes as "no
category"); :func:`reference_values` from a frame (median, most frequent value). Cost: one prediction
on ``rows x (features + 1)`` rows.

The model server answers ``POST /v1/models/<name>:predict?explain=true`` with these contributions
next to the predictions. Latency budget: 50 ms at the median for a 1-row request (measured on the
logistic-regression churn pipeline, 10 features, 1 CPU: 7.8 ms without and 29.2 ms with
explanations); the cost grows with rows x features, so explain large batches offline instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["occlusion_contributions", "occlusion_explainer", "pipeline_reference", "reference_values"]


def reference_values(frame: pd.DataFrame) -> dict[str, Any]:
    """Median of each numeric column, most frequent value of each other column."""
    values: dict[str, Any] = {}
    for column in frame.columns:
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            values[str(column)] = float(series.median())
        else:
            mode = series.mode(dropna=True)
            values[str(column)] = mode.iloc[0] if len(mode) else None
    return values


def pipeline_reference(pipeline: Any) -> dict[str, Any] | None:
    """Numeric features at their imputer's training median, categorical ones missing; None for other models."""
    preprocess = getattr(pipeline, "named_steps", {}).get("preprocess")
    if preprocess is None or not hasattr(preprocess, "transformers_"):
        return None
    values: dict[str, Any] = {}
    for name, transformer, columns in preprocess.transformers_:
        if name == "numeric":
            imputer = next((s for _, s in getattr(transformer, "steps", []) if hasattr(s, "statistics_")), None)
            if imputer is None:
                return None
            values.update({str(c): float(v) for c, v in zip(columns, imputer.statistics_, strict=True)})
        elif name == "categorical":
            values.update({str(c): None for c in columns})
    return values


def _scores(model: Any, frame: pd.DataFrame, n: int) -> np.ndarray:
    """The score of every row of ``frame`` (``n`` original rows, then their occluded copies)."""
    if not hasattr(model, "predict_proba"):
        return np.asarray(model.predict(frame), dtype=float)
    proba = np.asarray(model.predict_proba(frame), dtype=float)
    if proba.shape[1] == 2:
        return proba[:, 1]
    if n == 0:
        return np.empty(0)
    chosen = np.tile(np.argmax(proba[:n], axis=1), len(frame) // n)
    return proba[np.arange(len(frame)), chosen]


def occlusion_contributions(
    model: Any, rows: pd.DataFrame, reference: Mapping[str, Any]
) -> tuple[np.ndarray, list[dict[str, float]]]:
    """``(scores, one {feature: contribution} per row)`` for the columns of ``rows`` in ``reference``."""
    features = [c for c in rows.columns if c in reference]
    variants = [rows]
    for feature in features:
        occluded = rows.copy()
        occluded[feature] = reference[feature]
        variants.append(occluded.astype(rows.dtypes.to_dict()))
    n = len(rows)
    proba = _scores(model, pd.concat(variants, ignore_index=True), n)
    base = proba[:n]
    result = [
        {feature: float(base[i] - proba[(k + 1) * n + i]) for k, feature in enumerate(features)} for i in range(n)
    ]
    return base, result


def occlusion_explainer(
    model: Any, recorded: Mapping[str, Any] | None = None
) -> Callable[[pd.DataFrame], list[dict[str, float]]] | None:
    """``explain(frame) -> one {feature: contribution to the score} per row`` against :func:`pipeline_reference`,
    else against ``recorded`` reference values (what registration stores for a Pipeline of your own), or None."""
    reference = pipeline_reference(model)
    if reference is None and recorded:
        reference = dict(recorded)
    if reference is None:
        return None

    def explain(frame: pd.DataFrame) -> list[dict[str, float]]:
        return occlusion_contributions(model, frame, reference)[1]

    return explain
