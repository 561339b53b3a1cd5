"""Batch inference: chunked, validated, resumable scoring of parquet/CSV input with a registered model, in one
process or split into shards (one per pod of an Indexed Job, or per task of a Ray or Spark job)."""

from .checks import REASON_COLUMN, InputRules, check_chunk, input_rules
from .chunks import input_digest, iter_chunks
from .entry import finalize_batch, pinned_version, run_batch_shard
from .manifest import MANIFEST_NAME, SHARDS_DIR, BatchManifest, ChunkRecord, ShardRecord, shard_manifest_name
from .runner import OUTPUT_COLUMNS, BatchResult, OnlineFeatures, default_run_id, enrich_chunk, run_batch
from .shards import FinalizeResult, ShardPlan, finalize_run, read_shard_manifests
from .storage import BatchInputError

__all__ = [
    "MANIFEST_NAME",
    "OUTPUT_COLUMNS",
    "REASON_COLUMN",
    "SHARDS_DIR",
    "BatchInputError",
    "BatchManifest",
    "BatchResult",
    "ChunkRecord",
    "FinalizeResult",
    "InputRules",
    "OnlineFeatures",
    "ShardPlan",
    "ShardRecord",
    "check_chunk",
    "default_run_id",
    "enrich_chunk",
    "finalize_batch",
    "finalize_run",
    "input_digest",
    "input_rules",
    "iter_chunks",
    "pinned_version",
    "read_shard_manifests",
    "run_batch",
    "run_batch_shard",
    "shard_manifest_name",
]
