"""Checks of a training frame against its spec that need no model library: columns, task, metric, schema,
and the estimator (that it resolves, takes the parameters and fits the task).

``mlops train`` runs :func:`prepare_training_data` on the loaded frame before it imports torch or MLflow,
so a wrong label, an impossible task, an estimator that cannot be built or invalid data fails in seconds;
the trainer runs it again on the frame it fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import pandas as pd
from pulumi_mlops.runtime.config import TrainingSpec
from pulumi_mlops.runtime.config.tasks import promotion_metric_for
from pulumi_mlops.runtime.data import ColumnSchema, DatasetSchema, ValidationReport, churn_schema, validate_frame

from .estimators import EstimatorEntry, build_model, resolve_estimator
from .pipelines import split_feature_kinds
from .tasks import TaskError, TaskInfo, resolve_task

__all__ = ["PreparedData", "default_schema", "feature_columns", "label_kind", "prepare_training_data"]


@dataclass(frozen=True)
class PreparedData:
    """What the checks established about a training frame."""

    task: TaskInfo
    """The run's task and classes."""
    features: list[str]
    """Feature columns, in order."""
    numeric: list[str]
    """Numeric features."""
    categorical: list[str]
    """Categorical features (strings, booleans)."""
    promotion_metric: str
    """The holdout metric the promotion gate compares."""
    validation: ValidationReport
    """The passed data validation."""
    estimator: EstimatorEntry
    """The resolved ``TrainingSpec.estimator``."""


def feature_columns(frame: pd.DataFrame, spec: TrainingSpec) -> list[str]:
    """``spec.features`` or every column but the label and ``exclude_columns``; missing ones are errors."""
    if spec.features:
        missing = [f for f in spec.features if f not in frame.columns]
        if missing:
            raise ValueError(
                f"features {missing} are not columns of {spec.data} (columns: {', '.join(map(str, frame.columns))}); "
                "fix TrainingSpec.features"
            )
        if spec.label in spec.features:
            raise ValueError(f"features list the label {spec.label!r}: remove it from TrainingSpec.features")
        return list(spec.features)
    skip = {spec.label, *spec.exclude_columns}
    return [str(c) for c in frame.columns if c not in skip]


def label_kind(task: TaskInfo) -> Literal["label", "class", "target"]:
    """The validation kind of the label column: ``label`` (0/1), ``class`` or ``target``."""
    if task.task == "regression":
        return "target"
    if task.task == "binary" and task.classes == (0, 1) and not any(isinstance(c, bool) for c in task.classes):
        return "label"
    return "class"


def default_schema(frame: pd.DataFrame, spec: TrainingSpec, task: TaskInfo | None = None) -> DatasetSchema:
    """The declared churn schema for ``generated://churn`` data, else dtype and null checks of features and label.

    The label is checked as the task calls for (0/1 without a task).
    """
    if urlsplit(spec.data).scheme == "generated":
        return churn_schema()
    numeric, categorical = split_feature_kinds(frame, [f for f in feature_columns(frame, spec) if f in frame.columns])
    kind = label_kind(task) if task is not None else "label"
    return DatasetSchema(
        columns=[
            *(ColumnSchema(name=n, kind="numeric", max_null_rate=0.5) for n in numeric),
            *(ColumnSchema(name=n, kind="categorical", max_null_rate=0.5) for n in categorical),
            ColumnSchema(name=spec.label, kind=kind),
        ]
    )


def prepare_training_data(spec: TrainingSpec, frame: pd.DataFrame, schema: DatasetSchema | None = None) -> PreparedData:
    """Check ``frame`` against ``spec``; raise ValueError (or DataValidationError) naming the field and the fix."""
    columns = ", ".join(map(str, frame.columns))
    if spec.label not in frame.columns:
        raise ValueError(
            f"label column {spec.label!r} is missing from {spec.data} (columns: {columns}); "
            "set TrainingSpec.label (--label)"
        )
    unknown_sensitive = [c for c in spec.sensitive_columns if c not in frame.columns]
    if unknown_sensitive:
        raise ValueError(
            f"sensitive_columns {unknown_sensitive} are not columns of {spec.data} "
            f"(columns: {columns}); fix TrainingSpec.sensitive_columns"
        )
    features = feature_columns(frame, spec)
    if not features:
        raise ValueError(
            f"{spec.data} has no feature columns besides the label {spec.label!r} and exclude_columns: "
            "add features, or fix TrainingSpec.features / exclude_columns"
        )
    task = resolve_task(frame[spec.label], spec.task, column=spec.label)
    if spec.sensitive_columns and task.task != "binary":
        raise TaskError(
            f"sensitive_columns: fairness slices are measured for binary models only, and {spec.label!r} makes a "
            f"{task.task} task ({task.reason}); remove sensitive_columns"
        )
    try:
        metric = promotion_metric_for(task.task, spec.promotion_metric)
    except ValueError as exc:
        raise TaskError(f"{exc} ({task.reason}); fix TrainingSpec.promotion_metric") from None
    numeric, categorical = split_feature_kinds(frame, features)
    estimator = _check_estimator(spec, task, numeric, categorical)
    validation = validate_frame(frame, schema or default_schema(frame, spec, task))
    return PreparedData(task, features, numeric, categorical, metric, validation, estimator)


def _check_estimator(spec: TrainingSpec, task: TaskInfo, numeric: list[str], categorical: list[str]) -> EstimatorEntry:
    """Resolve ``spec.estimator``; build one of your own (cheap, unfitted) to check its parameters and task."""
    try:
        entry = resolve_estimator(spec.estimator)
    except ValueError as exc:
        raise ValueError(f"{exc} (TrainingSpec.estimator, --estimator)") from None
    if spec.search_trials > 0 and not entry.searchable:
        raise ValueError(
            f"search_trials: the hyperparameter search has spaces for the built-in families only, not "
            f"{spec.estimator!r}; set search_trials to 0 (--trials 0) and give the parameters with --param"
        )
    if entry.kind != "builtin":
        build_model(entry, numeric, categorical, {**entry.defaults_for(task.task), **spec.params}, spec.seed, task.task)
    return entry
