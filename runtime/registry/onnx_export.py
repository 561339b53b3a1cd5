"""ONNX export of a registered pipeline, checked against the native model before it is kept.

Pipelines built by the trainer (``ColumnTransformer`` with median-imputed numeric columns and
constant-imputed, one-hot-encoded categorical columns, then a scikit-learn classifier or regressor)
convert with skl2onnx. Each DataFrame column becomes one ONNX input of shape ``[N, 1]``, in column
order: ``float32`` for numeric columns, ``string`` for categorical ones (a null category is fed as
``""``, which the graph imputes as the pipeline does). skl2onnx may rewrite a column name into a
graph input name (:func:`skl2onnx_names`); inputs are fed by position, so any column name works, and the column
list is recorded in the graph's own metadata (``mlops.inputs``), which ``model.onnx``'s sha256 covers.
The export is kept only when ONNX Runtime agrees with the native model on the holdout within
``tolerance``: every class probability of a classifier (absolute difference), the value of a
regressor (difference divided by ``max(1, |native value|)``, since values carry their target's
scale through float32). Otherwise, and for estimators without a converter (the PyTorch MLPs), the
reason is recorded and registration goes on.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd
from pulumi_mlops.runtime.config import StrictModel
from pydantic import Field

__all__ = [
    "INPUTS_METADATA",
    "ONNX_ARTIFACT",
    "ONNX_REPORT_ARTIFACT",
    "ONNX_SHA_TAG",
    "ONNX_STATUS_TAG",
    "OnnxExport",
    "OnnxInput",
    "OnnxModel",
    "export_onnx",
    "record_inputs",
    "skl2onnx_names",
]

log = logging.getLogger(__name__)

ONNX_ARTIFACT = "model.onnx"
"""Run artifact holding the ONNX graph."""
ONNX_REPORT_ARTIFACT = "onnx.json"
"""Run artifact holding the :class:`OnnxExport` report (also when nothing was exported)."""
ONNX_SHA_TAG = "mlops.onnx_sha256"
"""Model-version tag: sha256 of ``model.onnx`` (present only when the export was kept)."""
ONNX_STATUS_TAG = "mlops.onnx"
"""Model-version tag: ``exported``, or ``unsupported: <reason>`` / ``mismatch: <reason>``."""
INPUTS_METADATA = "mlops.inputs"
"""Key of the graph's metadata that lists its input columns in order (JSON list of :class:`OnnxInput`)."""
OPSET = {"": 17, "ai.onnx.ml": 3}


class OnnxInput(StrictModel):
    """One named graph input."""

    name: str
    """DataFrame column fed to it."""
    kind: Literal["numeric", "categorical"]
    """``numeric`` (float32) or ``categorical`` (string)."""


class OnnxExport(StrictModel):
    """What the export did (the ``onnx.json`` artifact)."""

    status: Literal["exported", "unsupported", "mismatch"]
    """``exported``: ``model.onnx`` was kept; otherwise why not."""
    task: Literal["binary", "multiclass", "regression"] = "binary"
    """What the graph outputs: class probabilities (binary, multiclass) or values (regression)."""
    reason: str = ""
    """Why the export was not kept."""
    sha256: str | None = None
    """sha256 of the ONNX bytes (exported only)."""
    inputs: list[OnnxInput] = Field(default_factory=list)
    """Graph inputs, in order."""
    opset: dict[str, int] = Field(default_factory=lambda: dict(OPSET))
    """Target opsets."""
    tolerance: float = 1e-4
    """Largest allowed difference: absolute for probabilities, relative to ``max(1, |value|)`` for regression."""
    max_abs_diff: float | None = None
    """Largest absolute difference measured on the check rows."""
    max_rel_diff: float | None = None
    """Regression: largest difference divided by ``max(1, |native value|)`` on the check rows."""
    rows_checked: int = 0
    """Holdout rows compared."""

    def tag(self) -> str:
        return "exported" if self.status == "exported" else f"{self.status}: {self.reason}"[:250]


def skl2onnx_names(columns: list[str]) -> list[str]:
    """The graph input names skl2onnx makes of ``columns`` (``Topology._generate_unique_name``: every character but
    letters, digits, ``_`` and ``+`` becomes ``_``, a leading digit gets a ``_`` before it, and a name already taken
    gets the first free number appended)."""
    taken: set[str] = set()
    names = []
    for column in columns:
        seed = re.sub(r"[^\w+]", "_", column)
        if re.match("^[0-9]", seed):
            seed = "_" + seed
        name, number = seed, 1
        while name in taken:
            name, number = f"{seed}{number}", number + 1
        taken.add(name)
        names.append(name)
    return names


def record_inputs(model: Any, inputs: list[OnnxInput]) -> None:
    """Write ``inputs`` into an ONNX ``ModelProto``'s metadata (:data:`INPUTS_METADATA`), replacing any earlier list."""
    kept = [(entry.key, entry.value) for entry in model.metadata_props if entry.key != INPUTS_METADATA]
    del model.metadata_props[:]
    for key, value in [*kept, (INPUTS_METADATA, json.dumps([i.model_dump() for i in inputs]))]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def _inputs(pipeline: Any) -> tuple[list[OnnxInput], str | None]:
    preprocess = getattr(pipeline, "named_steps", {}).get("preprocess")
    if preprocess is None or not hasattr(preprocess, "transformers_"):
        return [], "the model is not a trainer pipeline (no fitted 'preprocess' ColumnTransformer)"
    inputs: list[OnnxInput] = []
    for name, transformer, columns in preprocess.transformers_:
        if name == "remainder" or transformer == "drop":
            continue
        if name not in ("numeric", "categorical"):
            return [], f"unknown preprocessing branch {name!r}"
        inputs += [OnnxInput(name=str(c), kind=name) for c in columns]
    return inputs, None


def _feed(frame: pd.DataFrame, inputs: list[OnnxInput]) -> dict[str, np.ndarray]:
    feed: dict[str, np.ndarray] = {}
    for item in inputs:
        column = frame[item.name]
        if item.kind == "numeric":
            feed[item.name] = pd.to_numeric(column, errors="coerce").to_numpy(np.float32).reshape(-1, 1)
        else:
            text = column.astype(object).where(column.notna(), "").astype(str)
            feed[item.name] = text.to_numpy(dtype=object).reshape(-1, 1)
    return feed


def _column_input(values: np.ndarray, kind: str) -> np.ndarray:
    """One decoded column as the ``[N, 1]`` graph input ``_feed`` would make of it, without pandas when the column
    is already numbers (numeric inputs) or strings without nulls (categorical inputs)."""
    if kind == "numeric":
        if values.dtype.kind in "fiub":
            return np.ascontiguousarray(values, dtype=np.float32).reshape(-1, 1)
        return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(np.float32).reshape(-1, 1)
    if values.dtype.kind == "O" and set(map(type, values)) == {str}:
        return values.reshape(-1, 1)
    series = pd.Series(values, dtype=object)
    return series.where(series.notna(), "").astype(str).to_numpy(dtype=object).reshape(-1, 1)


class OnnxModel:
    """An ONNX Runtime session with the native model's ``predict_proba(DataFrame)`` (classifiers) or
    ``predict(DataFrame)`` (regressors), and the same over one array per column (``*_columns``).

    The graph takes one ``[N, 1]`` input per column (trainer pipelines), or one ``[N, K]`` float input holding
    every numeric column in order (a single estimator converted on its own). ``threads`` sets ONNX Runtime's
    intra-op threads (0: its default); ``spinning=False`` lets idle pool threads sleep instead of spinning.

    ``recorded_inputs`` is the column list the graph's metadata records (``None`` for a graph exported without
    it); ``inputs`` that differ from it are refused, so a report that does not belong to the graph cannot feed
    columns to the wrong inputs.
    """

    def __init__(self, payload: bytes, inputs: list[OnnxInput], *, threads: int = 0, spinning: bool = True) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(payload, options, providers=["CPUExecutionProvider"])
        recorded = self.session.get_modelmeta().custom_metadata_map.get(INPUTS_METADATA)
        self.recorded_inputs = (
            [OnnxInput.model_validate(item) for item in json.loads(recorded)] if recorded is not None else None
        )
        if self.recorded_inputs is not None and self.recorded_inputs != inputs:
            raise ValueError(
                f"the inputs given, {[(i.name, i.kind) for i in inputs]}, differ from those the graph records, "
                f"{[(i.name, i.kind) for i in self.recorded_inputs]}"
            )
        self.inputs = inputs
        self.signature_columns = [i.name for i in inputs]
        self.graph_inputs = [i.name for i in self.session.get_inputs()]
        self.matrix = len(self.graph_inputs) == 1 and len(inputs) > 1
        if self.matrix and any(i.kind != "numeric" for i in inputs):
            raise ValueError("an ONNX graph with one input for several columns takes numeric columns only")
        if not self.matrix and len(self.graph_inputs) != len(inputs):
            raise ValueError(f"the ONNX graph has {len(self.graph_inputs)} inputs, the report lists {len(inputs)}")

    def run_columns(self, columns: Mapping[str, np.ndarray]) -> list[Any]:
        """The graph's outputs for one array per input column."""
        if self.matrix:
            return list(self.session.run(None, {self.graph_inputs[0]: self._block(columns)}))
        arrays = [_column_input(columns[i.name], i.kind) for i in self.inputs]
        return list(self.session.run(None, dict(zip(self.graph_inputs, arrays, strict=True))))

    def _block(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """The ``[N, K]`` float32 input of a one-input graph: numeric arrays converted in one call, other columns
        (objects, with nulls) each through :func:`_column_input`."""
        values = [columns[i.name] for i in self.inputs]
        if all(v.dtype.kind in "fiub" for v in values):
            return np.ascontiguousarray(np.array(values, dtype=np.float32).T)
        return np.hstack([_column_input(v, "numeric") for v in values])

    def predict_proba_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """``[N, classes]`` class probabilities of one array per column."""
        return np.asarray(self.run_columns(columns)[1], dtype=np.float64)

    def predict_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """``[N]`` predicted values of one array per column."""
        first = np.asarray(self.run_columns(columns)[0])
        return first.reshape(first.shape[0], -1)[:, 0]

    def _run(self, frame: pd.DataFrame) -> list[Any]:
        feed = _feed(frame, self.inputs)
        if self.matrix:
            block = np.hstack([feed[i.name] for i in self.inputs])
            return list(self.session.run(None, {self.graph_inputs[0]: block}))
        return list(
            self.session.run(
                None, {graph: feed[i.name] for graph, i in zip(self.graph_inputs, self.inputs, strict=True)}
            )
        )

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """``[N, classes]`` class probabilities."""
        return np.asarray(self._run(frame)[1], dtype=np.float64)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """``[N]`` predicted values (the first graph output: labels of a classifier, values of a regressor)."""
        return np.asarray(self._run(frame)[0]).reshape(len(frame), -1)[:, 0]


def _convert(pipeline: Any, inputs: list[OnnxInput], task: str) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    exportable = copy.deepcopy(pipeline)
    categorical = exportable.named_steps["preprocess"].named_transformers_.get("categorical")
    for _, step in getattr(categorical, "steps", []):
        if hasattr(step, "missing_values") and hasattr(step, "statistics_"):
            step.missing_values = ""
    types = [
        (i.name, FloatTensorType([None, 1]) if i.kind == "numeric" else StringTensorType([None, 1])) for i in inputs
    ]
    estimator = exportable.steps[-1][1]
    options = {} if task == "regression" else {id(estimator): {"zipmap": False}}
    graph = convert_sklearn(exportable, initial_types=types, target_opset=OPSET, options=options)
    record_inputs(graph, inputs)
    return bytes(graph.SerializeToString())


def export_onnx(
    pipeline: Any, holdout: pd.DataFrame, *, tolerance: float = 1e-4, max_rows: int = 5000, task: str = "binary"
) -> tuple[OnnxExport, bytes | None]:
    """``(report, ONNX bytes or None)``: convert, then compare ONNX Runtime with the native model on the holdout."""
    base: dict[str, Any] = {"tolerance": tolerance, "task": task}
    inputs, problem = _inputs(pipeline)
    if problem:
        return OnnxExport(status="unsupported", reason=problem, **base), None
    estimator = pipeline.steps[-1][1]
    family = type(estimator).__name__
    if family.startswith("TabularMLP"):
        reason = (
            f"estimator {family} (PyTorch) has no skl2onnx converter, and a torch.onnx export of the "
            "network alone would leave out the ColumnTransformer preprocessing"
        )
        return OnnxExport(status="unsupported", reason=reason, inputs=inputs, **base), None
    rows = holdout.head(max_rows)
    try:
        payload = _convert(pipeline, inputs, task)
        session = OnnxModel(payload, inputs, threads=1)
        exported = session.predict(rows) if task == "regression" else session.predict_proba(rows)
    except Exception as exc:  # converters raise many kinds; an unconvertible model is registered without ONNX
        reason = f"{family}: {type(exc).__name__}: {exc}"[:400]
        log.warning("ONNX export skipped: %s", reason)
        return OnnxExport(status="unsupported", reason=reason, inputs=inputs, **base), None
    features = rows[[i.name for i in inputs]]
    native = pipeline.predict(features) if task == "regression" else pipeline.predict_proba(features)
    native = np.asarray(native, dtype=np.float64)
    gap = np.abs(native - exported)
    diff = float(np.max(gap)) if gap.size else 0.0
    report = OnnxExport(status="exported", inputs=inputs, max_abs_diff=diff, rows_checked=len(rows), **base)
    measured = diff
    if task == "regression":
        measured = float(np.max(gap / np.maximum(1.0, np.abs(native)))) if gap.size else 0.0
        report.max_rel_diff = measured
    if not measured <= tolerance:
        report.status = "mismatch"
        what = "values" if task == "regression" else "probabilities"
        scale = " (relative)" if task == "regression" else ""
        report.reason = f"ONNX Runtime {what} differ from the native ones by {measured:.2e}{scale} > {tolerance:g}"
        log.warning("ONNX export dropped: %s", report.reason)
        return report, None
    report.sha256 = hashlib.sha256(payload).hexdigest()
    return report, payload
