"""The loader records the version of every input it reads and reads exactly those versions when given their pin."""

from __future__ import annotations

import io
import itertools
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pulumi_mlops.runtime.config import RuntimeSettings
from pulumi_mlops.runtime.data import DataPinError, DataVersions, generate_churn, read_frame
from pulumi_mlops.runtime.data import objects as data_objects


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def test_local_file_is_pinned_by_digest_and_a_changed_file_is_refused(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "train.parquet"
    path.write_bytes(_parquet(generate_churn(120, 0)))
    recorded = hashlib.sha256(path.read_bytes()).hexdigest()
    first = read_frame(str(path))
    assert [(o.uri, o.sha256, o.size) for o in first.versions.objects] == [(str(path), recorded, path.stat().st_size)]
    assert first.versions.pin() == {str(path): recorded}
    again = read_frame(str(path), pin=first.versions.pin())
    pd.testing.assert_frame_equal(again.frame, first.frame)

    path.write_bytes(_parquet(generate_churn(120, 1)))
    changed = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(DataPinError) as caught:
        read_frame(str(path), pin=first.versions.pin())
    message = str(caught.value)
    assert str(path) in message and recorded in message and changed in message
    path.unlink()
    with pytest.raises(DataPinError, match="no longer exists"):
        read_frame(str(path), pin=first.versions.pin())


def test_a_pinned_folder_reads_its_recorded_files_only(tmp_path: Path) -> None:
    frame = generate_churn(100, 0)
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "0.parquet").write_bytes(_parquet(frame.iloc[:40]))
    (folder / "1.csv").write_bytes(frame.iloc[40:].drop(columns="event_timestamp").to_csv(index=False).encode())
    first = read_frame(str(folder))
    assert sorted(first.versions.pin()) == [str(folder / "0.parquet"), str(folder / "1.csv")]
    (folder / "2.parquet").write_bytes(_parquet(generate_churn(30, 5)))
    assert len(read_frame(str(folder)).frame) == 130, "without a pin the new file is read"
    pinned = read_frame(str(folder), pin=first.versions.pin())
    pd.testing.assert_frame_equal(pinned.frame, first.frame)
    with pytest.raises(DataPinError, match="name no object"):
        read_frame(str(tmp_path / "elsewhere"), pin=first.versions.pin())


def test_generated_data_records_its_parameters_seed_and_window() -> None:
    window = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 8, tzinfo=UTC))
    loaded = read_frame("generated://churn?rows=300&seed=7&shift=mean:0.5", window=window)
    generated = loaded.versions.generated
    assert generated is not None and (generated.rows, generated.seed, generated.shift.mean_shift) == (300, 7, 0.5)
    assert loaded.versions.window == window and loaded.versions.objects == []
    restored = DataVersions.model_validate_json(loaded.versions.model_dump_json())
    assert restored == loaded.versions
    assert any("seed 7" in line for line in restored.describe())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, RuntimeSettings]]:
    """A moto S3 server on loopback with a versioned and an unversioned bucket."""
    import boto3
    from moto.server import ThreadedMotoServer

    for key, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint)
    for bucket in ("pinned-data", "plain-data"):
        client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket="pinned-data", VersioningConfiguration={"Status": "Enabled"})
    try:
        yield client, RuntimeSettings(s3_endpoint_url=endpoint)
    finally:
        server.stop()


def test_s3_objects_are_read_back_at_their_version_id(s3: tuple[Any, RuntimeSettings]) -> None:
    client, settings = s3
    original = generate_churn(90, 0)
    written = client.put_object(Bucket="pinned-data", Key="train.parquet", Body=_parquet(original))
    for key, part in (("parts/0.parquet", original.iloc[:50]), ("parts/1.parquet", original.iloc[50:])):
        client.put_object(Bucket="pinned-data", Key=key, Body=_parquet(part))

    single = read_frame("s3://pinned-data/train.parquet", settings)
    (obj,) = single.versions.objects
    assert (obj.uri, obj.version_id, obj.etag) == (
        "s3://pinned-data/train.parquet", written["VersionId"], written["ETag"]
    )  # fmt: skip
    prefix = read_frame("s3://pinned-data/parts/", settings)
    listed = {o.uri: o.version_id for o in prefix.versions.objects}
    heads = {
        f"s3://pinned-data/{k}": client.head_object(Bucket="pinned-data", Key=k)["VersionId"]
        for k in ("parts/0.parquet", "parts/1.parquet")
    }
    assert listed == heads and all(o.etag for o in prefix.versions.objects)

    client.put_object(Bucket="pinned-data", Key="train.parquet", Body=_parquet(generate_churn(90, 1)))
    client.put_object(Bucket="pinned-data", Key="parts/1.parquet", Body=_parquet(generate_churn(10, 2)))
    client.put_object(Bucket="pinned-data", Key="parts/2.parquet", Body=_parquet(generate_churn(10, 3)))
    assert not read_frame("s3://pinned-data/train.parquet", settings).frame.equals(original)
    pd.testing.assert_frame_equal(
        read_frame("s3://pinned-data/train.parquet", settings, pin=single.versions.pin()).frame, original
    )
    pd.testing.assert_frame_equal(
        read_frame("s3://pinned-data/parts", settings, pin=prefix.versions.pin()).frame, original
    )

    client.delete_object(Bucket="pinned-data", Key="train.parquet", VersionId=written["VersionId"])
    with pytest.raises(DataPinError, match=f"version {written['VersionId']} recorded at training no longer exists"):
        read_frame("s3://pinned-data/train.parquet", settings, pin=single.versions.pin())


def test_an_unversioned_bucket_is_pinned_by_etag(s3: tuple[Any, RuntimeSettings]) -> None:
    client, settings = s3
    client.put_object(Bucket="plain-data", Key="train.parquet", Body=_parquet(generate_churn(40, 0)))
    first = read_frame("s3://plain-data/train.parquet", settings)
    (obj,) = first.versions.objects
    assert obj.version_id is None and first.versions.pin() == {obj.uri: f"etag:{obj.etag}"}
    pd.testing.assert_frame_equal(read_frame(obj.uri, settings, pin=first.versions.pin()).frame, first.frame)
    client.put_object(Bucket="plain-data", Key="train.parquet", Body=_parquet(generate_churn(40, 1)))
    with pytest.raises(DataPinError, match="keeps no versions"):
        read_frame(obj.uri, settings, pin=first.versions.pin())


class FakeGcs:
    """gcsfs's calls the loader makes (``info``, ``find``, ``cat_file`` of ``bucket/key#generation``) over a dict of
    generations, the way a versioned bucket keeps them."""

    def __init__(self) -> None:
        self.generations: dict[str, dict[str, bytes]] = {}
        self.reads: list[str] = []
        self._clock = itertools.count(1_700_000_000_000_000)

    def write(self, name: str, payload: bytes) -> str:
        generation = str(next(self._clock))
        self.generations.setdefault(name, {})[generation] = payload
        return generation

    def _info(self, name: str) -> dict[str, Any]:
        latest = max(self.generations[name], key=int)
        return {"name": name, "type": "file", "size": len(self.generations[name][latest]), "generation": latest}

    def info(self, path: str) -> dict[str, Any]:
        if path not in self.generations:
            raise FileNotFoundError(path)
        return self._info(path)

    def find(self, path: str, detail: bool = False) -> dict[str, Any]:
        assert detail
        return {n: self._info(n) for n in self.generations if n.startswith(path.rstrip("/") + "/")}

    def cat_file(self, path: str) -> bytes:
        name, _, generation = path.partition("#")
        self.reads.append(path)
        try:
            return self.generations[name][generation]
        except KeyError:
            raise FileNotFoundError(path) from None


def test_gcs_objects_are_read_back_at_their_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeGcs()
    monkeypatch.setattr(data_objects, "gcs_filesystem", lambda: fake)
    original = generate_churn(60, 0)
    first_generation = fake.write("bucket/data/a.parquet", _parquet(original.iloc[:30]))
    fake.write("bucket/data/b.parquet", _parquet(original.iloc[30:]))
    loaded = read_frame("gs://bucket/data/")
    pd.testing.assert_frame_equal(loaded.frame, original)
    generations = {o.uri: o.generation for o in loaded.versions.objects}
    assert generations["gs://bucket/data/a.parquet"] == first_generation
    assert fake.reads == [
        f"bucket/data/a.parquet#{first_generation}",
        f"bucket/data/b.parquet#{generations['gs://bucket/data/b.parquet']}",
    ]

    fake.write("bucket/data/a.parquet", _parquet(generate_churn(30, 9)))
    pd.testing.assert_frame_equal(read_frame("gs://bucket/data", pin=loaded.versions.pin()).frame, original)
    del fake.generations["bucket/data/a.parquet"][first_generation]
    with pytest.raises(DataPinError, match=f"generation {first_generation} recorded at training no longer exists"):
        read_frame("gs://bucket/data", pin=loaded.versions.pin())
