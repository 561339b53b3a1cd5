"""Global explanations of a fitted pipeline on the holdout: permutation importance and mean |SHAP|.

Permutation importance is the drop of the task's holdout score when a feature is shuffled: ROC AUC for
binary models, macro F1 for multiclass ones, R² for regressors (:data:`SCORING`). A time budget bounds
the work (:func:`explain_model`); what it was cut to is recorded in ``extra.budget``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from pulumi_mlops.runtime.config import StrictModel
from pydantic import Field

__all__ = [
    "MIN_BUDGET_ROWS",
    "SCORING",
    "Explanations",
    "FeatureImportance",
    "explain_model",
    "input_columns_of_outputs",
    "mean_abs_shap",
]

SCORING = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "r2"}
"""scikit-learn scorer of the permutation importance, per task."""
_TREES = frozenset(
    {
        "HistGradientBoostingClassifier",
        "HistGradientBoostingRegressor",
        "RandomForestClassifier",
        "RandomForestRegressor",
        "GradientBoostingClassifier",
        "GradientBoostingRegressor",
    }
)
_LINEAR = frozenset({"LogisticRegression", "Ridge", "LinearRegression"})

log = logging.getLogger(__name__)


class FeatureImportance(StrictModel):
    """Importance of one input feature."""

    feature: str
    """Input column (one-hot columns are summed back into their categorical feature)."""
    permutation_auc_drop: float
    """Mean drop of the holdout score (``Explanations.scoring``: AUC for binary models) when the feature's values
    are shuffled; the name is kept from binary-only runs."""
    permutation_std: float
    """Standard deviation of that drop over the repeats."""
    mean_abs_shap: float | None = None
    """Mean absolute SHAP value (model output units: log-odds for boosting and linear classifiers, averaged over
    the classes of a multiclass model; target units for regressors)."""


class Explanations(StrictModel):
    """The ``explanations.json`` artifact."""

    features: list[FeatureImportance]
    """Features, most important (by permutation importance) first."""
    permutation_rows: int
    """Holdout rows the permutation importance was computed on."""
    permutation_repeats: int
    """Shuffles per feature."""
    scoring: str = "roc_auc"
    """scikit-learn scorer whose drop the permutation importance measures (roc_auc, f1_macro or r2)."""
    shap_method: str | None = None
    """``tree``, ``linear`` or ``kernel``; None when SHAP was not computed."""
    shap_rows: int = 0
    """Holdout rows explained by SHAP."""
    shap_skipped: str | None = None
    """Why SHAP was not computed (shap missing, unsupported model)."""
    seed: int = 0
    """Seed of the shuffles and samples."""
    budget_s: float | None = None
    """Time budget the work was cut to (``TrainingSpec.explain_budget_s``); None when unbounded."""
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
    if family in _TREES:
        return shap.TreeExplainer(estimator), "tree"
    if family in _LINEAR:
        return shap.LinearExplainer(estimator, background), "linear"
    summary = shap.sample(background, min(_KERNEL_BACKGROUND, len(background)), random_state=seed)
    if not hasattr(estimator, "predict_proba"):
        return shap.KernelExplainer(estimator.predict, summary), "kernel"
    classes = getattr(estimator, "classes_", ())
    if len(classes) > 2:
        return shap.KernelExplainer(estimator.predict_proba, summary), "kernel"
    return shap.KernelExplainer(lambda x: estimator.predict_proba(x)[:, 1], summary), "kernel"


_KERNEL_ROWS = 40
_KERNEL_SAMPLES = 100
_KERNEL_BACKGROUND = 20
_KERNEL_MIN_ROWS = 5


def _kernel_rows(rows: int, budget_s: float | None, per_row_s: float | None) -> int:
    """Rows kernel SHAP explains: up to 40, fewer when each (``samples x background`` predictions) would not fit."""
    if budget_s is None or per_row_s is None:
        return rows
    per_explained = _KERNEL_SAMPLES * _KERNEL_BACKGROUND * per_row_s
    return min(rows, int(budget_s / max(per_explained, 1e-12)))


def mean_abs_shap(
    pipeline: Any,
    frame: pd.DataFrame,
    *,
    rows: int = 200,
    seed: int = 0,
    budget_s: float | None = None,
    per_row_s: float | None = None,
) -> tuple[dict[str, float] | None, str | None, str | None, int]:
    """``(mean |SHAP| per input feature, method, reason skipped, rows explained)`` on a sample of ``frame``.

    ``budget_s`` and ``per_row_s`` (seconds per predicted row) bound kernel SHAP, the costly method: it explains
    as many rows as fit, and is skipped below five."""
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
        kept = _kernel_rows(min(_KERNEL_ROWS, len(transformed)), budget_s, per_row_s)
        if kept < min(_KERNEL_MIN_ROWS, len(transformed)):
            return None, None, "kernel SHAP would exceed the explanation budget (TrainingSpec.explain_budget_s)", 0
        transformed = transformed[:kept]
        values = explainer.shap_values(transformed, nsamples=_KERNEL_SAMPLES, silent=True)
    else:
        values = explainer.shap_values(transformed)
    values = np.asarray(values)
    if values.ndim == 3 and values.shape[0] != len(transformed):  # (classes, rows, columns) from older shap
        values = np.moveaxis(values, 0, -1)
    if values.ndim == 3 and values.shape[2] == 2:  # (rows, columns, classes) of a binary model: the positive class
        values = values[:, :, -1]
    elif values.ndim == 3:  # multiclass: mean over the classes
        values = np.abs(values).mean(axis=2)
    per_output = np.abs(values).mean(axis=0)
    totals: dict[str, float] = {}
    for owner, value in zip(owners, per_output, strict=True):
        totals[owner] = totals.get(owner, 0.0) + float(value)
    return totals, method, None, len(transformed)


MIN_BUDGET_ROWS = 100
"""Fewest holdout rows a budget cuts the permutation importance to (all of them when there are fewer)."""
_PERMUTATION_SHARE = 0.75
"""Share of the budget planned for the permutation importance; SHAP gets what is left."""


def _plan(seconds: float, rows: int, features: int, repeats: int, budget_s: float) -> tuple[int, int]:
    """``(rows, repeats)`` whose permutation importance, ``(features x repeats + 1)`` scorings costing ``seconds``
    each on ``rows`` rows (taken as proportional to the rows), fits the permutation share of ``budget_s``."""
    allowed = budget_s * _PERMUTATION_SHARE
    per_scoring = max(seconds, 1e-9)
    fitting = int((allowed / per_scoring - 1) // max(features, 1))
    if fitting >= 1:
        return rows, min(repeats, fitting)
    floor = min(rows, MIN_BUDGET_ROWS)
    scaled = int(rows * allowed / (per_scoring * (features + 1)))
    return max(floor, min(rows, scaled)), 1


def explain_model(
    pipeline: Any,
    features: pd.DataFrame,
    labels: Sequence[int] | np.ndarray | pd.Series,
    *,
    seed: int = 0,
    max_rows: int = 2000,
    repeats: int = 5,
    shap_rows: int = 200,
    task: str = "binary",
    budget_s: float | None = None,
) -> Explanations:
    """Permutation importance (drop of the task's score, ``repeats`` shuffles on up to ``max_rows`` holdout rows)
    and mean |SHAP|.

    With ``budget_s`` the work is cut to fit that many seconds: one scoring of the sample is timed, the
    permutation importance gets fewer repeats (at least one), then fewer rows (at least
    :data:`MIN_BUDGET_ROWS`), so that its planned cost fits three quarters of the budget; SHAP runs on what is
    left (kernel SHAP on as many rows as its estimated cost allows) and is skipped, with the reason
    recorded, when nothing is left.
    """
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import check_scoring

    y = np.asarray(labels)
    if len(features) > max_rows:
        chosen = np.random.default_rng(seed).choice(len(features), max_rows, replace=False)
        chosen.sort()
        features, y = features.iloc[chosen], y[chosen]
    scoring = SCORING.get(task, "roc_auc")
    started = time.perf_counter()
    plan: dict[str, Any] = {}
    if budget_s is not None:
        check_scoring(pipeline, scoring=scoring)(pipeline, features, y)
        seconds = time.perf_counter() - started
        rows, repeats = _plan(seconds, len(features), features.shape[1], repeats, budget_s)
        plan = {"budget_s": budget_s, "scoring_s": round(seconds, 6), "rows": rows, "repeats": repeats}
        if rows < len(features):
            chosen = np.sort(np.random.default_rng(seed + 1).choice(len(features), rows, replace=False))
            features, y = features.iloc[chosen], y[chosen]
    result = permutation_importance(
        pipeline, features, y, scoring=scoring, n_repeats=repeats, random_state=seed, n_jobs=1
    )
    shap_values: dict[str, float] | None = None
    method = skipped = None
    explained = 0
    left = None if budget_s is None else budget_s - (time.perf_counter() - started)
    if left is not None and left <= 0:
        skipped = f"over the explanation budget ({budget_s:g} s, TrainingSpec.explain_budget_s)"
    else:
        try:
            shap_values, method, skipped, explained = mean_abs_shap(
                pipeline, features, rows=shap_rows, seed=seed, budget_s=left, per_row_s=_per_row(plan, features)
            )
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
        scoring=scoring,
        shap_method=method,
        shap_rows=explained,
        shap_skipped=skipped,
        seed=seed,
        budget_s=budget_s,
        extra={"budget": plan} if plan else {},
    )


def _per_row(plan: dict[str, Any], features: pd.DataFrame) -> float | None:
    """Seconds per row of one scoring, from the timed one (None without a budget)."""
    if not plan:
        return None
    return float(plan["scoring_s"]) / max(len(features), 1)
