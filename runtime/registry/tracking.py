"""MLflow client set-up from :class:`RuntimeSettings` (sqlite under ``.mlops/`` by default)."""

from __future__ import annotations

import importlib.util
import os
import urllib.parse
from typing import TYPE_CHECKING

from pulumi_mlops.runtime.config import RuntimeSettings, SettingsError

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


def _local(location: str) -> bool:
    """Whether an artifact location is a folder of the machine that writes it (no scheme, or ``file:``)."""
    scheme = urllib.parse.urlsplit(location).scheme
    return scheme in ("", "file") or len(scheme) == 1  # a Windows drive letter is a local path too


def ensure_experiment(settings: RuntimeSettings, name: str) -> str:
    """Id of experiment ``name``, created with artifacts under ``<artifact root>/<name>`` if new.

    Against a tracking server with no artifact root set, the server picks the location (its proxied
    ``mlflow-artifacts:`` store), so the artifacts are where every other process finds them. An existing
    experiment whose artifacts live on one process's disk is refused: its runs could not be served.
    """
    client = mlflow_client(settings)
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        location = str(existing.artifact_location or "")
        if settings.tracking_server and _local(location):
            raise SettingsError(
                f"experiment {name!r} on {settings.resolved_tracking_uri()} stores artifacts at {location!r}, a "
                "folder of whichever process logged them, where no other pod can read them: rename or delete "
                "the experiment so it is created again in the server's artifact store"
            )
        return str(existing.experiment_id)
    root = settings.resolved_artifact_root().rstrip("/")
    if not root:
        return str(client.create_experiment(name))
    return str(client.create_experiment(name, artifact_location=f"{root}/{name}"))
