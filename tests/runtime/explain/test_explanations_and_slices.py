"""Explanations find a planted feature; slices find a planted noisy segment; both reach the model card."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from pulumi_mlops.runtime.config import ModelRef, TrainingSpec
from pulumi_mlops.runtime.data import generate_churn
from pulumi_mlops.runtime.explain import (
    bar_chart_svg,
    compare_slices,
    occlusion_contributions,
    pipeline_reference,
    reference_values,
    slice_metrics,
)
from pulumi_mlops.runtime.training import fit_and_evaluate
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    """Label driven by ``support_calls``; labels in region ``west`` are 45% coin flips."""
    frame = generate_churn(3000, seed=5)
    rng = np.random.default_rng(5)
    logit = 2.5 * (frame["support_calls"] - 1.5) + 0.2 * rng.normal(size=len(frame))
    label = (rng.uniform(size=len(frame)) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    west = (frame["region"] == "west").to_numpy()
    flip = west & (rng.uniform(size=len(frame)) < 0.45)
    label[flip] = rng.integers(0, 2, int(flip.sum()))
    return frame.assign(churned=label)


def _spec(estimator: str, **extra: object) -> TrainingSpec:
    params = {"gradient_boosting": {"max_iter": 30}, "logistic_regression": {}, "mlp": {"epochs": 2}}[estimator]
    return TrainingSpec(model=ModelRef(name="planted"), estimator=estimator, data="memory://planted",
                        params=params, **extra)  # fmt: skip


def test_planted_feature_ranks_first_and_noisy_region_has_the_largest_gap(planted: pd.DataFrame) -> None:
    spec = _spec("gradient_boosting", sensitive_columns=["region", "plan"], max_slice_degradation=0.02)
    result = fit_and_evaluate(spec, planted, source="memory://planted")
    explanations = result.explanations
    assert explanations is not None and explanations.ranking()[0] == "support_calls"
    assert explanations.shap_method == "tree"
    shap = {f.feature: f.mean_abs_shap for f in explanations.features}
    assert max(shap, key=lambda k: shap[k] or 0.0) == "support_calls"
    assert result.slices is not None
    worst = result.slices.worst()
    assert worst is not None and worst.name == "region=west" and worst.auc_gap is not None and worst.auc_gap < -0.05
    assert {s.name for s in result.slices.slices} >= {"region=north", "plan=basic", "plan=premium"}
    card = result.model_card
    assert "## Explanations" in card and "![feature importance](explanations.svg)" in card
    assert "## Fairness slices" in card and "Largest AUC shortfall: `region=west`" in card
    assert "Not evaluated for fairness" not in card


@pytest.mark.parametrize(("estimator", "method"), [("logistic_regression", "linear"), ("mlp", "kernel")])
def test_other_families_are_explained(planted: pd.DataFrame, estimator: str, method: str) -> None:
    result = fit_and_evaluate(_spec(estimator), planted.head(1200), source="memory://planted")
    assert result.explanations is not None
    assert result.explanations.ranking()[0] == "support_calls"
    assert result.explanations.shap_method == method and result.slices is None
    assert "Not evaluated for fairness" in result.model_card


def test_unknown_sensitive_column_is_a_clear_error(planted: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"sensitive_columns \['gender'\] are not columns"):
        fit_and_evaluate(_spec("logistic_regression", sensitive_columns=["gender"]), planted)
    with pytest.raises(ValueError, match="max_slice_degradation needs sensitive_columns"):
        _spec("logistic_regression", max_slice_degradation=0.01)


def test_slice_comparison_and_small_slices() -> None:
    frame = pd.DataFrame({"region": ["a"] * 60 + ["b"] * 60 + ["c"] * 5})
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 125)
    good = np.where(y == 1, 0.8, 0.2) + rng.normal(0, 0.05, 125)
    worse_on_b = good.copy()
    worse_on_b[60:120] = rng.uniform(size=60)
    champion = slice_metrics(frame, good, y, ["region"])
    challenger = slice_metrics(frame, worse_on_b, y, ["region"])
    assert [s.auc is None for s in champion.slices] == [False, False, True]
    changes = compare_slices(challenger, champion)
    assert changes[0][0] == "region=b" and changes[0][1] < -0.3
    assert abs(dict(changes)["region=a"]) < 1e-12


def test_occlusion_contributions_point_at_the_driving_feature(planted: pd.DataFrame) -> None:
    result = fit_and_evaluate(_spec("logistic_regression"), planted.head(1200), source="memory://planted")
    rows = planted[result.features].iloc[:20]
    reference = reference_values(planted[result.features])
    proba, contributions = occlusion_contributions(result.pipeline, rows, reference)
    np.testing.assert_allclose(proba, result.pipeline.predict_proba(rows)[:, 1])
    far = (rows["support_calls"] - reference["support_calls"]).abs().to_numpy() >= 2
    assert far.any()
    for i in np.flatnonzero(far):
        assert max(contributions[i], key=lambda k: abs(contributions[i][k])) == "support_calls"
    from_pipeline = pipeline_reference(result.pipeline)
    assert from_pipeline is not None and from_pipeline["plan"] is None
    assert from_pipeline["support_calls"] == float(planted.head(1200)["support_calls"].median())
    _, own = occlusion_contributions(result.pipeline, rows, from_pipeline)
    assert [max(c, key=lambda k: abs(c[k])) for c in own[:5]] == [
        max(c, key=lambda k: abs(c[k])) for c in contributions[:5]
    ]


def test_svg_plot_names_every_feature() -> None:
    svg = bar_chart_svg([("a<b", 0.3), ("c", -0.1)], title="t")
    assert svg.startswith("<svg") and "a&lt;b" in svg and 'width="0.0"' in svg
