"""Downloading a model version's directory exactly as stored (no files added), for digests and loads."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["download_model_dir"]


def download_model_dir(client: MlflowClient, name: str, version: str, dst: Path) -> Path:
    """Download the stored files of ``name`` version ``version`` into ``dst``.

    Returns the folder holding ``MLmodel``.
    """
    import mlflow

    location = client.get_model_version_download_uri(name, version)
    dst.mkdir(parents=True, exist_ok=True)
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(dst)))
    if (local / "MLmodel").is_file():
        return local
    found = sorted(p.parent for p in local.rglob("MLmodel"))
    if not found:
        raise FileNotFoundError(f"model {name} version {version}: no MLmodel file under {location}")
    return found[0]
