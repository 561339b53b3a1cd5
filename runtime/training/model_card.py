"""The model card saved with every run as ``model_card.md``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pulumi_mlops.runtime.config import TrainingSpec
from pulumi_mlops.runtime.data import DatasetDigest
from pulumi_mlops.runtime.explain import EXPLANATIONS_PLOT_ARTIFACT, Explanations, SliceReport

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
    explanations: Explanations | None = None,
    slices: SliceReport | None = None,
) -> str:
    """Markdown: purpose, data (with digest), training set-up, holdout metrics, explanations, slices, limitations."""
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

{_explanations_section(explanations)}{_slices_section(slices)}## Limitations
- Trained on one extract; performance under drift (shifted feature distributions, new categories,
  a changed relation between features and churn) is unknown until the drift detector reports it.
- Unknown categories are encoded as all-zero indicators; missing numeric values are median-imputed.
- Calibration (Brier, ECE above) was measured on the holdout only; recalibrate before using the
  scores as absolute probabilities in another population.
- {_fairness_limitation(slices)}

_Generated {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}._
"""


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _explanations_section(explanations: Explanations | None) -> str:
    if explanations is None:
        return ""
    rows = "\n".join(
        f"| {f.feature} | {f.permutation_auc_drop:.4f} ± {f.permutation_std:.4f} | {_num(f.mean_abs_shap)} |"
        for f in explanations.features
    )
    shap_note = (
        f"mean |SHAP| by the {explanations.shap_method} explainer on {explanations.shap_rows} holdout rows"
        if explanations.shap_method
        else f"SHAP not computed: {explanations.shap_skipped}"
    )
    return f"""## Explanations
Permutation importance: drop of holdout AUC when a feature is shuffled ({explanations.permutation_repeats}
repeats on {explanations.permutation_rows} rows); {shap_note}. Full values in `explanations.json`.

![feature importance]({EXPLANATIONS_PLOT_ARTIFACT})

| feature | AUC drop | mean abs SHAP |
|---|---|---|
{rows}

"""


def _slices_section(slices: SliceReport | None) -> str:
    if slices is None:
        return ""
    rows = "\n".join(
        f"| {s.column} | {s.value} | {s.rows} | {_num(s.auc)} | {_num(s.auc_gap)} | {s.accuracy:.4f} | "
        f"{s.positive_rate:.4f} |"
        for s in slices.slices
    )
    worst = slices.worst()
    worst_line = f"Largest AUC shortfall: `{worst.name}` ({worst.auc_gap:+.4f}).\n" if worst and worst.auc_gap else ""
    return f"""## Fairness slices
Holdout metrics per value of the sensitive columns, with the gap to the overall AUC ({slices.overall_auc:.4f});
slices under {slices.min_rows} rows get no AUC. Full values in `slices.json`.
{worst_line}
| column | value | rows | AUC | AUC gap | accuracy | positive rate |
|---|---|---|---|---|---|---|
{rows}

"""


def _fairness_limitation(slices: SliceReport | None) -> str:
    if slices is None:
        return "Not evaluated for fairness across customer groups (set TrainingSpec.sensitive_columns)."
    columns = ", ".join(sorted({s.column for s in slices.slices}))
    return f"Fairness was evaluated on the holdout slices of {columns} only; other groups are not covered."
