"""Starting a retraining Job from a CronJob through the Kubernetes API (a fake API server on loopback)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pulumi_mlops.runtime.pipeline.kube import (
    KubeApi,
    KubeApiError,
    job_from_cron_job,
    retrain_job_name,
    submit_from_cron_job,
)

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


class FakeApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any] | None, str]] = []
        self.refuse_create = False
        self.jobs: dict[str, dict[str, Any]] = {}
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                api.calls.append(("GET", self.path, None, self.headers["Authorization"]))
                jobs = "/apis/batch/v1/namespaces/mlops-training/jobs/"
                if self.path == "/apis/batch/v1/namespaces/mlops-training/cronjobs/train-churn":
                    self._reply(200, CRON_JOB)
                elif self.path.startswith(jobs) and self.path.removeprefix(jobs) in api.jobs:
                    self._reply(200, api.jobs[self.path.removeprefix(jobs)])
                else:
                    self._reply(404, {"kind": "Status", "message": "not found"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                api.calls.append(("POST", self.path, body, self.headers["Authorization"]))
                if api.refuse_create:
                    self._reply(403, {"kind": "Status", "message": "jobs.batch is forbidden"})
                else:
                    api.jobs[body["metadata"]["name"]] = body
                    self._reply(201, body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def api(self) -> KubeApi:
        return KubeApi(f"http://127.0.0.1:{self.server.server_address[1]}", token="t0k", namespace="mlops-training")


@pytest.fixture
def fake() -> Iterator[FakeApi]:
    server = FakeApi()
    yield server
    server.server.shutdown()


NOW = datetime(2026, 11, 22, 9, 30, 5, tzinfo=UTC)


def test_job_is_created_from_the_cron_job_template(fake: FakeApi) -> None:
    name = submit_from_cron_job(fake.api, "train-churn", "dataset drift 0.9", NOW)
    assert name == "train-churn-retrain-20261122093005"
    (get, post) = fake.calls
    assert get[:2] == ("GET", "/apis/batch/v1/namespaces/mlops-training/cronjobs/train-churn")
    assert post[:2] == ("POST", "/apis/batch/v1/namespaces/mlops-training/jobs")
    assert get[3] == post[3] == "Bearer t0k"
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


def test_refusals_name_the_call_and_the_status(fake: FakeApi) -> None:
    fake.refuse_create = True
    with pytest.raises(KubeApiError, match=r"POST /apis/batch/v1/namespaces/mlops-training/jobs: HTTP 403"):
        submit_from_cron_job(fake.api, "train-churn", "drift", NOW)
    with pytest.raises(KubeApiError, match="HTTP 404"):
        submit_from_cron_job(fake.api, "train-nothing", "drift", NOW)


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


def test_trigger_respects_the_guard_and_audits_both_outcomes(fake: FakeApi, tmp_path) -> None:
    from datetime import timedelta

    from pulumi_mlops.runtime.pipeline import RetrainGuard, RetrainHistory
    from pulumi_mlops.runtime.pipeline.kube import trigger_retraining

    guard = RetrainGuard(RetrainHistory(tmp_path / "h.json"), cooldown_hours=6, max_per_day=2)
    audit: list[dict[str, Any]] = []
    first = trigger_retraining("churn", "train-churn", guard, audit.append, fake.api, NOW)
    second = trigger_retraining("churn", "train-churn", guard, audit.append, fake.api, NOW + timedelta(hours=1))
    assert first == "train-churn-retrain-20261122093005" and second is None
    assert [c[0] for c in fake.calls].count("POST") == 1, "the guard stopped the second Job"
    assert [a["action"] for a in audit] == ["retrain-submitted", "skipped-guard"]
    assert "cooldown" in audit[1]["why"]


def _failed(job: dict[str, Any]) -> None:
    job["status"] = {
        "failed": 3,
        "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}],
    }


def test_a_failed_retraining_job_does_not_use_up_the_cooldown(fake: FakeApi, tmp_path) -> None:
    from datetime import timedelta

    from pulumi_mlops.runtime.pipeline import RetrainGuard, RetrainHistory
    from pulumi_mlops.runtime.pipeline.kube import trigger_retraining

    history = RetrainHistory(tmp_path / "h.json")
    guard = RetrainGuard(history, cooldown_hours=6, max_per_day=2)
    audit: list[dict[str, Any]] = []
    first = trigger_retraining("churn", "train-churn", guard, audit.append, fake.api, NOW)
    assert first is not None and history.entries("churn") == [(NOW, first)]
    running = trigger_retraining("churn", "train-churn", guard, audit.append, fake.api, NOW + timedelta(hours=1))
    assert running is None, "a Job that is still running keeps the cooldown"
    _failed(fake.jobs[first])
    later = NOW + timedelta(hours=2)
    second = trigger_retraining("churn", "train-churn", guard, audit.append, fake.api, later)
    assert second is not None and second != first
    assert [a["action"] for a in audit] == ["retrain-submitted", "skipped-guard", "retrain-failed", "retrain-submitted"]
    assert first in audit[2]["why"] and history.entries("churn") == [(later, second)]


def test_force_starts_a_job_the_guard_would_block_and_says_so(fake: FakeApi, tmp_path) -> None:
    from datetime import timedelta

    from pulumi_mlops.runtime.pipeline import RetrainGuard, RetrainHistory
    from pulumi_mlops.runtime.pipeline.kube import trigger_retraining

    guard = RetrainGuard(RetrainHistory(tmp_path / "h.json"), cooldown_hours=6, max_per_day=2)
    audit: list[dict[str, Any]] = []
    trigger_retraining("churn", "train-churn", guard, audit.append, fake.api, NOW)
    soon = NOW + timedelta(minutes=5)
    forced = trigger_retraining("churn", "train-churn", guard, audit.append, fake.api, soon, force=True)
    assert forced is not None and audit[-1]["forced"] is True
    assert "forced" in audit[-1]["why"] and "cooldown" in audit[-1]["why"]
    assert fake.jobs[forced]["metadata"]["annotations"]["pulumi-mlops.io/reason"].startswith("forced (--force)")
