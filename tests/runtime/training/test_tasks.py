"""Task detection from the label, per-task metrics, estimators, ONNX parity and the model card."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pulumi_mlops.runtime.config import ModelRef, TrainingSpec
from pulumi_mlops.runtime.data import DataValidationError
from pulumi_mlops.runtime.drift.performance import performance_metrics, primary_metric
from pulumi_mlops.runtime.registry.onnx_export import OnnxModel, export_onnx
from pulumi_mlops.runtime.training import (
    TaskError,
    evaluate_multiclass,
    evaluate_regression,
    fit_and_evaluate,
    resolve_task,
)
from pydantic import ValidationError
from sklearn.datasets import load_diabetes, load_wine

RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    ("labels", "task", "classes"),
    [
        (pd.Series([0, 1] * 50), "binary", (0, 1)),
        (pd.Series(["no", "yes", "yes"] * 20), "binary", ("no", "yes")),
        (pd.Series([True, False] * 10), "binary", (False, True)),
        (pd.Series([0.0, 1.0] * 10), "binary", (0.0, 1.0)),
        (pd.Series([0, 1, 2] * 60), "multiclass", (0, 1, 2)),
        (pd.Series(["red", "green", "blue"] * 3), "multiclass", ("blue", "green", "red")),
        (pd.Series([0, 1, 2] * 13), "regression", ()),
        (pd.Series(np.arange(300, dtype=float)), "regression", ()),
        (pd.Series(RNG.normal(size=100)), "regression", ()),
    ],
    ids=["0/1", "strings", "booleans", "floats-0/1", "3-ints", "3-strings", "3-ints-few-rows", "many", "fractional"],
)
def test_the_task_is_detected_from_the_label(labels: pd.Series, task: str, classes: tuple[object, ...]) -> None:
    info = resolve_task(labels, column="y")
    assert (info.task, info.classes, info.detected) == (task, classes, True)
    if task == "binary":
        assert info.positive_class == classes[-1]


@pytest.mark.parametrize(
    ("labels", "requested", "message"),
    [
        (pd.Series([7] * 10), None, "holds one value only"),
        (pd.Series([f"c{i}" for i in range(60)] * 2), None, "more than the 50 classes"),
        (pd.Series([0, 1, 2] * 20), "binary", "task: binary needs exactly two label values, but 'y' holds 3"),
        (pd.Series([0, 1] * 20), "multiclass", "set TrainingSpec.task (--task) to binary"),
        (pd.Series(["a", "b"] * 20), "regression", "task: regression needs a numeric label"),
    ],
)
def test_a_label_that_does_not_fit_says_why_and_what_to_set(
    labels: pd.Series, requested: str | None, message: str
) -> None:
    with pytest.raises(TaskError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_task(labels, requested, column="y")  # type: ignore[arg-type]


def test_a_set_task_is_kept_when_the_label_fits() -> None:
    info = resolve_task(pd.Series([0, 1, 2] * 13), "multiclass", column="y")
    assert (info.task, info.classes, info.detected) == ("multiclass", (0, 1, 2), False)


def test_the_promotion_metric_must_belong_to_the_task() -> None:
    with pytest.raises(ValidationError, match="'auc' is not a regression metric: use one of r2, rmse, mae"):
        TrainingSpec(model=ModelRef(name="m"), task="regression", promotion_metric="auc")
    with pytest.raises(ValidationError, match="'roc' is unknown"):
        TrainingSpec(model=ModelRef(name="m"), promotion_metric="roc")
    frame = load_diabetes(as_frame=True).frame
    spec = TrainingSpec(model=ModelRef(name="m"), data="d.csv", label="target", promotion_metric="macro_f1")
    with pytest.raises(TaskError, match=r"not a regression metric.*fix TrainingSpec\.promotion_metric"):
        fit_and_evaluate(spec, frame)


def test_metrics_of_each_task() -> None:
    multi = evaluate_multiclass(
        ["a", "b", "c", "c"], [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.6, 0.2, 0.2]], ["a", "b", "c"]
    )
    assert multi["accuracy"] == 0.75 and multi["recall_c"] == 0.5 and multi["recall_a"] == 1.0
    assert multi["macro_f1"] == pytest.approx((2 / 3 + 1.0 + 2 / 3) / 3)
    assert multi["log_loss"] == pytest.approx(-np.mean(np.log([0.8, 0.8, 0.8, 0.2])))
    regression = evaluate_regression([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    assert regression["rmse"] == pytest.approx(np.sqrt(1 / 3)) and regression["mae"] == pytest.approx(1 / 3)
    assert regression["r2"] == pytest.approx(0.5)


def test_performance_drift_metric_of_each_task() -> None:
    binary = performance_metrics(np.array(["no", "yes", "yes"]), np.array([0.2, 0.9, 0.4]), task="binary",
                                 classes=["no", "yes"])  # fmt: skip
    assert binary == {"auc": 1.0, "accuracy": pytest.approx(2 / 3)}
    multi = performance_metrics(np.array([0, 1, 2, 2]), np.array([0, 1, 2, 0]), task="multiclass")
    assert multi["accuracy"] == 0.75 and multi["macro_f1"] == pytest.approx((2 / 3 + 1.0 + 2 / 3) / 3)
    assert primary_metric(multi, "multiclass") == "macro_f1"
    regression = performance_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]), task="regression")
    assert primary_metric(regression, "regression") == "rmse" and regression["r2"] == pytest.approx(0.5)
    assert primary_metric(regression) == "mae"  # profiles without a task keep the old order


@pytest.mark.parametrize("estimator", ["gradient_boosting", "random_forest", "logistic_regression", "mlp"])
def test_every_estimator_family_fits_multiclass_and_regression(estimator: str) -> None:
    params = {"gradient_boosting": {"max_iter": 10}, "random_forest": {"n_estimators": 10}, "mlp": {"epochs": 30}}
    wine, diabetes = load_wine(as_frame=True).frame, load_diabetes(as_frame=True).frame
    spec = TrainingSpec(
        model=ModelRef(name="m"), data="x.csv", label="target", estimator=estimator, params=params.get(estimator, {})
    )
    multi = fit_and_evaluate(spec, wine)
    assert multi.task.task == "multiclass" and multi.task.classes == (0, 1, 2)
    assert multi.pipeline.predict_proba(wine.drop(columns="target").head(4)).shape == (4, 3)
    assert multi.metrics["macro_f1"] > 0.5 and {"recall_0", "recall_1", "recall_2", "log_loss"} <= set(multi.metrics)
    assert multi.profile["task"] == "multiclass" and multi.profile["prediction"]["kind"] == "categorical"
    regression = fit_and_evaluate(spec, diabetes)
    family = type(regression.pipeline.steps[-1][1]).__name__
    expected = {"gradient_boosting": "HistGradientBoostingRegressor", "random_forest": "RandomForestRegressor",
                "logistic_regression": "Ridge", "mlp": "TabularMLPRegressor"}[estimator]  # fmt: skip
    assert family == expected and regression.task.task == "regression" and regression.promotion_metric == "r2"
    assert regression.metrics["r2"] > 0.0 and regression.metrics["rmse"] < diabetes["target"].std()
    assert regression.profile["metrics"]["rmse"] == pytest.approx(regression.metrics["rmse"])


def test_string_binary_labels_score_the_later_class() -> None:
    frame = load_wine(as_frame=True).frame
    frame["target"] = np.where(frame["target"] == 0, "first", "other")
    spec = TrainingSpec(model=ModelRef(name="m"), data="x.csv", label="target", estimator="logistic_regression")
    result = fit_and_evaluate(spec, frame)
    assert result.task.classes == ("first", "other") and result.metrics["auc"] > 0.9
    assert result.profile["classes"] == ["first", "other"] and result.profile["metrics"]["auc"] > 0.9
    assert "the score is the probability of `other`" in result.model_card


def test_a_label_that_is_no_0_1_column_is_refused_by_a_0_1_schema() -> None:
    from pulumi_mlops.runtime.data import ColumnSchema, DatasetSchema

    frame = load_wine(as_frame=True).frame
    schema = DatasetSchema(columns=[ColumnSchema(name="target", kind="label")])
    spec = TrainingSpec(model=ModelRef(name="m"), data="x.csv", label="target")
    with pytest.raises(DataValidationError, match=r"label must be 0/1, found \[2\].*task: multiclass or regression"):
        fit_and_evaluate(spec, frame, schema=schema)


@pytest.mark.parametrize(
    ("loader", "estimator", "task"),
    [
        (load_wine, "gradient_boosting", "multiclass"),
        (load_diabetes, "gradient_boosting", "regression"),
        (load_diabetes, "logistic_regression", "regression"),
    ],
)
def test_onnx_export_of_each_task_matches_the_native_model(loader: object, estimator: str, task: str) -> None:
    from pulumi_mlops.runtime.training import build_pipeline

    frame = loader(as_frame=True).frame  # type: ignore[operator]
    frame.columns = [f"{c} (x)" if i == 0 else c for i, c in enumerate(frame.columns)]  # a name skl2onnx rewrites
    features = [c for c in frame.columns if c != "target"]
    params = {"max_iter": 15} if estimator == "gradient_boosting" else {}
    pipeline = build_pipeline(estimator, features, [], params, 0, task).fit(frame[features], frame["target"])
    report, payload = export_onnx(pipeline, frame[features], task=task)
    assert report.status == "exported" and payload is not None, report.reason
    assert report.task == task and report.rows_checked == len(frame)
    model = OnnxModel(payload, report.inputs)
    if task == "regression":
        assert report.max_rel_diff is not None and report.max_rel_diff <= 1e-4
        np.testing.assert_allclose(model.predict(frame), pipeline.predict(frame[features]), rtol=1e-4)
    else:
        np.testing.assert_allclose(model.predict_proba(frame), pipeline.predict_proba(frame[features]), atol=1e-4)


def test_the_model_card_is_about_the_model() -> None:
    frame = load_wine(as_frame=True).frame
    spec = TrainingSpec(
        model=ModelRef(name="wine"), data="wine.csv", label="target", estimator="logistic_regression",
        purpose="Sorts wine samples into their three cultivars.", owner="oenology-team",
        intended_use="Lab triage of samples; not for labelling bottles for sale.",
    )  # fmt: skip
    card = fit_and_evaluate(spec, frame).model_card
    assert "## Purpose\nSorts wine samples into their three cultivars." in card
    assert "## Intended use\nLab triage of samples" in card and "- Owner: oenology-team" in card
    assert "multiclass classification of `target` into 3 classes" in card and "holdout `macro_f1`" in card
    assert "churn" not in card.lower() and "customer" not in card.lower()
    assert "Unknown categories" not in card and "Calibration (Brier" not in card  # no categorical features
    bare = fit_and_evaluate(spec.model_copy(update={"purpose": None, "owner": None, "intended_use": None}), frame)
    assert "## Purpose" not in bare.model_card and "## Intended use" not in bare.model_card
    assert "Owner" not in bare.model_card


def test_a_schema_from_a_profile_checks_the_label_as_its_task_needs() -> None:
    from pulumi_mlops.runtime.data import schema_from_profile

    def kind(profile: dict[str, object]) -> str:
        column = schema_from_profile({"features": {}, **profile}, label="y").column("y")
        assert column is not None
        return column.kind

    assert kind({}) == "label" and kind({"task": "binary", "classes": [0, 1]}) == "label"
    assert kind({"task": "binary", "classes": ["no", "yes"]}) == "class"
    assert kind({"task": "multiclass", "classes": [0, 1, 2]}) == "class" and kind({"task": "regression"}) == "target"
