"""The drift report: what one run of the detector found, written as ``drift_report.json``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import Field

from ..config import StrictModel

__all__ = [
    "REPORT_FILENAME",
    "DriftReport",
    "FeatureDrift",
    "FeatureStatus",
    "Finding",
    "FindingKind",
    "Histogram",
    "PerformanceDrift",
    "ReportStatus",
    "StatResult",
    "TestName",
    "WindowInfo",
    "write_json",
]

REPORT_FILENAME = "drift_report.json"

TestName = Literal["ks", "chi2", "z", "psi", "wasserstein", "jensen_shannon"]
FeatureStatus = Literal["tested", "missing", "all_null", "dtype_changed", "no_reference"]
FindingKind = Literal[
    "insufficient_data",
    "missing_column",
    "new_column",
    "dtype_changed",
    "all_null",
    "no_reference",
    "null_rate",
    "performance_unavailable",
    "labels_by_position",
    "unknown_override",
    "old_profile",
]
ReportStatus = Literal["ok", "drift", "insufficient_data"]


class StatResult(StrictModel):
    """One statistical test of one feature."""

    test: TestName
    """ks: Kolmogorov-Smirnov; chi2: chi-square goodness of fit to the reference's shares; z: two-proportion Z-test;
    psi: population stability index; wasserstein: Wasserstein distance / reference std; jensen_shannon:
    Jensen-Shannon distance (natural logarithm)."""
    statistic: float
    """The test statistic (KS D, chi-square, PSI or distance)."""
    p_value: float | None = None
    """P-value for ks, chi2 and z; null for the distances."""
    threshold: float
    """Drift when the p-value is at most it (ks) or below it (chi2, z), or the statistic at least it (the others)."""
    drifted: bool
    """Whether this test alone says the feature drifted."""


class Histogram(StrictModel):
    """Reference and current shares per bin (numeric) or category, for the overlay plot."""

    labels: list[str]
    """Bin ranges or category names."""
    reference: list[float]
    """Share of reference values per bin."""
    current: list[float]
    """Share of current values per bin."""


class FeatureDrift(StrictModel):
    """The drift verdict of one feature (or of the prediction)."""

    name: str
    """Column name."""
    kind: Literal["numeric", "categorical"]
    """Kind recorded in the reference profile."""
    status: FeatureStatus
    """tested, or why the feature could not be tested (missing, all_null and dtype_changed count as drift)."""
    drifted: bool
    """Verdict of the deciding test (true for missing, all-null and changed-type columns)."""
    test: TestName | None = None
    """The deciding test, chosen by kind and reference size (see the detector module)."""
    statistic: float | None = None
    """Statistic of the deciding test."""
    p_value: float | None = None
    """P-value of the deciding test (ks, chi2)."""
    threshold: float | None = None
    """Threshold of the deciding test."""
    severity: float | None = None
    """How far the deciding test is from its threshold: statistic / threshold for distances,
    log(p) / log(threshold) for p-values; above 1 is drift. Null when untested."""
    tests: list[StatResult] = Field(default_factory=list)
    """Every test computed for the feature."""
    reference_count: int = 0
    """Non-missing reference values."""
    current_count: int = 0
    """Non-missing current values."""
    reference_null_rate: float = 0.0
    """Share of missing reference values."""
    current_null_rate: float | None = None
    """Share of missing current values (null when the column is missing)."""
    reference_mean: float | None = None
    """Reference mean (numeric)."""
    current_mean: float | None = None
    """Current mean (numeric)."""
    histogram: Histogram | None = None
    """Reference vs current distribution."""
    message: str | None = None
    """Why the feature was not tested, and what to do about it."""


class Finding(StrictModel):
    """Something about the window worth a human's attention (schema change, missing data...)."""

    kind: FindingKind
    """What was found."""
    column: str | None = None
    """The column concerned, if any."""
    severity: Literal["info", "warning", "drift"]
    """drift: counted as a drifted feature; warning: results may be unreliable; info: noted only."""
    message: str
    """What happened and how to fix it."""


class PerformanceDrift(StrictModel):
    """Model quality on the labelled part of the window against the reference quality."""

    labelled_rows: int
    """Window rows with a label (joined on request_id and row)."""
    metric: str | None
    """The metric the verdict is based on (binary auc, multiclass macro_f1, regression rmse; for profiles without
    a task the first of auc, accuracy, mae, rmse)."""
    reference: dict[str, float]
    """Reference metrics from the profile."""
    current: dict[str, float]
    """Metrics on the labelled window rows."""
    threshold: float
    """Largest tolerated degradation (absolute for auc, accuracy and macro_f1, relative for mae and rmse)."""
    degradation: float | None
    """Observed degradation of ``metric`` (positive is worse)."""
    drifted: bool
    """Whether the degradation exceeds the threshold."""


class WindowInfo(StrictModel):
    """Where the current window came from."""

    source: str
    """Directory, file or URI of the prediction logs."""
    since: datetime | None = None
    """Start of the window (inclusive)."""
    until: datetime | None = None
    """End of the window (exclusive)."""
    rows: int = 0
    """Rows in the window."""
    files: int | None = None
    """Parquet files read."""


class DriftReport(StrictModel):
    """The result of comparing one window of prediction logs with the reference profile."""

    schema_version: Literal[1] = 1
    """Version of this report format."""
    model: str
    """Model the window belongs to (``name@alias``)."""
    generated_at: datetime
    """When the report was computed (UTC)."""
    reference: str
    """Where the reference profile came from."""
    window: WindowInfo
    """The current window."""
    status: ReportStatus
    """ok, drift (dataset drift) or insufficient_data (fewer rows than ``min_rows``: no verdict)."""
    dataset_drift: bool
    """Whether the share of drifted features reached ``drift_share_threshold``."""
    drift_share: float
    """Drifted features / features."""
    drift_share_threshold: float
    """Dataset drift threshold."""
    drifted_features: int
    """Features that drifted (including missing, all-null and changed-type ones)."""
    features_total: int
    """Features of the reference profile that count towards the share."""
    features: list[FeatureDrift]
    """Per-feature verdicts, drifted first, most severe first."""
    prediction: FeatureDrift | None = None
    """Drift of the model's output distribution (not counted in the share)."""
    prediction_drift: bool = False
    """Whether the prediction distribution drifted."""
    performance: PerformanceDrift | None = None
    """Performance drift, when labels for the window were given."""
    findings: list[Finding] = Field(default_factory=list)
    """Schema changes, missing data and other notes."""
    compute_seconds: float = 0.0
    """Time spent computing the statistics."""


def write_json(report: DriftReport, path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(report.model_dump_json(indent=1))
    return target
