"""Pydantic-only configuration shared by the runtime and the infrastructure components."""

from .settings import ENV_PREFIX, RuntimeSettings, SettingsError
from .tasks import TASKS, Task
from .workloads import (
    AUTO_ESTIMATOR,
    AUTO_SEARCH_TRIALS,
    BUILTIN_ESTIMATORS,
    ESTIMATOR_IMPORT_PATH,
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
    check_estimator,
)

__all__ = [
    "AUTO_ESTIMATOR",
    "AUTO_SEARCH_TRIALS",
    "BUILTIN_ESTIMATORS",
    "ENV_PREFIX",
    "ESTIMATOR_IMPORT_PATH",
    "TASKS",
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
    "Task",
    "TrainingSpec",
    "check_cron",
    "check_estimator",
]
