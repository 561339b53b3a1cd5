"""detect_drift: verdicts, the test-selection rule, thresholds, and problems reported as findings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pulumi_mlops.runtime.config import DriftSpec, DriftThresholds
from pulumi_mlops.runtime.drift import build_profile, detect_drift
from pulumi_mlops.runtime.drift.profile import NumericProfile, ReferenceProfile
from scipy import stats
from scipy.spatial.distance import jensenshannon

CATEGORICAL = ["plan", "region"]


def _data(rows: int, seed: int, shift: float = 0.0, plan_p: tuple[float, ...] = (0.6, 0.3, 0.1)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40 + 10 * shift, 10, rows),
            "income": rng.lognormal(10, 1, rows),
            "tenure": rng.integers(0, 60, rows),
            "score": rng.uniform(0, 1, rows),
            "plan": rng.choice(["basic", "pro", "team"], rows, p=list(plan_p)),
            "region": rng.choice(list("abcd"), rows),
        }
    )


@pytest.fixture(scope="module")
def profile() -> ReferenceProfile:
    ref = _data(20_000, 0)
    return build_profile(ref, ref["score"].to_numpy() * 0.5, CATEGORICAL)


def _window(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(prediction=frame["score"] * 0.5, request_id=[f"r{i}" for i in range(len(frame))])


def test_same_distribution_does_not_drift(profile: ReferenceProfile) -> None:
    report = detect_drift(profile, _window(_data(5000, 1)), model="churn@champion")
    assert report.status == "ok" and not report.dataset_drift
    assert report.drifted_features == 0 and report.features_total == 6
    assert not report.prediction_drift
    assert report.findings == []


def test_shifted_features_drift_first_in_the_report(profile: ReferenceProfile) -> None:
    current = _window(_data(5000, 2, shift=0.5, plan_p=(0.2, 0.3, 0.5)))
    report = detect_drift(profile, current)
    assert {f.name for f in report.features[:2]} == {"age", "plan"}
    assert all(f.drifted for f in report.features[:2]) and not any(f.drifted for f in report.features[2:])
    assert report.drift_share == pytest.approx(2 / 6)
    assert report.dataset_drift and report.status == "drift"  # 2/6 >= 0.3
    age = next(f for f in report.features if f.name == "age")
    assert age.test == "wasserstein" and age.severity is not None and age.severity > 1
    assert [t.test for t in age.tests] == ["wasserstein", "ks", "psi", "jensen_shannon"]
    assert age.histogram is not None and len(age.histogram.labels) == 10
    lean = detect_drift(profile, current, ks_for_all=False)
    lean_age = next(f for f in lean.features if f.name == "age")
    assert [t.test for t in lean_age.tests] == ["wasserstein", "psi", "jensen_shannon"]
    assert lean_age.statistic == age.statistic and lean.drift_share == report.drift_share


def test_statistics_in_the_report_match_scipy(profile: ReferenceProfile) -> None:
    current = _data(3000, 3, shift=0.2)
    current.loc[:9, "income"] = np.nan
    report = detect_drift(profile, _window(current))
    by_name = {f.name: {t.test: t for t in f.tests} for f in report.features}
    for name in ("age", "income", "tenure", "score"):
        prof = profile.features[name]
        assert isinstance(prof, NumericProfile)
        values = current[name].dropna().to_numpy(dtype=float)
        ks = stats.ks_2samp(prof.sample, values)
        assert by_name[name]["ks"].statistic == pytest.approx(ks.statistic, abs=1e-12)
        assert by_name[name]["ks"].p_value == pytest.approx(ks.pvalue, rel=1e-9, abs=1e-300)
        w = stats.wasserstein_distance(prof.sample, values) / prof.std
        assert by_name[name]["wasserstein"].statistic == pytest.approx(w, rel=1e-9)
        cur_counts = np.histogram(values, [-np.inf, *prof.bin_edges, np.inf])[0]
        js = jensenshannon(prof.bin_counts, cur_counts)
        assert by_name[name]["jensen_shannon"].statistic == pytest.approx(js, rel=1e-9)
    plan = profile.features["plan"]
    cur = current["plan"].value_counts()
    ref_counts = np.array([plan.counts[k] for k in plan.counts])  # type: ignore[union-attr]
    cur_counts = np.array([cur.get(k, 0) for k in plan.counts])  # type: ignore[union-attr]
    chi2 = stats.chisquare(cur_counts, ref_counts * cur_counts.sum() / ref_counts.sum())  # Evidently's chisquare
    assert by_name["plan"]["chi2"].statistic == pytest.approx(chi2.statistic, rel=1e-9)
    assert by_name["plan"]["chi2"].p_value == pytest.approx(chi2.pvalue, rel=1e-9)


def test_a_category_absent_from_the_window_counts_zero(profile: ReferenceProfile) -> None:
    current = _data(3000, 9, plan_p=(0.7, 0.3, 0.0))
    assert "team" not in set(current["plan"])
    report = detect_drift(profile, _window(current))
    plan = next(f for f in report.features if f.name == "plan")
    tests = {t.test: t for t in plan.tests}
    prof = profile.features["plan"]
    ref = np.array([prof.counts[k] for k in prof.counts])  # type: ignore[union-attr]
    cur = np.array([int((current["plan"] == k).sum()) for k in prof.counts])  # type: ignore[union-attr]
    expected = stats.chisquare(cur, ref * cur.sum() / ref.sum())
    assert tests["chi2"].statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert tests["jensen_shannon"].statistic == pytest.approx(jensenshannon(ref, cur), rel=1e-9)
    assert plan.histogram is not None
    assert plan.histogram.current[plan.histogram.labels.index("team")] == 0.0


def test_all_null_columns_are_reported_in_profile_order(profile: ReferenceProfile) -> None:
    current = _window(_data(2000, 10))
    current["plan"] = None
    current["tenure"] = np.nan
    current["region"] = None
    report = detect_drift(profile, current)
    assert [f.column for f in report.findings if f.kind == "all_null"] == ["tenure", "plan", "region"]


def test_small_references_are_judged_by_significance_tests() -> None:
    ref = _data(800, 4)
    small = build_profile(ref, None, CATEGORICAL)
    report = detect_drift(small, _data(800, 5), DriftSpec(min_rows=10))
    tests = {f.name: f.test for f in report.features}
    assert tests == {"age": "ks", "income": "ks", "tenure": "ks", "score": "ks", "plan": "chi2", "region": "chi2"}
    assert all(f.p_value is not None for f in report.features)


def test_feature_overrides_replace_the_thresholds(profile: ReferenceProfile) -> None:
    current = _window(_data(5000, 6, shift=0.5))
    loose = DriftSpec(feature_overrides={"age": DriftThresholds(wasserstein=5.0)})
    age = next(f for f in detect_drift(profile, current, loose).features if f.name == "age")
    assert not age.drifted and age.threshold == 5.0
    strict = DriftSpec(thresholds=DriftThresholds(drift_share=0.9))
    assert not detect_drift(profile, current, strict).dataset_drift


def test_schema_problems_are_findings_not_errors(profile: ReferenceProfile) -> None:
    current = _window(_data(2000, 7)).drop(columns=["region"])
    current["income"] = "n/a"
    current["tenure"] = np.nan
    current["extra"] = 1.0
    report = detect_drift(profile, current)
    status = {f.name: f.status for f in report.features}
    assert status["region"] == "missing" and status["income"] == "dtype_changed" and status["tenure"] == "all_null"
    assert report.drifted_features == 3 and report.dataset_drift
    kinds = {(f.kind, f.column, f.severity) for f in report.findings}
    assert ("missing_column", "region", "drift") in kinds
    assert ("dtype_changed", "income", "drift") in kinds
    assert ("all_null", "tenure", "drift") in kinds
    assert ("new_column", "extra", "info") in kinds
    message = next(f.message for f in report.findings if f.column == "region")
    assert "'region'" in message and "rebuild the reference profile" in message
    assert report.features[0].drifted  # untested drifted columns lead the list


def test_numbers_logged_as_strings_are_still_compared(profile: ReferenceProfile) -> None:
    current = _window(_data(2000, 8))
    current["age"] = current["age"].map(str)
    report = detect_drift(profile, current)
    age = next(f for f in report.features if f.name == "age")
    assert age.status == "tested" and not age.drifted
    assert any(f.kind == "dtype_changed" and f.severity == "info" for f in report.findings)


def test_too_few_rows_is_insufficient_data(profile: ReferenceProfile) -> None:
    for current in (_window(_data(50, 9)), pd.DataFrame()):
        report = detect_drift(profile, current)
        assert report.status == "insufficient_data" and not report.dataset_drift
        assert report.findings[0].kind == "insufficient_data" and "min_rows=500" in report.findings[0].message
        assert report.features == []


def test_performance_drift_from_late_labels() -> None:
    rng = np.random.default_rng(10)
    ref = _data(4000, 11)
    truth = (rng.uniform(size=len(ref)) < ref["score"]).astype(int)
    profile = build_profile(ref, ref["score"].to_numpy(), CATEGORICAL, labels=truth.to_numpy())
    current = _window(_data(3000, 12)).assign(prediction=lambda f: f["score"])
    good = pd.DataFrame({"request_id": current["request_id"], "label": (rng.uniform(size=3000) < current["score"])})
    bad = good.assign(label=rng.integers(0, 2, 3000))
    kept = detect_drift(profile, current, labels=good.astype({"label": int})).performance
    lost = detect_drift(profile, current, labels=bad).performance
    assert kept is not None and lost is not None
    assert kept.metric == "auc" and not kept.drifted and kept.labelled_rows == 3000
    assert lost.drifted and lost.degradation is not None and lost.degradation > 0.05
