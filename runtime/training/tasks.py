"""Which task a label column calls for (binary, multiclass, regression), and its classes.

The rule, applied to the non-null label values when ``TrainingSpec.task`` is not set:

- booleans, strings and categories are class labels: 2 distinct values make a binary task, 3 to
  :data:`MAX_CLASSES` a multiclass one; more are refused (group them, or set ``task: regression`` for a
  numeric target);
- integers (and floats that are all whole numbers) with 2 distinct values are binary; with 3 to
  :data:`MAX_CLASSES` distinct values that are at most 5% of the rows (on average at least
  :data:`MIN_ROWS_PER_CLASS` rows per class) they are multiclass;
- every other numeric label (fractional values, or many distinct values) is regression.

A set task is checked against the label instead: binary needs exactly two values, multiclass 3 to
:data:`MAX_CLASSES`, regression a numeric label. Classes are the sorted distinct values; the positive
class of a binary task is the larger one (1, True, or the later string in sort order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pulumi_mlops.runtime.config import Task

__all__ = [
    "MAX_CLASSES",
    "MIN_ROWS_PER_CLASS",
    "TaskError",
    "TaskInfo",
    "binary_targets",
    "json_classes",
    "resolve_task",
]

MAX_CLASSES = 50
"""Most classes a classification label may have."""
MIN_ROWS_PER_CLASS = 20
"""An integer label is detected as multiclass only with at least this many rows per class on average."""


class TaskError(ValueError):
    """The label column does not fit the requested (or any) task."""


@dataclass(frozen=True)
class TaskInfo:
    """The task of a training run and, for classifiers, its classes."""

    task: Task
    """binary, multiclass or regression."""
    classes: tuple[Any, ...] = ()
    """Sorted class labels (empty for regression)."""
    detected: bool = False
    """Whether the task was detected from the label rather than set in the spec."""
    reason: str = ""
    """Why this task (the detection rule that matched, or the spec)."""

    @property
    def is_classifier(self) -> bool:
        return self.task != "regression"

    @property
    def positive_class(self) -> Any:
        """The class whose probability a binary model reports (None for other tasks)."""
        return self.classes[1] if self.task == "binary" else None


def _python(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def json_classes(classes: tuple[Any, ...] | list[Any]) -> list[Any]:
    """Class labels as plain JSON values (numpy scalars unwrapped)."""
    return [_python(c) for c in classes]


def _is_number(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series)) and not pd.api.types.is_bool_dtype(series)


def _sorted_classes(values: pd.Series, column: str) -> tuple[Any, ...]:
    try:
        return tuple(_python(v) for v in np.unique(values.to_numpy()))
    except TypeError:
        kinds = sorted({type(v).__name__ for v in values})
        raise TaskError(
            f"label column {column!r} mixes value types ({', '.join(kinds)}): cast it to one type "
            "(strings or integers for classes, floats for a regression target)"
        ) from None


def _detect(values: pd.Series, rows: int, column: str) -> TaskInfo:
    distinct = int(values.nunique())
    if not _is_number(values):
        if distinct == 2:
            return TaskInfo("binary", _sorted_classes(values, column), True, f"{column!r} holds two classes")
        if distinct <= MAX_CLASSES:
            return TaskInfo("multiclass", _sorted_classes(values, column), True, f"{column!r} holds {distinct} classes")
        raise TaskError(
            f"label column {column!r} holds {distinct} distinct {values.dtype} values, more than the {MAX_CLASSES} "
            "classes a classifier takes: group them into fewer classes, or give a numeric target with task: regression"
        )
    numbers = values.to_numpy(dtype=np.float64)
    whole = bool(np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers)))
    if whole and distinct == 2:
        return TaskInfo("binary", _sorted_classes(values, column), True, f"{column!r} holds two integer values")
    if whole and distinct <= MAX_CLASSES and distinct * MIN_ROWS_PER_CLASS <= rows:
        return TaskInfo(
            "multiclass",
            _sorted_classes(values, column),
            True,
            f"{column!r} holds {distinct} integer values, at most 5% of {rows} rows",
        )
    why = "fractional values" if not whole else f"{distinct} distinct values in {rows} rows"
    return TaskInfo("regression", (), True, f"{column!r} is numeric with {why}")


def _check(task: Task, values: pd.Series, column: str) -> TaskInfo:
    distinct = int(values.nunique())
    fix = "set TrainingSpec.task (--task) to"
    if task == "regression":
        if not _is_number(values):
            raise TaskError(
                f"task: regression needs a numeric label, but {column!r} is {values.dtype}: cast it to float, "
                f"or {fix} binary or multiclass"
            )
        return TaskInfo("regression", (), False, "task: regression in the spec")
    classes = _sorted_classes(values, column)
    shown = ", ".join(map(repr, classes[:5])) + (", ..." if len(classes) > 5 else "")
    if task == "binary" and distinct != 2:
        other = "multiclass" if distinct <= MAX_CLASSES else "regression"
        raise TaskError(
            f"task: binary needs exactly two label values, but {column!r} holds {distinct} ({shown}): "
            f"{fix} {other}, or leave it out to detect the task"
        )
    if task == "multiclass" and not 3 <= distinct <= MAX_CLASSES:
        other = "binary" if distinct == 2 else "regression"
        raise TaskError(
            f"task: multiclass needs 3 to {MAX_CLASSES} label values, but {column!r} holds {distinct} ({shown}): "
            f"{fix} {other}, or leave it out to detect the task"
        )
    return TaskInfo(task, classes, False, f"task: {task} in the spec")


def resolve_task(labels: pd.Series, requested: Task | None = None, *, column: str = "label") -> TaskInfo:
    """The task of ``labels``: ``requested`` checked against them, or detected by the rule in the module docs."""
    values = labels.dropna()
    distinct = int(values.nunique())
    if distinct == 0:
        raise TaskError(f"label column {column!r} has no values: fill it, or choose another column with --label")
    if distinct == 1:
        raise TaskError(
            f"label column {column!r} holds one value only ({_python(values.iloc[0])!r}): training needs at least "
            "two classes, or a varying target; check the data or choose another column with --label"
        )
    if requested is not None:
        return _check(requested, values, column)
    return _detect(values, len(labels), column)


def binary_targets(labels: Any, positive: Any) -> np.ndarray:
    """0/1 integers: 1 where ``labels`` equal the ``positive`` class."""
    array = np.asarray(labels)
    if array.dtype.kind in "iufb" and isinstance(positive, bool | int | float | np.number | np.bool_):
        return (array == positive).astype(int)
    return (pd.Series(array).astype(str).to_numpy() == str(positive)).astype(int)
