"""Row checks of a chunk against the model's inputs: missing columns fail the run, bad rows are set aside.

The numeric and categorical inputs, and the categories seen in training, are read from the fitted
pipeline's ``ColumnTransformer`` (the ``numeric`` and ``categorical`` branches the trainer builds).
A row is rejected, with every reason named, when a numeric value is not a number, a value is null
(unless nulls are allowed: the pipeline imputes them) or a category was never seen in training
(unless unknown categories are allowed: they encode as all-zero indicators).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .storage import BatchInputError

__all__ = ["REASON_COLUMN", "InputRules", "check_chunk", "input_rules", "reason_kinds"]

REASON_COLUMN = "reject_reason"
"""Column of the rejected rows that says why each was rejected."""


@dataclass
class InputRules:
    """What a valid input row looks like."""

    columns: list[str]
    """Model input columns, in signature order."""
    numeric: list[str] = field(default_factory=list)
    """Columns that must hold numbers."""
    categories: dict[str, set[str]] = field(default_factory=dict)
    """Categorical columns and the categories seen in training."""
    allow_nulls: bool = False
    """Accept null values (the pipeline imputes them)."""
    allow_unknown_categories: bool = False
    """Accept categories never seen in training."""


def _encoder_categories(transformer: Any) -> list[Any] | None:
    steps = getattr(transformer, "steps", [(None, transformer)])
    for _, step in steps:
        if hasattr(step, "categories_"):
            return list(step.categories_)
    return None


def input_rules(
    model: Any, columns: Sequence[str], *, allow_nulls: bool = False, allow_unknown_categories: bool = False
) -> InputRules:
    """The rules for ``model`` (a fitted trainer pipeline); other models get null checks only."""
    rules = InputRules(
        columns=list(columns), allow_nulls=allow_nulls, allow_unknown_categories=allow_unknown_categories
    )
    preprocess = getattr(model, "named_steps", {}).get("preprocess")
    for name, transformer, selected in getattr(preprocess, "transformers_", []):
        selected = [str(c) for c in selected] if isinstance(selected, list | tuple) else []
        if name == "numeric":
            rules.numeric.extend(selected)
        elif name == "categorical":
            categories = _encoder_categories(transformer)
            if categories is not None and len(categories) == len(selected):
                for column, levels in zip(selected, categories, strict=True):
                    rules.categories[column] = {str(v) for v in levels}
    if not rules.columns:
        rules.columns = [*rules.numeric, *rules.categories]
    return rules


def check_chunk(frame: pd.DataFrame, rules: InputRules) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(good, rejected)``: good rows (text in numeric columns parsed), rejected rows with ``reject_reason``.

    Raises :class:`BatchInputError` when an input column is missing altogether.
    """
    missing = [c for c in rules.columns if c not in frame.columns]
    if missing:
        raise BatchInputError(
            f"input lacks model input column(s) {', '.join(missing)} (has {', '.join(map(str, frame.columns))}); "
            "add them to the input or pass --enrich to look them up in the feature store"
        )
    converted: dict[str, pd.Series] = {}
    reasons = np.full(len(frame), "", dtype=object)

    def flag(mask: np.ndarray, text: str, shown_values: pd.Series | None = None) -> None:
        """Add ``text`` (followed by each row's value in parentheses when given) to the masked rows' reasons."""
        if not mask.any():
            return
        values = np.full(int(mask.sum()), text, dtype=object)
        if shown_values is not None:
            shown = shown_values[mask].astype(str).str.slice(0, 40).map(repr).to_numpy(dtype=object)
            values = values + " (" + shown + ")"
        current = reasons[mask]
        reasons[mask] = np.where(current == "", values, current + "; " + values)

    for column in rules.columns:
        raw = frame[column]
        null = raw.isna().to_numpy()
        if column in rules.numeric:
            if not pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw):
                coerced = pd.to_numeric(raw, errors="coerce").astype(float)
                bad = (~null) & coerced.isna().to_numpy()
                flag(bad, f"{column}: not a number", raw)
                converted[column] = coerced
        elif column in rules.categories and not rules.allow_unknown_categories:
            known = rules.categories[column]
            unknown = (~null) & ~raw.isin(known).to_numpy()
            if unknown.any():  # values that are not strings may still name a known category as text
                unknown[unknown] = ~raw[unknown].astype(str).isin(known).to_numpy()
            flag(unknown, f"{column}: unknown category", raw)
        if not rules.allow_nulls:
            flag(null, f"{column}: null")
    if converted:
        frame = frame.assign(**converted)
    bad_rows = reasons != ""
    if not bad_rows.any():
        return frame, frame.iloc[:0].assign(**{REASON_COLUMN: pd.Series([], dtype=object)})
    good = frame.loc[~bad_rows]
    rejected = frame.loc[bad_rows].copy()
    rejected[REASON_COLUMN] = reasons[bad_rows]
    return good, rejected


def reason_kinds(reasons: Sequence[str]) -> dict[str, int]:
    """Counts of rejection kinds (``column: null``, ``column: not a number``, ...) over reason strings."""
    counts: dict[str, int] = {}
    for text in reasons:
        for part in str(text).split("; "):
            kind = part.split(" (", 1)[0]
            counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))
