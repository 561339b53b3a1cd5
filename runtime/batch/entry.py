"""What one batch pod runs, as functions: score one shard of a run, or combine a run's shards.

``mlops batch-predict`` calls these, and so can anything else that fans work out (a Ray task per shard, a
Spark partition per shard, a thread pool): every caller that passes the same spec, run id and shard count
writes into the same run folder, and the run completes when the last shard does.
"""

from __future__ import annotations

import pyarrow.fs as pafs
from pulumi_mlops.runtime.config import BatchSpec, RuntimeSettings

from .manifest import MANIFEST_NAME, BatchManifest
from .runner import BatchResult, OnlineFeatures, run_batch
from .shards import FinalizeResult, finalize_run, read_shard_manifests
from .storage import BatchInputError, filesystem_for, read_text

__all__ = ["finalize_batch", "pinned_version", "run_batch_shard"]


def _folder(spec: BatchSpec, run_id: str, settings: RuntimeSettings) -> tuple[pafs.FileSystem, str]:
    if not run_id or "/" in run_id or run_id.startswith("."):
        raise BatchInputError(f"--run-id {run_id!r}: use a plain name without '/'")
    fs, root = filesystem_for(spec.output, settings)
    return fs, f"{root}/run_id={run_id}"


def pinned_version(spec: BatchSpec, run_id: str, settings: RuntimeSettings) -> str | None:
    """The model version an earlier attempt or another shard of run ``run_id`` scored with (None for a new run):
    a retried pod keeps scoring with it even after the alias moved on."""
    fs, folder = _folder(spec, run_id, settings)
    text = read_text(fs, f"{folder}/{MANIFEST_NAME}")
    if text is not None:
        return BatchManifest.model_validate_json(text).model_version
    shards = read_shard_manifests(fs, folder)
    return shards[min(shards)].model_version if shards else None


def run_batch_shard(
    spec: BatchSpec,
    index: int = 0,
    shards: int | None = None,
    *,
    run_id: str | None = None,
    settings: RuntimeSettings | None = None,
    features: OnlineFeatures | None = None,
    model_version: str | None = None,
) -> BatchResult:
    """Score shard ``index`` of ``shards`` (default ``spec.shards``) of the run ``spec`` describes.

    The model is ``spec.model`` (its alias resolved now; ``model_version`` names an alias or version number
    instead), or the version the run already scores with. A run of
    more than one shard needs a ``run_id`` every shard is given (the platform passes the Job's name). With
    ``spec.enrich`` and no ``features``, features are looked up in the online store the settings name.
    """
    from pulumi_mlops.runtime.registry import load_model_version

    settings = settings or RuntimeSettings.from_env()
    shards = spec.shards if shards is None else shards
    if shards > 1 and not run_id:
        raise BatchInputError(
            f"a run of {shards} shards needs --run-id, the same for every shard (the platform passes the Job's "
            "name), so that the shards write one run"
        )
    version = pinned_version(spec, run_id, settings) if run_id else None
    loaded = load_model_version(spec.model.name, version or model_version or spec.model.alias, settings)
    if features is None and spec.enrich:
        from pulumi_mlops.runtime.features import FeatureStoreClient

        features = FeatureStoreClient(settings)
    return run_batch(
        loaded,
        spec.input,
        spec.output,
        run_id=run_id,
        chunk_rows=spec.chunk_rows,
        settings=settings,
        features=features,
        allow_nulls=spec.allow_nulls,
        allow_unknown_categories=spec.allow_unknown_categories,
        shard=index,
        shards=shards,
    )


def finalize_batch(
    spec: BatchSpec, run_id: str, shards: int | None = None, settings: RuntimeSettings | None = None
) -> FinalizeResult:
    """Write run ``run_id``'s combined manifest if every shard is complete (else say which are not)."""
    settings = settings or RuntimeSettings.from_env()
    shards = spec.shards if shards is None else shards
    if shards < 2:
        raise BatchInputError("--finalize combines the shards of a sharded run: give --shards (or spec shards) >= 2")
    fs, folder = _folder(spec, run_id, settings)
    return finalize_run(fs, folder, shards)
