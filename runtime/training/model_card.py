"""The model card saved with every run as ``model_card.md``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pulumi_mlops.runtime.config import TrainingSpec
from pulumi_mlops.runtime.data import DatasetDigest, DataVersions
from pulumi_mlops.runtime.environment import RunEnvironment
from pulumi_mlops.runtime.explain import EXPLANATIONS_PLOT_ARTIFACT, Explanations, SliceReport

from .leaderboard import LEADERBOARD_ARTIFACT, leaderboard_markdown
from .tasks import TaskInfo

if TYPE_CHECKING:
    from .search import SearchResult

__all__ = ["render_model_card"]

_SCORES = {"roc_auc": "AUC", "f1_macro": "macro F1", "r2": "R²"}


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
    task: TaskInfo | None = None,
    categorical: Sequence[str] = (),
    promotion_metric: str | None = None,
    estimator_class: str = "",
    preprocessing: bool = True,
    data_versions: DataVersions | None = None,
    environment: RunEnvironment | None = None,
    search: SearchResult | None = None,
) -> str:
    """Markdown: overview, the spec's purpose and intended use, data, training, holdout metrics, explanations,
    slices, limitations, and what the run can be reproduced from (the pinned inputs, the code and packages);
    sections without content (no purpose given, no slices) are left out; a search adds its leaderboard."""
    task = task or TaskInfo("binary", (0, 1))
    metric_rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in sorted(metrics.items()) if k != "rows")
    param_rows = "\n".join(f"| {k} | {v} |" for k, v in sorted(params.items())) or "| (defaults) | |"
    family = f" ({estimator_class})" if estimator_class else ""
    reproducibility = _reproducibility_section(spec, data_versions, environment)
    fitted = (
        "in a scikit-learn Pipeline (ColumnTransformer preprocessing)"
        if preprocessing
        else "(its own Pipeline, fitted on the raw feature columns)"
    )
    return f"""# Model card: {spec.model.name}

{_overview(spec, task, promotion_metric)}
{_text_section("Purpose", spec.purpose)}{_text_section("Intended use", spec.intended_use)}## Data
- Source: `{dataset.source or spec.data}`
- Dataset sha256: `{dataset.sha256}`
- Rows: {dataset.rows} ({train_rows} train, {holdout_rows} holdout; fraction {spec.holdout_fraction}, seed {spec.seed})
- Features ({len(features)}): {", ".join(f"`{f}`" for f in features)}

## Training
- Estimator: `{spec.estimator}`{_picked(spec, search)}{family} {fitted}
- Hyperparameter search trials: {search.trials if search is not None else 0}

| parameter | value |
|---|---|
{param_rows}

{_search_section(search)}## Holdout metrics
{_metrics_note(task, spec.label)}| metric | value |
|---|---|
{metric_rows}

{_explanations_section(explanations)}{_slices_section(slices)}## Limitations
{_limitations(spec, task, features, categorical if preprocessing else (), slices, preprocessing)}

{reproducibility}_Generated {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}._
"""


def _classes(task: TaskInfo) -> str:
    shown = ", ".join(f"`{c}`" for c in task.classes[:20])
    return shown + (f" and {len(task.classes) - 20} more" if len(task.classes) > 20 else "")


def _overview(spec: TrainingSpec, task: TaskInfo, promotion_metric: str | None) -> str:
    if task.task == "binary":
        what = (
            f"binary classification of `{spec.label}` (classes {_classes(task)}); the score is the probability of "
            f"`{task.positive_class}`"
        )
    elif task.task == "multiclass":
        what = f"multiclass classification of `{spec.label}` into {len(task.classes)} classes ({_classes(task)})"
    else:
        what = f"regression of `{spec.label}`"
    lines = [f"- Task: {what} ({'detected: ' + task.reason if task.detected else 'set in the spec'})"]
    if spec.owner:
        lines.append(f"- Owner: {spec.owner}")
    if promotion_metric:
        lines.append(f"- Promotion gate: holdout `{promotion_metric}`, margin {spec.promotion_margin}")
    return "\n".join(lines) + "\n"


def _text_section(title: str, text: str | None) -> str:
    return f"## {title}\n{text.strip()}\n\n" if text and text.strip() else ""


def _metrics_note(task: TaskInfo, label: str) -> str:
    if task.task == "binary":
        return "F1 and accuracy use the 0.5 threshold, a reporting convention rather than a decision threshold.\n\n"
    if task.task == "multiclass":
        return "Predicted class: the most probable one; `recall_<class>` is the recall of each class.\n\n"
    return f"Errors (`rmse`, `mae`) are in the units of `{label}`; `r2` is the share of its variance explained.\n\n"


def _limitations(
    spec: TrainingSpec,
    task: TaskInfo,
    features: list[str],
    categorical: Sequence[str],
    slices: SliceReport | None,
    preprocessing: bool = True,
) -> str:
    lines = [
        "Trained on one extract; performance under drift (shifted feature distributions, a changed relation between "
        f"the features and `{spec.label}`) is unknown until the drift detector reports it."
    ]
    if categorical:
        lines.append("Unknown categories are encoded as all-zero indicators.")
    if preprocessing and len(categorical) < len(features):
        lines.append("Missing numeric values are median-imputed.")
    if task.task == "binary":
        lines.append(
            "Calibration (Brier, ECE above) was measured on the holdout only; recalibrate before using the "
            "scores as absolute probabilities in another population."
        )
    elif task.task == "multiclass":
        lines.append(
            "Class probabilities were checked (log loss) on the holdout only; classes absent from the "
            "training data cannot be predicted."
        )
    else:
        lines.append("Predictions far outside the range of the training targets are extrapolations.")
    lines.append(_fairness_limitation(slices, task))
    return "\n".join(f"- {line}" for line in lines)


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
    score = _SCORES.get(explanations.scoring, explanations.scoring)
    return f"""## Explanations
Permutation importance: drop of holdout {score} when a feature is shuffled ({explanations.permutation_repeats}
repeats on {explanations.permutation_rows} rows); {shap_note}. Full values in `explanations.json`.

![feature importance]({EXPLANATIONS_PLOT_ARTIFACT})

| feature | {score} drop | mean abs SHAP |
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


def _picked(spec: TrainingSpec, search: SearchResult | None) -> str:
    return f" → `{search.family}`" if search is not None and search.family and search.family != spec.estimator else ""


def _search_section(search: SearchResult | None) -> str:
    if search is None:
        return ""
    families = ", ".join(f"`{f}`" for f in search.families)
    workers = f" by {search.workers} workers" if search.workers > 1 else ""
    return f"""## Model search
Optuna trials over {families}{workers}, fitted on three quarters of the training rows and compared on the
validation {search.metric} of the other quarter: {search.trials} finished ({search.pruned} stopped early by the
pruner), {search.failed} failed. The best, `{search.family}` at {search.best_score:.4f}, was refit on all the training
rows. Fit time is the trial's own; predict latency is the median of single-row predictions. Every trial is in
`{LEADERBOARD_ARTIFACT}` and, when the run is logged, an MLflow child run of it.

{leaderboard_markdown(search.leaderboard, search.metric)}
"""


def _reproducibility_section(
    spec: TrainingSpec, data_versions: DataVersions | None, environment: RunEnvironment | None
) -> str:
    if data_versions is None and environment is None:
        return ""
    lines = ["## Reproducibility"]
    if data_versions is not None:
        lines.append("Pinned inputs (`data_versions.json`), read again at these versions by `mlops reproduce`:")
        lines += [f"- `{line}`" for line in data_versions.describe()]
    else:
        lines.append("- Inputs: not recorded (the frame was handed to the trainer), so the run cannot be reproduced")
    if environment is not None:
        lines.append(f"- Code (`environment.json`): {environment.describe()}")
    lines.append(f"- Seed {spec.seed}; `mlops reproduce --model {spec.model.name} --version <n>` retrains it")
    return "\n".join(lines) + "\n\n"


def _fairness_limitation(slices: SliceReport | None, task: TaskInfo) -> str:
    if slices is None and task.task != "binary":
        return "Not evaluated for fairness across groups (slice metrics are measured for binary models only)."
    if slices is None:
        return "Not evaluated for fairness across groups (set TrainingSpec.sensitive_columns)."
    columns = ", ".join(sorted({s.column for s in slices.slices}))
    return f"Fairness was evaluated on the holdout slices of {columns} only; other groups are not covered."
