"""The audit log in a bucket (one object per event) and where experiments keep their artifacts."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi_mlops.runtime.config import RuntimeSettings
from pulumi_mlops.runtime.registry import AuditEvent, append_audit, read_audit


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[RuntimeSettings]:
    """Settings whose audit log is a prefix of a bucket on a moto S3 server on loopback."""
    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    for key, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="models-bucket")
    try:
        yield RuntimeSettings(audit_log="s3://models-bucket/audit", s3_endpoint_url=endpoint)
    finally:
        server.stop()


@pytest.mark.integration
def test_each_event_is_a_new_object_and_the_log_reads_back_in_order(bucket: RuntimeSettings) -> None:
    import boto3

    events = [
        AuditEvent(action="register", model="churn", reason="first", at="2026-11-22T06:00:00+00:00"),
        AuditEvent(action="promote", model="churn", reason="better", at="2026-11-22T06:00:01+00:00"),
        AuditEvent(action="register", model="other", reason="elsewhere", at="2026-11-22T05:00:00+00:00"),
    ]
    where = [append_audit(bucket, e) for e in events]
    assert all(w.startswith("s3://models-bucket/audit/") and w.endswith(".json") for w in where)
    assert where[0].startswith("s3://models-bucket/audit/churn/") and len(set(where)) == 3
    keys = [o["Key"] for o in boto3.client("s3", endpoint_url=bucket.s3_endpoint_url).list_objects_v2(
        Bucket="models-bucket")["Contents"]]  # fmt: skip
    assert len(keys) == 3
    assert [e.action for e in read_audit(bucket, "churn")] == ["register", "promote"]
    assert [e.model for e in read_audit(bucket)] == ["other", "churn", "churn"], "oldest first"
    empty = RuntimeSettings(audit_log="s3://models-bucket/nothing-here", s3_endpoint_url=bucket.s3_endpoint_url)
    assert read_audit(empty) == []


def test_a_local_log_stays_one_json_lines_file(tmp_path: Path) -> None:
    settings = RuntimeSettings(home=str(tmp_path))
    append_audit(settings, AuditEvent(action="register", model="churn", reason="r"))
    append_audit(settings, AuditEvent(action="promote", model="churn", reason="r"))
    assert len((tmp_path / "audit.jsonl").read_text().splitlines()) == 2
    assert [e.action for e in read_audit(settings)] == ["register", "promote"]


def test_against_a_tracking_server_the_server_chooses_where_artifacts_go(tmp_path: Path) -> None:
    local = RuntimeSettings(home=str(tmp_path))
    assert local.resolved_artifact_root() == str((tmp_path / "artifacts").resolve())
    assert not local.tracking_server
    remote = RuntimeSettings(home=str(tmp_path), tracking_uri="http://mlflow.mlops-platform.svc.cluster.local:5000")
    assert remote.tracking_server and remote.resolved_artifact_root() == "", "not this pod's /tmp"
    given = remote.model_copy(update={"artifact_root": "mlflow-artifacts:/"})
    assert given.resolved_artifact_root() == "mlflow-artifacts:/"


def test_an_experiment_with_artifacts_on_one_pods_disk_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from pulumi_mlops.runtime.config import SettingsError
    from pulumi_mlops.runtime.registry import tracking

    class Client:
        def get_experiment_by_name(self, name: str) -> SimpleNamespace:
            return SimpleNamespace(experiment_id="1", artifact_location="/tmp/mlops/artifacts/churn")

    monkeypatch.setattr(tracking, "mlflow_client", lambda settings: Client())
    remote = RuntimeSettings(home=str(tmp_path), tracking_uri="http://127.0.0.1:5000")
    with pytest.raises(SettingsError, match="where no other pod can read them: rename or delete the experiment"):
        tracking.ensure_experiment(remote, "churn")
    assert tracking.ensure_experiment(RuntimeSettings(home=str(tmp_path)), "churn") == "1", "local stores are fine"
