"""Reference profiles: what build_profile keeps, and that it survives a JSON round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pulumi_mlops.runtime.drift import ProfileError, ReferenceProfile, build_profile
from pulumi_mlops.runtime.drift.profile import CategoricalProfile, NumericProfile


def _frame(rows: int = 20_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 10, rows),
            "visits": rng.integers(0, 4, rows),
            "plan": rng.choice(["basic", "pro", "team"], rows, p=[0.6, 0.3, 0.1]),
            "zip": rng.integers(10, 13, rows),
        }
    )
    frame.loc[:99, "age"] = np.nan
    frame.loc[100, "age"] = np.inf
    return frame


def test_numeric_feature_keeps_quantile_bins_sample_and_moments() -> None:
    frame = _frame()
    profile = build_profile(frame, None, ["plan", "zip"], sample_size=1000)
    age = profile.features["age"]
    assert isinstance(age, NumericProfile)
    finite = frame["age"][np.isfinite(frame["age"])]
    assert (age.count, age.null_count) == (len(frame) - 101, 101)
    assert age.null_rate == pytest.approx(101 / len(frame))
    assert age.mean == pytest.approx(finite.mean())
    assert age.std == pytest.approx(finite.std(ddof=0))
    assert (age.min, age.max) == (finite.min(), finite.max())
    assert len(age.bin_edges) == 9 and age.bin_edges == sorted(age.bin_edges)
    assert sum(age.bin_counts) == age.count
    assert max(age.bin_counts) - min(age.bin_counts) <= 2
    assert len(age.sample) == 1000 and age.sample == sorted(age.sample)
    assert age.sample[0] >= age.min and age.sample[-1] <= age.max


def test_sample_is_deterministic_and_follows_the_quantiles() -> None:
    frame = _frame()
    first = build_profile(frame, None, ["plan", "zip"])
    second = build_profile(frame.sample(frac=1.0, random_state=3), None, ["plan", "zip"])
    assert first.features["age"] == second.features["age"]
    sample = np.asarray(first.features["age"].sample)  # type: ignore[union-attr]
    assert np.median(sample) == pytest.approx(np.nanmedian(frame["age"].replace(np.inf, np.nan)), abs=0.05)


def test_discrete_numeric_bins_collapse_and_categoricals_are_counted() -> None:
    profile = build_profile(_frame(), None, ["plan", "zip"])
    visits = profile.features["visits"]
    assert isinstance(visits, NumericProfile)
    assert visits.bin_edges == [0.0, 1.0, 2.0, 3.0]  # repeated quantiles collapse: one bin per value
    assert visits.bin_counts[0] == 0 and min(visits.bin_counts[1:]) > 4000
    assert visits.values is not None and sum(visits.values.values()) == visits.count
    assert sorted(visits.values, key=float) == ["0.0", "1.0", "2.0", "3.0"]
    assert profile.features["age"].values is None  # type: ignore[union-attr]
    plan, zip_code = profile.features["plan"], profile.features["zip"]
    assert isinstance(plan, CategoricalProfile) and isinstance(zip_code, CategoricalProfile)
    assert list(plan.counts) == ["basic", "pro", "team"]
    assert set(zip_code.counts) == {"10", "11", "12"}
    assert sum(plan.counts.values()) == plan.count == 20_000


def test_prediction_metrics_and_json_round_trip(tmp_path) -> None:
    frame = _frame(2000)
    rng = np.random.default_rng(1)
    scores = rng.uniform(size=len(frame))
    labels = (rng.uniform(size=len(frame)) < scores).astype(int)
    profile = build_profile(frame, np.column_stack([1 - scores, scores]), ["plan", "zip"], labels=labels)
    assert isinstance(profile.prediction, NumericProfile)
    assert profile.prediction.max == pytest.approx(scores.max())
    assert profile.metrics["auc"] > 0.7 and 0 < profile.metrics["accuracy"] < 1
    path = profile.save(tmp_path / "reference_profile.json")
    profile.features["age"].arrays()  # type: ignore[union-attr]  # the array cache is not part of equality
    assert ReferenceProfile.load(path) == profile


def test_errors_name_the_problem(tmp_path) -> None:
    frame = _frame(100)
    with pytest.raises(ProfileError, match="nope"):
        build_profile(frame, None, ["nope"])
    with pytest.raises(ProfileError, match="one prediction per row"):
        build_profile(frame, np.zeros(5), [])
    with pytest.raises(ProfileError, match="does not exist"):
        ReferenceProfile.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"rows": 1}')
    with pytest.raises(ProfileError, match="is not a reference profile"):
        ReferenceProfile.load(tmp_path / "bad.json")


def test_all_null_reference_column_has_no_bins() -> None:
    profile = build_profile(pd.DataFrame({"x": [np.nan] * 20, "y": np.arange(20.0)}), None, [])
    x = profile.features["x"]
    assert isinstance(x, NumericProfile)
    assert (x.count, x.null_rate, x.sample, x.mean) == (0, 1.0, [], None)


def test_integer_categories_survive_nulls_in_the_window() -> None:
    from pulumi_mlops.runtime.drift.profile import categorical_values

    with_nulls = pd.Series([10, 11, None, 11], dtype="float64")
    assert categorical_values(with_nulls).to_dict() == {"11": 2, "10": 1}
    assert categorical_values(pd.Series(["b", "a", "b", None], dtype="category")).to_dict() == {"b": 2, "a": 1}


def test_long_object_columns_are_counted_in_chunks_as_in_one_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunked counting (which lets other threads run between chunks) counts what one call counts, in the same
    order: missing values left out, values first seen in a later chunk included, equal labels merged; and both
    count what ``pd.factorize`` counts, first appearance breaking ties."""
    from pulumi_mlops.runtime.drift import profile

    rng = np.random.default_rng(5)
    pool = np.array(["basic", "plus", "pro", None, np.nan, 3, "3"], dtype=object)
    values = pool[rng.choice(len(pool), 20_000, p=[0.4, 0.2, 0.2, 0.05, 0.05, 0.05, 0.05])]
    values[-1] = "late"  # seen only in the last chunk
    series = pd.Series(values, dtype=object)
    monkeypatch.setattr(profile, "COUNT_CHUNK", 1 << 20)
    whole = profile.categorical_values(series)
    monkeypatch.setattr(profile, "COUNT_CHUNK", 3_000)
    chunked = profile.categorical_values(series)
    pd.testing.assert_series_equal(chunked, whole)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    by_factorize: dict[str, int] = {}
    for code in codes[codes >= 0]:
        label = profile._label(uniques[code])
        by_factorize[label] = by_factorize.get(label, 0) + 1
    expected = sorted(by_factorize.items(), key=lambda item: -item[1])  # stable: first appearance breaks ties
    assert list(chunked.items()) == expected
    assert chunked["late"] == 1 and "None" not in chunked.index
    assert int(chunked.sum()) == int(pd.Series(values).notna().sum())


def test_values_that_cannot_be_compared_across_chunks_are_counted_in_one_call(monkeypatch: pytest.MonkeyPatch) -> None:
    from decimal import Decimal

    from pulumi_mlops.runtime.drift import profile

    values = np.array([Decimal(1), "1", np.int64(1)] * 2000, dtype=object)
    monkeypatch.setattr(profile, "COUNT_CHUNK", 1000)
    counts = profile.categorical_values(pd.Series(values, dtype=object))
    assert counts.to_dict() == {"1": 6000}


def _factorized_labels(series: pd.Series) -> dict[str, int]:
    """The counts the labels of ``pd.factorize``'s uniques give (how every stored profile was written)."""
    from pulumi_mlops.runtime.drift import profile

    codes, uniques = pd.factorize(series.to_numpy(), use_na_sentinel=True)
    counts: dict[str, int] = {}
    for code in codes[codes >= 0]:
        label = profile._label(uniques[code])
        counts[label] = counts.get(label, 0) + 1
    return counts


@pytest.mark.parametrize(
    "kind",
    ["datetime64", "datetime64[s]", "timedelta64", "object datetimes", "object timedeltas", "datetimes and text"],
)
@pytest.mark.parametrize("chunk", [4, 1 << 16])
def test_category_labels_are_those_of_the_values_themselves(
    monkeypatch: pytest.MonkeyPatch, kind: str, chunk: int
) -> None:
    """Labels are ``str`` of each distinct value, whatever else the column or its chunk holds: profiles written
    earlier keep matching (pandas' own counting would turn datetimes into Timestamps, labelled otherwise)."""
    import datetime

    from pulumi_mlops.runtime.drift import profile

    days = pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-01", None, "2020-01-01", "2020-01-02"])
    series = {
        "datetime64": pd.Series(days),
        "datetime64[s]": pd.Series(days.astype("datetime64[s]")),
        "timedelta64": pd.Series(pd.to_timedelta([1, 2, 1, None, 1, 1], unit="D")),
        "object datetimes": pd.Series(
            np.array([np.datetime64("2020-01-01"), np.datetime64("2020-01-02"), None] * 3, dtype=object)
        ),
        "object timedeltas": pd.Series(
            np.array([datetime.timedelta(days=1), datetime.timedelta(hours=5), np.nan] * 3, dtype=object)
        ),
        "datetimes and text": pd.Series(np.array([np.datetime64("2020-01-01")] * 5 + ["x"] * 3, dtype=object)),
    }[kind]
    monkeypatch.setattr(profile, "COUNT_CHUNK", chunk)
    counts = profile.categorical_values(series)
    assert counts.to_dict() == _factorized_labels(series)


def test_ties_keep_the_order_of_first_appearance(monkeypatch: pytest.MonkeyPatch) -> None:
    """Equal counts are listed in the order their values first appear, across chunks too (not by label)."""
    from pulumi_mlops.runtime.drift import profile

    values = pd.Series(["pro", "basic", "pro", "basic", "zeta", "alpha", "zeta", "alpha", None], dtype=object)
    for chunk in (3, 1 << 16):
        monkeypatch.setattr(profile, "COUNT_CHUNK", chunk)
        assert list(profile.categorical_values(values).items()) == [("pro", 2), ("basic", 2), ("zeta", 2), ("alpha", 2)]


def test_without_pandas_hash_count_object_columns_are_factorized(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pandas that moved its hash-table count still counts object columns, to the same result."""
    from pulumi_mlops.runtime.drift import profile

    values = pd.Series(np.array(["b", None, 3, 3.0, "a", np.nan, "b", True] * 50, dtype=object))
    counted = profile.categorical_values(values)
    monkeypatch.setattr(profile, "_hash_counts", None)
    factorized = profile.categorical_values(values)
    pd.testing.assert_series_equal(factorized, counted)
    assert factorized.to_dict() == _factorized_labels(values)
