"""A loaded model version: its schema and a predict function over micro-batches of decoded columns.

Predictions flow through the server as one array per batch: the positive-class probability ``[N]`` of a
binary model, the class probabilities ``[N, K]`` of a multiclass one, the values ``[N]`` of a regressor.
:meth:`ServedModel.output_tensors` turns them into the outputs the model's metadata names (per-class
probabilities and the predicted label for classifiers, the value for regression); models registered
without that metadata answer with their single signature output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .protocol import Columns
from .schema import ModelSchema

__all__ = ["SMALL_ROWS", "ServedModel", "build_frame", "merge_columns"]

SMALL_ROWS = 64
"""Predictions of up to this many rows are turned into response tensors as Python lists, larger ones with numpy."""


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
    task: str | None = None
    """binary, multiclass or regression from the model's metadata; None for versions registered without it."""
    classes: tuple[Any, ...] = ()
    """Class labels of a classifier, in the order of its probability columns."""
    column_predictor: Callable[[Columns], Any] | None = None
    """Called with one array per input column instead of a DataFrame (the ONNX Runtime session), when set."""
    model_format: str = "native"
    """``native`` (the MLflow flavor) or ``onnx`` (the version's ONNX export under ONNX Runtime)."""
    format_reason: str = ""
    """Why this format was chosen (``--format auto``), as the model metadata and the load log line say."""
    retry_format: bool = False
    """Served natively because the ONNX export could not be downloaded: the manager loads the version again later."""

    def __post_init__(self) -> None:
        if not self.platform:
            self.platform = f"mlflow_{self.flavor}"
        if self.task in ("binary", "multiclass") and len(self.classes) < 2:
            raise ValueError(f"model {self.name} version {self.version}: a {self.task} model needs its classes")
        self._label_values: tuple[Any, Any] = tuple(np.asarray(self.classes[:2]).tolist()) if self.classes else (0, 1)
        """The two classes of a binary model as the JSON encoder writes them (numpy's conversion of the labels)."""

    def labels(self, predictions: np.ndarray) -> np.ndarray:
        """The predicted class of every row (the 0.5 threshold for binary models, the most probable class beyond)."""
        classes = np.asarray(self.classes)
        if predictions.ndim == 1:
            return classes[(predictions >= 0.5).astype(int)]
        return classes[np.argmax(predictions, axis=1)]

    def output_tensors(self, predictions: np.ndarray, names: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The response tensors of one request's predictions: those ``names`` (checked by the decoder), else every
        one, in the order of ``schema.outputs``. Up to :data:`SMALL_ROWS` one-per-row predictions are built as Python
        lists (a numpy call on a tiny array costs more than the list), the same values as the JSON encoder writes."""
        specs = self.schema.outputs
        if names is not None:
            by_name = {spec.name: spec for spec in specs}
            specs = tuple(by_name[name] for name in names)
        values = predictions.tolist() if predictions.ndim == 1 and predictions.size <= SMALL_ROWS else None
        tensors = []
        for spec in specs:
            if spec.name not in ("probability", "value", "probabilities", "label") and self.task is not None:
                raise ValueError(f"model {self.name} version {self.version} has no output named {spec.name!r}")
            shape, data = self._output(spec.name, predictions) if values is None else self._listed(spec.name, values)
            tensor: dict[str, Any] = {"name": spec.name, "datatype": spec.datatype, "shape": shape}
            if spec.parameters:
                tensor["parameters"] = spec.parameters
            tensor["data"] = data
            tensors.append(tensor)
        return tensors

    def _output(self, name: str, predictions: np.ndarray) -> tuple[list[int], Any]:
        """``(shape, data)`` of output ``name`` from the predictions array."""
        if self.task is None or name in ("probability", "value"):
            data: Any = predictions
        elif name == "probabilities":
            data = np.column_stack([1.0 - predictions, predictions]) if predictions.ndim == 1 else predictions
        else:
            data = self.labels(predictions)
        array = np.asarray(data)
        return list(array.shape), array.ravel().tolist() if array.dtype.kind in "OUSb" else array.ravel()

    def _listed(self, name: str, values: list[float]) -> tuple[list[int], list[Any]]:
        """``(shape, data)`` of output ``name`` from one-per-row predictions as a list."""
        if self.task is None or name in ("probability", "value"):
            return [len(values)], values
        if name == "probabilities":
            return [len(values), 2], [v for p in values for v in (1.0 - p, p)]
        negative, positive = self._label_values
        return [len(values)], [positive if p >= 0.5 else negative for p in values]

    def log_values(self, predictions: np.ndarray) -> np.ndarray:
        """What the prediction log records per row: the predicted class of a multiclass model, else the predictions."""
        return self.labels(predictions) if self.task == "multiclass" else predictions

    def score_values(self, predictions: np.ndarray) -> np.ndarray | None:
        """Probabilities for the prediction histogram: the positive-class one (binary), the top class's
        (multiclass); None for regressors, whose values are no probabilities."""
        if self.task == "regression":
            return None
        return predictions.max(axis=1) if predictions.ndim == 2 else predictions

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
        """Predict merged columns: positive-class probabilities ``[N]`` (``[N, classes]`` beyond two classes),
        or a regressor's values ``[N]``."""
        if self.column_predictor is not None:
            result = np.asarray(self.column_predictor(columns))
        else:
            result = np.asarray(self.predictor(build_frame(self.schema, columns)))
        if result.ndim == 2 and result.shape[1] == 2:
            result = result[:, 1]
        elif result.ndim == 2 and result.shape[1] == 1:
            result = result[:, 0]
        return np.ascontiguousarray(result, dtype=np.float64)
