"""One training run: load, validate, split, search, fit, evaluate, profile, and register on rank 0.

The reference profile (``reference_profile.json``) is the drift detector's own format,
:class:`pulumi_mlops.runtime.drift.profile.ReferenceProfile` (schema documented there), built on the
holdout features with the positive-class probabilities and the labels, so the drift job reads it as is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
from pulumi_mlops.runtime.config import RuntimeSettings, TrainingSpec
from pulumi_mlops.runtime.data import (
    ColumnSchema,
    DatasetDigest,
    DatasetSchema,
    ValidationReport,
    churn_schema,
    dataset_digest,
    load_frame,
    validate_frame,
)
from pulumi_mlops.runtime.explain import Explanations, SliceReport, explain_model, slice_metrics
from sklearn.pipeline import Pipeline

from .distributed import DistributedContext, distributed_context
from .evaluation import evaluate_model
from .model_card import render_model_card
from .pipelines import build_pipeline, estimator_defaults, split_feature_kinds
from .search import SearchResult, search_hyperparameters
from .seeding import seed_everything
from .splits import split_frame

__all__ = ["TrainingResult", "default_schema", "feature_columns", "fit_and_evaluate", "train", "window_source"]

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


def feature_columns(frame: pd.DataFrame, spec: TrainingSpec) -> list[str]:
    """``spec.features`` or every column but the label and ``exclude_columns``; missing ones are errors."""
    if spec.features:
        missing = [f for f in spec.features if f not in frame.columns]
        if missing:
            raise ValueError(
                f"features {missing} are not columns of {spec.data} (columns: {', '.join(map(str, frame.columns))}); "
                "fix TrainingSpec.features"
            )
        return list(spec.features)
    skip = {spec.label, *spec.exclude_columns}
    return [str(c) for c in frame.columns if c not in skip]


def default_schema(frame: pd.DataFrame, spec: TrainingSpec) -> DatasetSchema:
    """The declared churn schema for ``generated://churn`` data, else dtype and null checks of features and label."""
    if urlsplit(spec.data).scheme == "generated":
        return churn_schema()
    numeric, categorical = split_feature_kinds(frame, [f for f in feature_columns(frame, spec) if f in frame.columns])
    return DatasetSchema(
        columns=[
            *(ColumnSchema(name=n, kind="numeric", max_null_rate=0.5) for n in numeric),
            *(ColumnSchema(name=n, kind="categorical", max_null_rate=0.5) for n in categorical),
            ColumnSchema(name=spec.label, kind="label"),
        ]
    )


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
    seed_everything(spec.seed)
    if spec.label not in frame.columns:
        raise ValueError(f"label column {spec.label!r} is missing from {spec.data}; set TrainingSpec.label")
    unknown_sensitive = [c for c in spec.sensitive_columns if c not in frame.columns]
    if unknown_sensitive:
        raise ValueError(
            f"sensitive_columns {unknown_sensitive} are not columns of {spec.data} "
            f"(columns: {', '.join(map(str, frame.columns))}); fix TrainingSpec.sensitive_columns"
        )
    validation = validate_frame(frame, schema or default_schema(frame, spec))
    digest = dataset_digest(frame, source=source or spec.data)
    features = feature_columns(frame, spec)
    entity = spec.exclude_columns[0] if spec.exclude_columns else None
    train_df, holdout = split_frame(
        frame, spec.holdout_fraction, entity_column=entity, label=spec.label, seed=spec.seed
    )
    numeric, categorical = split_feature_kinds(frame, features)
    y_train = train_df[spec.label].to_numpy()

    params: dict[str, Any] = {**estimator_defaults(spec.estimator), **spec.params}
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
        )
        params.update(search.best_params)
        seed_everything(spec.seed)

    pipeline = build_pipeline(spec.estimator, numeric, categorical, params, spec.seed)
    pipeline.fit(train_df[features], y_train)
    metrics = evaluate_model(pipeline, holdout[features], holdout[spec.label])
    from pulumi_mlops.runtime.drift.profile import build_profile

    proba = pipeline.predict_proba(holdout[features])[:, 1]
    reference = build_profile(holdout[features], proba, categorical, labels=holdout[spec.label].to_numpy())
    profile: dict[str, Any] = reference.model_dump(mode="json")
    explanations = explain_model(pipeline, holdout[features], holdout[spec.label], seed=spec.seed)
    slices = None
    if spec.sensitive_columns:
        slices = slice_metrics(holdout, proba, holdout[spec.label].to_numpy(), spec.sensitive_columns)
    card = render_model_card(
        spec, digest, metrics, params, features, train_rows=len(train_df), holdout_rows=len(holdout),
        explanations=explanations, slices=slices,
    )  # fmt: skip
    return TrainingResult(
        spec=spec,
        pipeline=pipeline,
        features=features,
        params=params,
        metrics=metrics,
        dataset=digest,
        validation=validation,
        profile=profile,
        model_card=card,
        holdout=holdout,
        train_rows=len(train_df),
        search=search,
        context=context,
        explanations=explanations,
        slices=slices,
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
) -> TrainingResult:
    """Run ``spec`` end to end; under ``torchrun`` every rank fits and rank 0 alone logs and registers.

    ``window = (since, until)`` trains on the rows of ``spec.data`` from that period only (the fresh window
    a drift-triggered retraining is given), so a retraining learns from new data, not the champion's.
    """
    settings = settings or RuntimeSettings.from_env()
    with distributed_context() as context:
        if context.enabled and spec.estimator != "mlp":
            raise ValueError(f"estimator {spec.estimator!r} trains in one process; only 'mlp' runs under torchrun")
        frame = load_frame(spec.data, settings, window=window)
        result = fit_and_evaluate(spec, frame, schema=schema, context=context, source=window_source(spec.data, window))
        result.window = window
        if register and context.is_main:
            from pulumi_mlops.runtime.registry.registration import log_and_register

            registered = log_and_register(result, settings)
            result.run_id, result.version = registered.run_id, registered.version
        log.info("rank %d: auc %.4f", context.rank, result.metrics["auc"])
        return result
