"""The generated churn dataset: deterministic, realistic columns, drift knobs and URIs."""

from __future__ import annotations

import pandas as pd
import pytest
from pulumi_mlops.runtime.data import (
    CATEGORICAL_FEATURES,
    NUMERIC_FEATURES,
    DriftShift,
    generate_churn,
    generate_from_uri,
    parse_generated_uri,
)


def test_same_seed_same_frame_and_other_seed_differs() -> None:
    a, b = generate_churn(500, seed=3), generate_churn(500, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(generate_churn(500, seed=4))


def test_columns_dtypes_and_label_balance() -> None:
    frame = generate_churn(2000, seed=0)
    assert list(frame.columns[:2]) == ["customer_id", "event_timestamp"]
    assert frame["customer_id"].is_unique
    assert str(frame["event_timestamp"].dt.tz) == "UTC"
    for name in NUMERIC_FEATURES:
        assert pd.api.types.is_numeric_dtype(frame[name]), name
    for name in CATEGORICAL_FEATURES:
        assert frame[name].dtype == object and frame[name].nunique() >= 3, name
    assert 0.15 < frame["churned"].mean() < 0.6


def test_shifts_move_the_distributions() -> None:
    base = generate_churn(3000, seed=1)
    mean = generate_churn(3000, seed=1, shift=DriftShift(mean_shift=1.0))
    assert mean["monthly_charges"].mean() > base["monthly_charges"].mean() + 15
    wide = generate_churn(3000, seed=1, shift=DriftShift(variance_scale=2.0))
    assert wide["avg_session_minutes"].std() > 1.5 * base["avg_session_minutes"].std()
    mix = generate_churn(3000, seed=1, shift=DriftShift(category_shift=1.0))
    assert (mix["contract"] == "two_year").mean() > 0.45 > (base["contract"] == "two_year").mean()
    concept = generate_churn(3000, seed=1, shift=DriftShift(concept_shift=1.0))
    assert concept[NUMERIC_FEATURES[0]].equals(base[NUMERIC_FEATURES[0]])
    assert (concept["churned"] != base["churned"]).mean() > 0.2


def test_uri_round_trip_and_errors() -> None:
    spec = parse_generated_uri("generated://churn?rows=300&seed=9&shift=mean:0.5,category:0.2")
    assert (spec.rows, spec.seed, spec.shift.mean_shift, spec.shift.category_shift) == (300, 9, 0.5, 0.2)
    pd.testing.assert_frame_equal(
        generate_from_uri("generated://churn?rows=300&seed=9&shift=mean:0.5,category:0.2"),
        generate_churn(300, 9, DriftShift(mean_shift=0.5, category_shift=0.2)),
    )
    with pytest.raises(ValueError, match="unknown parameter"):
        parse_generated_uri("generated://churn?rowz=3")
    with pytest.raises(ValueError, match="kind one of"):
        parse_generated_uri("generated://churn?shift=tilt:1")
    with pytest.raises(ValueError, match="unknown generated dataset"):
        parse_generated_uri("generated://iris")
