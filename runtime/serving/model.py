"""A loaded model version: its schema and a predict function over micro-batches of decoded columns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .protocol import Columns
from .schema import ModelSchema

__all__ = ["ServedModel", "build_frame", "merge_columns"]


def merge_columns(schema: ModelSchema, parts: Sequence[Columns]) -> Columns:
    """The columns of one or more requests, concatenated in request order."""
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([part[name] for part in parts]) for name in schema.names}


def build_frame(schema: ModelSchema, columns: Columns) -> Any:
    """One pandas DataFrame in signature column order (a single block when all columns share a dtype)."""
    import pandas as pd

    names = schema.names
    arrays = [columns[name] for name in names]
    first = arrays[0].dtype
    if first.kind in "fiub" and all(a.dtype == first for a in arrays):
        return pd.DataFrame(np.column_stack(arrays), columns=list(names), copy=False)
    return pd.DataFrame(dict(zip(names, arrays, strict=True)), columns=list(names), copy=False)


@dataclass
class ServedModel:
    """One model version, loaded in its native flavor and ready to predict."""

    name: str
    version: str
    schema: ModelSchema
    predictor: Callable[[Any], Any]
    """Called with a DataFrame; returns probabilities ``[N, classes]`` or predictions ``[N]``."""
    flavor: str = "sklearn"
    digest: str = ""
    source: str = ""
    platform: str = field(default="")
    explainer: Callable[[Any], list[dict[str, float]]] | None = None
    """Per-row feature contributions from a DataFrame (occlusion, :mod:`pulumi_mlops.runtime.explain`)."""

    def __post_init__(self) -> None:
        if not self.platform:
            self.platform = f"mlflow_{self.flavor}"

    def predict(self, parts: Sequence[Columns]) -> np.ndarray:
        """Predict the rows of one or more requests with one model call; row i of the result is row i of the input."""
        return self.predict_columns(merge_columns(self.schema, parts))

    def explain_columns(self, columns: Columns) -> list[dict[str, float]]:
        """One ``{feature: contribution to the probability}`` per row; ValueError when the model has no explainer."""
        if self.explainer is None:
            raise ValueError(
                f"model {self.name} version {self.version} ({self.flavor}) has no per-request explanations"
            )
        return self.explainer(build_frame(self.schema, columns))

    def predict_columns(self, columns: Columns) -> np.ndarray:
        """Predict merged columns: positive-class probabilities ``[N]`` (``[N, classes]`` beyond two classes)."""
        result = np.asarray(self.predictor(build_frame(self.schema, columns)))
        if result.ndim == 2 and result.shape[1] == 2:
            result = result[:, 1]
        elif result.ndim == 2 and result.shape[1] == 1:
            result = result[:, 0]
        return np.ascontiguousarray(result, dtype=np.float64)
