"""Find the reference profile: a local file, or the artifact of the run behind a registered model."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..config import RuntimeSettings
from .profile import PROFILE_FILENAME, ProfileError, ReferenceProfile

__all__ = ["MODELS_SCHEME", "load_reference"]

MODELS_SCHEME = "models:/"


def load_reference(reference: str, settings: RuntimeSettings | None = None) -> tuple[ReferenceProfile, str]:
    """Load ``reference``: a profile JSON path, ``models:/name@alias`` or ``models:/name/version``.

    For a registered model the profile is the ``reference_profile.json`` artifact of the run that
    produced the version, fetched from the MLflow server named by ``MLOPS_TRACKING_URI``. Returns the
    profile and a description of where it came from.
    """
    if not reference.startswith(MODELS_SCHEME):
        return ReferenceProfile.load(reference), str(Path(reference))
    return _from_registry(reference, settings or RuntimeSettings.from_env())


def _from_registry(reference: str, settings: RuntimeSettings) -> tuple[ReferenceProfile, str]:
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    spec = reference.removeprefix(MODELS_SCHEME).strip("/")
    name, at, alias = spec.partition("@")
    version = ""
    if not at:
        name, _, version = spec.partition("/")
    if not name or not (alias or version):
        raise ProfileError(f"{reference!r} is not a model reference: use models:/<name>@<alias> or models:/<name>/<n>")
    tracking = settings.resolved_tracking_uri()
    client = MlflowClient(tracking_uri=tracking, registry_uri=settings.resolved_registry_uri())
    try:
        found = client.get_model_version_by_alias(name, alias) if alias else client.get_model_version(name, version)
    except MlflowException as exc:
        raise ProfileError(f"cannot resolve {reference} in the registry at {tracking}: {exc.message}") from None
    if not found.run_id:
        raise ProfileError(f"{reference} (version {found.version}) has no training run to take a profile from")
    try:
        with tempfile.TemporaryDirectory(prefix="mlops-drift-") as tmp:
            local = download_artifacts(
                run_id=found.run_id, artifact_path=PROFILE_FILENAME, dst_path=tmp, tracking_uri=tracking
            )
            profile = ReferenceProfile.load(local)
    except MlflowException as exc:
        raise ProfileError(
            f"run {found.run_id} of {reference} (version {found.version}) has no {PROFILE_FILENAME} artifact: "
            f"log one from the training run ({exc.message})"
        ) from None
    return profile, f"{reference} (version {found.version}, run {found.run_id})"
