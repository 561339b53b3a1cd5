"""Pipelines for every estimator family, the MLP's scikit-learn contract, and determinism."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from pulumi_mlops.runtime.config import ModelRef, TrainingSpec
from pulumi_mlops.runtime.training import (
    TabularMLPClassifier,
    evaluate_probabilities,
    expected_calibration_error,
    fit_and_evaluate,
    split_frame,
)
from sklearn.base import clone
from sklearn.pipeline import Pipeline

FAST = {
    "logistic_regression": {},
    "gradient_boosting": {"max_iter": 20},
    "random_forest": {"n_estimators": 15},
    "mlp": {"epochs": 2, "batch_size": 128},
}


def _spec(estimator: str, **kwargs: object) -> TrainingSpec:
    return TrainingSpec(
        model=ModelRef(name="churn"), estimator=estimator, data="generated://churn?rows=1500",
        params=FAST[estimator], **kwargs,
    )  # fmt: skip


@pytest.mark.parametrize("estimator", list(FAST))
def test_every_family_fits_a_pipeline(estimator: str, churn_frame: pd.DataFrame) -> None:
    result = fit_and_evaluate(_spec(estimator), churn_frame)
    assert isinstance(result.pipeline, Pipeline)
    assert result.metrics["auc"] > 0.65, result.metrics
    assert set(result.metrics) >= {"auc", "f1", "accuracy", "brier", "ece"}
    proba = result.pipeline.predict_proba(result.holdout[result.features])
    assert proba.shape == (len(result.holdout), 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert "customer_id" not in result.features and "churned" not in result.features
    restored = pickle.loads(pickle.dumps(result.pipeline))
    np.testing.assert_allclose(restored.predict_proba(result.holdout[result.features]), proba)
    assert result.dataset.rows == len(churn_frame) and len(result.dataset.sha256) == 64
    assert "Model card: churn" in result.model_card and result.dataset.sha256 in result.model_card


@pytest.mark.parametrize("estimator", ["gradient_boosting", "mlp"])
def test_same_data_and_config_give_same_metrics(estimator: str, churn_frame: pd.DataFrame) -> None:
    first = fit_and_evaluate(_spec(estimator), churn_frame)
    second = fit_and_evaluate(_spec(estimator), churn_frame.copy())
    assert first.metrics == second.metrics
    assert first.profile == second.profile


def test_mlp_follows_the_estimator_contract() -> None:
    model = TabularMLPClassifier(hidden_units=8, epochs=1, random_state=3)
    assert model.get_params()["hidden_units"] == 8
    copy = clone(model).set_params(hidden_units=4)
    assert copy.hidden_units == 4 and model.hidden_units == 8
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    fitted = model.fit(x, y)
    assert fitted is model and model.predict(x).shape == (200,)
    assert set(np.unique(model.predict(x))) <= {0, 1}
    epochs = model.epochs_trained_
    model.partial_fit(x, y)
    assert model.epochs_trained_ == epochs + 1
    three = clone(model).fit(x, np.arange(200) % 3)
    assert three.predict_proba(x).shape == (200, 3) and set(np.unique(three.predict(x))) <= {0, 1, 2}
    with pytest.raises(ValueError, match="at least two classes"):
        clone(model).fit(x, np.zeros(200, dtype=int))
    with pytest.raises(ValueError, match="invalid hidden_units"):
        clone(model).set_params(hidden_units=0).fit(x, y)


def test_unknown_param_names_the_estimator(churn_frame: pd.DataFrame) -> None:
    spec = _spec("random_forest").model_copy(update={"params": {"n_trees": 5}})
    with pytest.raises(ValueError, match=r"n_trees.*random_forest"):
        fit_and_evaluate(spec, churn_frame)


def test_holdout_split_is_by_entity_and_stable(churn_frame: pd.DataFrame) -> None:
    train, holdout = split_frame(churn_frame, 0.2, entity_column="customer_id", label="churned", seed=1)
    assert not set(train["customer_id"]) & set(holdout["customer_id"])
    assert 0.15 < len(holdout) / len(churn_frame) < 0.25
    _, again = split_frame(churn_frame.iloc[::-1], 0.2, entity_column="customer_id", label="churned", seed=1)
    assert set(again["customer_id"]) == set(holdout["customer_id"])


def test_calibration_metrics() -> None:
    y = np.array([0, 0, 1, 1])
    perfect = evaluate_probabilities(y, [0.0, 0.0, 1.0, 1.0])
    assert perfect["auc"] == 1.0 and perfect["brier"] == 0.0 and perfect["ece"] == 0.0
    assert expected_calibration_error([1, 1, 1, 1], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.5)
