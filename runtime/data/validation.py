"""Checks a frame against a declared schema or a reference profile before training.

Each failing check names its column, what was found and how to fix it; training stops when
any check fails.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pulumi_mlops.runtime.config import StrictModel
from pydantic import Field

from .generator import CATEGORICAL_FEATURES, ENTITY_COLUMN, LABEL_COLUMN, NUMERIC_FEATURES, TIMESTAMP_COLUMN

__all__ = [
    "LABEL_KINDS",
    "ColumnFailure",
    "ColumnSchema",
    "DataValidationError",
    "DatasetSchema",
    "ValidationReport",
    "churn_schema",
    "schema_from_profile",
    "validate_frame",
]

Kind = Literal["numeric", "categorical", "timestamp", "id", "label", "class", "target"]
LABEL_KINDS = ("label", "class", "target")
"""Kinds of a label column: 0/1 (binary), class labels (binary or multiclass), a numeric target (regression)."""


class ColumnSchema(StrictModel):
    """What one column must look like."""

    name: str
    """Column name."""
    kind: Kind
    """numeric, categorical, timestamp, id (non-null integers or strings), label (0/1), class (non-null class
    labels, at least two) or target (a non-null, finite numeric regression target)."""
    max_null_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    """Highest allowed fraction of nulls."""
    min: float | None = None
    """Smallest allowed value (numeric)."""
    max: float | None = None
    """Largest allowed value (numeric)."""
    categories: list[str] | None = None
    """Allowed values (categorical); None allows any."""
    max_unknown_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    """Highest allowed fraction of non-null values outside ``categories``."""


class DatasetSchema(StrictModel):
    """Expected columns of a training frame."""

    columns: list[ColumnSchema]
    """Column checks; every listed column must be present."""

    def column(self, name: str) -> ColumnSchema | None:
        return next((c for c in self.columns if c.name == name), None)


class ColumnFailure(StrictModel):
    """One failed check."""

    column: str
    """Column the check is about."""
    check: str
    """missing, dtype, nulls, range or categories."""
    detail: str
    """What was found and how to fix it."""


class ValidationReport(StrictModel):
    """Outcome of :func:`validate_frame`."""

    rows: int
    """Rows checked."""
    failures: list[ColumnFailure] = Field(default_factory=list)
    """Failed checks, in column order."""

    @property
    def ok(self) -> bool:
        return not self.failures

    def render(self) -> str:
        if self.ok:
            return f"data validation passed ({self.rows} rows)"
        lines = [f"data validation failed: {len(self.failures)} check(s) on {self.rows} rows"]
        lines += [f"  - {f.column} ({f.check}): {f.detail}" for f in self.failures]
        return "\n".join(lines)


class DataValidationError(ValueError):
    """Training data failed validation; ``report`` names each failing column."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(report.render())
        self.report = report


def churn_schema() -> DatasetSchema:
    """The declared schema of the generated churn dataset."""
    ranges = {
        "tenure_months": (0, 120),
        "monthly_charges": (0, 1000),
        "total_charges": (0, None),
        "support_calls": (0, None),
        "avg_session_minutes": (0, None),
        "days_since_last_login": (0, 3650),
    }
    from .generator import _CATEGORIES

    return DatasetSchema(
        columns=[
            ColumnSchema(name=ENTITY_COLUMN, kind="id"),
            ColumnSchema(name=TIMESTAMP_COLUMN, kind="timestamp"),
            *(ColumnSchema(name=n, kind="numeric", min=ranges[n][0], max=ranges[n][1]) for n in NUMERIC_FEATURES),
            *(
                ColumnSchema(name=n, kind="categorical", categories=list(_CATEGORIES[n][0]))
                for n in CATEGORICAL_FEATURES
            ),
            ColumnSchema(name=LABEL_COLUMN, kind="label"),
        ]
    )


def schema_from_profile(
    profile: dict[str, Any],
    *,
    label: str | None = None,
    null_slack: float = 0.05,
    unknown_rate: float = 0.01,
    label_kind: Kind | None = None,
) -> DatasetSchema:
    """A schema derived from a ``reference_profile.json`` (:mod:`pulumi_mlops.runtime.drift.profile` format).

    Takes the profile's columns, kinds and category sets. Numeric ranges are not enforced (new data
    may legitimately extend them); null rates may exceed the reference by ``null_slack``; up to
    ``unknown_rate`` unseen categories pass. ``label`` adds a label column check of ``label_kind``, by default
    the one the profile's task calls for (0/1 for binary profiles with 0/1 classes and profiles without a task).
    """
    columns = []
    for name, entry in profile.get("features", {}).items():
        max_null = min(1.0, float(entry.get("null_rate", 0.0)) + null_slack)
        if entry["kind"] == "numeric":
            columns.append(ColumnSchema(name=name, kind="numeric", max_null_rate=max_null))
        else:
            columns.append(
                ColumnSchema(
                    name=name,
                    kind="categorical",
                    max_null_rate=max_null,
                    categories=sorted(entry.get("counts", {})),
                    max_unknown_rate=unknown_rate,
                )
            )
    if label:
        columns.append(ColumnSchema(name=label, kind=label_kind or _profile_label_kind(profile)))
    return DatasetSchema(columns=columns)


def _profile_label_kind(profile: dict[str, Any]) -> Kind:
    task = profile.get("task")
    if task == "regression":
        return "target"
    classes = profile.get("classes") or [0, 1]
    zero_one = set(classes) <= {0, 1} and not any(isinstance(c, bool) for c in classes)
    if task == "multiclass" or (task == "binary" and not zero_one):
        return "class"
    return "label"


def _check_column(series: pd.Series, col: ColumnSchema) -> list[ColumnFailure]:
    failures: list[ColumnFailure] = []

    def fail(check: str, detail: str) -> None:
        failures.append(ColumnFailure(column=col.name, check=check, detail=detail))

    null_rate = float(series.isna().mean()) if len(series) else 0.0
    allowed_nulls = 0.0 if col.kind in ("id", *LABEL_KINDS) else col.max_null_rate
    if null_rate > allowed_nulls:
        fail("nulls", f"null rate {null_rate:.3f} exceeds {allowed_nulls:.3f}; fill or drop the missing values")
    values = series.dropna()
    is_number = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if col.kind in ("numeric", "label", "target") and not is_number:
        fail("dtype", f"expected a numeric column, found dtype {series.dtype}; cast it to int or float")
        return failures
    if col.kind == "numeric":
        if col.min is not None and len(values) and values.min() < col.min:
            n = int((values < col.min).sum())
            fail("range", f"{n} value(s) below {col.min} (smallest {values.min():g}); clip or remove them")
        if col.max is not None and len(values) and values.max() > col.max:
            n = int((values > col.max).sum())
            fail("range", f"{n} value(s) above {col.max} (largest {values.max():g}); clip or remove them")
    elif col.kind == "label":
        bad = sorted(set(values.unique().tolist()) - {0, 1})
        if bad:
            fail(
                "categories",
                f"label must be 0/1, found {bad[:5]}; encode the positive class as 1, or train with "
                "task: multiclass or regression (--task) and a label of kind class or target",
            )
        elif values.nunique() < 2:
            fail("categories", "label has a single class; training needs both 0 and 1 rows")
    elif col.kind == "class":
        if values.nunique() < 2:
            fail("categories", "label has a single class; training needs at least two classes")
    elif col.kind == "target":
        finite = np.isfinite(values.to_numpy(dtype=np.float64))
        if not finite.all():
            fail("range", f"{int((~finite).sum())} non-finite target value(s); drop those rows")
    elif col.kind == "categorical":
        if pd.api.types.is_float_dtype(series):
            fail("dtype", f"expected a categorical (string) column, found dtype {series.dtype}; cast it to str")
            return failures
        if col.categories is not None and len(values):
            unknown = ~values.astype(str).isin(col.categories)
            rate = float(unknown.mean())
            if rate > col.max_unknown_rate:
                seen = sorted(values[unknown].astype(str).unique().tolist())[:5]
                fail(
                    "categories",
                    f"{rate:.3f} of values outside {col.categories} (e.g. {seen}); "
                    "map them to known categories or update the schema",
                )
    elif col.kind == "timestamp":
        if not pd.api.types.is_datetime64_any_dtype(series):
            fail("dtype", f"expected a timestamp column, found dtype {series.dtype}; parse it with pd.to_datetime")
    elif col.kind == "id" and not (pd.api.types.is_integer_dtype(series) or pd.api.types.is_object_dtype(series)):
        fail("dtype", f"expected integer or string ids, found dtype {series.dtype}")
    return failures


def validate_frame(frame: pd.DataFrame, schema: DatasetSchema, *, raise_on_failure: bool = True) -> ValidationReport:
    """Check ``frame`` against ``schema``; raise :class:`DataValidationError` on any failure unless told not to."""
    report = ValidationReport(rows=len(frame))
    if len(frame) == 0:
        report.failures.append(ColumnFailure(column="*", check="rows", detail="the frame has no rows"))
    for col in schema.columns:
        if col.name not in frame.columns:
            report.failures.append(
                ColumnFailure(
                    column=col.name,
                    check="missing",
                    detail=f"column is missing (present: {', '.join(map(str, frame.columns))})",
                )
            )
            continue
        report.failures.extend(_check_column(frame[col.name], col))
    if raise_on_failure and not report.ok:
        raise DataValidationError(report)
    return report
