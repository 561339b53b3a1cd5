"""scikit-learn pipelines: ColumnTransformer preprocessing followed by one estimator family."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from .mlp import TabularMLPClassifier

__all__ = ["ESTIMATORS", "ESTIMATOR_STEP", "build_pipeline", "estimator_defaults", "split_feature_kinds"]

ESTIMATOR_STEP = "estimator"
"""Name of the estimator step in every pipeline (its params are ``estimator__<name>``)."""

_DEFAULTS: dict[str, dict[str, Any]] = {
    "logistic_regression": {"C": 1.0, "max_iter": 500},
    "gradient_boosting": {"learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 31, "l2_regularization": 0.0},
    "random_forest": {"n_estimators": 100, "max_depth": 10, "min_samples_leaf": 5, "n_jobs": 1},
    "mlp": {"hidden_units": 64, "hidden_layers": 2, "dropout": 0.1, "learning_rate": 1e-3, "epochs": 10},
}
ESTIMATORS = tuple(_DEFAULTS)


def estimator_defaults(estimator: str) -> dict[str, Any]:
    """Default hyperparameters of an estimator family."""
    if estimator not in _DEFAULTS:
        raise ValueError(f"unknown estimator {estimator!r}: use one of {', '.join(ESTIMATORS)}")
    return dict(_DEFAULTS[estimator])


def split_feature_kinds(frame: pd.DataFrame, features: Sequence[str]) -> tuple[list[str], list[str]]:
    """Numeric and categorical feature names (booleans and strings are categorical)."""
    numeric, categorical = [], []
    for name in features:
        series = frame[name]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            numeric.append(name)
        else:
            categorical.append(name)
    return numeric, categorical


def _estimator(estimator: str, params: Mapping[str, Any], seed: int) -> Any:
    values = {**estimator_defaults(estimator), **params}
    classes: dict[str, type] = {
        "logistic_regression": LogisticRegression,
        "gradient_boosting": HistGradientBoostingClassifier,
        "random_forest": RandomForestClassifier,
        "mlp": TabularMLPClassifier,
    }
    cls = classes[estimator]
    allowed = set(cls().get_params())
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for estimator {estimator!r}; "
            f"allowed are {', '.join(sorted(allowed - {'random_state'}))}"
        )
    if "random_state" in allowed:
        values["random_state"] = seed
    return cls(**values)


def build_pipeline(
    estimator: str,
    numeric: Sequence[str],
    categorical: Sequence[str],
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> Pipeline:
    """``Pipeline([("preprocess", ColumnTransformer), ("estimator", <family>)])`` with ``params`` applied."""
    scale = estimator in ("logistic_regression", "mlp")
    numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if scale:
        numeric_steps.append(("scale", StandardScaler()))
    categorical_steps: list[tuple[str, Any]] = [
        ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
        ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
    ]
    preprocess = ColumnTransformer(
        [
            ("numeric", Pipeline(numeric_steps), list(numeric)),
            ("categorical", Pipeline(categorical_steps), list(categorical)),
        ],
        remainder="drop",
        verbose_feature_names_out=False,
    )
    return Pipeline([("preprocess", preprocess), (ESTIMATOR_STEP, _estimator(estimator, params or {}, seed))])
