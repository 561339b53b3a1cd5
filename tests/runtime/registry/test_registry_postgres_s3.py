"""The platform set-up on real services: MLflow on PostgreSQL (a fresh database) with artifacts on an S3 API."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from pulumi_mlops.runtime.config import RuntimeSettings
from pulumi_mlops.runtime.registry import DIGEST_TAG, load_model_version, mlflow_client, promote

from .conftest import make_trainer

POSTGRES = ("127.0.0.1", 5432)
pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def postgres_uri() -> Iterator[str]:
    try:
        import psycopg2
    except ImportError:
        pytest.skip("psycopg2 is not installed")
    try:
        admin = psycopg2.connect(host=POSTGRES[0], port=POSTGRES[1], user="postgres", dbname="test", connect_timeout=2)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable on {POSTGRES[0]}:{POSTGRES[1]} as user postgres: {exc}")
    admin.autocommit = True
    name = f"mlops_test_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@{POSTGRES[0]}:{POSTGRES[1]}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port())
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", endpoint)
    try:
        yield endpoint
    finally:
        server.stop()


def test_register_load_promote_on_postgres_and_s3(postgres_uri: str, s3_endpoint: str, tmp_path) -> None:
    import boto3

    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="mlops-registry")
    settings = RuntimeSettings(
        home=str(tmp_path / "home"),
        tracking_uri=postgres_uri,
        artifact_root="s3://mlops-registry/mlflow",
        s3_endpoint_url=s3_endpoint,
    )
    result = make_trainer(settings)("pg-churn", "logistic_regression", rows=800)
    client = mlflow_client(settings)
    mv = client.get_model_version_by_alias("pg-churn", "challenger")
    assert mv.tags["mlops.run_id"] == result.run_id and len(mv.tags[DIGEST_TAG]) == 64
    assert client.get_model_version_download_uri("pg-churn", result.version).startswith("s3://mlops-registry/mlflow/")

    keys = [
        o["Key"]
        for o in boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket="mlops-registry")["Contents"]
    ]
    assert any(k.endswith("/MLmodel") for k in keys) and any(k.endswith("reference_profile.json") for k in keys)

    loaded = load_model_version("pg-churn", "challenger", settings)
    frame = result.holdout[loaded.signature_columns]
    np.testing.assert_allclose(loaded.model.predict_proba(frame), result.pipeline.predict_proba(frame))
    assert loaded.profile is not None and loaded.artifact_sha256 == mv.tags[DIGEST_TAG]

    decision = promote("pg-churn", settings)
    assert decision.promoted and str(client.get_model_version_by_alias("pg-churn", "champion").version) == "1"
