"""Retraining learns from fresh data: the Job gets the drift window, and the data loaders honour it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pulumi_mlops.runtime.data import DataLoadError, generate_churn, load_frame, parse_window
from pulumi_mlops.runtime.pipeline.kube import job_from_cron_job

from .test_pipeline_kube import CRON_JOB

UNTIL = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
WINDOW = (UNTIL - timedelta(hours=24), UNTIL)


def test_the_retraining_job_gets_the_fresh_data_arguments_and_the_cron_job_is_untouched() -> None:
    cron = json.loads(json.dumps(CRON_JOB))
    cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] = ["train", "--promote"]
    job = job_from_cron_job(cron, "train-churn-retrain-1", "drift", ["--since", "a", "--until", "b"])
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "train",
        "--promote",
        "--since",
        "a",
        "--until",
        "b",
    ]
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] == ["train", "--promote"]


def test_a_generated_window_holds_that_period_and_other_rows_than_the_scheduled_data() -> None:
    scheduled = load_frame("generated://churn?rows=500")
    fresh = load_frame("generated://churn?rows=500", window=WINDOW)
    again = load_frame("generated://churn?rows=500", window=WINDOW)
    later = load_frame("generated://churn?rows=500", window=(WINDOW[0] + timedelta(hours=1), UNTIL))
    assert fresh.equals(again), "the same window gives the same rows"
    assert not fresh.drop(columns="event_timestamp").equals(scheduled.drop(columns="event_timestamp"))
    assert not fresh.drop(columns="event_timestamp").equals(later.drop(columns="event_timestamp"))
    times = fresh["event_timestamp"]
    assert times.min() >= WINDOW[0] and times.max() < WINDOW[1]
    assert list(fresh.columns) == list(scheduled.columns)
    assert generate_churn(500, seed=0).equals(scheduled), "without a window nothing changes"


def test_stored_data_is_cut_to_the_window(tmp_path: Path) -> None:
    frame = generate_churn(200, seed=1, window=(UNTIL - timedelta(days=4), UNTIL))
    path = tmp_path / "data.parquet"
    frame.to_parquet(path)
    kept = load_frame(str(path), window=WINDOW)
    assert 0 < len(kept) < len(frame)
    assert ((kept["event_timestamp"] >= WINDOW[0]) & (kept["event_timestamp"] < WINDOW[1])).all()
    with pytest.raises(DataLoadError, match="fresh data has not arrived yet"):
        load_frame(str(path), window=(UNTIL + timedelta(days=1), UNTIL + timedelta(days=2)))
    frame.drop(columns="event_timestamp").to_parquet(tmp_path / "untimed.parquet")
    with pytest.raises(DataLoadError, match="has no event_timestamp column"):
        load_frame(str(tmp_path / "untimed.parquet"), window=WINDOW)


def test_window_arguments() -> None:
    assert parse_window(None, None) is None
    assert parse_window("2026-11-21T06:00:00", "2026-11-22T06:00:00+00:00") == WINDOW
    with pytest.raises(DataLoadError, match="needs --since"):
        parse_window(None, "2026-11-22")
    with pytest.raises(DataLoadError, match="is not before"):
        parse_window("2026-11-22", "2026-11-21")
    with pytest.raises(DataLoadError, match="not an ISO date"):
        parse_window("yesterday", None)
