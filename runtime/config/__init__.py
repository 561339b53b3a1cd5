"""Pydantic-only configuration shared by the runtime and the infrastructure components."""

from .settings import ENV_PREFIX, RuntimeSettings, SettingsError
from .workloads import (
    BatchSpec,
    DriftSpec,
    DriftThresholds,
    ModelRef,
    PredictionLogSpec,
    ResourceSpec,
    ServingSpec,
    StrictModel,
    TrainingSpec,
    check_cron,
)

__all__ = [
    "ENV_PREFIX",
    "BatchSpec",
    "DriftSpec",
    "DriftThresholds",
    "ModelRef",
    "PredictionLogSpec",
    "ResourceSpec",
    "RuntimeSettings",
    "ServingSpec",
    "SettingsError",
    "StrictModel",
    "TrainingSpec",
    "check_cron",
]
