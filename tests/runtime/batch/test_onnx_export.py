"""ONNX export parity per flavor: sklearn pipelines export and match; the MLP records why it does not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pulumi_mlops.runtime.data import CATEGORICAL_FEATURES, NUMERIC_FEATURES, generate_churn
from pulumi_mlops.runtime.registry.onnx_export import OnnxModel, export_onnx
from pulumi_mlops.runtime.training.pipelines import build_pipeline

from .conftest import FEATURES


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_churn(700, seed=3), generate_churn(400, seed=4)


@pytest.mark.parametrize(
    ("estimator", "params"),
    [("gradient_boosting", {"max_iter": 15}), ("logistic_regression", {}), ("random_forest", {"n_estimators": 8})],
)
def test_sklearn_pipeline_exports_with_named_inputs_and_parity(
    frames: tuple[pd.DataFrame, pd.DataFrame], estimator: str, params: dict[str, int]
) -> None:
    train, holdout = frames
    pipeline = build_pipeline(estimator, NUMERIC_FEATURES, CATEGORICAL_FEATURES, params, 0)
    pipeline.fit(train[FEATURES], train["churned"])
    report, payload = export_onnx(pipeline, holdout)
    assert report.status == "exported" and payload is not None, report.reason
    assert report.max_abs_diff is not None and report.max_abs_diff <= 1e-4 and report.rows_checked == 400
    assert [(i.name, i.kind) for i in report.inputs] == [
        *((n, "numeric") for n in NUMERIC_FEATURES), *((c, "categorical") for c in CATEGORICAL_FEATURES),
    ]  # fmt: skip
    model = OnnxModel(payload, report.inputs)
    assert [i.name for i in model.session.get_inputs()] == FEATURES
    odd = holdout.head(50).copy()
    odd.loc[0, "plan"] = None
    odd.loc[1, "tenure_months"] = np.nan
    odd.loc[2, "region"] = "atlantis"
    np.testing.assert_allclose(model.predict_proba(odd)[:, 1], pipeline.predict_proba(odd[FEATURES])[:, 1], atol=1e-4)


def test_mlp_records_why_it_has_no_onnx(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, holdout = frames
    pipeline = build_pipeline("mlp", NUMERIC_FEATURES, CATEGORICAL_FEATURES, {"epochs": 1}, 0)
    pipeline.fit(train[FEATURES], train["churned"])
    report, payload = export_onnx(pipeline, holdout)
    assert payload is None and report.status == "unsupported"
    assert report.tag().startswith("unsupported: estimator TabularMLPClassifier (PyTorch) has no skl2onnx converter")


def test_a_mismatch_keeps_no_artifact(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, holdout = frames
    pipeline = build_pipeline("logistic_regression", NUMERIC_FEATURES, CATEGORICAL_FEATURES, {}, 0)
    pipeline.fit(train[FEATURES], train["churned"])
    report, payload = export_onnx(pipeline, holdout, tolerance=0.0)
    assert payload is None and report.status == "mismatch" and report.sha256 is None
    assert "differ from the native ones" in report.reason


def test_a_one_input_graph_takes_the_numeric_columns_as_one_block() -> None:
    from pulumi_mlops.runtime.registry.onnx_export import OnnxInput
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    fitted = LogisticRegression().fit(frame, frame["a"] + frame["b"] > 0)
    graph = convert_sklearn(
        fitted, initial_types=[("input", FloatTensorType([None, 3]))], options={id(fitted): {"zipmap": False}}
    ).SerializeToString()
    model = OnnxModel(graph, [OnnxInput(name=n, kind="numeric") for n in ("a", "b", "c")])
    assert model.matrix
    head = frame.head(6)
    expected = fitted.predict_proba(head)
    block = head.to_numpy()
    as_views = {n: block[:, i] for i, n in enumerate(("a", "b", "c"))}  # strided views, as the decoder makes them
    mixed = {"a": head["a"].to_numpy(), "b": head["b"].to_numpy(np.float32), "c": np.arange(6, dtype=np.int64)}
    np.testing.assert_allclose(model.predict_proba_columns(as_views), expected, atol=1e-5)
    mixed_frame = pd.DataFrame({k: v.astype(np.float64) for k, v in mixed.items()})
    np.testing.assert_allclose(model.predict_proba_columns(mixed), fitted.predict_proba(mixed_frame), atol=1e-5)
    # an object column (nulls from a feature lookup) goes through the per-column conversion: nulls become NaN
    objects = {**as_views, "c": np.array([None, 1.0, 2, 3.5, None, 0], dtype=object)}
    nan_frame = head.assign(c=[np.nan, 1.0, 2, 3.5, np.nan, 0])
    np.testing.assert_allclose(model.predict_proba_columns(objects), model.predict_proba(nan_frame), atol=1e-6)


def test_skl2onnx_names_are_the_graph_inputs_skl2onnx_makes() -> None:
    """Exports from before the graph recorded its columns are checked by these names: they must be skl2onnx's own,
    renaming and collisions included."""
    from pulumi_mlops.runtime.registry.onnx_export import skl2onnx_names
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    columns = ["a b/c", "x-y.z", "é ü", "1st", "a_b_c", "a b c", "p+q"]
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({c: rng.uniform(size=80) for c in columns})
    pipeline = Pipeline(
        [
            ("preprocess", ColumnTransformer([("numeric", SimpleImputer(strategy="median"), columns)])),
            ("model", LogisticRegression()),
        ]
    ).fit(frame, frame["a b/c"] > 0.5)
    report, payload = export_onnx(pipeline, frame)
    assert payload is not None, report.reason
    model = OnnxModel(payload, report.inputs)
    assert model.graph_inputs == skl2onnx_names(columns) == ["a_b_c", "x_y_z", "é_ü", "_1st", "a_b_c1", "a_b_c2", "p+q"]
    assert [i.name for i in model.recorded_inputs or []] == columns
