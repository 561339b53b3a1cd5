"""The model's input and output columns, read once from its MLflow signature, with compiled value checks.

Each input column gets a converter built at load time that turns a flat list of JSON values into a
numpy array of the column's type, rejecting values of the wrong kind, nulls and NaN where the
signature marks the column as required, and one that does the same for a typed array (a tensor sent as
binary data, :mod:`.binary`) with whole-array numpy checks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InvalidInput, ModelRefused

__all__ = [
    "DEFAULT_OUTPUT",
    "ColumnSpec",
    "ModelSchema",
    "OutputSpec",
    "outputs_from_metadata",
    "schema_from_signature",
]

DEFAULT_OUTPUT = "probability"
"""Output tensor name when the signature's output column has no name."""

_MLFLOW_TO_V2 = {
    "boolean": "BOOL",
    "integer": "INT32",
    "long": "INT64",
    "float": "FP32",
    "double": "FP64",
    "string": "BYTES",
    "binary": "BYTES",
    "datetime": "BYTES",
}
_INTS = frozenset({"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"})
_FLOATS = frozenset({"FP16", "FP32", "FP64"})
_ACCEPTED = {
    "BOOL": frozenset({"BOOL"}),
    "INT32": _INTS,
    "INT64": _INTS,
    "FP32": _FLOATS | _INTS,
    "FP64": _FLOATS | _INTS,
    "BYTES": frozenset({"BYTES"}),
}
_NUMPY = {"BOOL": np.bool_, "INT32": np.int32, "INT64": np.int64, "FP32": np.float32, "FP64": np.float64}

Converter = Callable[[str, Sequence[Any]], np.ndarray]
ArrayConverter = Callable[[str, np.ndarray], np.ndarray]


def _finite_sum(values: Sequence[Any]) -> bool:
    """Whether the numbers add up to a finite float; False also when the integers among them overflow a float on
    the way (each one fitting on its own), which the caller then checks value by value."""
    try:
        return math.isfinite(sum(values))
    except OverflowError:
        return False


def _float_converter(dtype: type[np.generic], required: bool) -> Converter:
    def convert(where: str, values: Sequence[Any]) -> np.ndarray:
        kinds = set(map(type, values))
        has_null = False
        if not kinds <= {float, int}:
            for position, value in enumerate(values):
                if value is None:
                    if required:
                        raise InvalidInput(f"{where}: null at position {position} but the column is required")
                    has_null = True
                elif type(value) not in (float, int):
                    raise InvalidInput(f"{where}: expected numbers, got {type(value).__name__} {value!r}")
        try:
            if has_null:
                array = np.array(values, dtype=np.float64)
            elif dtype is np.float64:
                array = np.asarray(values, dtype=dtype)
            else:
                with np.errstate(over="ignore"):  # a value beyond the type's range is refused below as infinite
                    array = np.asarray(values, dtype=dtype)
        except OverflowError:
            raise InvalidInput(f"{where}: a number beyond the range of {np.dtype(dtype).name}") from None
        if float in kinds and not has_null and dtype is np.float64 and _finite_sum(values):
            return array  # a NaN or an infinity makes the sum one; a finite sum holds none (as float64 values)
        if float in kinds or has_null or dtype is not np.float64:
            finite = np.isfinite(array)
            if not finite.all():
                position = int(np.argmin(finite))
                if required or not math.isnan(float(array[position])):
                    raise InvalidInput(
                        f"{where}: {array[position]} at position {position}; the column takes finite numbers only"
                    )
        return array.astype(dtype, copy=False)

    return convert


_EXACT_FLOAT_INT = float(1 << 53)
"""Integers a float holds exactly; an integer-valued float beyond (one orjson read from an integer beyond 64 bits)
is not taken for an integer."""


def _int_converter(dtype: type[np.generic], required: bool) -> Converter:
    integer: Any = dtype
    limits = np.iinfo(integer)
    name = np.dtype(dtype).name

    def convert(where: str, values: Sequence[Any]) -> np.ndarray:
        if set(map(type, values)) <= {int}:
            try:
                return np.asarray(values, dtype=dtype)
            except OverflowError:
                raise InvalidInput(f"{where}: integer out of range for {name}") from None
        for position, value in enumerate(values):
            if value is None:
                if required:
                    raise InvalidInput(f"{where}: null at position {position} but the column is required")
            elif type(value) is float and value.is_integer():
                if not -_EXACT_FLOAT_INT <= value <= _EXACT_FLOAT_INT or not limits.min <= value <= limits.max:
                    raise InvalidInput(
                        f"{where}: {value!r} at position {position} is out of range for {name} (or beyond 2**53 as a "
                        "float); send integers as JSON integers"
                    )
            elif type(value) is not int:
                raise InvalidInput(f"{where}: expected integers, got {type(value).__name__} {value!r}")
            elif not limits.min <= value <= limits.max:
                raise InvalidInput(f"{where}: {value!r} at position {position} is out of range for {name}")
        if None in values:
            return np.array([math.nan if v is None else v for v in values], dtype=np.float64)
        return np.asarray(values, dtype=dtype)

    return convert


def _bool_converter(required: bool) -> Converter:
    def convert(where: str, values: Sequence[Any]) -> np.ndarray:
        if not set(map(type, values)) <= {bool}:
            bad = next(v for v in values if type(v) is not bool)
            if bad is None and not required:
                return np.array(values, dtype=object)
            raise InvalidInput(f"{where}: expected true or false, got {bad!r}")
        return np.asarray(values, dtype=np.bool_)

    return convert


def _string_converter(required: bool) -> Converter:
    def convert(where: str, values: Sequence[Any]) -> np.ndarray:
        if not set(map(type, values)) <= {str}:
            bad = next(v for v in values if type(v) is not str)
            if not (bad is None and not required and set(map(type, values)) <= {str, type(None)}):
                raise InvalidInput(f"{where}: expected strings, got {bad!r}")
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array

    return convert


def _float_array_converter(dtype: type[np.generic], required: bool) -> ArrayConverter:
    def convert(where: str, array: np.ndarray) -> np.ndarray:
        result = array.astype(dtype, copy=False)
        if array.dtype.kind == "f":
            finite = np.isfinite(result)
            if not finite.all():
                position = int(np.argmin(finite))
                if required or not math.isnan(float(result[position])):
                    raise InvalidInput(
                        f"{where}: {result[position]} at position {position}; the column takes finite numbers only"
                    )
        return result

    return convert


def _int_array_converter(dtype: type[np.generic]) -> ArrayConverter:
    integer: Any = dtype
    limits = np.iinfo(integer)

    def convert(where: str, array: np.ndarray) -> np.ndarray:
        if array.size and not np.can_cast(array.dtype, dtype):
            low, high = array.min(), array.max()
            if low < limits.min or high > limits.max:
                raise InvalidInput(f"{where}: integer out of range for {np.dtype(dtype).name}")
        return array.astype(dtype, copy=False)

    return convert


def _same_array(where: str, array: np.ndarray) -> np.ndarray:
    return array


@dataclass(frozen=True)
class ColumnSpec:
    """One named input column of the model."""

    name: str
    datatype: str
    """Open Inference Protocol datatype: BOOL, INT32, INT64, FP32, FP64 or BYTES."""
    required: bool = True
    """Required columns refuse nulls and NaN."""
    convert: Converter = field(init=False, repr=False, compare=False)
    """JSON values (a flat list) to the column's array."""
    convert_array: ArrayConverter = field(init=False, repr=False, compare=False)
    """A typed array of a datatype the column :meth:`accepts` to the column's array."""

    def __post_init__(self) -> None:
        array_converter: ArrayConverter = _same_array
        if self.datatype in ("FP32", "FP64"):
            converter = _float_converter(_NUMPY[self.datatype], self.required)
            array_converter = _float_array_converter(_NUMPY[self.datatype], self.required)
        elif self.datatype in ("INT32", "INT64"):
            converter = _int_converter(_NUMPY[self.datatype], self.required)
            array_converter = _int_array_converter(_NUMPY[self.datatype])
        elif self.datatype == "BOOL":
            converter = _bool_converter(self.required)
        else:
            converter = _string_converter(self.required)
        object.__setattr__(self, "convert", converter)
        object.__setattr__(self, "convert_array", array_converter)

    @property
    def accepted(self) -> frozenset[str]:
        """The datatypes of tensors that can carry this column."""
        return _ACCEPTED[self.datatype]

    def accepts(self, datatype: str) -> bool:
        """Whether a tensor of ``datatype`` can carry this column."""
        return datatype in _ACCEPTED[self.datatype]


@dataclass(frozen=True)
class OutputSpec:
    """One output tensor of the model, as the model-metadata endpoint lists it."""

    name: str
    datatype: str = "FP64"
    shape: tuple[int, ...] = (-1,)
    parameters: dict[str, Any] | None = field(default=None, compare=False)
    """Extra metadata (the classes of ``probabilities``, the class of a binary ``probability``)."""

    def metadata(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}
        if self.parameters:
            entry["parameters"] = self.parameters
        return entry


def outputs_from_metadata(entries: Sequence[Any]) -> tuple[OutputSpec, ...]:
    """The outputs recorded in the ``MLmodel`` metadata (``metadata.mlops.outputs``)."""
    specs = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ModelRefused(f"the model metadata lists an output without a name: {entry!r}")
        shape = tuple(int(d) for d in entry.get("shape", [-1]))
        specs.append(OutputSpec(entry["name"], str(entry.get("datatype", "FP64")), shape, entry.get("parameters")))
    return tuple(specs)


@dataclass(frozen=True)
class ModelSchema:
    """Input columns in signature order, and the output tensors (one, named ``output_name``, unless given)."""

    inputs: tuple[ColumnSpec, ...]
    output_name: str = DEFAULT_OUTPUT
    output_datatype: str = "FP64"
    outputs: tuple[OutputSpec, ...] = ()
    by_name: dict[str, ColumnSpec] = field(init=False, repr=False, compare=False)
    names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    matrix_specs: dict[str, tuple[dict[str, ColumnSpec], str | None]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """Per datatype, the checked column specs of a matrix tensor in schema order and the float datatype it converts to
    at once (filled by the decoder on the first such tensor; a failed check keeps nothing)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {c.name: c for c in self.inputs})
        object.__setattr__(self, "names", tuple(c.name for c in self.inputs))
        if not self.outputs:
            object.__setattr__(self, "outputs", (OutputSpec(self.output_name, self.output_datatype),))

    def synthesized_row(self) -> dict[str, np.ndarray]:
        """One neutral row (zeros, false, empty strings) for warm-up when the model has no input example."""
        row: dict[str, np.ndarray] = {}
        for column in self.inputs:
            value: Any = {"BOOL": False, "BYTES": ""}.get(column.datatype, 0)
            row[column.name] = column.convert(column.name, [value])
        return row


def schema_from_signature(signature: Any, outputs: tuple[OutputSpec, ...] = ()) -> ModelSchema:
    """Build the schema from an ``mlflow.models.ModelSignature`` with named input columns; ``outputs`` (from the
    model's metadata) replace the signature's single output."""
    if signature is None or signature.inputs is None:
        raise ModelRefused("the model has no MLflow signature: log it with signature=infer_signature(...)")
    inputs = signature.inputs
    if not inputs.has_input_names() or inputs.is_tensor_spec():
        raise ModelRefused("the model signature must name its input columns (a column-based signature)")
    columns = []
    for spec in inputs.inputs:
        type_name = getattr(spec.type, "name", str(spec.type))
        if type_name not in _MLFLOW_TO_V2:
            raise ModelRefused(f"input column {spec.name!r} has type {type_name}, which the server cannot take")
        columns.append(ColumnSpec(spec.name, _MLFLOW_TO_V2[type_name], bool(getattr(spec, "required", True))))
    output_name = DEFAULT_OUTPUT
    signed = signature.outputs
    if signed is not None and signed.has_input_names() and len(signed.inputs) == 1:
        output_name = signed.inputs[0].name or DEFAULT_OUTPUT
    return ModelSchema(tuple(columns), output_name=outputs[0].name if outputs else output_name, outputs=outputs)
