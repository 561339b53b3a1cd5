"""The managed services around the cluster: buckets, container registry, MLflow tracking, the Feast feature
store, monitoring and alerting, GPU cost guardrails, resource tags and the platform's own images (with the
images ``pulumi up`` builds). ``PlatformSpec`` (:mod:`pulumi_mlops.spec.platform`) holds one of each.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from pulumi_mlops.runtime.config import StrictModel

from .cluster import _NAME

__all__ = [
    "BUILT_IMAGES",
    "IMAGE_REPOSITORIES",
    "AlertReceiver",
    "BucketRole",
    "BucketsSpec",
    "CostSpec",
    "FeatureStoreSpec",
    "ImagesSpec",
    "MonitoringSpec",
    "RegistrySpec",
    "TagsSpec",
    "TrackingSpec",
]

IMAGE_REPOSITORIES = ("runtime", "mlflow")
"""Repositories of the images ``pulumi up`` builds (``RegistrySpec.repositories`` default)."""
BUILT_IMAGES: dict[str, str] = {"runtime": "runtime", "runtime-cuda": "runtime", "mlflow": "mlflow"}
"""Every image the stack can build, by name, with the repository it is pushed to."""

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")


BucketRole = Literal["models", "datasets", "prediction-logs"]
"""The platform's own buckets, by role."""


class BucketsSpec(StrictModel):
    """The model registry, datasets and prediction-log buckets."""

    force_destroy: bool = False
    """Allow deleting non-empty buckets on destroy (dev only)."""
    noncurrent_version_days: int = Field(default=30, ge=1)
    """Days before noncurrent object versions expire."""
    log_transition_days: int = Field(default=30, ge=1)
    """Days before prediction logs move to infrequent-access / nearline storage."""
    log_expiration_days: int = Field(default=365, ge=1)
    """Days before prediction logs are deleted."""
    cmek: bool = True
    """Encrypt with a customer-managed key (AWS: always a KMS key; GCP: Cloud KMS key when true)."""
    external: list[str] = Field(default_factory=list)
    """Buckets created and granted outside this stack that workloads may read or write (names, no scheme);
    batch jobs may name them in plain s3:// or gs:// URIs. The platform's own buckets are named by role."""
    mount_datasets: bool = False
    """AWS: also mount the datasets bucket read-only in training pods (``/mnt/datasets``) through Mountpoint for
    Amazon S3 (its CSI driver as an EKS add-on, a statically provisioned volume). Off by default: the runtime reads
    ``s3://`` URIs itself; turn it on for training code that reads files."""

    @field_validator("external")
    @classmethod
    def _bucket_names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not _BUCKET_NAME.match(name):
                raise ValueError(
                    f"{name!r} is not a bucket name: 3-63 lowercase letters, digits, '-', '.' or '_', "
                    "starting and ending with a letter or digit (no s3:// or gs://)"
                )
        return v

    @model_validator(mode="after")
    def _order(self) -> BucketsSpec:
        if self.log_expiration_days <= self.log_transition_days:
            raise ValueError(
                f"log_expiration_days ({self.log_expiration_days}) must be after "
                f"log_transition_days ({self.log_transition_days})"
            )
        return self


class RegistrySpec(StrictModel):
    """The stack's own container registry: the images ``pulumi up`` builds are pushed here."""

    repositories: list[str] = Field(default_factory=lambda: list(IMAGE_REPOSITORIES))
    """Repository names: one ECR repository each on AWS (``<name>-<environment>/<repository>``); on GCP image names
    in the stack's one Artifact Registry repository. The built runtime image (both variants) goes to ``runtime``,
    the built MLflow image to ``mlflow``."""
    keep_untagged: int = Field(default=10, ge=1)
    """Untagged images kept; older ones are deleted."""
    untagged_days: int = Field(default=14, ge=1)
    """GCP: delete untagged images after this many days."""


class TrackingSpec(StrictModel):
    """MLflow tracking server and model registry, and its PostgreSQL backend."""

    db_instance_class: str = "db.t4g.micro"
    """RDS instance class (AWS)."""
    db_tier: str = "db-custom-1-3840"
    """Cloud SQL tier (GCP)."""
    db_storage_gb: int = Field(default=20, ge=20, le=65536)
    """Allocated storage."""
    postgres_version: str = "16"
    """PostgreSQL major version."""
    high_availability: bool = False
    """Multi-AZ (RDS) or regional (Cloud SQL) database."""
    deletion_protection: bool = False
    """Refuse database deletion (prod)."""
    backup_retention_days: int = Field(default=1, ge=0, le=35)
    """Automated backup retention."""
    replicas: int = Field(default=1, ge=1, le=10)
    """MLflow server replicas."""


class FeatureStoreSpec(StrictModel):
    """Feast: Redis online store, parquet offline store, feature server."""

    enabled: bool = True
    """Create the online store and feature server."""
    redis_node_type: str = "cache.t4g.micro"
    """ElastiCache node type (AWS)."""
    redis_memory_gb: int = Field(default=1, ge=1, le=300)
    """Memorystore capacity (GCP)."""
    redis_replicas: int = Field(default=0, ge=0, le=5)
    """Replicas: ElastiCache read replicas (AWS); on GCP > 0 selects the STANDARD_HA tier with that many replicas
    (Memorystore's ``replica_count``; more than 1 switches read replicas on, which needs 5 GB or more)."""
    server_replicas: int = Field(default=1, ge=1, le=20)
    """Feature server replicas."""


class AlertReceiver(StrictModel):
    """An Alertmanager receiver; its URL is a secret in stack config."""

    name: str = Field(pattern=_NAME)
    """Receiver name."""
    kind: Literal["slack", "webhook", "pagerduty"]
    """Receiver type."""
    url_secret: str
    """Stack config key of the ``secure:`` URL or routing key."""
    severity: Literal["critical", "warning", "all"] = "all"
    """Alerts routed here."""


class MonitoringSpec(StrictModel):
    """Prometheus, Grafana and Alertmanager."""

    retention_days: int = Field(default=3, ge=1, le=365)
    """Prometheus retention."""
    storage_gb: int = Field(default=20, ge=5)
    """Prometheus volume size."""
    chart_version: str = "77.6.2"
    """kube-prometheus-stack chart version."""
    receivers: list[AlertReceiver] = Field(default_factory=list)
    """Alert receivers."""
    p99_latency_ms: float = Field(default=250.0, gt=0)
    """Serving p99 latency alert threshold."""
    error_rate: float = Field(default=0.01, gt=0, lt=1)
    """Serving 5xx share alert threshold."""


class CostSpec(StrictModel):
    """GPU guardrails checked in the spec and by the policy pack."""

    max_gpus_per_pool: int = Field(default=8, ge=1)
    """Largest GPU count one pool may reach at max nodes."""
    max_gpus_per_stack: int = Field(default=16, ge=1)
    """Largest GPU count all pools together may reach."""


class TagsSpec(StrictModel):
    """Tags (AWS) / labels (GCP, Kubernetes) put on every resource that takes them."""

    owner: str = Field(min_length=1, pattern=r"^[a-z0-9_.@-]+$")
    """Owning team or person (required)."""
    cost_center: str = Field(min_length=1, pattern=r"^[a-z0-9_-]+$")
    """Cost center (required)."""
    extra: dict[str, str] = Field(default_factory=dict)
    """More tags."""


class ImagesSpec(StrictModel):
    """Container images of the platform's own workloads."""

    runtime: str | None = None
    """Image running ``mlops serve|train|drift|retrain|batch-predict``. Empty: ``pulumi up`` builds
    ``docker/runtime.Dockerfile`` (and its ``cuda`` variant for the workloads that request GPUs), pushes it to the
    stack's own registry and runs it by digest. Given: that image, as is, for every runtime workload (GPU ones too:
    give one whose torch bundles CUDA); a tag or digest, never ``latest``."""
    mlflow: str | None = None
    """MLflow tracking server image with the PostgreSQL driver, S3 and GCS clients and the basic-auth extra. Empty:
    ``pulumi up`` builds ``docker/mlflow.Dockerfile`` and pushes it to the stack's own registry. Given: that image,
    as is (a tag or digest, never ``latest``); MLflow's own ``ghcr.io/mlflow/mlflow:vX`` holds core MLflow only
    and cannot start the platform's server."""
    feast: str = "quay.io/feastdev/feature-server:0.54.0"
    """Feast feature server image."""

    @field_validator("runtime", "mlflow", "feast")
    @classmethod
    def _pinned(cls, v: str | None) -> str | None:
        if v is None or "@sha256:" in v:
            return v
        name, _, tag = v.rpartition(":")
        if not name or "/" in tag or tag in ("", "latest"):
            raise ValueError(
                f"{v!r} is not pinned: give a version tag ('repo/image:1.2.3') or a digest, never 'latest'"
            )
        return v
