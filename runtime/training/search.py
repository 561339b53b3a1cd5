"""Hyperparameter search with Optuna (the AutoML step).

Each trial fits on an inner training split and is scored on an inner validation split (both carved
from the training rows; the holdout is never seen) by the run's promotion metric: AUC for binary
models unless the spec names another. MLP trials report the validation score after every epoch, so
the median pruner stops unpromising ones early.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from pulumi_mlops.runtime.config import StrictModel
from pulumi_mlops.runtime.config.tasks import higher_is_better, promotion_metric_for
from pydantic import Field
from sklearn.base import clone
from sklearn.model_selection import train_test_split

from .evaluation import evaluate_model
from .pipelines import ESTIMATOR_STEP, build_pipeline

__all__ = ["SearchResult", "search_hyperparameters", "suggest_params"]


class SearchResult(StrictModel):
    """Outcome of the search."""

    best_params: dict[str, float | int | str | bool]
    """Estimator parameters of the best trial."""
    metric: str = "auc"
    """Inner-validation metric the trials were compared on."""
    best_score: float
    """Inner-validation ``metric`` of the best trial."""
    best_auc: float | None = None
    """Inner-validation AUC of the best trial (when the metric is AUC)."""
    trials: int
    """Trials run (complete and pruned)."""
    pruned: int = Field(default=0)
    """Trials stopped early by the pruner."""


def suggest_params(trial: Any, estimator: str, task: str = "binary") -> dict[str, Any]:
    """The search space of each estimator family."""
    if estimator == "logistic_regression" and task == "regression":
        return {"alpha": trial.suggest_float("alpha", 1e-3, 100.0, log=True)}
    if estimator == "logistic_regression":
        return {"C": trial.suggest_float("C", 1e-3, 10.0, log=True)}
    if estimator == "gradient_boosting":
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
            "max_iter": trial.suggest_int("max_iter", 20, 150),
            "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 7, 63),
            "l2_regularization": trial.suggest_float("l2_regularization", 1e-6, 1.0, log=True),
        }
    if estimator == "random_forest":
        return {
            "n_estimators": trial.suggest_int("n_estimators", 20, 150),
            "max_depth": trial.suggest_int("max_depth", 3, 16),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 20),
        }
    if estimator == "mlp":
        return {
            "hidden_units": trial.suggest_categorical("hidden_units", [16, 32, 64, 128]),
            "hidden_layers": trial.suggest_int("hidden_layers", 1, 3),
            "dropout": trial.suggest_float("dropout", 0.0, 0.4),
            "learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True),
        }
    raise ValueError(f"no search space for estimator {estimator!r}")


def search_hyperparameters(
    estimator: str,
    train: pd.DataFrame,
    y: Sequence[int] | np.ndarray,
    numeric: list[str],
    categorical: list[str],
    *,
    base_params: dict[str, Any],
    trials: int,
    timeout_s: float,
    seed: int,
    task: str = "binary",
    metric: str | None = None,
) -> SearchResult:
    """Run ``trials`` Optuna trials (TPE sampler seeded with ``seed``) within ``timeout_s`` seconds.

    Trials are compared on ``metric`` (default: the task's promotion metric) of the inner validation split.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    metric = promotion_metric_for(task, metric)
    labels = np.asarray(y)
    strata = None
    if task != "regression":
        _, counts = np.unique(labels, return_counts=True)
        strata = labels if counts.min() >= 2 else None
    inner_x, valid_x, inner_y, valid_y = train_test_split(
        train, labels, test_size=0.25, random_state=seed, stratify=strata
    )

    def objective(trial: optuna.Trial) -> float:
        params = {**base_params, **suggest_params(trial, estimator, task)}
        pipeline = build_pipeline(estimator, numeric, categorical, params, seed, task)
        if estimator != "mlp":
            pipeline.fit(inner_x, inner_y)
            return evaluate_model(pipeline, valid_x, valid_y, task)[metric]
        preprocess = clone(pipeline.named_steps["preprocess"]).fit(inner_x, inner_y)
        xt, xv = preprocess.transform(inner_x), preprocess.transform(valid_x)
        model = pipeline.named_steps[ESTIMATOR_STEP]
        score = 0.0
        for epoch in range(int(model.epochs)):
            model.partial_fit(xt, inner_y)
            score = evaluate_model(model, xv, valid_y, task)[metric]
            trial.report(score, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return score

    study = optuna.create_study(
        direction="maximize" if higher_is_better(task, metric) else "minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
    )
    study.optimize(objective, n_trials=trials, timeout=timeout_s, catch=())
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise RuntimeError(f"hyperparameter search finished no trial in {timeout_s}s; raise search_timeout_s")
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    best = float(study.best_value)
    return SearchResult(
        best_params=dict(study.best_params),
        metric=metric,
        best_score=best,
        best_auc=best if metric == "auc" else None,
        trials=len(study.trials),
        pruned=pruned,
    )
