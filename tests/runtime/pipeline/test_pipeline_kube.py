"""Starting a retraining Job from a CronJob through the Kubernetes API (a fake API server on loopback)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pulumi_mlops.runtime.pipeline.kube import (
    KubeApi,
    KubeApiError,
    job_from_cron_job,
    retrain_job_name,
    submit_from_cron_job,
)

from pulumi_mlops.local import FakeKubeApi

CRON_JOB = {
    "apiVersion": "batch/v1",
    "kind": "CronJob",
    "metadata": {"name": "train-churn", "namespace": "mlops-training", "uid": "1234-abcd"},
    "spec": {
        "schedule": "0 3 * * 0",
        "jobTemplate": {
            "metadata": {"labels": {"pulumi-mlops.io/model": "churn"}},
            "spec": {"backoffLimit": 2, "template": {"spec": {"containers": [{"name": "train", "image": "r:1"}]}}},
        },
    },
}


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeKubeApi]:
    with FakeKubeApi(tmp_path / "kube", CRON_JOB) as server:
        yield server


NOW = datetime(2026, 11, 22, 9, 30, 5, tzinfo=UTC)


def test_job_is_created_from_the_cron_job_template(fake: FakeKubeApi) -> None:
    name = submit_from_cron_job(fake.client(), "train-churn", "dataset drift 0.9", NOW)
    assert name == "train-churn-retrain-20261122093005"
    (get, post) = fake.calls
    assert get[:2] == ("GET", "/apis/batch/v1/namespaces/mlops-training/cronjobs/train-churn")
    assert post[:2] == ("POST", "/apis/batch/v1/namespaces/mlops-training/jobs")
    assert get[3] == post[3] == f"Bearer {FakeKubeApi.TOKEN}"
    job = post[2]
    assert job is not None
    assert job["spec"] == CRON_JOB["spec"]["jobTemplate"]["spec"]
    assert job["metadata"]["labels"] == {"pulumi-mlops.io/model": "churn", "pulumi-mlops.io/trigger": "drift"}
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert job["metadata"]["annotations"]["pulumi-mlops.io/reason"] == "dataset drift 0.9"
    owner = job["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "CronJob",
        "train-churn",
        "1234-abcd",
        True,
    )


def test_refusals_name_the_call_and_the_status(fake: FakeKubeApi) -> None:
    fake.refuse_create = True
    with pytest.raises(KubeApiError, match=r"POST /apis/batch/v1/namespaces/mlops-training/jobs: HTTP 403"):
        submit_from_cron_job(fake.client(), "train-churn", "drift", NOW)
    with pytest.raises(KubeApiError, match="HTTP 404"):
        submit_from_cron_job(fake.client(), "train-nothing", "drift", NOW)


def test_job_names_fit_the_kubernetes_limit() -> None:
    assert retrain_job_name("train-churn", NOW) == "train-churn-retrain-20261122093005"
    long = retrain_job_name("train-" + "x" * 60, NOW)
    assert len(long) == 63 and long.endswith("-retrain-20261122093005")
    cron = json.loads(json.dumps(CRON_JOB))
    job = job_from_cron_job(cron, long, "r" * 400)
    assert job["metadata"]["name"] == long
    assert len(job["metadata"]["annotations"]["pulumi-mlops.io/reason"]) == 250


def test_outside_a_cluster_the_error_says_so(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(KubeApiError, match="not running in a Kubernetes pod"):
        KubeApi.in_cluster(tmp_path)


def test_trigger_respects_the_guard_and_audits_both_outcomes(fake: FakeKubeApi, tmp_path) -> None:
    from datetime import timedelta

    from pulumi_mlops.runtime.pipeline import RetrainGuard, RetrainHistory
    from pulumi_mlops.runtime.pipeline.kube import trigger_retraining

    guard = RetrainGuard(RetrainHistory(tmp_path / "h.json"), cooldown_hours=6, max_per_day=2)
    audit: list[dict[str, Any]] = []
    first = trigger_retraining("churn", "train-churn", guard, audit.append, fake.client(), NOW)
    second = trigger_retraining("churn", "train-churn", guard, audit.append, fake.client(), NOW + timedelta(hours=1))
    assert first == "train-churn-retrain-20261122093005" and second is None
    assert [c[0] for c in fake.calls].count("POST") == 1, "the guard stopped the second Job"
    assert [a["action"] for a in audit] == ["retrain-submitted", "skipped-guard"]
    assert "cooldown" in audit[1]["why"]


def _failed(job: dict[str, Any]) -> None:
    job["status"] = {
        "failed": 3,
        "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}],
    }


def test_a_failed_retraining_job_does_not_use_up_the_cooldown(fake: FakeKubeApi, tmp_path) -> None:
    from datetime import timedelta

    from pulumi_mlops.runtime.pipeline import RetrainGuard, RetrainHistory
    from pulumi_mlops.runtime.pipeline.kube import trigger_retraining

    history = RetrainHistory(tmp_path / "h.json")
    guard = RetrainGuard(history, cooldown_hours=6, max_per_day=2)
    audit: list[dict[str, Any]] = []
    first = trigger_retraining("churn", "train-churn", guard, audit.append, fake.client(), NOW)
    assert first is not None and history.entries("churn") == [(NOW, first)]
    running = trigger_retraining("churn", "train-churn", guard, audit.append, fake.client(), NOW + timedelta(hours=1))
    assert running is None, "a Job that is still running keeps the cooldown"
    _failed(fake.jobs[first])
    later = NOW + timedelta(hours=2)
    second = trigger_retraining("churn", "train-churn", guard, audit.append, fake.client(), later)
    assert second is not None and second != first
    assert [a["action"] for a in audit] == ["retrain-submitted", "skipped-guard", "retrain-failed", "retrain-submitted"]
    assert first in audit[2]["why"] and history.entries("churn") == [(later, second)]


def test_force_starts_a_job_the_guard_would_block_and_says_so(fake: FakeKubeApi, tmp_path) -> None:
    from datetime import timedelta

    from pulumi_mlops.runtime.pipeline import RetrainGuard, RetrainHistory
    from pulumi_mlops.runtime.pipeline.kube import trigger_retraining

    guard = RetrainGuard(RetrainHistory(tmp_path / "h.json"), cooldown_hours=6, max_per_day=2)
    audit: list[dict[str, Any]] = []
    trigger_retraining("churn", "train-churn", guard, audit.append, fake.client(), NOW)
    soon = NOW + timedelta(minutes=5)
    forced = trigger_retraining("churn", "train-churn", guard, audit.append, fake.client(), soon, force=True)
    assert forced is not None and audit[-1]["forced"] is True
    assert "forced" in audit[-1]["why"] and "cooldown" in audit[-1]["why"]
    assert fake.jobs[forced]["metadata"]["annotations"]["pulumi-mlops.io/reason"].startswith("forced (--force)")
