"""Global explanations of a fitted pipeline on the holdout: permutation importance and mean |SHAP|."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from pulumi_mlops.runtime.config import StrictModel
from pydantic import Field

__all__ = ["Explanations", "FeatureImportance", "explain_model", "input_columns_of_outputs", "mean_abs_shap"]

log = logging.getLogger(__name__)


class FeatureImportance(StrictModel):
    """Importance of one input feature."""

    feature: str
    """Input column (one-hot columns are summed back into their categorical feature)."""
    permutation_auc_drop: float
    """Mean drop of holdout AUC when the feature's values are shuffled."""
    permutation_std: float
    """Standard deviation of that drop over the repeats."""
    mean_abs_shap: float | None = None
    """Mean absolute SHAP value (model output units: log-odds for boosting and linear models)."""


class Explanations(StrictModel):
    """The ``explanations.json`` artifact."""

    features: list[FeatureImportance]
    """Features, most important (by permutation importance) first."""
    permutation_rows: int
    """Holdout rows the permutation importance was computed on."""
    permutation_repeats: int
    """Shuffles per feature."""
    shap_method: str | None = None
    """``tree``, ``linear`` or ``kernel``; None when SHAP was not computed."""
    shap_rows: int = 0
    """Holdout rows explained by SHAP."""
    shap_skipped: str | None = None
    """Why SHAP was not computed (shap missing, unsupported model)."""
    seed: int = 0
    """Seed of the shuffles and samples."""
    extra: dict[str, Any] = Field(default_factory=dict)
    """Further details (e.g. the SHAP base value)."""

    def ranking(self) -> list[str]:
        """Feature names, most important first."""
        return [f.feature for f in self.features]


def input_columns_of_outputs(pipeline: Any) -> list[str] | None:
    """For each column the ``preprocess`` step outputs, the input column it comes from (None if unknown)."""
    preprocess = getattr(pipeline, "named_steps", {}).get("preprocess")
    if preprocess is None or not hasattr(preprocess, "transformers_"):
        return None
    owners: list[str] = []
    for name, transformer, columns in preprocess.transformers_:
        if name == "remainder" or transformer == "drop":
            continue
        columns = [str(c) for c in columns]
        encoder = next((s for _, s in getattr(transformer, "steps", []) if hasattr(s, "categories_")), None)
        if encoder is None:
            owners.extend(columns)
        else:
            for column, levels in zip(columns, encoder.categories_, strict=True):
                owners.extend([column] * len(levels))
    return owners


def _explainer(estimator: Any, background: np.ndarray, seed: int) -> tuple[Any, str]:
    import shap

    family = type(estimator).__name__
    if family in ("HistGradientBoostingClassifier", "RandomForestClassifier", "GradientBoostingClassifier"):
        return shap.TreeExplainer(estimator), "tree"
    if family == "LogisticRegression":
        return shap.LinearExplainer(estimator, background), "linear"
    summary = shap.sample(background, min(20, len(background)), random_state=seed)
    return shap.KernelExplainer(lambda x: estimator.predict_proba(x)[:, 1], summary), "kernel"


def mean_abs_shap(
    pipeline: Any, frame: pd.DataFrame, *, rows: int = 200, seed: int = 0
) -> tuple[dict[str, float] | None, str | None, str | None, int]:
    """``(mean |SHAP| per input feature, method, reason skipped, rows explained)`` on a sample of ``frame``."""
    try:
        import shap  # noqa: F401
    except ImportError:
        return None, None, "the shap package is not installed", 0
    owners = input_columns_of_outputs(pipeline)
    if owners is None:
        return None, None, "the model is not a preprocess + estimator pipeline", 0
    sample = frame.sample(min(rows, len(frame)), random_state=seed) if len(frame) > rows else frame
    transformed = np.asarray(pipeline.named_steps["preprocess"].transform(sample), dtype=float)
    if transformed.shape[1] != len(owners):
        return None, None, f"preprocessing outputs {transformed.shape[1]} columns, expected {len(owners)}", 0
    estimator = pipeline.steps[-1][1]
    explainer, method = _explainer(estimator, transformed, seed)
    if method == "kernel":
        transformed = transformed[: min(40, len(transformed))]
        values = explainer.shap_values(transformed, nsamples=100, silent=True)
    else:
        values = explainer.shap_values(transformed)
    values = np.asarray(values)
    if values.ndim == 3:  # (rows, columns, classes)
        values = values[:, :, -1]
    per_output = np.abs(values).mean(axis=0)
    totals: dict[str, float] = {}
    for owner, value in zip(owners, per_output, strict=True):
        totals[owner] = totals.get(owner, 0.0) + float(value)
    return totals, method, None, len(transformed)


def explain_model(
    pipeline: Any,
    features: pd.DataFrame,
    labels: Sequence[int] | np.ndarray | pd.Series,
    *,
    seed: int = 0,
    max_rows: int = 2000,
    repeats: int = 5,
    shap_rows: int = 200,
) -> Explanations:
    """Permutation importance (AUC drop, ``repeats`` shuffles on up to ``max_rows`` holdout rows) and mean |SHAP|."""
    from sklearn.inspection import permutation_importance

    y = np.asarray(labels)
    if len(features) > max_rows:
        chosen = np.random.default_rng(seed).choice(len(features), max_rows, replace=False)
        chosen.sort()
        features, y = features.iloc[chosen], y[chosen]
    result = permutation_importance(
        pipeline, features, y, scoring="roc_auc", n_repeats=repeats, random_state=seed, n_jobs=1
    )
    shap_values: dict[str, float] | None = None
    method = skipped = None
    explained = 0
    try:
        shap_values, method, skipped, explained = mean_abs_shap(pipeline, features, rows=shap_rows, seed=seed)
    except Exception as exc:  # shap raises many kinds for unsupported models; the run goes on without it
        skipped = f"shap failed: {type(exc).__name__}: {exc}"[:300]
        log.warning("explanations: %s", skipped)
    items = [
        FeatureImportance(
            feature=str(name),
            permutation_auc_drop=float(mean),
            permutation_std=float(std),
            mean_abs_shap=None if shap_values is None else shap_values.get(str(name)),
        )
        for name, mean, std in zip(features.columns, result.importances_mean, result.importances_std, strict=True)
    ]
    items.sort(key=lambda f: (-f.permutation_auc_drop, f.feature))
    return Explanations(
        features=items,
        permutation_rows=len(features),
        permutation_repeats=repeats,
        shap_method=method,
        shap_rows=explained,
        shap_skipped=skipped,
        seed=seed,
    )
