"""Load tabular data from a local path, ``s3://``, ``gs://``, ``generated://`` or ``feast://`` location.

Parquet and CSV are read (by suffix; a directory or prefix is read as every parquet/CSV file
below it, in sorted order). ``s3://`` uses boto3 and honours ``MLOPS_S3_ENDPOINT_URL``.
``feast://<entity file or URI>`` reads an entity frame (``customer_id``, ``event_timestamp``, label)
and joins point-in-time correct features from the repo at ``MLOPS_FEATURE_REPO``; entity rows
without features inside the TTL are dropped and counted in a warning.
"""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
from pulumi_mlops.runtime.config import RuntimeSettings

from .generator import TIMESTAMP_COLUMN, generate_from_uri

__all__ = ["DataLoadError", "load_frame", "parse_window"]

log = logging.getLogger(__name__)

_SUFFIXES = (".parquet", ".pq", ".csv")


class DataLoadError(RuntimeError):
    """The data location cannot be read."""


def _read_bytes(name: str, payload: bytes) -> pd.DataFrame:
    if name.endswith(".csv"):
        return pd.read_csv(io.BytesIO(payload))
    return pd.read_parquet(io.BytesIO(payload))


def _concat(frames: list[pd.DataFrame], where: str) -> pd.DataFrame:
    if not frames:
        raise DataLoadError(f"{where}: no .parquet or .csv files found")
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _load_local(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataLoadError(f"{path}: no such file or directory; pass an existing path, s3:// or generated:// URI")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in _SUFFIXES and p.is_file())
        return _concat([_load_local(p) for p in files], str(path))
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    raise DataLoadError(f"{path}: unsupported file type {path.suffix!r}; use .parquet or .csv")


def _load_s3(uri: str, settings: RuntimeSettings) -> pd.DataFrame:
    import boto3

    parts = urlsplit(uri)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url or None)
    try:
        if key.endswith(_SUFFIXES):
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            return _read_bytes(key, body)
        prefix = key.rstrip("/") + "/" if key else ""
        keys: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []) if obj["Key"].endswith(_SUFFIXES))
        frames = [_read_bytes(k, client.get_object(Bucket=bucket, Key=k)["Body"].read()) for k in sorted(keys)]
    except client.exceptions.NoSuchKey:
        raise DataLoadError(f"{uri}: object not found") from None
    except client.exceptions.NoSuchBucket:
        raise DataLoadError(f"{uri}: bucket {bucket!r} not found") from None
    return _concat(frames, uri)


def _load_gs(uri: str) -> pd.DataFrame:
    try:
        import gcsfs  # noqa: F401
    except ImportError:
        raise DataLoadError(f"{uri}: reading gs:// needs the gcsfs package (pip install gcsfs)") from None
    if uri.endswith(".csv"):
        return pd.read_csv(uri)
    return pd.read_parquet(uri)


def _load_feast(entities: str, settings: RuntimeSettings) -> pd.DataFrame:
    from pulumi_mlops.runtime.features import FeatureStoreClient

    if not entities:
        raise DataLoadError("feast:// needs the entity frame's location: feast:///path/to/entities.parquet")
    result = FeatureStoreClient(settings).get_historical_features(load_frame(entities, settings))
    if result.report.usable == 0:
        raise DataLoadError(f"feast://{entities}: no entity row has features ({result.report.render()})")
    if result.report.usable < result.report.requested:
        log.warning("feast://%s: %s", entities, result.report.render())
    return result.frame


def load_frame(
    location: str, settings: RuntimeSettings | None = None, *, window: tuple[datetime, datetime] | None = None
) -> pd.DataFrame:
    """Read the frame at ``location`` (a path, ``s3://``, ``gs://``, ``generated://`` or ``feast://`` URI).

    With ``window = (since, until)`` only the rows whose ``event_timestamp`` lies in ``[since, until)`` are
    kept (a generated dataset generates that period's rows); a window without rows is an error.
    """
    settings = settings or RuntimeSettings.from_env()
    if window is not None:
        window = (_utc(window[0]), _utc(window[1]))
        if window[0] >= window[1]:
            raise DataLoadError(f"window start {window[0].isoformat()} is not before its end {window[1].isoformat()}")
    scheme = urlsplit(location).scheme
    if scheme == "generated":
        try:
            return generate_from_uri(location, window)
        except ValueError as exc:
            raise DataLoadError(str(exc)) from None
    frame = _load(location, scheme, settings)
    return frame if window is None else _in_window(frame, location, window)


def parse_window(since: str | None, until: str | None) -> tuple[datetime, datetime] | None:
    """``(since, until)`` from ISO 8601 texts (UTC unless a zone is given); ``until`` defaults to now.

    None when neither is given; ``until`` alone is an error (the window has no start).
    """
    if since is None and until is None:
        return None
    if since is None:
        raise DataLoadError(f"--until {until} needs --since: the window of fresh data has no start")

    def parse(text: str, option: str) -> datetime:
        try:
            return _utc(datetime.fromisoformat(text))
        except ValueError:
            raise DataLoadError(f"{option} {text!r} is not an ISO date or time, e.g. 2026-11-21T06:00:00Z") from None

    start = parse(since, "--since")
    end = parse(until, "--until") if until is not None else datetime.now(UTC)
    if start >= end:
        raise DataLoadError(f"--since {start.isoformat()} is not before --until {end.isoformat()}")
    return start, end


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in_window(frame: pd.DataFrame, location: str, window: tuple[datetime, datetime]) -> pd.DataFrame:
    if TIMESTAMP_COLUMN not in frame.columns:
        raise DataLoadError(
            f"{location} has no {TIMESTAMP_COLUMN} column, so its rows of the window {window[0].isoformat()} to "
            f"{window[1].isoformat()} cannot be selected: add the event time of each row"
        )
    times = pd.to_datetime(frame[TIMESTAMP_COLUMN], utc=True)
    kept = frame[(times >= pd.Timestamp(window[0])) & (times < pd.Timestamp(window[1]))].reset_index(drop=True)
    if kept.empty:
        raise DataLoadError(
            f"{location}: no rows with {TIMESTAMP_COLUMN} in the window {window[0].isoformat()} to "
            f"{window[1].isoformat()} ({len(frame)} rows outside it): fresh data has not arrived yet"
        )
    return kept


def _load(location: str, scheme: str, settings: RuntimeSettings) -> pd.DataFrame:
    if scheme == "feast":
        return _load_feast(location.removeprefix("feast://"), settings)
    if scheme == "s3":
        return _load_s3(location, settings)
    if scheme == "gs":
        return _load_gs(location)
    if scheme in ("", "file"):
        return _load_local(Path(urlsplit(location).path if scheme == "file" else location))
    raise DataLoadError(
        f"{location}: unsupported scheme {scheme!r}; use a path, s3://, gs://, generated:// or feast://"
    )
