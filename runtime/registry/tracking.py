"""MLflow client set-up from :class:`RuntimeSettings` (sqlite under ``.mlops/`` by default)."""

from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING

from pulumi_mlops.runtime.config import RuntimeSettings

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["configure_mlflow", "ensure_experiment", "mlflow_client", "store_uri"]


def store_uri(uri: str) -> str:
    """``postgresql://`` with the installed driver made explicit (SQLAlchemy 2.1 defaults to psycopg 3)."""
    if not uri.startswith(("postgresql://", "postgres://")):
        return uri
    rest = uri.split("://", 1)[1]
    if importlib.util.find_spec("psycopg") is not None:
        return f"postgresql+psycopg://{rest}"
    return f"postgresql+psycopg2://{rest}"


def configure_mlflow(settings: RuntimeSettings) -> None:
    """Point the mlflow module at the settings' tracking and registry stores."""
    import mlflow

    if not settings.tracking_uri:
        settings.home_path.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if settings.s3_endpoint_url:
        os.environ.setdefault("MLFLOW_S3_ENDPOINT_URL", settings.s3_endpoint_url)
    mlflow.set_tracking_uri(store_uri(settings.resolved_tracking_uri()))
    mlflow.set_registry_uri(store_uri(settings.resolved_registry_uri()))


def mlflow_client(settings: RuntimeSettings) -> MlflowClient:
    """A client bound to the settings' stores."""
    from mlflow import MlflowClient

    configure_mlflow(settings)
    return MlflowClient(
        tracking_uri=store_uri(settings.resolved_tracking_uri()),
        registry_uri=store_uri(settings.resolved_registry_uri()),
    )


def ensure_experiment(settings: RuntimeSettings, name: str) -> str:
    """Id of experiment ``name``, created with artifacts under ``<artifact root>/<name>`` if new."""
    client = mlflow_client(settings)
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    root = settings.resolved_artifact_root().rstrip("/")
    return str(client.create_experiment(name, artifact_location=f"{root}/{name}"))
