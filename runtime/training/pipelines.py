"""scikit-learn pipelines: ColumnTransformer preprocessing followed by one estimator family, per task.

============================  =====================================  ==========================================
family                        binary and multiclass                  regression
============================  =====================================  ==========================================
``logistic_regression``       ``LogisticRegression``                 ``Ridge`` (``alpha`` instead of ``C``)
``gradient_boosting``         ``HistGradientBoostingClassifier``     ``HistGradientBoostingRegressor``
``random_forest``             ``RandomForestClassifier``             ``RandomForestRegressor``
``mlp``                       ``TabularMLPClassifier`` (softmax      ``TabularMLPRegressor`` (MSE)
                              head beyond two classes)
============================  =====================================  ==========================================

The PyTorch estimators are imported only when an ``mlp`` pipeline is built. Other estimators (your own, by
import path or registered) are built by :mod:`.estimators`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

__all__ = [
    "ESTIMATORS",
    "ESTIMATOR_STEP",
    "build_pipeline",
    "estimator_class",
    "estimator_defaults",
    "preprocessing",
    "split_feature_kinds",
]

ESTIMATOR_STEP = "estimator"
"""Name of the estimator step in every pipeline (its params are ``estimator__<name>``)."""

_DEFAULTS: dict[str, dict[str, Any]] = {
    "logistic_regression": {"C": 1.0, "max_iter": 500},
    "gradient_boosting": {"learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 31, "l2_regularization": 0.0},
    "random_forest": {"n_estimators": 100, "max_depth": 10, "min_samples_leaf": 5, "n_jobs": 1},
    "mlp": {"hidden_units": 64, "hidden_layers": 2, "dropout": 0.1, "learning_rate": 1e-3, "epochs": 10},
}
_REGRESSION_DEFAULTS: dict[str, dict[str, Any]] = {"logistic_regression": {"alpha": 1.0}}
ESTIMATORS = tuple(_DEFAULTS)


def estimator_defaults(estimator: str, task: str = "binary") -> dict[str, Any]:
    """Default hyperparameters of an estimator family for ``task``."""
    if estimator not in _DEFAULTS:
        raise ValueError(f"unknown estimator {estimator!r}: use one of {', '.join(ESTIMATORS)}")
    if task == "regression" and estimator in _REGRESSION_DEFAULTS:
        return dict(_REGRESSION_DEFAULTS[estimator])
    return dict(_DEFAULTS[estimator])


def estimator_class(estimator: str, task: str = "binary") -> type:
    """The class an estimator family fits for ``task``."""
    if estimator == "mlp":
        from .mlp import TabularMLPClassifier, TabularMLPRegressor

        return TabularMLPRegressor if task == "regression" else TabularMLPClassifier
    classes: dict[str, tuple[type, type]] = {
        "logistic_regression": (LogisticRegression, Ridge),
        "gradient_boosting": (HistGradientBoostingClassifier, HistGradientBoostingRegressor),
        "random_forest": (RandomForestClassifier, RandomForestRegressor),
    }
    if estimator not in classes:
        raise ValueError(f"unknown estimator {estimator!r}: use one of {', '.join(ESTIMATORS)}")
    return classes[estimator][1 if task == "regression" else 0]


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


def _estimator(estimator: str, params: Mapping[str, Any], seed: int, task: str) -> Any:
    values = {**estimator_defaults(estimator, task), **params}
    cls = estimator_class(estimator, task)
    allowed = set(cls().get_params())
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for estimator {estimator!r} ({cls.__name__}, {task}); "
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
    task: str = "binary",
) -> Pipeline:
    """``Pipeline([("preprocess", ColumnTransformer), ("estimator", <family for task>)])`` with ``params``."""
    preprocess = preprocessing(numeric, categorical, scale=estimator in ("logistic_regression", "mlp"))
    return Pipeline([("preprocess", preprocess), (ESTIMATOR_STEP, _estimator(estimator, params or {}, seed, task))])


def preprocessing(numeric: Sequence[str], categorical: Sequence[str], *, scale: bool) -> ColumnTransformer:
    """The ``preprocess`` step: median imputation (and standard scaling with ``scale``) of numeric features,
    constant imputation and one-hot encoding (unknown categories as all zeros) of categorical ones."""
    numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if scale:
        numeric_steps.append(("scale", StandardScaler()))
    categorical_steps: list[tuple[str, Any]] = [
        ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
        ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
    ]
    return ColumnTransformer(
        [
            ("numeric", Pipeline(numeric_steps), list(numeric)),
            ("categorical", Pipeline(categorical_steps), list(categorical)),
        ],
        remainder="drop",
        verbose_feature_names_out=False,
    )
