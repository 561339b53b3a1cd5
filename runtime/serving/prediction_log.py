"""Sampled prediction logs for drift detection, written to parquet off the request path.

Each micro-batch appends references to its merged columns and predictions to an in-memory queue
(bounded by ``max_buffered_rows``; overflow is dropped and counted): no copy, no per-row work on the
request path. A background thread drains the queue every ``flush_seconds`` or once ``flush_rows`` rows
wait, concatenating a few arrays per batch, and writes them to::

    <prediction_log_uri>/model_name=<name>/date=YYYY-MM-DD/version=N/part-<uuid>.parquet

Each file holds the model's feature columns, ``prediction`` (float64: the positive-class probability or the
value; the predicted class for a multiclass model), ``request_id`` (string), ``row`` (int64: the row's
index within its request, so labels join per row on ``request_id`` and ``row``), ``timestamp``
(timestamp[us, UTC]) and ``model_version`` (int64); the model's name is the ``model_name`` partition, so
servers of different models may share one root. ``close()`` writes everything left.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pulumi_mlops.runtime.config import PredictionLogSpec

from .metrics import ServingMetrics
from .protocol import Columns

__all__ = ["LOG_COLUMNS", "PredictionLogger", "partition_path"]

LOG_COLUMNS = ("prediction", "request_id", "row", "timestamp", "model_version")
"""Columns written after the feature columns."""

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Entry:
    version: str
    names: tuple[str, ...]
    columns: Columns
    predictions: np.ndarray
    requests: list[tuple[str, int]]
    """``(request_id, rows)`` per request, in row order."""
    timestamp: float


def partition_path(timestamp: float, version: str, model: str = "") -> str:
    """``[model_name=<name>/]date=YYYY-MM-DD/version=N`` of a row of ``model`` logged at ``timestamp`` (UTC)."""
    prefix = f"model_name={model}/" if model else ""
    return f"{prefix}date={datetime.fromtimestamp(timestamp, UTC):%Y-%m-%d}/version={version}"


def _filesystem(uri: str, endpoint_url: str = "") -> tuple[Any, str]:
    import pyarrow.fs as pafs

    if "://" not in uri:
        return pafs.LocalFileSystem(), str(uri)
    if uri.startswith("s3://") and endpoint_url:
        scheme, _, rest = endpoint_url.partition("://")
        return pafs.S3FileSystem(endpoint_override=rest or scheme, scheme=scheme if rest else "https"), uri[5:]
    filesystem, path = pafs.FileSystem.from_uri(uri)
    return filesystem, path


_STATISTICS_COLUMNS = ("prediction", "row", "timestamp", "model_version")
"""Columns whose row groups carry min/max statistics, for readers that select by time, version or score (the
features' statistics, string ones above all, cost a quarter of the write and no reader of the log uses them)."""


def _dictionary_columns(table: Any) -> list[str]:
    """Columns written dictionary-encoded: all but the floating-point ones, whose values seldom repeat (trying a
    dictionary on them costs about half the write and makes the file larger)."""
    import pyarrow as pa

    return [field.name for field in table.schema if not pa.types.is_floating(field.type)]


class PredictionLogger:
    """Buffers sampled predictions and writes them to parquet in the background."""

    def __init__(
        self,
        spec: PredictionLogSpec,
        uri: str,
        metrics: ServingMetrics | None = None,
        *,
        s3_endpoint_url: str = "",
        model: str = "",
    ) -> None:
        self.spec = spec
        self.uri = uri.rstrip("/")
        self.model = model
        self.metrics = metrics
        self.s3_endpoint_url = s3_endpoint_url
        self._buffer: list[_Entry] = []
        self._buffered_rows = 0
        self._pending_rows = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wakeup = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._filesystem: Any = None
        self._random = random.Random()
        self.files_written = 0

    @property
    def enabled(self) -> bool:
        return self.spec.enabled

    def start(self) -> None:
        """Start the writer thread."""
        if self.enabled and self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="mlops-prediction-log", daemon=True)
            self._thread.start()

    def record(
        self,
        version: str,
        names: tuple[str, ...],
        columns: Columns,
        predictions: np.ndarray,
        requests: list[tuple[str, int]],
    ) -> None:
        """Queue the rows of a micro-batch, ``(request_id, rows)`` per request in row order, sampling by request.

        Never blocks and never raises; rows beyond ``max_buffered_rows`` are dropped and counted.
        """
        if not self.enabled:
            return
        if self.spec.sample_rate < 1.0:
            keep = [self._random.random() < self.spec.sample_rate for _ in requests]
            if not any(keep):
                return
            if not all(keep):
                mask = np.repeat(np.array(keep), [n for _, n in requests])
                columns = {name: values[mask] for name, values in columns.items()}
                predictions = predictions[mask]
                requests = [r for r, k in zip(requests, keep, strict=True) if k]
        rows = len(predictions)
        with self._lock:
            if self._buffered_rows + self._pending_rows + rows > self.spec.max_buffered_rows:
                if self.metrics is not None:
                    self.metrics.log_rows.labels("dropped").inc(rows)
                return
            self._buffer.append(_Entry(version, names, columns, predictions, requests, time.time()))
            self._buffered_rows += rows
            full = self._buffered_rows >= self.spec.flush_rows
        if full:
            self._wakeup.set()

    def _run(self) -> None:
        while not self._stopping:
            self._wakeup.wait(self.spec.flush_seconds)
            self._wakeup.clear()
            try:
                self.flush()
            except Exception:  # _write reports each failed file; this keeps the thread alive whatever else fails
                log.exception("prediction log: flushing failed")

    async def close(self) -> None:
        """Stop the writer thread and write every buffered row."""
        thread, self._thread = self._thread, None
        loop = asyncio.get_running_loop()
        if thread is not None:
            self._stopping = True
            self._wakeup.set()
            await loop.run_in_executor(None, thread.join)
        await loop.run_in_executor(None, self.flush)

    def flush(self) -> int:
        """Write the buffer now (blocking); returns the rows written."""
        with self._write_lock:
            with self._lock:
                entries, self._buffer = self._buffer, []
                rows = self._buffered_rows
                self._buffered_rows = 0
                self._pending_rows = rows
            try:
                return self._write(entries)
            finally:
                with self._lock:
                    self._pending_rows = 0

    def _write(self, entries: list[_Entry]) -> int:
        if not entries:
            return 0
        import pyarrow as pa
        import pyarrow.parquet as pq

        groups: dict[tuple[str, tuple[str, ...]], list[_Entry]] = defaultdict(list)
        partitions: dict[tuple[int, str], str] = {}
        for entry in entries:
            day = (int(entry.timestamp // 86400), entry.version)
            partition = partitions.get(day)
            if partition is None:
                partition = partitions[day] = partition_path(entry.timestamp, entry.version, self.model)
            groups[(partition, entry.names)].append(entry)
        written = 0
        for (partition, names), group in groups.items():
            rows = sum(len(e.predictions) for e in group)
            try:
                if self._filesystem is None:
                    self._filesystem, self._root = _filesystem(self.uri, self.s3_endpoint_url)
                data: dict[str, Any] = {n: np.concatenate([e.columns[n] for e in group]) for n in names}
                counts = [len(e.predictions) for e in group]
                data["prediction"] = np.concatenate(
                    [e.predictions.reshape(len(e.predictions), -1)[:, 0] for e in group]
                )
                ids = pa.array([i for e in group for i, _ in e.requests], pa.string())
                per_request = [n for e in group for _, n in e.requests]
                # each request's id converted once, then repeated per row by Arrow
                data["request_id"] = ids.take(np.repeat(np.arange(len(ids), dtype=np.int32), per_request))
                starts = np.repeat(np.cumsum(per_request) - per_request, per_request)
                data["row"] = pa.array(np.arange(rows, dtype=np.int64) - starts, pa.int64())
                stamps = np.repeat(np.array([int(e.timestamp * 1e6) for e in group], np.int64), counts)
                data["timestamp"] = pa.array(stamps, pa.timestamp("us", tz="UTC"))
                versions = np.repeat(np.array([int(e.version) for e in group], np.int64), counts)
                data["model_version"] = pa.array(versions, pa.int64())
                table = pa.table(data)
                directory = f"{self._root}/{partition}"
                self._filesystem.create_dir(directory, recursive=True)
                path = f"{directory}/part-{uuid.uuid4().hex}.parquet"
                pq.write_table(
                    table,
                    path,
                    filesystem=self._filesystem,
                    use_dictionary=_dictionary_columns(table),
                    write_statistics=list(_STATISTICS_COLUMNS),
                )
            except Exception:
                log.exception("prediction log: writing %d rows to %s/%s failed", rows, self.uri, partition)
                if self.metrics is not None:
                    self.metrics.log_rows.labels("failed").inc(rows)
                continue
            written += rows
            self.files_written += 1
            if self.metrics is not None:
                self.metrics.log_rows.labels("written").inc(rows)
        return written
