"""One training run: load, validate, split, search, fit, evaluate, profile, and register on rank 0.

The reference profile (``reference_profile.json``) is the drift detector's own format,
:class:`pulumi_mlops.runtime.drift.profile.ReferenceProfile` (schema documented there), built on the
holdout features with the predictions the model server logs (the positive-class probability of a binary
model, the predicted class of a multiclass one, the value of a regressor) and the labels, so the drift
job reads it as is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from pulumi_mlops.runtime.config import RuntimeSettings, TrainingSpec
from pulumi_mlops.runtime.data import (
    DatasetDigest,
    DatasetSchema,
    DataVersions,
    ValidationReport,
    dataset_digest,
    read_frame,
)
from pulumi_mlops.runtime.environment import RunEnvironment, capture_environment
from pulumi_mlops.runtime.explain import Explanations, SliceReport, explain_model, slice_metrics
from sklearn.pipeline import Pipeline

from .distributed import DistributedContext, distributed_context
from .estimators import build_model, resolve_estimator
from .evaluation import evaluate_model
from .model_card import render_model_card
from .preflight import PreparedData, default_schema, feature_columns, prepare_training_data
from .search import SearchResult, SearchSetup, search_hyperparameters, search_trial_cap, searches
from .seeding import seed_everything
from .splits import split_frame
from .tasks import TaskInfo, binary_targets, json_classes

__all__ = [
    "TrainingResult",
    "default_schema",
    "feature_columns",
    "fit_and_evaluate",
    "reference_predictions",
    "train",
    "training_split",
    "window_source",
]

log = logging.getLogger(__name__)


@dataclass
class TrainingResult:
    """Everything a run produced; ``version`` is set when rank 0 registered the model."""

    spec: TrainingSpec
    pipeline: Pipeline
    features: list[str]
    params: dict[str, Any]
    metrics: dict[str, float]
    dataset: DatasetDigest
    validation: ValidationReport
    profile: dict[str, Any]
    model_card: str
    holdout: pd.DataFrame
    train_rows: int
    search: SearchResult | None = None
    context: DistributedContext = field(default_factory=DistributedContext)
    run_id: str | None = None
    version: str | None = None
    explanations: Explanations | None = None
    slices: SliceReport | None = None
    window: tuple[datetime, datetime] | None = None
    """The period of the data the run trained on (a retraining's fresh window); None for all of ``spec.data``."""
    task: TaskInfo = field(default_factory=lambda: TaskInfo("binary", (0, 1)))
    """The task and, for classifiers, the model's classes (in the order of its probability columns)."""
    promotion_metric: str = "auc"
    """The holdout metric the promotion gate compares."""
    data_versions: DataVersions | None = None
    """The version of every input read (None for a frame handed in without them)."""
    environment: RunEnvironment | None = None
    """The code and package versions the run executed."""

    @property
    def estimator(self) -> str:
        """The estimator fitted: ``spec.estimator``, or the family the ``auto`` search picked."""
        return self.search.family if self.search is not None and self.search.family else self.spec.estimator

    @property
    def gate_score(self) -> float:
        """The holdout value of the promotion metric."""
        return self.metrics[self.promotion_metric]


def reference_predictions(pipeline: Any, features: pd.DataFrame, task: str) -> np.ndarray:
    """What the model server logs as ``prediction``: the positive-class probability (binary), the predicted
    class (multiclass) or the value (regression)."""
    if task == "regression":
        return np.asarray(pipeline.predict(features), dtype=np.float64)
    proba = np.asarray(pipeline.predict_proba(features))
    if task == "multiclass":
        return np.asarray(pipeline.classes_)[np.argmax(proba, axis=1)]
    return proba[:, 1]


def training_split(
    spec: TrainingSpec, frame: pd.DataFrame, prepared: PreparedData
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training rows and the fixed holdout of ``frame`` (by entity when ``exclude_columns`` names one)."""
    entity = spec.exclude_columns[0] if spec.exclude_columns else None
    return split_frame(
        frame, spec.holdout_fraction, entity_column=entity, label=spec.label, seed=spec.seed,
        stratify=prepared.task.is_classifier,
    )  # fmt: skip


def fit_and_evaluate(
    spec: TrainingSpec,
    frame: pd.DataFrame,
    *,
    schema: DatasetSchema | None = None,
    context: DistributedContext | None = None,
    source: str = "",
    data_versions: DataVersions | None = None,
    search: SearchSetup | None = None,
) -> TrainingResult:
    """Validate, split, optionally search, fit and evaluate ``frame`` as ``spec`` says (no MLflow); ``data_versions``
    (what ``frame`` was read from) goes to the result and the model card with the run's environment; ``search``
    says where the search's study lives and who hears of its trials (default: in memory, nobody)."""
    context = context or DistributedContext()
    prepared = prepare_training_data(spec, frame, schema)
    entry = prepared.estimator
    seed_everything(spec.seed, torch=True if entry.name == "mlp" else None)
    task, features = prepared.task, prepared.features
    numeric, categorical = prepared.numeric, prepared.categorical
    digest = dataset_digest(frame, source=source or spec.data)
    environment = capture_environment(spec.estimator)
    train_df, holdout = training_split(spec, frame, prepared)
    y_train = train_df[spec.label].to_numpy()

    params: dict[str, Any] = {**entry.defaults_for(task.task), **spec.params} if entry.name != "auto" else {}
    found: SearchResult | None = None
    if searches(spec):
        if context.enabled:
            raise ValueError("a search (search_trials > 0, estimator auto) needs one process: run it without torchrun")
        found = search_hyperparameters(
            spec.estimator,
            train_df[features],
            y_train,
            numeric,
            categorical,
            base_params=params,
            trials=search_trial_cap(spec),
            timeout_s=spec.search_timeout_s,
            seed=spec.seed,
            task=task.task,
            metric=prepared.promotion_metric,
            setup=search,
        )
        if entry.name == "auto":
            entry = resolve_estimator(found.family)
            params = entry.defaults_for(task.task)
        params.update(found.best_params)
        seed_everything(spec.seed, torch=True if entry.name == "mlp" else None)

    pipeline = build_model(entry, numeric, categorical, params, spec.seed, task.task)
    pipeline.fit(train_df[features], y_train)
    if task.is_classifier:
        task = TaskInfo(task.task, tuple(json_classes(list(pipeline.classes_))), task.detected, task.reason)
    labels = holdout[spec.label].to_numpy()
    metrics = evaluate_model(pipeline, holdout[features], holdout[spec.label], task.task)
    from pulumi_mlops.runtime.drift.profile import build_profile

    predicted = reference_predictions(pipeline, holdout[features], task.task)
    reference = build_profile(
        holdout[features], predicted, categorical, labels=labels, task=task.task, classes=list(task.classes) or None
    )
    profile: dict[str, Any] = reference.model_dump(mode="json")
    explanations = None
    if spec.explain:
        explanations = explain_model(
            pipeline, holdout[features], labels, seed=spec.seed, task=task.task, budget_s=spec.explain_budget_s
        )
    slices = None
    if spec.sensitive_columns:
        slices = slice_metrics(holdout, predicted, binary_targets(labels, task.positive_class), spec.sensitive_columns)
    card = render_model_card(
        spec, digest, metrics, params, features, train_rows=len(train_df), holdout_rows=len(holdout),
        explanations=explanations, slices=slices, task=task, categorical=categorical,
        promotion_metric=prepared.promotion_metric, estimator_class=type(pipeline.steps[-1][1]).__name__,
        preprocessing="preprocess" in pipeline.named_steps, data_versions=data_versions, environment=environment,
        search=found,
    )  # fmt: skip
    return TrainingResult(
        spec=spec,
        pipeline=pipeline,
        features=features,
        params=params,
        metrics=metrics,
        dataset=digest,
        validation=prepared.validation,
        profile=profile,
        model_card=card,
        holdout=holdout,
        train_rows=len(train_df),
        search=found,
        context=context,
        explanations=explanations,
        slices=slices,
        task=task,
        promotion_metric=prepared.promotion_metric,
        data_versions=data_versions,
        environment=environment,
    )


def window_source(data: str, window: tuple[datetime, datetime] | None) -> str:
    """The lineage source of ``data`` restricted to ``window``: ``<data> [since, until)``."""
    if window is None:
        return data
    return f"{data} [{window[0].isoformat()}, {window[1].isoformat()})"


def train(
    spec: TrainingSpec,
    settings: RuntimeSettings | None = None,
    *,
    schema: DatasetSchema | None = None,
    register: bool = True,
    window: tuple[datetime, datetime] | None = None,
    frame: pd.DataFrame | None = None,
    data_versions: DataVersions | None = None,
    pin: Mapping[str, str] | None = None,
    search: SearchSetup | None = None,
) -> TrainingResult:
    """Run ``spec`` end to end; under ``torchrun`` every rank fits and rank 0 alone logs and registers.

    ``window = (since, until)`` trains on the rows of ``spec.data`` from that period only (the fresh window
    a drift-triggered retraining is given), so a retraining learns from new data, not the champion's.
    ``frame`` is ``spec.data`` (within ``window``) already loaded, e.g. by the checks ``mlops train`` runs first,
    with ``data_versions`` the versions it was read at; ``pin`` reads exactly those versions (``mlops reproduce``).
    A spec that searches starts its MLflow run first and logs every trial as a child run of it (``search`` shares
    the study with other workers, :mod:`.search_workers`).
    """
    settings = settings or RuntimeSettings.from_env()
    with distributed_context() as context:
        if context.enabled and not resolve_estimator(spec.estimator).distributed:
            raise ValueError(f"estimator {spec.estimator!r} trains in one process; only 'mlp' runs under torchrun")
        if frame is None:
            loaded = read_frame(spec.data, settings, window=window, pin=pin)
            frame, data_versions = loaded.frame, loaded.versions
        from .search_tracking import search_run

        with search_run(spec, settings, search, tracked=register and context.is_main) as (run_id, setup):
            result = fit_and_evaluate(
                spec, frame, schema=schema, context=context, source=window_source(spec.data, window),
                data_versions=data_versions, search=setup,
            )  # fmt: skip
            result.window = window
            if register and context.is_main:
                from pulumi_mlops.runtime.registry.registration import log_and_register

                registered = log_and_register(result, settings, run_id=run_id)
                result.run_id, result.version = registered.run_id, registered.version
        log.info("rank %d: %s %.4f", context.rank, result.promotion_metric, result.gate_score)
        return result
