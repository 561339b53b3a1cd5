"""Your own estimators: by import path or registered from Python, checked before fitting, fitted like the built-in
families (task, metrics, explanations, per-request explanations), and the explanation budget."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pulumi_mlops.runtime.config import ModelRef, TrainingSpec
from pulumi_mlops.runtime.explain import MIN_BUDGET_ROWS, explain_model, occlusion_explainer
from pulumi_mlops.runtime.training import (
    fit_and_evaluate,
    prepare_training_data,
    register_estimator,
    resolve_estimator,
    unregister_estimator,
)
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

sys.path.insert(0, str(Path(__file__).parent))

CENTROID = "custom_estimators:CentroidClassifier"


def _frame(loader: object) -> pd.DataFrame:
    return loader(as_frame=True).frame  # type: ignore[operator, no-any-return]


def _spec(estimator: str, **fields: object) -> TrainingSpec:
    return TrainingSpec.model_validate(
        {"model": {"name": "own"}, "estimator": estimator, "data": "breast_cancer.csv", "label": "target", **fields}
    )


@pytest.fixture
def registered() -> Iterator[str]:
    from custom_estimators import CentroidClassifier

    register_estimator("centroid", CentroidClassifier, tasks=("binary", "multiclass"), params={"temperature": 50.0})
    yield "centroid"
    unregister_estimator("centroid")


def test_an_import_path_trains_behind_the_built_in_preprocessing() -> None:
    frame = _frame(load_breast_cancer)
    result = fit_and_evaluate(_spec(CENTROID, params={"temperature": 20.0}), frame)
    assert result.task.task == "binary" and result.metrics["auc"] > 0.9
    assert list(result.pipeline.named_steps) == ["preprocess", "estimator"]
    centroid = result.pipeline.named_steps["estimator"]
    assert type(centroid).__name__ == "CentroidClassifier" and centroid.temperature == 20.0
    assert centroid.random_state == result.spec.seed, "a random_state left at None takes the spec's seed"
    assert result.explanations is not None and len(result.explanations.features) == frame.shape[1] - 1
    assert f"`{CENTROID}` (CentroidClassifier) in a scikit-learn Pipeline" in result.model_card


def test_a_registered_name_trains_for_its_tasks_with_its_defaults(registered: str) -> None:
    result = fit_and_evaluate(_spec(registered), _frame(load_wine))
    assert result.task.task == "multiclass" and result.metrics["macro_f1"] > 0.8
    assert result.params == {"temperature": 50.0}
    with pytest.raises(ValueError, match=r"registered for binary, multiclass, not regression"):
        prepare_training_data(_spec(registered), _frame(load_diabetes))


def test_a_pipeline_factory_is_fitted_as_it_is_and_explained_per_request() -> None:
    from pulumi_mlops.runtime.registry.registration import _metadata

    frame = _frame(load_breast_cancer)
    result = fit_and_evaluate(_spec("custom_estimators:scaled_knn", params={"n_neighbors": 9}), frame)
    assert list(result.pipeline.named_steps) == ["scale", "knn"] and result.metrics["auc"] > 0.9
    assert "its own Pipeline, fitted on the raw feature columns" in result.model_card
    assert "median-imputed" not in result.model_card
    reference = _metadata(result)["reference"]
    assert set(reference) == set(result.features)
    assert occlusion_explainer(result.pipeline) is None, "no preprocess step to take the reference from"
    explain = occlusion_explainer(result.pipeline, reference)
    assert explain is not None
    rows = frame.drop(columns="target").head(3)
    contributions = explain(rows)
    assert len(contributions) == 3 and set(contributions[0]) == set(result.features)


@pytest.mark.parametrize(
    ("estimator", "loader", "fragments"),
    [
        ("custom_estimators:MeanRegressor", load_breast_cancer, ("is a regressor, but the task is binary",)),
        ("custom_estimators:CentroidClassifier", load_diabetes, ("is a classifier, but the task is regression",)),
        ("custom_estimators:LabelOnlyClassifier", load_wine, ("has no predict_proba", "multiclass")),
        ("custom_estimators:Missing", load_wine, ("has no attribute 'Missing'",)),
        ("no_such_package.models:Net", load_wine, ("cannot import module 'no_such_package.models'",)),
        ("my_typo", load_wine, ("unknown estimator 'my_typo'", "gradient_boosting", "package.module:Class")),
    ],
)
def test_estimators_that_cannot_fit_are_refused_before_fitting(
    estimator: str, loader: object, fragments: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError) as caught:
        prepare_training_data(_spec(estimator), _frame(loader))
    assert all(f in str(caught.value) for f in fragments), str(caught.value)


def test_parameters_and_search_of_your_own_estimator_are_checked() -> None:
    frame = _frame(load_breast_cancer)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) temp .* it takes random_state, temperature"):
        prepare_training_data(_spec(CENTROID, params={"temp": 2}), frame)
    with pytest.raises(ValueError, match=r"search_trials: .* built-in families only"):
        prepare_training_data(_spec(CENTROID, search_trials=3), frame)


def test_registration_refuses_names_it_could_not_resolve() -> None:
    from custom_estimators import CentroidClassifier

    with pytest.raises(ValueError, match="built-in estimator family"):
        register_estimator("gradient_boosting", CentroidClassifier)
    with pytest.raises(ValueError, match="tasks"):
        register_estimator("centroid-x", CentroidClassifier, tasks=("ranking",))
    assert resolve_estimator("mlp").distributed and not resolve_estimator(CENTROID).distributed


def test_the_spec_takes_import_paths_and_names_but_not_other_text() -> None:
    assert TrainingSpec(model=ModelRef(name="m"), estimator="pkg.models:Net").estimator == "pkg.models:Net"
    with pytest.raises(ValueError, match="is not an estimator: use a built-in family"):
        TrainingSpec(model=ModelRef(name="m"), estimator="pkg.models Net")


def test_explanations_are_cut_to_the_budget_and_can_be_skipped() -> None:
    frame = _frame(load_breast_cancer)
    result = fit_and_evaluate(_spec("logistic_regression", explain=False), frame)
    assert result.explanations is None and "## Explanations" not in result.model_card
    features = result.holdout[result.features]
    labels = result.holdout["target"].to_numpy()
    assert len(features) > MIN_BUDGET_ROWS
    tight = explain_model(result.pipeline, features, labels, budget_s=1e-6)
    assert (tight.permutation_rows, tight.permutation_repeats) == (MIN_BUDGET_ROWS, 1)
    assert tight.shap_method is None and "budget" in (tight.shap_skipped or "")
    assert tight.budget_s == 1e-6 and tight.extra["budget"]["rows"] == MIN_BUDGET_ROWS
    unbounded = explain_model(result.pipeline, features, labels, repeats=3)
    assert (unbounded.permutation_rows, unbounded.permutation_repeats) == (len(features), 3)
    assert unbounded.budget_s is None and unbounded.shap_method == "linear"
    assert np.isfinite([f.permutation_auc_drop for f in unbounded.features]).all()
