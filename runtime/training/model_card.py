"""The model card saved with every run as ``model_card.md``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pulumi_mlops.runtime.config import TrainingSpec
from pulumi_mlops.runtime.data import DatasetDigest

__all__ = ["render_model_card"]


def render_model_card(
    spec: TrainingSpec,
    dataset: DatasetDigest,
    metrics: Mapping[str, float],
    params: Mapping[str, Any],
    features: list[str],
    *,
    train_rows: int,
    holdout_rows: int,
) -> str:
    """Markdown: purpose, data (with digest), training set-up, holdout metrics and limitations."""
    metric_rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in sorted(metrics.items()) if k != "rows")
    param_rows = "\n".join(f"| {k} | {v} |" for k, v in sorted(params.items())) or "| (defaults) | |"
    return f"""# Model card: {spec.model.name}

## Purpose
Predicts the probability that a customer churns (`{spec.label}` = 1) from account and usage
features, to rank customers for retention outreach. Scores are probabilities; the 0.5 threshold
used for F1 and accuracy is a reporting convention, not a business decision.

## Data
- Source: `{dataset.source or spec.data}`
- Dataset sha256: `{dataset.sha256}`
- Rows: {dataset.rows} ({train_rows} train, {holdout_rows} holdout; fraction {spec.holdout_fraction}, seed {spec.seed})
- Features ({len(features)}): {", ".join(f"`{f}`" for f in features)}

## Training
- Estimator: `{spec.estimator}` in a scikit-learn Pipeline (ColumnTransformer preprocessing)
- Hyperparameter search trials: {spec.search_trials}

| parameter | value |
|---|---|
{param_rows}

## Holdout metrics
| metric | value |
|---|---|
{metric_rows}

## Limitations
- Trained on one extract; performance under drift (shifted feature distributions, new categories,
  a changed relation between features and churn) is unknown until the drift detector reports it.
- Unknown categories are encoded as all-zero indicators; missing numeric values are median-imputed.
- Calibration (Brier, ECE above) was measured on the holdout only; recalibrate before using the
  scores as absolute probabilities in another population.
- Not evaluated for fairness across customer groups.

_Generated {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}._
"""
