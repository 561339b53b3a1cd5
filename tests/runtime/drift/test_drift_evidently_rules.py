"""Evidently's DataDriftPreset rules, as the detector follows them: column types inferred as Evidently infers them,
the deciding test chosen by kind, reference size and the distinct values of both sides, the comparisons at the
threshold, and the inputs it refuses."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pulumi_mlops.runtime.config import DriftSpec, DriftThresholds
from pulumi_mlops.runtime.drift import build_profile, detect_drift
from pulumi_mlops.runtime.drift.columns import default_test, verdict
from pulumi_mlops.runtime.drift.profile import CategoricalProfile, NumericProfile, ProfileError
from scipy import stats
from scipy.spatial.distance import jensenshannon


def _feature(report, name: str):  # type: ignore[no-untyped-def]
    return next(f for f in report.features if f.name == name)


@pytest.mark.parametrize(
    ("kind", "count", "n_values", "expected"),
    [
        ("numeric", 1000, None, "ks"),
        ("numeric", 1001, None, "wasserstein"),
        ("numeric", 1000, 6, "ks"),
        ("numeric", 1000, 5, "chi2"),
        ("numeric", 1000, 2, "z"),
        ("numeric", 1001, 5, "jensen_shannon"),
        ("categorical", 1000, 3, "chi2"),
        ("categorical", 1000, 2, "z"),
        ("categorical", 1000, 1, "z"),
        ("categorical", 1001, 2, "jensen_shannon"),
    ],
)
def test_the_deciding_test_is_evidentlys_default_stattest(
    kind: str, count: int, n_values: int | None, expected: str
) -> None:
    """``_get_default_stattest``: n_values counts the distinct values of reference and current together."""
    prof: NumericProfile | CategoricalProfile
    if kind == "numeric":
        prof = NumericProfile(dtype="float64", count=count, null_count=0, null_rate=0)
    else:
        prof = CategoricalProfile(dtype="object", count=count, null_count=0, null_rate=0)
    assert default_test(prof, n_values) == expected


def test_distances_drift_at_the_threshold_p_values_as_evidently_compares_them() -> None:
    limits = DriftThresholds()
    assert verdict("wasserstein", 0.1, None, limits).drifted  # wd_norm_value >= threshold
    assert verdict("jensen_shannon", 0.1, None, limits).drifted  # jensenshannon_value >= threshold
    assert verdict("ks", 0.3, 0.05, limits).drifted  # p_value <= threshold
    assert not verdict("chi2", 3.0, 0.05, limits).drifted  # p_value < threshold
    assert not verdict("z", 1.9, 0.05, limits).drifted


def test_booleans_are_categorical_as_evidently_infers_and_integers_numeric_as_evidently_is_told() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "flag": rng.uniform(size=3000) < 0.3,
            "calls": rng.integers(0, 10, 3000),
            "visits": rng.integers(0, 11, 3000),
            "share": rng.integers(0, 3, 3000).astype(float),
        }
    )
    profile = build_profile(frame, None, [])
    kinds = {name: prof.kind for name, prof in profile.features.items()}
    assert kinds == {"flag": "categorical", "calls": "numeric", "visits": "numeric", "share": "numeric"}
    assert build_profile(frame, None, ["calls"]).features["calls"].kind == "categorical", "asked for by name"
    assert isinstance(profile.features["flag"], CategoricalProfile) and set(profile.features["flag"].counts) == {
        "True",
        "False",
    }


def test_a_numeric_column_of_two_values_is_decided_by_the_z_test() -> None:
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"x": (rng.uniform(size=800) < 0.3).astype(float), "y": rng.normal(size=800)})
    current = pd.DataFrame({"x": (rng.uniform(size=600) < 0.4).astype(float), "y": rng.normal(size=600)})
    report = detect_drift(build_profile(reference, None, []), current, DriftSpec(min_rows=10))
    x = _feature(report, "x")
    ref_ones, cur_ones = reference["x"].mean(), current["x"].mean()
    pooled = (reference["x"].sum() + current["x"].sum()) / 1400
    z = (ref_ones - cur_ones) / math.sqrt(pooled * (1 - pooled) * (1 / 800 + 1 / 600))
    assert x.test == "z"
    assert x.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)
    assert x.drifted == (x.p_value < 0.05)
    assert _feature(report, "y").test == "ks"


def test_a_large_reference_of_few_values_is_decided_by_jensen_shannon_over_the_values() -> None:
    rng = np.random.default_rng(2)
    reference = pd.DataFrame({"x": rng.choice([0.0, 1.5, 3.0], 5000, p=[0.5, 0.3, 0.2])})
    current = pd.DataFrame({"x": rng.choice([0.0, 1.5, 3.0, 4.5], 2000, p=[0.3, 0.3, 0.2, 0.2])})
    x = _feature(detect_drift(build_profile(reference, None, []), current), "x")
    ref_counts = [int((reference["x"] == v).sum()) for v in (0.0, 1.5, 3.0, 4.5)]
    cur_counts = [int((current["x"] == v).sum()) for v in (0.0, 1.5, 3.0, 4.5)]
    assert x.test == "jensen_shannon"
    assert x.statistic == pytest.approx(float(jensenshannon(ref_counts, cur_counts)), rel=1e-12)
    assert x.drifted


def test_a_category_the_reference_never_saw_drifts_the_column() -> None:
    """Evidently's chisquare has an expected count of zero for it: an infinite statistic, p-value 0."""
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"plan": rng.choice(["a", "b", "c"], 500)})
    current = pd.DataFrame({"plan": [*rng.choice(["a", "b", "c"], 495), *["d"] * 5]})
    plan = _feature(detect_drift(build_profile(reference, None, []), current, DriftSpec(min_rows=10)), "plan")
    assert (plan.test, plan.p_value, plan.drifted) == ("chi2", 0.0, True)


def test_integer_column_names_are_matched_as_text() -> None:
    rng = np.random.default_rng(4)
    reference = pd.DataFrame(rng.normal(size=(2000, 3)))
    current = pd.DataFrame(rng.normal(size=(1500, 3)))
    report = detect_drift(build_profile(reference, None, []), current)
    assert {f.name: f.status for f in report.features} == {"0": "tested", "1": "tested", "2": "tested"}
    assert not report.dataset_drift and report.findings == []


def test_small_windows_can_be_tested_when_min_rows_allows() -> None:
    reference = pd.DataFrame({"plan": ["a"] * 40 + ["b"] * 40 + ["c"] * 20})
    current = pd.DataFrame({"plan": ["c"] * 5})
    report = detect_drift(build_profile(reference, None, []), current, DriftSpec(min_rows=5))
    assert report.status == "drift" and _feature(report, "plan").test == "chi2"


def test_a_mistyped_feature_override_is_reported() -> None:
    reference = pd.DataFrame({"income": np.random.default_rng(5).normal(size=600)})
    spec = DriftSpec(min_rows=10, feature_overrides={"incme": DriftThresholds(ks_pvalue=0.001)})
    report = detect_drift(build_profile(reference, None, []), reference.head(300), spec)
    finding = next(f for f in report.findings if f.kind == "unknown_override")
    assert finding.severity == "warning" and "['incme']" in finding.message and "['income']" in finding.message


def test_a_text_column_that_arrives_as_numbers_is_noted() -> None:
    reference = pd.DataFrame({"zip": ["10", "11", "12"] * 200})
    current = pd.DataFrame({"zip": [10, 11, 12] * 100})
    report = detect_drift(build_profile(reference, None, []), current, DriftSpec(min_rows=10))
    finding = next(f for f in report.findings if f.kind == "dtype_changed")
    assert finding.severity == "info" and "compared with the reference's categories as text" in finding.message
    assert not _feature(report, "zip").drifted


def test_inputs_of_the_wrong_kind_are_refused_naming_the_argument() -> None:
    frame = pd.DataFrame({"a": np.arange(50.0)})
    profile = build_profile(frame, None, [])
    with pytest.raises(TypeError, match="current must be a pandas DataFrame of the window"):
        detect_drift(profile, frame.to_numpy())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="profile must be a ReferenceProfile"):
        detect_drift(frame, frame)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"spec must be a DriftSpec \(DriftSpec.model_validate"):
        detect_drift(profile, frame, {"min_rows": 10})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"columns \['a'\] more than once"):
        detect_drift(profile, pd.concat([frame, frame], axis=1))
    for bad, fragment in (
        (pd.DataFrame(), "0 rows and 0 columns"),
        (frame.head(0), "0 rows and 1 columns"),
        (frame.to_numpy(), "must be a pandas DataFrame"),
    ):
        with pytest.raises(ProfileError, match=fragment):
            build_profile(bad, None, [])  # type: ignore[arg-type]


def test_negative_zero_is_the_value_zero() -> None:
    rng = np.random.default_rng(6)
    rounded = np.round(rng.normal(scale=0.4, size=900))  # -1.0, -0.0, 0.0 and 1.0, as rounding makes them
    profile = build_profile(pd.DataFrame({"x": rounded}), None, [])
    prof = profile.features["x"]
    assert isinstance(prof, NumericProfile) and prof.values is not None
    assert sorted(prof.values, key=float) == ["-1.0", "0.0", "1.0"]
    window = pd.DataFrame({"x": -np.round(rng.normal(scale=0.4, size=600))})  # its zeros come out as -0.0 first
    x = _feature(detect_drift(profile, window, DriftSpec(min_rows=10)), "x")
    assert x.test == "chi2" and not x.drifted, x


def test_a_profile_written_before_the_value_tests_is_read_and_noted() -> None:
    frame = pd.DataFrame({"x": np.random.default_rng(8).normal(size=400)})
    old = build_profile(frame, None, []).model_dump()
    old["schema_version"] = 1
    for feature in old["features"].values():
        feature.pop("values", None)
    profile = type(build_profile(frame, None, [])).model_validate(old)
    report = detect_drift(profile, frame, DriftSpec(min_rows=10))
    finding = next(f for f in report.findings if f.kind == "old_profile")
    assert finding.severity == "info" and "rebuild it" in finding.message
    assert build_profile(frame, None, []).schema_version == 2
