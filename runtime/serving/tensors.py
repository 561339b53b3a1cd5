"""The parts of a v2 request below the model: the JSON body, each tensor's fields, the layout of its data and the
datatype it declares.

The body is read by orjson; one that orjson refuses only for ``NaN``/``Infinity`` literals is read by ``json`` and
held to orjson's limits. A tensor's ``data`` may be flat (row-major) or nested as its ``shape`` says, every list of
its length. Values a JSON tensor carries must fit the datatype it declares, also where the column takes a wider one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from .binary import BINARY_DTYPES, BinaryInputs
from .errors import InvalidInput

__all__ = [
    "DATATYPES",
    "FLOAT_MAX",
    "INT_RANGES",
    "check_declared",
    "check_shape",
    "flatten",
    "parse_json",
    "tensor_fields",
]

DATATYPES = frozenset(
    {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"}
)
"""The Open Inference Protocol's tensor datatypes."""
_MAX_DEPTH = 1024
"""Deepest nesting of a request body (orjson's own limit)."""
_U64 = 1 << 64
_I64 = 1 << 63


def parse_json(body: bytes) -> Any:
    """Parse a request body; JSON that orjson refuses only for ``NaN``/``Infinity`` literals is still read, held to
    orjson's limits (nesting depth, integers beyond 64 bits read as floats, strings that are valid Unicode)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if b"NaN" in body or b"Infinity" in body:
            import json

            try:
                value = json.loads(body, parse_int=_json_int)
            except RecursionError:
                raise InvalidInput(f"request body is nested deeper than {_MAX_DEPTH} levels") from None
            except ValueError:
                pass
            else:
                _check_parsed(value)
                return value
        raise InvalidInput(f"request body is not valid JSON: {exc}") from None


def _json_int(text: str) -> int | float:
    """An integer literal as orjson reads it: an int within 64 bits, a float beyond (infinity refused later)."""
    value = int(text)
    return value if -_I64 <= value < _U64 else float(text)


def _check_parsed(value: Any) -> None:
    """Raise on what orjson refuses and ``json`` lets through: nesting beyond :data:`_MAX_DEPTH`, lone surrogates."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    raise InvalidInput(
                        f"request body holds a string with a lone surrogate escape ({item[:40]!r}); JSON strings "
                        "must be valid Unicode"
                    ) from None
            continue
        if not isinstance(item, list | dict):
            continue
        if depth > _MAX_DEPTH:
            raise InvalidInput(f"request body is nested deeper than {_MAX_DEPTH} levels")
        if isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        else:
            stack.extend((child, depth + 1) for child in item)


def flatten(where: str, data: Any, shape: list[int]) -> list[Any]:
    """``data`` in row-major order: as given when flat, else nested as ``shape`` says, every list of its length."""
    if not isinstance(data, list):
        raise InvalidInput(f"{where}: 'data' must be a list, got {type(data).__name__}")
    if len(shape) <= 1 or not data or not isinstance(data[0], list):
        return data
    if (
        len(shape) == 2
        and len(data) == shape[0]
        and set(map(type, data)) == {list}
        and set(map(len, data)) == {shape[1]}
    ):
        return list(itertools.chain.from_iterable(data))  # the usual [N, K] matrix, checked in C-level passes
    flat: list[Any] = []
    _nested(where, data, shape, (), flat)
    return flat


def _nested(where: str, data: list[Any], shape: list[int], at: tuple[int, ...], flat: list[Any]) -> None:
    axis = len(at)
    last = axis == len(shape) - 1
    if len(data) != shape[axis]:
        raise InvalidInput(
            f"{where}: data{''.join(f'[{i}]' for i in at)} holds {len(data)} {'values' if last else 'items'} but "
            f"shape {shape} needs {shape[axis]} on axis {axis}"
        )
    if last:
        flat.extend(data)
        return
    for index, item in enumerate(data):
        if not isinstance(item, list):
            raise InvalidInput(f"{where}: 'data' mixes nested lists and scalars")
        _nested(where, item, shape, (*at, index), flat)


def check_shape(where: str, shape: Any) -> list[int]:
    if not isinstance(shape, list) or not shape or not all(type(d) is int and d >= 0 for d in shape):
        raise InvalidInput(f"{where}: 'shape' must be a non-empty list of non-negative integers, got {shape!r}")
    return shape


def tensor_fields(
    index: int, tensor: Any, binary: BinaryInputs | None
) -> tuple[str, str, list[int], list[Any] | np.ndarray, Mapping[str, Any]]:
    if not isinstance(tensor, dict):
        raise InvalidInput(f"inputs[{index}]: expected an object with name, datatype, shape and data")
    name = tensor.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"inputs[{index}]: 'name' must be a non-empty string")
    where = f"input {name!r}"
    datatype = tensor.get("datatype")
    if type(datatype) is not str or datatype not in DATATYPES:
        raise InvalidInput(f"{where}: 'datatype' must be one of {', '.join(sorted(DATATYPES))}, got {datatype!r}")
    shape = check_shape(where, tensor.get("shape"))
    parameters = tensor.get("parameters")
    if parameters is None:  # absent or null
        parameters = {}
    elif not isinstance(parameters, dict):
        raise InvalidInput(f"{where}: 'parameters' must be an object, got {parameters!r}")
    if "binary_data_size" in parameters:
        if "data" in tensor:
            raise InvalidInput(f"{where}: give either 'data' or parameters.binary_data_size, not both")
        if binary is None:
            raise InvalidInput(
                f"{where}: parameters.binary_data_size is set but the request has no Inference-Header-Content-Length "
                "header giving the length of its JSON part"
            )
        return name, datatype, shape, binary.take(where, datatype, shape, parameters["binary_data_size"]), parameters
    if "data" not in tensor:
        raise InvalidInput(f"{where}: 'data' is missing")
    data = flatten(where, tensor["data"], shape)
    expected = math.prod(shape)
    if len(data) != expected:
        raise InvalidInput(f"{where}: shape {shape} needs {expected} values, 'data' holds {len(data)}")
    return name, datatype, shape, data, parameters


INT_RANGES = {
    name: (int(np.iinfo(kind).min), int(np.iinfo(kind).max))
    for name, kind in BINARY_DTYPES.items()
    if kind.kind in "iu" and name != "BOOL"
}
"""Smallest and largest value of each integer datatype."""
FLOAT_MAX = {name: float(np.finfo(kind).max) for name, kind in BINARY_DTYPES.items() if kind.kind == "f"}
"""Largest finite value of each float datatype."""


def check_declared(where: str, datatype: str, column_datatype: str, array: np.ndarray) -> None:
    """Raise unless the values a JSON tensor carries into a column fit the datatype the tensor declares, when that
    is narrower than the column's own (``INT8`` into an ``INT64`` column, ``INT64`` into ``FP64``, ``FP32`` into
    ``FP64``); binary data is of its datatype by construction."""
    if datatype == column_datatype or not array.size:
        return
    if array.dtype.kind == "f":
        values = array[~np.isnan(array)]
        if datatype in INT_RANGES and not np.array_equal(values, np.floor(values)):
            position = int(np.argmax(values != np.floor(values)))
            raise InvalidInput(
                f"{where}: {float(values[position])!r} is not an integer, but the tensor's datatype is {datatype}"
            )
    else:
        values = array
    if not values.size:
        return
    low, high = values.min(), values.max()
    if datatype in INT_RANGES:
        lowest, highest = INT_RANGES[datatype]
        if low < lowest or high > highest:
            raise InvalidInput(f"{where}: values from {low} to {high} do not fit the tensor's datatype {datatype}")
    elif datatype in FLOAT_MAX and max(-low, high) > FLOAT_MAX[datatype]:
        raise InvalidInput(f"{where}: values from {low} to {high} do not fit the tensor's datatype {datatype}")
