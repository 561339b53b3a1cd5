"""Validation names every failing column, and profiles and digests behave."""

from __future__ import annotations

import numpy as np
import pytest
from pulumi_mlops.runtime.data import (
    DataValidationError,
    churn_schema,
    dataset_digest,
    generate_churn,
    schema_from_profile,
    validate_frame,
)


def test_clean_frame_passes() -> None:
    assert validate_frame(generate_churn(300, 0), churn_schema()).ok


def test_failures_name_each_column() -> None:
    frame = generate_churn(300, 0)
    frame = frame.drop(columns=["region"])
    frame.loc[:50, "tenure_months"] = np.nan
    frame.loc[0, "monthly_charges"] = -5.0
    frame.loc[1, "plan"] = "platinum"
    frame["churned"] = frame["churned"].replace({1: 2})
    with pytest.raises(DataValidationError) as info:
        validate_frame(frame, churn_schema())
    failures = {(f.column, f.check) for f in info.value.report.failures}
    assert failures == {
        ("region", "missing"),
        ("tenure_months", "nulls"),
        ("monthly_charges", "range"),
        ("plan", "categories"),
        ("churned", "categories"),
    }
    message = str(info.value)
    for column in ("region", "tenure_months", "monthly_charges", "plan", "churned"):
        assert column in message


def test_dtype_failures() -> None:
    frame = generate_churn(100, 0)
    frame["support_calls"] = frame["support_calls"].astype(str)
    frame["event_timestamp"] = frame["event_timestamp"].astype(str)
    report = validate_frame(frame, churn_schema(), raise_on_failure=False)
    assert {(f.column, f.check) for f in report.failures} == {("support_calls", "dtype"), ("event_timestamp", "dtype")}


def test_schema_from_reference_profile() -> None:
    from pulumi_mlops.runtime.drift.profile import build_profile

    reference = generate_churn(1000, 0)
    features = reference.drop(columns=["customer_id", "event_timestamp", "churned"])
    profile = build_profile(
        features, np.linspace(0, 1, len(features)), ["plan", "contract", "region", "payment_method"]
    )
    schema = schema_from_profile(profile.model_dump(mode="json"), label="churned")
    assert validate_frame(generate_churn(500, 1), schema).ok
    drifted = generate_churn(500, 1)
    drifted.loc[:100, "payment_method"] = "crypto"
    drifted.loc[:200, "avg_session_minutes"] = np.nan
    report = validate_frame(drifted, schema, raise_on_failure=False)
    assert {(f.column, f.check) for f in report.failures} == {
        ("payment_method", "categories"),
        ("avg_session_minutes", "nulls"),
    }


def test_dataset_digest_is_content_addressed() -> None:
    a, b = generate_churn(400, 0), generate_churn(400, 0)
    assert dataset_digest(a).sha256 == dataset_digest(b[list(reversed(b.columns))]).sha256
    b.loc[3, "tenure_months"] += 0.1
    assert dataset_digest(a).sha256 != dataset_digest(b).sha256
    assert dataset_digest(a).rows == 400
