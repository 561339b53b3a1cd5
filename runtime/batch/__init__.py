"""Batch inference: chunked, validated, resumable scoring of parquet/CSV input with a registered model."""

from .checks import REASON_COLUMN, InputRules, check_chunk, input_rules
from .chunks import input_digest, iter_chunks
from .manifest import MANIFEST_NAME, BatchManifest, ChunkRecord
from .runner import OUTPUT_COLUMNS, BatchResult, OnlineFeatures, default_run_id, enrich_chunk, run_batch
from .storage import BatchInputError

__all__ = [
    "MANIFEST_NAME",
    "OUTPUT_COLUMNS",
    "REASON_COLUMN",
    "BatchInputError",
    "BatchManifest",
    "BatchResult",
    "ChunkRecord",
    "InputRules",
    "OnlineFeatures",
    "check_chunk",
    "default_run_id",
    "enrich_chunk",
    "input_digest",
    "input_rules",
    "iter_chunks",
    "run_batch",
]
