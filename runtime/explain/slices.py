"""Fairness slices: holdout metrics per value of each sensitive column, and the gap to the overall metric."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from pulumi_mlops.runtime.config import StrictModel
from pydantic import Field

__all__ = ["SliceMetrics", "SliceReport", "compare_slices", "slice_metrics"]


class SliceMetrics(StrictModel):
    """Metrics of the holdout rows with one value of one sensitive column."""

    column: str
    """Sensitive column."""
    value: str
    """Its value (as text)."""
    rows: int
    """Holdout rows in the slice."""
    auc: float | None
    """AUC in the slice (None when the slice has one class only or too few rows)."""
    accuracy: float
    """Accuracy at the 0.5 threshold."""
    positive_rate: float
    """Share of positive labels."""
    predicted_positive_rate: float
    """Share of rows scored at or above 0.5."""
    auc_gap: float | None
    """``auc - overall auc``: negative means the model ranks this slice worse."""

    @property
    def name(self) -> str:
        return f"{self.column}={self.value}"


class SliceReport(StrictModel):
    """The ``slices.json`` artifact."""

    overall_auc: float
    """AUC over the whole holdout."""
    overall_accuracy: float
    """Accuracy over the whole holdout."""
    min_rows: int
    """Slices with fewer rows get no AUC (their AUC is too noisy to compare)."""
    slices: list[SliceMetrics] = Field(default_factory=list)
    """Every slice, by column then value."""

    def worst(self) -> SliceMetrics | None:
        """The slice with the most negative AUC gap."""
        rated = [s for s in self.slices if s.auc_gap is not None]
        return min(rated, key=lambda s: s.auc_gap or 0.0) if rated else None


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else None


def slice_metrics(
    frame: pd.DataFrame, proba: np.ndarray, labels: np.ndarray, columns: Sequence[str], *, min_rows: int = 30
) -> SliceReport:
    """Metrics per value of each of ``columns`` of ``frame`` (rows aligned with ``proba`` and ``labels``)."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"sensitive_columns {missing} are not columns of the holdout "
            f"(columns: {', '.join(map(str, frame.columns))})"
        )
    y = np.asarray(labels).astype(int)
    p = np.asarray(proba, dtype=float)
    predicted = p >= 0.5
    overall = _auc(y, p)
    report = SliceReport(
        overall_auc=float("nan") if overall is None else overall,
        overall_accuracy=float((predicted == y).mean()) if len(y) else 0.0,
        min_rows=min_rows,
    )
    for column in columns:
        values = frame[column].astype(str).where(frame[column].notna(), "<null>").to_numpy()
        for value in sorted(set(values)):
            mask = values == value
            auc = _auc(y[mask], p[mask]) if mask.sum() >= min_rows else None
            report.slices.append(
                SliceMetrics(
                    column=column,
                    value=value,
                    rows=int(mask.sum()),
                    auc=auc,
                    accuracy=float((predicted[mask] == y[mask]).mean()),
                    positive_rate=float(y[mask].mean()),
                    predicted_positive_rate=float(predicted[mask].mean()),
                    auc_gap=None if auc is None or overall is None else auc - overall,
                )
            )
    return report


def compare_slices(challenger: SliceReport, champion: SliceReport) -> list[tuple[str, float]]:
    """``(slice, challenger AUC - champion AUC)`` for slices both rated, worst first."""
    before = {s.name: s.auc for s in champion.slices if s.auc is not None}
    changes = [(s.name, s.auc - before[s.name]) for s in challenger.slices if s.auc is not None and s.name in before]
    return sorted(changes, key=lambda item: item[1])
