"""The workloads a stack runs: serving endpoints (with their canary and shadow tracks), scheduled training
jobs and scheduled batch scoring jobs, whose input and output name a platform bucket and a path
(``BucketPath``). ``PlatformSpec`` (:mod:`pulumi_mlops.spec.platform`) lists them under ``endpoints``,
``training`` and ``batch_jobs``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field, field_validator, model_validator

from pulumi_mlops.runtime.config import (
    BUILTIN_ESTIMATORS,
    ESTIMATOR_IMPORT_PATH,
    BatchSpec,
    ResourceSpec,
    ServingSpec,
    StrictModel,
    TrainingSpec,
    check_cron,
)

from .cluster import _NAME
from .services import BucketRole

__all__ = [
    "BatchJobSpec",
    "BatchRunSpec",
    "BucketPath",
    "CanarySpec",
    "EndpointSpec",
    "ShadowSpec",
    "TrainingJobSpec",
]


class CanarySpec(StrictModel):
    """A canary track receiving part of the live traffic."""

    alias: str = "challenger"
    """Registry alias served by the canary track."""
    weight: int = Field(ge=1, le=99)
    """Percent of traffic sent to the canary (the stable track gets the rest)."""


class ShadowSpec(StrictModel):
    """A shadow track receiving a mirrored copy of traffic; its answers are discarded."""

    alias: str = "challenger"
    """Registry alias served by the shadow track."""
    resources: ResourceSpec | None = None
    """Per-pod resources of the shadow track; empty takes the endpoint's. Without GPUs the shadow of a GPU
    endpoint runs on the CPU nodes and holds none of its pool's GPUs (its answers are discarded)."""


class EndpointSpec(StrictModel):
    """One serving endpoint."""

    name: str = Field(pattern=_NAME, max_length=40)
    """Endpoint name (URL path and Kubernetes names)."""
    serving: ServingSpec
    """Model, batching and logging of the server process."""
    min_replicas: int = Field(default=1, ge=1, le=100)
    """HPA minimum (prod needs >= 2)."""
    max_replicas: int = Field(default=3, ge=1, le=500)
    """HPA maximum."""
    resources: ResourceSpec = Field(default_factory=ResourceSpec)
    """Per-pod resources."""
    gpu_pool: str | None = None
    """GPU pool to schedule onto (required when resources.gpus > 0)."""
    canary: CanarySpec | None = None
    """Canary track."""
    shadow: ShadowSpec | None = None
    """Shadow track."""
    drift_schedule: str | None = None
    """Override of the platform drift schedule for this endpoint."""
    auth: Literal["api-key", "none"] = "api-key"
    """Who may call the inference routes: ``api-key`` (a generated key in the Secret ``<name>-api-keys``, sent as
    ``Authorization: Bearer <key>`` or ``X-API-Key``; the server checks it, probes and metrics stay open) or
    ``none`` (anyone who reaches the endpoint; refused in prod)."""

    @model_validator(mode="after")
    def _rules(self) -> EndpointSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) must not exceed max_replicas ({self.max_replicas})")
        if self.canary and self.canary.alias == self.serving.model.alias:
            raise ValueError("canary.alias must differ from serving.model.alias (the stable track)")
        if self.drift_schedule is not None:
            check_cron(self.drift_schedule)
        return self


class TrainingJobSpec(StrictModel):
    """A scheduled (and drift-triggered) training job."""

    name: str = Field(pattern=_NAME, max_length=40)
    """Job name."""
    schedule: str = "0 3 * * 0"
    """Cron schedule."""
    training: TrainingSpec
    """What the job trains."""
    nodes: int = Field(default=1, ge=1, le=64)
    """Pods of a distributed (torchrun) job; 1 runs a plain job."""
    resources: ResourceSpec = Field(default_factory=lambda: ResourceSpec(cpu="2", memory="4Gi"))
    """Per-pod resources."""
    gpu_pool: str | None = None
    """GPU pool to schedule onto (required when resources.gpus > 0)."""
    active_deadline_seconds: int = Field(default=6 * 3600, ge=60)
    """Kill the job after this long."""
    backoff_limit: int = Field(default=2, ge=0, le=10)
    """Retries before the job fails."""
    bootstrap: bool = True
    """When an endpoint or batch job uses this job's model, also run the job once on the first ``pulumi up``
    (``train-<name>-bootstrap``, promoting its version to ``champion``); the endpoints serving the model wait
    for it. The first job of a model counts. False: no bootstrap run, and the model's endpoints are not awaited
    and answer not-ready until a version is promoted (by a scheduled run or from outside)."""

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        return check_cron(v)

    @model_validator(mode="after")
    def _estimator(self) -> TrainingJobSpec:
        estimator = self.training.estimator
        if estimator not in BUILTIN_ESTIMATORS and not ESTIMATOR_IMPORT_PATH.match(estimator):
            raise ValueError(
                f"training.estimator {estimator!r}: the job runs mlops train in the runtime image, where only the "
                f"built-in families ({', '.join(BUILTIN_ESTIMATORS)}) and import paths package.module:Class of "
                "packages installed in the image resolve; a name given to register_estimator exists only in the "
                "Python process that registered it"
            )
        if self.nodes > 1 and estimator != "mlp":
            raise ValueError(
                f"nodes {self.nodes}: only the mlp estimator trains under torchrun; estimator {estimator!r} trains "
                "in one process: set nodes to 1, or training.estimator to mlp"
            )
        workers = self.training.search_workers
        if workers > 1 and self.nodes > 1:
            raise ValueError(
                f"training.search_workers {workers} with nodes {self.nodes}: search workers are pods of one Indexed "
                "Job, each running trials on its own, and a torchrun job already spans several pods: set nodes to 1, "
                "or search_workers to 1"
            )
        return self


class BucketPath(StrictModel):
    """A folder or file in one of the platform's own buckets; the stack puts that bucket's URI in front."""

    bucket: BucketRole
    """Bucket role: models, datasets or prediction-logs."""
    path: str = ""
    """Key or key prefix inside the bucket, without a leading '/' ('scoring/customers/'); empty for its root."""

    @field_validator("path")
    @classmethod
    def _relative(cls, v: str) -> str:
        if v.startswith("/") or "://" in v:
            raise ValueError(f"{v!r}: give the path inside the bucket, without a leading '/' or a scheme")
        return v

    def uri(self, bucket_uri: str) -> str:
        """``<bucket URI>/<path>``."""
        return f"{bucket_uri.rstrip('/')}/{self.path}" if self.path else bucket_uri


class BatchRunSpec(BatchSpec):
    """A batch run as a stack file writes it: ``input`` and ``output`` name a platform bucket and a path, or are
    s3:// / gs:// URIs of buckets in ``buckets.external``. The stack resolves it to the runtime's ``BatchSpec``
    with the bucket's real URI (the runtime only ever sees URIs)."""

    input: BucketPath | str  # type: ignore[assignment]  # resolved to the runtime's str by resolve()
    """Parquet/CSV file or folder: ``{bucket: datasets, path: scoring/customers/}``, or an external bucket's URI."""
    output: BucketPath | str  # type: ignore[assignment]
    """Output folder, written as ``input`` is; each run writes ``run_id=<id>/`` under it."""

    @field_validator("input", "output")
    @classmethod
    def _location(cls, v: BucketPath | str) -> BucketPath | str:  # type: ignore[override]
        if isinstance(v, BucketPath):
            return v
        if not v:
            raise ValueError("give a platform bucket and path, or an s3:// / gs:// URI")
        return BatchSpec._location(v)

    @field_validator("shards")
    @classmethod
    def _shards_on_the_job(cls, v: int) -> int:
        if v != 1:
            raise ValueError("set shards on the batch job (batch_jobs[].shards), next to its resources: it is pods")
        return v

    def resolve(self, bucket_uris: Mapping[str, str]) -> BatchSpec:
        """The runtime's spec, with each platform-bucket location turned into a URI (``bucket_uris`` by role)."""
        data = self.model_dump()
        for key in ("input", "output"):
            location = getattr(self, key)
            if isinstance(location, BucketPath):
                data[key] = location.uri(bucket_uris[location.bucket])
        return BatchSpec.model_validate(data)


class BatchJobSpec(StrictModel):
    """A scheduled batch scoring job."""

    name: str = Field(pattern=_NAME, max_length=40)
    """Job name."""
    schedule: str = "0 2 * * *"
    """Cron schedule."""
    batch: BatchRunSpec
    """Model, input, output and row checks of each run."""
    resources: ResourceSpec = Field(default_factory=lambda: ResourceSpec(cpu="1", memory="2Gi"))
    """Pod resources (memory bounds the chunk size that fits)."""
    gpu_pool: str | None = None
    """GPU pool to schedule onto (required when resources.gpus > 0)."""
    active_deadline_seconds: int = Field(default=4 * 3600, ge=60)
    """Kill the job after this long."""
    backoff_limit: int = Field(default=2, ge=0, le=10)
    """Retries before the job fails (a retry resumes from the last completed chunk); with ``shards``, retries of
    each shard (per index) where the cluster's Kubernetes version supports it."""
    shards: int = Field(default=1, ge=1, le=256)
    """Pods the run is split into (an Indexed Job); each scores its own part of the input with these
    ``resources``, and the run completes when the last shard does."""

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        return check_cron(v)

    def resolve(self, bucket_uris: Mapping[str, str]) -> BatchSpec:
        """The runtime's spec of each run (:meth:`BatchRunSpec.resolve`), with the job's ``shards``."""
        return BatchSpec.model_validate({**self.batch.resolve(bucket_uris).model_dump(), "shards": self.shards})
