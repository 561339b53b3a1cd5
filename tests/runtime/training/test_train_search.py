"""The Optuna search: trials run, pruning reports per epoch, best params reach the final fit."""

from __future__ import annotations

import pandas as pd
from pulumi_mlops.runtime.config import ModelRef, TrainingSpec
from pulumi_mlops.runtime.training import fit_and_evaluate


def test_search_picks_params_and_is_reproducible(churn_frame: pd.DataFrame) -> None:
    spec = TrainingSpec(
        model=ModelRef(name="churn"), estimator="logistic_regression", search_trials=4, search_timeout_s=60,
        data="generated://churn?rows=1500",
    )  # fmt: skip
    first = fit_and_evaluate(spec, churn_frame)
    assert first.search is not None and first.search.trials == 4
    assert first.params["C"] == first.search.best_params["C"]
    second = fit_and_evaluate(spec, churn_frame)
    assert second.search is not None and second.search.best_params == first.search.best_params


def test_mlp_search_with_pruning(churn_frame: pd.DataFrame) -> None:
    spec = TrainingSpec(
        model=ModelRef(name="churn"), estimator="mlp", search_trials=5, search_timeout_s=120,
        params={"epochs": 3, "batch_size": 256}, data="generated://churn?rows=1500",
    )  # fmt: skip
    result = fit_and_evaluate(spec, churn_frame)
    assert result.search is not None and result.search.trials == 5
    assert 0.5 < result.search.best_auc <= 1.0
    assert set(result.search.best_params) == {"hidden_units", "hidden_layers", "dropout", "learning_rate"}
    assert result.metrics["auc"] > 0.6
