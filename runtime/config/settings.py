"""Runtime settings read from ``MLOPS_*`` environment variables.

On a laptop every setting has an embedded local default (MLflow on sqlite under ``.mlops/``,
a local Feast repo, prediction logs on disk). On the platform the Kubernetes components set
the same variables to point at PostgreSQL, the registry bucket and Redis.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import Field, ValidationError

from .workloads import StrictModel

__all__ = ["ENV_PREFIX", "RuntimeSettings", "SettingsError"]

ENV_PREFIX = "MLOPS_"


class SettingsError(ValueError):
    """Raised when an ``MLOPS_*`` variable holds a value the runtime cannot use."""


class RuntimeSettings(StrictModel):
    """Where the runtime finds its services. Each field maps to ``MLOPS_<FIELD>`` in upper case."""

    home: str = ".mlops"
    """Local working directory for the embedded default (sqlite, artifacts, logs, reports)."""
    tracking_uri: str = ""
    """MLflow tracking URI; empty means ``sqlite:///<home>/mlflow.db``."""
    registry_uri: str = ""
    """MLflow registry URI; empty means the tracking URI."""
    artifact_root: str = ""
    """Artifact location for new experiments (``s3://bucket/mlflow``, or ``mlflow-artifacts:/`` for the tracking
    server's proxied store); empty means the tracking server's own default when the tracking URI is an HTTP
    server (artifacts then outlive the process that logged them), else ``<home>/artifacts``."""
    feature_repo: str = ""
    """Feast repository directory; empty means ``<home>/feature_repo`` (sqlite online store)."""
    prediction_log_uri: str = ""
    """Directory or bucket URI for prediction logs; empty means ``<home>/prediction-logs``."""
    audit_log: str = ""
    """Audit log of registry decisions: a JSON-lines file, or an ``s3://``/``gs://`` prefix holding one object per
    event; empty means ``<home>/audit.jsonl``."""
    pushgateway_url: str = ""
    """Prometheus Pushgateway for batch jobs; empty writes metrics to a file under ``<home>``."""
    s3_endpoint_url: str = ""
    """Custom S3 endpoint (tests, MinIO); empty uses the cloud default."""
    api_keys_file: str = ""
    """The model server's API keys (one per line, or ``sha256:<hex>``): inference routes then need one as
    ``Authorization: Bearer <key>`` or ``X-API-Key``; empty leaves them open (a laptop)."""
    search_storage: str = ""
    """Optuna storage the search workers of one training share: a SQLAlchemy URL (``postgresql+psycopg2://user:pass@
    host:5432/mlflow``; on PostgreSQL the study tables go to the schema ``optuna`` of that database, apart from
    MLflow's) or ``journal:<path>`` (a journal file on a shared volume); empty keeps the study in memory."""
    search_study: str = ""
    """Name of the shared Optuna study (the platform sets the training Job's name); empty: a new study per run,
    ``<model>-<random>``, which suits one worker only."""
    cpus: int | None = Field(default=None, ge=1, le=4096)
    """Whole CPU cores the process may use; the platform sets it from the container's CPU limit. Read from the
    environment when a process starts (:func:`pulumi_mlops.runtime.cpus.limit_threads`, before the libraries
    whose thread pools it sizes load); validated here. Unset: the cgroup's CPU quota, else the CPUs the process
    may run on."""
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    """Log level of runtime processes."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RuntimeSettings:
        """Build settings from ``MLOPS_*`` variables; unknown ``MLOPS_*`` names are errors."""
        env = os.environ if environ is None else environ
        values: dict[str, str] = {}
        known = set(cls.model_fields)
        for key, value in env.items():
            if not key.startswith(ENV_PREFIX):
                continue
            field = key[len(ENV_PREFIX) :].lower()
            if field not in known:
                allowed = ", ".join(sorted(ENV_PREFIX + k.upper() for k in known))
                raise SettingsError(f"unknown setting {key}: allowed are {allowed}")
            values[field] = value
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            name = ENV_PREFIX + str(first["loc"][0]).upper()
            raise SettingsError(f"{name}: {first['msg']}") from None

    def to_env(self) -> dict[str, str]:
        """The non-empty settings as ``MLOPS_*`` variables (what the platform puts in pods)."""
        return {
            ENV_PREFIX + key.upper(): str(value)
            for key, value in self.model_dump().items()
            if value not in ("", None) and value != type(self).model_fields[key].default
        }

    @property
    def home_path(self) -> Path:
        return Path(self.home)

    def resolved_tracking_uri(self) -> str:
        return self.tracking_uri or f"sqlite:///{(self.home_path / 'mlflow.db').resolve()}"

    def resolved_registry_uri(self) -> str:
        return self.registry_uri or self.resolved_tracking_uri()

    @property
    def tracking_server(self) -> bool:
        """Whether the tracking URI is an MLflow server (HTTP) rather than a database or folder of this machine."""
        return self.resolved_tracking_uri().startswith(("http://", "https://"))

    def resolved_artifact_root(self) -> str:
        """Artifact root of new experiments; empty when the tracking server chooses (its proxied store)."""
        if self.artifact_root:
            return self.artifact_root
        if self.tracking_server:
            return ""
        return str((self.home_path / "artifacts").resolve())

    def resolved_feature_repo(self) -> Path:
        return Path(self.feature_repo) if self.feature_repo else self.home_path / "feature_repo"

    def resolved_prediction_log_uri(self) -> str:
        return self.prediction_log_uri or str(self.home_path / "prediction-logs")

    def resolved_audit_log(self) -> str:
        return self.audit_log or str(self.home_path / "audit.jsonl")
