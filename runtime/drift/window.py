"""Read a window of prediction logs (and late labels) from a directory or an ``s3://``/``gs://`` prefix.

The model server writes ``<root>/model_name=<name>/date=YYYY-MM-DD/version=N/part-*.parquet`` with the
feature columns, ``prediction``, ``request_id``, ``row``, ``timestamp`` and ``model_version``. Partitions of
other models and outside the requested dates are skipped without being opened; rows are then kept when
``since <= timestamp < until``. Logs written before the model partition (``<root>/date=...``) are read as
the model's own.
Files whose columns differ are read together: a column absent from some files is null there.

Labels that arrive later are a parquet file or folder with ``request_id``, ``row`` (the row's index within
its request, as logged) and ``label``; without ``row``, the labels of a request are matched to its rows in
the order they appear (one label per single-row request is the common case).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

__all__ = ["Window", "WindowError", "read_labels", "read_window"]


class WindowError(ValueError):
    """Raised when the prediction logs or labels cannot be found or read."""


@dataclass(frozen=True)
class Window:
    """Rows of one window of prediction logs and the files they came from."""

    frame: pd.DataFrame
    """The rows, with the requested columns that exist."""
    files: int
    """Parquet files read."""
    columns: list[str]
    """Every column of the logs, read or not (schema changes are reported against these)."""


def _filesystem(uri: str, endpoint_url: str = "") -> tuple[object | None, str]:
    """A pyarrow filesystem and path for ``uri`` (None and the local path for plain paths)."""
    from pyarrow import fs

    if uri.startswith("s3://"):
        return fs.S3FileSystem(endpoint_override=endpoint_url or None), uri.removeprefix("s3://")
    if uri.startswith("gs://"):
        return fs.GcsFileSystem(), uri.removeprefix("gs://")
    if "://" in uri and not uri.startswith("file://"):
        raise WindowError(f"{uri}: unsupported scheme; use a local path, s3:// or gs://")
    path = uri.removeprefix("file://")
    if not Path(path).exists():
        raise WindowError(f"{path} does not exist: pass the prediction-log directory or a parquet file")
    return None, path


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def read_window(
    uri: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    columns: list[str] | None = None,
    endpoint_url: str = "",
    model: str | None = None,
) -> Window:
    """Read prediction logs with ``since <= timestamp < until`` (either bound may be open).

    ``columns`` limits what is read; names absent from every file are left out (the detector reports
    them as missing). ``model`` keeps that model's logs only. Naive datetimes are taken as UTC.
    """
    import pyarrow as pa
    import pyarrow.dataset as ds

    filesystem, path = _filesystem(uri, endpoint_url)
    since, until = _utc(since), _utc(until)
    keys = pa.schema([("model_name", pa.string()), ("date", pa.string()), ("version", pa.string())])
    partitioning = ds.partitioning(keys, flavor="hive")
    try:
        dataset = ds.dataset(
            path, format="parquet", partitioning=partitioning, filesystem=filesystem, exclude_invalid_files=True
        )
        date = ds.field("date")
        keep = None
        if since is not None:
            keep = date.is_null() | (date >= since.date().isoformat())
        if until is not None:
            upper = date.is_null() | (date <= until.date().isoformat())
            keep = upper if keep is None else keep & upper
        if model is not None:
            own = ds.field("model_name").is_null() | (ds.field("model_name") == model)
            keep = own if keep is None else keep & own
        fragments = list(dataset.get_fragments(filter=keep))
        if not fragments:
            return Window(pd.DataFrame(columns=columns or []), 0, [])
        schema = pa.unify_schemas(
            [f.physical_schema for f in fragments] + [dataset.partitioning.schema], promote_options="permissive"
        )
        dataset = ds.FileSystemDataset(fragments, schema=schema, format=dataset.format, filesystem=dataset.filesystem)
        wanted = list(schema.names) if columns is None else [c for c in dict.fromkeys(columns) if c in schema.names]
        if (since or until) and "timestamp" in schema.names and "timestamp" not in wanted:
            wanted.append("timestamp")
        table = dataset.to_table(columns=wanted)
    except (OSError, pa.ArrowException) as exc:
        raise WindowError(f"cannot read prediction logs under {uri}: {exc}") from None
    frame = table.to_pandas()
    if (since or until) and "timestamp" in frame.columns and len(frame):
        stamp = pd.to_datetime(frame["timestamp"], utc=True, errors="coerce")
        mask = stamp.notna()
        if since is not None:
            mask &= stamp >= pd.Timestamp(since)
        if until is not None:
            mask &= stamp < pd.Timestamp(until)
        frame = frame.loc[mask.to_numpy()].reset_index(drop=True)
    return Window(frame, len(fragments), list(schema.names))


def read_labels(uri: str, *, endpoint_url: str = "") -> pd.DataFrame:
    """Labels that arrived after the predictions: a parquet file or directory with request_id, row (optional)
    and label."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    filesystem, path = _filesystem(uri, endpoint_url)
    try:
        dataset = ds.dataset(path, format="parquet", filesystem=filesystem, exclude_invalid_files=True)
        missing = [c for c in ("request_id", "label") if c not in dataset.schema.names]
        if missing:
            raise WindowError(
                f"labels under {uri} lack the columns {missing}: write request_id, row (the row's index within its "
                "request) and label"
            )
        wanted = ["request_id", *(["row"] if "row" in dataset.schema.names else []), "label"]
        return dataset.to_table(columns=wanted).to_pandas()
    except (OSError, pa.ArrowException) as exc:
        raise WindowError(f"cannot read labels under {uri}: {exc}") from None
