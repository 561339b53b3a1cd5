"""One training run: load, validate, split, search, fit, evaluate, profile, and register on rank 0.

The reference profile (``reference_profile.json``) is the drift detector's own format,
:class:`pulumi_mlops.runtime.drift.profile.ReferenceProfile` (schema documented there), built on the
holdout features with the predictions the model server logs (the positive-class probability of a binary
model, the predicted class of a multiclass one, the value of a regressor) and the labels, so the drift
job reads it as is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from pulumi_mlops.runtime.config import RuntimeSettings, TrainingSpec
from pulumi_mlops.runtime.data import DatasetDigest, DatasetSchema, ValidationReport, dataset_digest, load_frame
from pulumi_mlops.runtime.explain import Explanations, SliceReport, explain_model, slice_metrics
from sklearn.pipeline import Pipeline

from .distributed import DistributedContext, distributed_context
from .estimators import build_model, resolve_estimator
from .evaluation import evaluate_model
from .model_card import render_model_card
from .preflight import default_schema, feature_columns, prepare_training_data
from .search import SearchResult, search_hyperparameters
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


def fit_and_evaluate(
    spec: TrainingSpec,
    frame: pd.DataFrame,
    *,
    schema: DatasetSchema | None = None,
    context: DistributedContext | None = None,
    source: str = "",
) -> TrainingResult:
    """Validate, split, optionally search, fit and evaluate ``frame`` as ``spec`` says (no MLflow)."""
    context = context or DistributedContext()
    prepared = prepare_training_data(spec, frame, schema)
    entry = prepared.estimator
    seed_everything(spec.seed, torch=True if entry.name == "mlp" else None)
    task, features = prepared.task, prepared.features
    numeric, categorical = prepared.numeric, prepared.categorical
    digest = dataset_digest(frame, source=source or spec.data)
    entity = spec.exclude_columns[0] if spec.exclude_columns else None
    train_df, holdout = split_frame(
        frame, spec.holdout_fraction, entity_column=entity, label=spec.label, seed=spec.seed,
        stratify=task.is_classifier,
    )  # fmt: skip
    y_train = train_df[spec.label].to_numpy()

    params: dict[str, Any] = {**entry.defaults_for(task.task), **spec.params}
    search: SearchResult | None = None
    if spec.search_trials > 0:
        if context.enabled:
            raise ValueError("search_trials > 0 needs a single process: run the search without torchrun")
        search = search_hyperparameters(
            spec.estimator,
            train_df[features],
            y_train,
            numeric,
            categorical,
            base_params=params,
            trials=spec.search_trials,
            timeout_s=spec.search_timeout_s,
            seed=spec.seed,
            task=task.task,
            metric=prepared.promotion_metric,
        )
        params.update(search.best_params)
        seed_everything(spec.seed)

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
        preprocessing="preprocess" in pipeline.named_steps,
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
        search=search,
        context=context,
        explanations=explanations,
        slices=slices,
        task=task,
        promotion_metric=prepared.promotion_metric,
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
) -> TrainingResult:
    """Run ``spec`` end to end; under ``torchrun`` every rank fits and rank 0 alone logs and registers.

    ``window = (since, until)`` trains on the rows of ``spec.data`` from that period only (the fresh window
    a drift-triggered retraining is given), so a retraining learns from new data, not the champion's.
    ``frame`` is ``spec.data`` (within ``window``) already loaded, e.g. by the checks ``mlops train`` runs first.
    """
    settings = settings or RuntimeSettings.from_env()
    with distributed_context() as context:
        if context.enabled and not resolve_estimator(spec.estimator).distributed:
            raise ValueError(f"estimator {spec.estimator!r} trains in one process; only 'mlp' runs under torchrun")
        if frame is None:
            frame = load_frame(spec.data, settings, window=window)
        result = fit_and_evaluate(spec, frame, schema=schema, context=context, source=window_source(spec.data, window))
        result.window = window
        if register and context.is_main:
            from pulumi_mlops.runtime.registry.registration import log_and_register

            registered = log_and_register(result, settings)
            result.run_id, result.version = registered.run_id, registered.version
        log.info("rank %d: %s %.4f", context.rank, result.promotion_metric, result.gate_score)
        return result
