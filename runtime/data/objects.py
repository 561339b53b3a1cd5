"""Reading the objects of a data location with the version of each, or exactly the versions a run recorded.

Each object is read once, as bytes, and its sha256 is taken from the bytes that are parsed, so what is recorded
is what was trained on. An S3 object is read with ``get_object``, whose response names the ``VersionId`` and
``ETag`` of the bytes returned (a prefix is listed, then each object read so); a Cloud Storage object through
gcsfs (``version_aware``) at the generation its listing names. With a pin (:data:`~.versions.DataPin`) the
pinned objects at or below the location are read at their pinned versions, and nothing else: an object added
since is not read, one overwritten since is read as it was.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pulumi_mlops.runtime.config import RuntimeSettings

from .errors import DataLoadError, DataPinError
from .versions import ETAG_PIN, DataPin, InputObject, pinned_under

__all__ = ["SUFFIXES", "gcs_filesystem", "read_gs", "read_local", "read_s3"]

SUFFIXES = (".parquet", ".pq", ".csv")
"""File names the loader reads (a folder or prefix is read as every such file below it)."""

Read = tuple[InputObject, bytes]


def _record(uri: str, payload: bytes, **versions: str | None) -> Read:
    digest = hashlib.sha256(payload).hexdigest()
    return InputObject(uri=uri, sha256=digest, size=len(payload), **versions), payload


def _pinned(location: str, pin: DataPin) -> list[str]:
    names = pinned_under(location, pin)
    if not names:
        recorded = ", ".join(sorted(pin)[:3]) + (", ..." if len(pin) > 3 else "")
        raise DataPinError(f"{location}: the recorded versions name no object at or below it (recorded: {recorded})")
    return names


def read_local(location: str, pin: DataPin | None = None) -> list[Read]:
    """The file at ``location``, or every parquet/CSV file below the folder, sorted; with ``pin``, the pinned files,
    each checked against its recorded sha256."""
    path = Path(urlsplit(location).path) if location.startswith("file:") else Path(location)
    if pin is not None:
        return [_read_pinned_file(name, pin[name]) for name in _pinned(str(path), pin)]
    if not path.exists():
        raise DataLoadError(f"{path}: no such file or directory; pass an existing path, s3:// or generated:// URI")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
        return [_record(str(p), p.read_bytes()) for p in files]
    if path.suffix not in SUFFIXES:
        raise DataLoadError(f"{path}: unsupported file type {path.suffix!r}; use .parquet or .csv")
    return [_record(str(path), path.read_bytes())]


def _read_pinned_file(name: str, expected: str) -> Read:
    path = Path(name)
    if not path.is_file():
        raise DataPinError(
            f"{name}: recorded with sha256 {expected}, but the file no longer exists: restore it to read the "
            "recorded data"
        )
    read = _record(name, path.read_bytes())
    if read[0].sha256 != expected:
        raise DataPinError(
            f"{name}: the file changed since it was recorded: sha256 {read[0].sha256} now, {expected} recorded; "
            "restore the recorded file (training on other data would not reproduce the version)"
        )
    return read


def read_s3(location: str, settings: RuntimeSettings, pin: DataPin | None = None) -> list[Read]:
    """The object at ``location`` (a parquet/CSV key), or every such object below the prefix, sorted by key; with
    ``pin``, the pinned objects at their recorded ``VersionId`` (or ``ETag``)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    parts = urlsplit(location)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url or None)
    if pin is not None:
        return [_get_s3(client, uri, pin[uri]) for uri in _pinned(f"s3://{bucket}/{key}", pin)]
    if key.endswith(SUFFIXES):
        return [_get_s3(client, f"s3://{bucket}/{key}", None)]
    prefix = key.rstrip("/") + "/" if key else ""
    keys: list[str] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []) if obj["Key"].endswith(SUFFIXES))
    except ClientError as exc:
        raise _s3_error(location, None, exc) from None
    except BotoCoreError as exc:
        raise DataLoadError(f"{location}: listing the prefix failed: {exc}") from None
    return [_get_s3(client, f"s3://{bucket}/{k}", None) for k in sorted(keys)]


def _get_s3(client: Any, uri: str, pinned: str | None) -> Read:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, key = uri.removeprefix("s3://").partition("/")
    request = {"Bucket": bucket, "Key": key}
    if pinned is not None and pinned.startswith(ETAG_PIN):
        request["IfMatch"] = pinned.removeprefix(ETAG_PIN)
    elif pinned is not None:
        request["VersionId"] = pinned
    try:
        response = client.get_object(**request)
        payload = response["Body"].read()
    except ClientError as exc:
        raise _s3_error(uri, pinned, exc) from None
    except BotoCoreError as exc:
        raise DataLoadError(f"{uri}: reading the object failed: {exc}") from None
    return _record(uri, payload, version_id=response.get("VersionId"), etag=response.get("ETag"))


def _s3_error(uri: str, pinned: str | None, exc: Any) -> DataLoadError:
    error = exc.response.get("Error", {})
    code, message = str(error.get("Code", "")), str(error.get("Message", ""))
    bucket = uri.removeprefix("s3://").partition("/")[0]
    if code == "NoSuchBucket":
        return DataLoadError(f"{uri}: bucket {bucket!r} not found")
    if pinned is None:
        if code in ("NoSuchKey", "404"):
            return DataLoadError(f"{uri}: object not found")
        return DataLoadError(f"{uri}: S3 refused the read: {code} {message}".rstrip())
    if pinned.startswith(ETAG_PIN):
        what = "changed" if code == "PreconditionFailed" else "was deleted"
        return DataPinError(
            f"{uri}: {what} since it was recorded ({pinned}), and its bucket keeps no versions, so the recorded "
            "content is gone: enable versioning on the bucket so that training data can be read again"
        )
    if code in ("NoSuchVersion", "InvalidArgument", "NoSuchKey", "404"):
        return DataPinError(
            f"{uri}: version {pinned} recorded at training no longer exists (deleted, or expired by a lifecycle "
            "rule): the version cannot be reproduced from its data"
        )
    return DataPinError(f"{uri}: S3 refused reading version {pinned}: {code} {message}".rstrip())


def gcs_filesystem() -> Any:
    """A gcsfs filesystem that reads objects by generation (``bucket/key#generation``)."""
    try:
        import gcsfs
    except ImportError:
        raise DataLoadError("reading gs:// needs the gcsfs package (pip install gcsfs)") from None
    return gcsfs.GCSFileSystem(version_aware=True)


def read_gs(location: str, pin: DataPin | None = None) -> list[Read]:
    """The object at ``location``, or every parquet/CSV object below the prefix, each at the generation listed;
    with ``pin``, the pinned objects at their recorded generations."""
    fs = gcs_filesystem()
    parts = urlsplit(location)
    path = f"{parts.netloc}{parts.path}".rstrip("/")
    if pin is not None:
        return [_get_gs(fs, uri, pin[uri], pinned=True) for uri in _pinned(f"gs://{path}", pin)]
    try:
        if path.endswith(SUFFIXES):
            infos = {path: fs.info(path)}
        else:
            infos = {name: info for name, info in fs.find(path, detail=True).items() if name.endswith(SUFFIXES)}
    except FileNotFoundError:
        raise DataLoadError(f"{location}: object not found") from None
    return [_get_gs(fs, f"gs://{name}", str(info["generation"]), pinned=False) for name, info in sorted(infos.items())]


def _get_gs(fs: Any, uri: str, generation: str, *, pinned: bool) -> Read:
    try:
        payload = fs.cat_file(f"{uri.removeprefix('gs://')}#{generation}")
    except FileNotFoundError:
        if pinned:
            raise DataPinError(
                f"{uri}: generation {generation} recorded at training no longer exists (overwritten in a bucket "
                "without object versioning, deleted, or expired): the version cannot be reproduced from its data"
            ) from None
        raise DataLoadError(f"{uri}: generation {generation} was replaced while it was read; run again") from None
    return _record(uri, bytes(payload), generation=generation)
