"""The manifests of a batch run: what went in, what came out, and which chunks are done.

An unsharded run keeps one ``_manifest.json``. A run split into shards keeps one manifest per shard
(``_shards/shard-<index:05d>.json``, written only by that shard: shards never write one object in turns)
and, once every shard is complete, the combined ``_manifest.json`` with every chunk and a :class:`ShardRecord`
per shard, written by the shard that finds all the others complete (two that do so at once write the same
bytes).
"""

from __future__ import annotations

from typing import Literal

from pulumi_mlops.runtime.config import StrictModel
from pydantic import Field

__all__ = [
    "MANIFEST_NAME",
    "RUN_FIELDS",
    "SHARDS_DIR",
    "BatchManifest",
    "ChunkRecord",
    "ShardRecord",
    "shard_manifest_name",
]

MANIFEST_NAME = "_manifest.json"
"""The run's manifest (sharded runs: the combined one, written once every shard is complete)."""
SHARDS_DIR = "_shards"
"""Folder of a sharded run's per-shard manifests."""


RUN_FIELDS = ("model", "model_version", "artifact_sha256", "input_sha256", "chunk_rows", "enrich", "shards")
"""What every attempt and every shard of one run must share."""


def shard_manifest_name(shard: int) -> str:
    """Path of shard ``shard``'s manifest, relative to the run folder."""
    return f"{SHARDS_DIR}/shard-{shard:05d}.json"


class ChunkRecord(StrictModel):
    """One completed chunk; its part files exist under these names with these digests."""

    index: int
    """Chunk number, from 0 (the part file is ``part-<index:05d>.parquet``)."""
    first_row: int
    """Input row number of the chunk's first row."""
    rows_in: int
    """Rows read."""
    rows_out: int
    """Rows scored and written."""
    rejected: int
    """Rows rejected (written to ``rejected/``)."""
    part: str | None = None
    """Scored part, relative to the run folder (None when every row was rejected)."""
    sha256: str | None = None
    """sha256 of the scored part's bytes."""
    rejected_part: str | None = None
    """Rejected part, relative to the run folder (None when no row was rejected)."""
    rejected_sha256: str | None = None
    """sha256 of the rejected part's bytes."""
    reasons: dict[str, int] = Field(default_factory=dict)
    """Rejections by kind (``column: null``, ``column: not a number``, ``column: unknown category``)."""


class ShardRecord(StrictModel):
    """One shard of a sharded run, as the combined manifest lists it."""

    index: int
    """Shard index (the pod's ``JOB_COMPLETION_INDEX``)."""
    manifest: str
    """The shard's own manifest, relative to the run folder."""
    chunks: list[int]
    """Chunks the shard scored, in order."""
    rows_in: int
    """Rows the shard read."""
    rows_out: int
    """Rows the shard scored."""
    rows_rejected: int
    """Rows the shard rejected."""
    attempts: int
    """Attempts the shard took (more than 1 after a pod was retried)."""
    started_at: str
    """UTC start of the shard's first attempt, ISO 8601."""
    finished_at: str | None
    """UTC end of the attempt that completed the shard."""


class BatchManifest(StrictModel):
    """Everything needed to trust, reproduce and resume a batch scoring run."""

    run_id: str
    """Batch run id (the ``run_id=<id>`` output folder)."""
    status: Literal["running", "complete"] = "running"
    """``complete`` once every chunk is written (a shard's manifest: every chunk of the shard); a re-run of a
    complete run does nothing."""
    model: str
    """Registered model name."""
    model_version: str
    """Model version that scored every row."""
    model_run_id: str = ""
    """MLflow run that logged the model."""
    artifact_sha256: str = ""
    """Verified digest of the model directory."""
    input: str
    """Input location as given."""
    input_sha256: str
    """sha256 over the input files' names and contents."""
    output: str
    """Run folder the parts are written to."""
    chunk_rows: int
    """Rows per chunk (resuming needs the same value)."""
    enrich: bool = False
    """Whether missing features were looked up in the online feature store."""
    shards: int = 1
    """Shards the run is split into (resuming needs the same value)."""
    shard: int | None = None
    """This shard's index in a shard's own manifest; None in the run's manifest."""
    started_at: str
    """UTC start of the first attempt, ISO 8601 (combined manifest: of the first shard to start)."""
    finished_at: str | None = None
    """UTC end of the attempt that completed the run (combined manifest: of the last shard to finish)."""
    attempts: int = 1
    """Attempts so far (more than 1 after a resume); in the combined manifest, the most any shard took."""
    chunks: list[ChunkRecord] = Field(default_factory=list)
    """Completed chunks, in order."""
    rows_in: int = 0
    """Rows read in completed chunks."""
    rows_out: int = 0
    """Rows scored in completed chunks."""
    rows_rejected: int = 0
    """Rows rejected in completed chunks."""
    rejection_reasons: dict[str, int] = Field(default_factory=dict)
    """Rejections by kind over all completed chunks."""
    shard_runs: list[ShardRecord] = Field(default_factory=list)
    """The combined manifest of a sharded run: every shard, all complete."""

    def mismatch(self, other: BatchManifest) -> tuple[str, object, object] | None:
        """The first of :data:`RUN_FIELDS` whose value differs (``(field, self's, other's)``), None when none does:
        manifests that differ there describe different runs, which must not share a run id."""
        for name in RUN_FIELDS:
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                return name, mine, theirs
        return None

    def record(self, chunk: ChunkRecord) -> None:
        """Add a completed chunk and update the totals."""
        self.chunks = [c for c in self.chunks if c.index != chunk.index] + [chunk]
        self.chunks.sort(key=lambda c: c.index)
        self.rows_in = sum(c.rows_in for c in self.chunks)
        self.rows_out = sum(c.rows_out for c in self.chunks)
        self.rows_rejected = sum(c.rejected for c in self.chunks)
        totals: dict[str, int] = {}
        for c in self.chunks:
            for kind, count in c.reasons.items():
                totals[kind] = totals.get(kind, 0) + count
        self.rejection_reasons = dict(sorted(totals.items()))
