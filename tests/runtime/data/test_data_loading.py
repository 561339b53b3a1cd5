"""Loading from local files and directories, and from an S3 API (moto on loopback)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from pulumi_mlops.runtime.config import RuntimeSettings
from pulumi_mlops.runtime.data import DataLoadError, generate_churn, load_frame


def test_local_parquet_csv_and_directory(tmp_path: Path) -> None:
    frame = generate_churn(200, 0)
    frame.to_parquet(tmp_path / "a.parquet", index=False)
    frame.drop(columns="event_timestamp").to_csv(tmp_path / "b.csv", index=False)
    pd.testing.assert_frame_equal(load_frame(str(tmp_path / "a.parquet")), frame)
    assert len(load_frame(str(tmp_path / "b.csv"))) == 200
    parts = tmp_path / "parts"
    parts.mkdir()
    frame.iloc[:100].to_parquet(parts / "0.parquet", index=False)
    frame.iloc[100:].to_parquet(parts / "1.parquet", index=False)
    pd.testing.assert_frame_equal(load_frame(str(parts)), frame)


def test_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(DataLoadError, match="no such file"):
        load_frame(str(tmp_path / "missing.parquet"))
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(DataLoadError, match="unsupported file type"):
        load_frame(str(tmp_path / "x.txt"))
    with pytest.raises(DataLoadError, match="unsupported scheme"):
        load_frame("ftp://host/x.parquet")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def test_s3_object_and_prefix(s3_endpoint: str) -> None:
    import io

    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket="data")
    frame = generate_churn(150, 0)
    for key, part in (("churn/0.parquet", frame.iloc[:70]), ("churn/1.parquet", frame.iloc[70:])):
        buffer = io.BytesIO()
        part.to_parquet(buffer, index=False)
        client.put_object(Bucket="data", Key=key, Body=buffer.getvalue())
    settings = RuntimeSettings(s3_endpoint_url=s3_endpoint)
    pd.testing.assert_frame_equal(load_frame("s3://data/churn/", settings), frame)
    assert len(load_frame("s3://data/churn/1.parquet", settings)) == 80
    with pytest.raises(DataLoadError, match="not found"):
        load_frame("s3://data/churn/9.parquet", settings)
