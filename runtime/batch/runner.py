"""``run_batch``: score an input in chunks into ``<output>/run_id=<id>/`` with a resumable manifest.

Layout of a run folder::

    run_id=<id>/part-00000.parquet            scored rows of chunk 0
    run_id=<id>/rejected/part-00000.parquet   rejected rows of chunk 0, with ``reject_reason``
    run_id=<id>/_manifest.json                :class:`~.manifest.BatchManifest`
    run_id=<id>/_shards/shard-00000.json      a sharded run's manifest of shard 0 (:mod:`.shards`)

Each part is written to a temporary name and moved into place; the manifest is rewritten the same
way after every chunk and lists the completed ones. A re-run with the same run id skips completed
chunks (and does nothing once the run is complete), so a crash never leaves duplicates or gaps.
Scored rows keep the input's non-feature columns (ids, timestamps) and gain ``row_number``, the
prediction (binary: ``probability`` of the positive class; multiclass: ``label`` and ``probability_<class>``
per class; regression: ``value``), ``model_name``, ``model_version`` and ``batch_run_id``.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow.fs as pafs
from pulumi_mlops.runtime.config import RuntimeSettings
from pulumi_mlops.runtime.data import ENTITY_COLUMN
from pulumi_mlops.runtime.registry.loading import LoadedModel

from .checks import REASON_COLUMN, InputRules, check_chunk, input_rules, reason_kinds
from .chunks import input_digest, input_files
from .manifest import MANIFEST_NAME, BatchManifest, ChunkRecord, shard_manifest_name
from .shards import ShardPlan, finalize_run, read_shard_manifests, shard_chunks
from .storage import BatchInputError, atomic_write, filesystem_for, read_text

__all__ = ["OUTPUT_COLUMNS", "BatchResult", "OnlineFeatures", "default_run_id", "enrich_chunk", "run_batch"]

log = logging.getLogger(__name__)

OUTPUT_COLUMNS = ("row_number", "probability", "model_name", "model_version", "batch_run_id")
"""Columns every scored row of a binary model gains (multiclass and regression models: see the module docs)."""


class OnlineFeatures(Protocol):
    """Online feature lookup by entity id (:class:`pulumi_mlops.runtime.features.FeatureStoreClient`)."""

    def get_online_features(self, entity_ids: list[int] | list[str]) -> Mapping[str, list[Any]]: ...


@dataclass
class BatchResult:
    """The manifest of the run and what this call did."""

    manifest: BatchManifest
    """The run's manifest as written."""
    run_folder: str
    """``<output>/run_id=<id>``."""
    scored_chunks: int
    """Chunks scored by this call."""
    skipped_chunks: int
    """Chunks skipped because an earlier attempt completed them."""
    run: BatchManifest | None = None
    """A sharded run's combined manifest once every shard is complete (written by this call or an earlier one);
    an unsharded run's is ``manifest``."""
    pending: list[int] = field(default_factory=list)
    """Shards of a sharded run not complete yet."""

    @property
    def complete(self) -> bool:
        """Whether the whole run (every shard) is complete."""
        return self.manifest.status == "complete" and (self.manifest.shards == 1 or self.run is not None)


def default_run_id(loaded: LoadedModel, input_sha256: str) -> str:
    """``<model>-v<version>-<input digest prefix>``: the same model on the same input is the same run."""
    return f"{loaded.name or 'model'}-v{loaded.version}-{input_sha256[:12]}"


def enrich_chunk(frame: pd.DataFrame, columns: Sequence[str], features: OnlineFeatures) -> pd.DataFrame:
    """Fill model inputs that are absent or null in ``frame`` from the online store, by ``customer_id``."""
    if ENTITY_COLUMN not in frame.columns:
        raise BatchInputError(f"--enrich needs the entity column {ENTITY_COLUMN!r} in the input")
    wanted = [c for c in columns if c not in frame.columns or frame[c].isna().any()]
    if not wanted:
        return frame
    found = features.get_online_features(frame[ENTITY_COLUMN].tolist())
    frame = frame.copy()
    for column in wanted:
        if column not in found:
            continue
        looked_up = pd.Series(list(found[column]), index=frame.index)
        frame[column] = frame[column].where(frame[column].notna(), looked_up) if column in frame else looked_up
    return frame


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    sink = io.BytesIO()
    frame.to_parquet(sink, index=False)
    return sink.getvalue()


def _score(loaded: LoadedModel, rules: InputRules, good: pd.DataFrame, first_row: int, run_id: str) -> pd.DataFrame:
    passthrough = [c for c in good.columns if c not in rules.columns]
    out = good[passthrough].copy()
    out.insert(0, "row_number", good.index.to_numpy(dtype=np.int64) + first_row)
    _predictions(loaded, good[rules.columns], out)
    constant = np.zeros(len(out), dtype=np.int8)
    for column, value in (("model_name", loaded.name), ("model_version", loaded.version), ("batch_run_id", run_id)):
        out[column] = pd.Categorical.from_codes(constant, categories=[value])
    return out.reset_index(drop=True)


def _predictions(loaded: LoadedModel, rows: pd.DataFrame, out: pd.DataFrame) -> None:
    """Add the prediction columns of ``loaded``'s task to ``out``."""
    if loaded.task == "regression":
        values = loaded.model.predict(rows) if len(rows) else np.empty(0)
        out["value"] = np.asarray(values, dtype=np.float64)
        return
    if loaded.task != "multiclass":
        proba = loaded.model.predict_proba(rows)[:, 1] if len(rows) else np.empty(0)
        out["probability"] = np.asarray(proba, dtype=np.float64)
        return
    classes = list(getattr(loaded.model, "classes_", loaded.classes))
    proba = loaded.model.predict_proba(rows) if len(rows) else np.empty((0, len(classes)))
    out["label"] = np.asarray(classes)[np.argmax(proba, axis=1)] if len(rows) else np.asarray(classes)[:0]
    for position, cls in enumerate(classes):
        out[f"probability_{cls}"] = np.asarray(proba[:, position], dtype=np.float64)


def _load_manifest(text: str | None, fresh: BatchManifest) -> BatchManifest | None:
    if text is None:
        return None
    previous = BatchManifest.model_validate_json(text)
    _same_run(previous, fresh)
    return previous


def _same_run(previous: BatchManifest, fresh: BatchManifest) -> None:
    conflict = previous.mismatch(fresh)
    if conflict is not None:
        name, before, now = conflict
        raise BatchInputError(
            f"run id {fresh.run_id!r} already holds output made with {name}={before!r} (now {now!r}); "
            "pass a new --run-id, or the same inputs to resume that run"
        )


def run_batch(
    loaded: LoadedModel,
    input_location: str,
    output_location: str,
    *,
    run_id: str | None = None,
    chunk_rows: int = 50_000,
    settings: RuntimeSettings | None = None,
    features: OnlineFeatures | None = None,
    allow_nulls: bool = False,
    allow_unknown_categories: bool = False,
    before_commit: Callable[[int], None] | None = None,
    shard: int = 0,
    shards: int = 1,
) -> BatchResult:
    """Score ``input_location`` with ``loaded`` into ``output_location``; resume or skip a run id already there.

    With ``shards`` > 1 this call scores shard ``shard`` only (:mod:`.shards` says which chunks) into the
    shared run folder, keeps its own manifest, and writes the run's combined manifest when it finds every
    shard complete. ``before_commit(index)`` is called after chunk ``index``'s parts are written and before
    the manifest records it (a failure injected there is the worst place for a crash).
    """
    settings = settings or RuntimeSettings.from_env()
    digest = input_digest(input_location, settings)
    run_id = run_id or default_run_id(loaded, digest)
    if not run_id or "/" in run_id or run_id.startswith("."):
        raise BatchInputError(f"--run-id {run_id!r}: use a plain name without '/'")
    fs, root = filesystem_for(output_location, settings)
    folder = f"{root}/run_id={run_id}"
    fresh = BatchManifest(
        run_id=run_id,
        model=loaded.name,
        model_version=loaded.version,
        model_run_id=loaded.run_id,
        artifact_sha256=loaded.artifact_sha256,
        input=input_location,
        input_sha256=digest,
        output=folder,
        chunk_rows=chunk_rows,
        enrich=features is not None,
        shards=shards,
        shard=shard if shards > 1 else None,
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    in_fs, files = input_files(input_location, settings)
    plan = ShardPlan.of(input_location, in_fs, files, shard, shards)
    run_manifest = _load_manifest(read_text(fs, f"{folder}/{MANIFEST_NAME}"), fresh)
    if run_manifest is not None and run_manifest.status == "complete":
        log.info("batch run %s is complete; nothing to do", run_id)
        return BatchResult(
            run_manifest, folder, scored_chunks=0, skipped_chunks=len(run_manifest.chunks), run=run_manifest
        )
    others = read_shard_manifests(fs, folder)
    for other in others.values():
        _same_run(other, fresh)
    manifest_path = f"{folder}/{MANIFEST_NAME if shards == 1 else shard_manifest_name(shard)}"
    previous = run_manifest if shards == 1 else others.get(shard)
    if previous is not None and previous.status == "complete":
        log.info("shard %d of batch run %s is complete", shard, run_id)
        return _finish(fs, folder, previous, 0, len(previous.chunks))
    manifest = fresh
    if previous is not None:
        manifest = previous.model_copy(update={"attempts": previous.attempts + 1})
    done = {c.index for c in manifest.chunks}
    rules = input_rules(
        loaded.model,
        loaded.signature_columns,
        allow_nulls=allow_nulls,
        allow_unknown_categories=allow_unknown_categories,
    )
    scored = skipped = 0
    pending: tuple[ChunkRecord, Future[None]] | None = None

    def write_parts(record: ChunkRecord, scored_rows: pd.DataFrame | None, bad: pd.DataFrame | None) -> None:
        if scored_rows is not None and record.part is not None:
            payload = _parquet_bytes(scored_rows)
            record.sha256 = hashlib.sha256(payload).hexdigest()
            atomic_write(fs, f"{folder}/{record.part}", payload)
        if bad is not None and record.rejected_part is not None:
            payload = _parquet_bytes(bad)
            record.rejected_sha256 = hashlib.sha256(payload).hexdigest()
            atomic_write(fs, f"{folder}/{record.rejected_part}", payload)

    def commit(record: ChunkRecord, written: Future[None]) -> None:
        written.result()
        if before_commit is not None:
            before_commit(record.index)
        manifest.record(record)
        atomic_write(fs, manifest_path, manifest.model_dump_json(indent=1).encode())

    log.info("batch run %s: shard %d of %d scores %s", run_id, shard, shards, plan.describe())
    # Chunk k's parts are written on a second thread while chunk k+1 is checked and scored; chunk k is
    # committed to the manifest only once its parts are in place, and always before chunk k+1.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-writer") as writer:
        for index, start, chunk in shard_chunks(plan, chunk_rows, settings):
            if index in done:
                skipped += 1
                continue
            if features is not None:
                chunk = enrich_chunk(chunk, rules.columns, features)
            good, rejected = check_chunk(chunk, rules)
            record = ChunkRecord(
                index=index, first_row=start, rows_in=len(chunk), rows_out=len(good), rejected=len(rejected)
            )
            scored_rows = bad = None
            if len(good):
                scored_rows = _score(loaded, rules, good, start, run_id)
                record.part = f"part-{index:05d}.parquet"
            if len(rejected):
                bad = rejected.copy()
                bad.insert(0, "row_number", bad.index.to_numpy(dtype=np.int64) + start)
                bad = bad.reset_index(drop=True)
                record.rejected_part = f"rejected/part-{index:05d}.parquet"
                record.reasons = reason_kinds(rejected[REASON_COLUMN].tolist())
            written = writer.submit(write_parts, record, scored_rows, bad)
            if pending is not None:
                commit(*pending)
            pending = (record, written)
            scored += 1
        if pending is not None:
            commit(*pending)
    manifest.status = "complete"
    manifest.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
    atomic_write(fs, manifest_path, manifest.model_dump_json(indent=1).encode())
    log.info(
        "batch run %s%s: %d rows in, %d scored, %d rejected", run_id, f" shard {shard}" if shards > 1 else "",
        manifest.rows_in, manifest.rows_out, manifest.rows_rejected,
    )  # fmt: skip
    return _finish(fs, folder, manifest, scored, skipped)


def _finish(fs: pafs.FileSystem, folder: str, manifest: BatchManifest, scored: int, skipped: int) -> BatchResult:
    """The result of a complete shard (or unsharded run): a sharded run is combined once every shard is done."""
    if manifest.shards == 1:
        return BatchResult(manifest, folder, scored_chunks=scored, skipped_chunks=skipped)
    final = finalize_run(fs, folder, manifest.shards)
    return BatchResult(
        manifest, folder, scored_chunks=scored, skipped_chunks=skipped, run=final.manifest, pending=final.pending
    )
