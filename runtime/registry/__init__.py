"""MLflow tracking and model registry: registration contract, verified loading, promotion and audit."""

from .audit import AuditEvent, append_audit, read_audit
from .contract import (
    CHALLENGER,
    CHAMPION,
    DATASET_TAG,
    FLAVOR,
    FLAVOR_TAG,
    HOLDOUT_ARTIFACT,
    MODEL_ARTIFACT,
    MODEL_CARD_ARTIFACT,
    PROFILE_ARTIFACT,
    RUN_ID_TAG,
)
from .digest import DIGEST_TAG, DigestMismatchError, directory_digest, verify_directory
from .loading import LoadedModel, ModelNotFoundError, load_model_version, resolve_version
from .promotion import HISTORY_TAG, PromotionDecision, VersionRow, list_versions, promote, rollback
from .registration import RegisteredVersion, git_commit, log_and_register, pip_requirements
from .tracking import configure_mlflow, ensure_experiment, mlflow_client, store_uri

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "DATASET_TAG",
    "DIGEST_TAG",
    "FLAVOR",
    "FLAVOR_TAG",
    "HISTORY_TAG",
    "HOLDOUT_ARTIFACT",
    "MODEL_ARTIFACT",
    "MODEL_CARD_ARTIFACT",
    "PROFILE_ARTIFACT",
    "RUN_ID_TAG",
    "AuditEvent",
    "DigestMismatchError",
    "LoadedModel",
    "ModelNotFoundError",
    "PromotionDecision",
    "RegisteredVersion",
    "VersionRow",
    "append_audit",
    "configure_mlflow",
    "directory_digest",
    "ensure_experiment",
    "git_commit",
    "list_versions",
    "load_model_version",
    "log_and_register",
    "mlflow_client",
    "pip_requirements",
    "promote",
    "read_audit",
    "resolve_version",
    "rollback",
    "store_uri",
    "verify_directory",
]
