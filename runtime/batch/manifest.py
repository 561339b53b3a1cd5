"""The ``_manifest.json`` of a batch run: what went in, what came out, and which chunks are done."""

from __future__ import annotations

from typing import Literal

from pulumi_mlops.runtime.config import StrictModel
from pydantic import Field

__all__ = ["MANIFEST_NAME", "BatchManifest", "ChunkRecord"]

MANIFEST_NAME = "_manifest.json"


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


class BatchManifest(StrictModel):
    """Everything needed to trust, reproduce and resume a batch scoring run."""

    run_id: str
    """Batch run id (the ``run_id=<id>`` output folder)."""
    status: Literal["running", "complete"] = "running"
    """``complete`` once every chunk is written; a re-run of a complete run does nothing."""
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
    started_at: str
    """UTC start of the first attempt, ISO 8601."""
    finished_at: str | None = None
    """UTC end of the attempt that completed the run."""
    attempts: int = 1
    """Attempts so far (more than 1 after a resume)."""
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
