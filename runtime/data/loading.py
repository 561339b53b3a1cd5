"""Load tabular data from a local path, ``s3://``, ``gs://``, ``generated://`` or ``feast://`` location.

Parquet and CSV are read (by suffix; a directory or prefix is read as every parquet/CSV file
below it, in sorted order). ``s3://`` uses boto3 and honours ``MLOPS_S3_ENDPOINT_URL``; ``gs://`` uses gcsfs.
:func:`read_frame` also returns the version of every object read (:mod:`.versions`), and reads exactly the
recorded versions when given their pin (:mod:`.objects`).
``feast://<entity file or URI>`` reads an entity frame (``customer_id``, ``event_timestamp``, label)
and joins point-in-time correct features from the repo at ``MLOPS_FEATURE_REPO``; entity rows
without features inside the TTL are dropped and counted in a warning.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pandas as pd
from pulumi_mlops.runtime.config import RuntimeSettings

from .errors import DataLoadError
from .generator import TIMESTAMP_COLUMN, generate_from_uri, parse_generated_uri
from .objects import read_gs, read_local, read_s3
from .versions import DataPin, DataVersions, FeastInput

__all__ = ["DataLoadError", "LoadedFrame", "load_frame", "parse_window", "read_frame"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedFrame:
    """A frame and the versions of what it was read from."""

    frame: pd.DataFrame
    """The rows read (within the window, when one was given)."""
    versions: DataVersions
    """Every object read, at its version (``data_versions.json`` of a training run)."""


def _parse(name: str, payload: bytes) -> pd.DataFrame:
    if name.endswith(".csv"):
        return pd.read_csv(io.BytesIO(payload))
    return pd.read_parquet(io.BytesIO(payload))


def _concat(frames: list[pd.DataFrame], where: str) -> pd.DataFrame:
    if not frames:
        raise DataLoadError(f"{where}: no .parquet or .csv files found")
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _load_feast(entities: str, settings: RuntimeSettings, pin: DataPin | None) -> LoadedFrame:
    from pulumi_mlops.runtime.features import FEATURE_REFS, FEATURE_VIEW, FeatureStoreClient

    if not entities:
        raise DataLoadError("feast:// needs the entity frame's location: feast:///path/to/entities.parquet")
    entity_read = read_frame(entities, settings, pin=pin)
    client = FeatureStoreClient(settings)
    result = client.get_historical_features(entity_read.frame)
    if result.report.usable == 0:
        raise DataLoadError(f"feast://{entities}: no entity row has features ({result.report.render()})")
    if result.report.usable < result.report.requested:
        log.warning("feast://%s: %s", entities, result.report.render())
    times = pd.to_datetime(entity_read.frame[TIMESTAMP_COLUMN], utc=True)
    feast = FeastInput(
        feature_view=FEATURE_VIEW,
        feature_refs=list(FEATURE_REFS),
        repo=str(client.repo_path),
        entity_rows=len(entity_read.frame),
        entity_since=times.min().to_pydatetime() if len(times) else None,
        entity_until=times.max().to_pydatetime() if len(times) else None,
        entities=entity_read.versions,
    )
    return LoadedFrame(result.frame, DataVersions(location=f"feast://{entities}", feast=feast))


def read_frame(
    location: str,
    settings: RuntimeSettings | None = None,
    *,
    window: tuple[datetime, datetime] | None = None,
    pin: DataPin | None = None,
) -> LoadedFrame:
    """Read the frame at ``location`` (a path, ``s3://``, ``gs://``, ``generated://`` or ``feast://`` URI) and
    record the version of every object read (:mod:`.versions`).

    With ``window = (since, until)`` only the rows whose ``event_timestamp`` lies in ``[since, until)`` are
    kept (a generated dataset generates that period's rows); a window without rows is an error. With ``pin``
    (:meth:`DataVersions.pin` of an earlier read) exactly the pinned versions are read: a version that is gone,
    or a local file whose sha256 differs, is a :class:`~.errors.DataPinError` naming the object.
    """
    settings = settings or RuntimeSettings.from_env()
    if window is not None:
        window = (_utc(window[0]), _utc(window[1]))
        if window[0] >= window[1]:
            raise DataLoadError(f"window start {window[0].isoformat()} is not before its end {window[1].isoformat()}")
    scheme = urlsplit(location).scheme
    if scheme == "generated":
        try:
            generated = parse_generated_uri(location)
            frame = generate_from_uri(location, window)
        except ValueError as exc:
            raise DataLoadError(str(exc)) from None
        return LoadedFrame(frame, DataVersions(location=location, generated=generated, window=window))
    loaded = _load(location, scheme, settings, pin)
    if window is None:
        return loaded
    versions = loaded.versions.model_copy(update={"window": window})
    return LoadedFrame(_in_window(loaded.frame, location, window), versions)


def load_frame(
    location: str,
    settings: RuntimeSettings | None = None,
    *,
    window: tuple[datetime, datetime] | None = None,
    pin: DataPin | None = None,
) -> pd.DataFrame:
    """The frame of :func:`read_frame`, without the versions it was read at."""
    return read_frame(location, settings, window=window, pin=pin).frame


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


def _load(location: str, scheme: str, settings: RuntimeSettings, pin: DataPin | None) -> LoadedFrame:
    if scheme == "feast":
        return _load_feast(location.removeprefix("feast://"), settings, pin)
    if scheme == "s3":
        reads = read_s3(location, settings, pin)
    elif scheme == "gs":
        reads = read_gs(location, pin)
    elif scheme in ("", "file"):
        reads = read_local(location, pin)
    else:
        raise DataLoadError(
            f"{location}: unsupported scheme {scheme!r}; use a path, s3://, gs://, generated:// or feast://"
        )
    frame = _concat([_parse(obj.uri, payload) for obj, payload in reads], location)
    return LoadedFrame(frame, DataVersions(location=location, objects=[obj for obj, _ in reads]))
