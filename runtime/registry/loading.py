"""Loading a registered model version: download, verify the artifact digest, load the sklearn object."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pulumi_mlops.runtime.config import RuntimeSettings

from .artifacts import download_model_dir
from .contract import FLAVOR, FLAVOR_TAG, METADATA_KEY, PROFILE_ARTIFACT, RUN_ID_TAG
from .digest import DIGEST_TAG, FILES_TAG, DigestMismatchError, verify_directory
from .tracking import mlflow_client

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

__all__ = ["LoadedModel", "ModelNotFoundError", "load_model_version", "resolve_version"]


class ModelNotFoundError(LookupError):
    """The registered model, version or alias does not exist."""


@dataclass
class LoadedModel:
    """A verified model version, ready to predict."""

    model: Any
    """The native scikit-learn ``Pipeline`` (``predict_proba`` on a DataFrame of ``signature_columns``)."""
    version: str
    """Model version number."""
    signature_columns: list[str]
    """Input columns of the logged signature, in order."""
    profile: dict[str, Any] | None
    """The run's ``reference_profile.json`` (None when the run has none)."""
    name: str = ""
    """Registered model name."""
    run_id: str = ""
    """Run that logged the model."""
    artifact_sha256: str = ""
    """Verified digest of the model directory."""
    tags: dict[str, str] = field(default_factory=dict)
    """All model-version tags."""
    task: str = "binary"
    """binary, multiclass or regression (``metadata.mlops`` of the ``MLmodel`` file; binary without it)."""
    classes: list[Any] = field(default_factory=list)
    """Class labels of a classifier, in the order of its probability columns (empty when not recorded)."""


def resolve_version(client: MlflowClient, name: str, alias_or_version: str) -> ModelVersion:
    """The model version named by an alias (``champion``) or a number (``3``)."""
    from mlflow.exceptions import MlflowException

    try:
        if str(alias_or_version).isdigit():
            return client.get_model_version(name, str(alias_or_version))
        return client.get_model_version_by_alias(name, alias_or_version)
    except MlflowException as exc:
        raise ModelNotFoundError(
            f"model {name!r} has no version or alias {alias_or_version!r} ({exc.message})"
        ) from None


def _download_profile(client: MlflowClient, run_id: str, dst: Path) -> dict[str, Any] | None:
    from mlflow.exceptions import MlflowException

    try:
        path = client.download_artifacts(run_id, PROFILE_ARTIFACT, str(dst))
    except (MlflowException, OSError):
        return None
    result: dict[str, Any] = json.loads(Path(path).read_text())
    return result


def load_model_version(
    name: str,
    alias_or_version: str = "champion",
    settings: RuntimeSettings | None = None,
    *,
    download_dir: str | Path | None = None,
) -> LoadedModel:
    """Download ``name@alias_or_version``, verify ``mlops.artifact_sha256`` and load the sklearn object.

    Raises :class:`ModelNotFoundError` for unknown names/aliases and
    :class:`~.digest.DigestMismatchError` when the files are not the registered ones (or carry no digest); the
    digest rule is :mod:`.digest`'s, the model server's too.
    """
    import mlflow.sklearn
    from mlflow.models import Model

    settings = settings or RuntimeSettings.from_env()
    client = mlflow_client(settings)
    mv = resolve_version(client, name, alias_or_version)
    tags = dict(mv.tags or {})
    expected = tags.get(DIGEST_TAG)
    if not expected:
        raise DigestMismatchError(f"model {name} version {mv.version} has no {DIGEST_TAG} tag: refusing to load")
    flavor = tags.get(FLAVOR_TAG, FLAVOR)
    if flavor != FLAVOR:
        raise ValueError(f"model {name} version {mv.version} has flavor {flavor!r}; only {FLAVOR!r} loads here")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(download_dir) if download_dir is not None else Path(tmp)
        local = download_model_dir(client, name, str(mv.version), root / f"v{mv.version}")
        verify_directory(local, expected, tags.get(FILES_TAG))
        model = mlflow.sklearn.load_model(str(local))
        mlmodel = Model.load(str(local))
        signature = mlmodel.signature
        recorded = (mlmodel.metadata or {}).get(METADATA_KEY) or {}
        columns = list(signature.inputs.input_names()) if signature is not None else []
        run_id = tags.get(RUN_ID_TAG) or mv.run_id or ""
        profile = _download_profile(client, run_id, root / "profile") if run_id else None
    return LoadedModel(
        model=model,
        version=str(mv.version),
        signature_columns=[str(c) for c in columns],
        profile=profile,
        name=name,
        run_id=run_id,
        artifact_sha256=expected,
        tags=tags,
        task=str(recorded.get("task", "binary")),
        classes=list(recorded.get("classes", [])),
    )
