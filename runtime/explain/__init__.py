"""Model explanations (permutation importance, SHAP, per-row occlusion) and fairness slices."""

from .contributions import occlusion_contributions, occlusion_explainer, pipeline_reference, reference_values
from .importance import (
    MIN_BUDGET_ROWS,
    Explanations,
    FeatureImportance,
    explain_model,
    input_columns_of_outputs,
    mean_abs_shap,
)
from .plot import bar_chart_svg
from .slices import SliceMetrics, SliceReport, compare_slices, slice_metrics

__all__ = [
    "EXPLANATIONS_ARTIFACT",
    "EXPLANATIONS_PLOT_ARTIFACT",
    "MIN_BUDGET_ROWS",
    "SLICES_ARTIFACT",
    "Explanations",
    "FeatureImportance",
    "SliceMetrics",
    "SliceReport",
    "bar_chart_svg",
    "compare_slices",
    "explain_model",
    "input_columns_of_outputs",
    "mean_abs_shap",
    "occlusion_contributions",
    "occlusion_explainer",
    "pipeline_reference",
    "reference_values",
    "slice_metrics",
]

EXPLANATIONS_ARTIFACT = "explanations.json"
EXPLANATIONS_PLOT_ARTIFACT = "explanations.svg"
SLICES_ARTIFACT = "slices.json"
