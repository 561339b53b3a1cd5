"""Open Inference Protocol v2 (and v1 ``:predict``) request decoding and response encoding.

Requests are decoded straight from the parsed JSON into one numpy array per model input column;
no pandas on this path. Two request layouts are accepted:

* one tensor per feature column, named like the column, shape ``[N]`` or ``[N, 1]``;
* one 2-D tensor of shape ``[N, K]`` holding K columns, in signature order or in the order given by
  ``parameters.columns`` (on the tensor or on the request); ``parameters.content_type`` may say ``"np"``
  or ``"pd"``.

Entity keys for online feature lookup come from ``parameters.entity_ids`` or from an input tensor named
like the entity key (``customer_id`` by default) when that name is not a model feature.

A request may name the outputs it wants (``"outputs": [{"name": "label"}]``); the response then holds those,
in that order, and a name the model does not have is answered 400.

Tensor data may also come as binary data after the JSON (:mod:`.binary`); such a tensor is decoded from its
bytes with whole-array checks, never element by element.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .binary import BinaryInputs, wants_binary
from .errors import InvalidInput
from .schema import ColumnSpec, ModelSchema
from .tensors import FLOAT_MAX, INT_RANGES, check_declared, tensor_fields

__all__ = [
    "Columns",
    "DecodedRequest",
    "check_columns_complete",
    "columns_from_records",
    "decode_infer_request",
    "decode_predict_request",
]

Columns = dict[str, np.ndarray]
_CONTENT_TYPES = frozenset({"np", "pd"})


@dataclass
class DecodedRequest:
    """A validated request: one array per model column present, and what is still missing."""

    columns: Columns
    rows: int
    request_id: str | None = None
    entity_ids: list[Any] | None = None
    missing: list[str] = field(default_factory=list)
    outputs: list[str] | None = None
    """Output names the request asked for (v2 ``outputs``), in order; None for all of them."""
    binary_output: bool = False
    """``parameters.binary_data_output``: answer every output as binary data unless ``binary_outputs`` says not."""
    binary_outputs: dict[str, bool] = field(default_factory=dict)
    """``parameters.binary_data`` of the requested outputs that set it, by name."""

    def output_is_binary(self, name: str) -> bool:
        """Whether output ``name`` goes back as binary data."""
        return self.binary_outputs.get(name, self.binary_output)


_PLAIN_KEYS = frozenset({"name", "datatype", "shape", "data"})


def _plain_column(
    tensor: Any, by_name: Mapping[str, ColumnSpec], columns: Columns, rows: int | None
) -> tuple[str, ColumnSpec, str, list[Any]] | None:
    """``(name, spec, datatype, data)`` of a tensor in the usual form (one model column, a ``datatype`` the column
    takes, shape ``[N]``, a flat list of N values, no parameters, rows agreeing with the earlier inputs); None for any
    other, which :func:`tensor_fields` and :func:`_column_tensor` then check and word the error of. What this form
    passes, those checks pass too, so both reach the column's converter with the same values."""
    if type(tensor) is not dict or not tensor.keys() <= _PLAIN_KEYS:
        return None
    name = tensor.get("name")
    if type(name) is not str or name in columns:
        return None
    spec = by_name.get(name)
    shape = tensor.get("shape")
    data = tensor.get("data")
    if spec is None or type(shape) is not list or len(shape) != 1 or type(data) is not list:
        return None
    count = shape[0]
    if type(count) is not int or count != len(data) or (rows is not None and count != rows):
        return None
    datatype = tensor.get("datatype")
    if type(datatype) is not str or datatype not in spec.accepted:
        return None
    return name, spec, datatype, data


def _column_tensor(
    spec: ColumnSpec, datatype: str, shape: list[int], data: list[Any] | np.ndarray, rows: int | None, rows_from: str
) -> tuple[np.ndarray, int]:
    where = f"input {spec.name!r}"
    if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
        raise InvalidInput(f"{where}: shape {shape} is not a column; expected [N] or [N, 1]")
    if not spec.accepts(datatype):
        raise InvalidInput(f"{where}: datatype {datatype} does not fit the column; expected {spec.datatype}")
    if rows is not None and shape[0] != rows:
        raise InvalidInput(f"{where}: {shape[0]} rows, but {rows_from} has {rows}; all inputs need the same N")
    if isinstance(data, np.ndarray):
        return spec.convert_array(where, data), shape[0]
    array = spec.convert(where, data)
    check_declared(where, datatype, spec.datatype, array)
    return array, shape[0]


def _matrix_tensor(
    schema: ModelSchema,
    name: str,
    datatype: str,
    shape: list[int],
    data: list[Any] | np.ndarray,
    order: Any,
) -> tuple[Columns, int]:
    where = f"input {name!r}"
    if len(shape) != 2:
        raise InvalidInput(
            f"{where} is not a model feature ({', '.join(schema.names)}); a tensor holding several columns "
            f"must be 2-D [N, K], got shape {shape}"
        )
    names = schema.names if order is None else order
    if order is not None and (not isinstance(order, list | tuple) or not all(isinstance(n, str) for n in order)):
        raise InvalidInput(f"{where}: parameters.columns must be a list of column names")
    if shape[1] != len(names):
        raise InvalidInput(f"{where}: shape {shape} has {shape[1]} columns, expected {len(names)} ({', '.join(names)})")
    rows, width = shape
    if order is None or tuple(order) == schema.names:  # the usual form: checked once per datatype
        known = schema.matrix_specs.get(datatype)
        if known is None:
            known = schema.matrix_specs[datatype] = _matrix_specs(schema, where, datatype, names)
        checked, block_type = known
    else:  # an order the client chose: checked every time, never kept
        checked, block_type = _matrix_specs(schema, where, datatype, names)
    if isinstance(data, np.ndarray):
        matrix = data.reshape(rows, width)
        items = enumerate(checked.items())
        return {c: spec.convert_array(f"{where} column {c!r}", matrix[:, i]) for i, (c, spec) in items}, rows
    block = _float_block(block_type, data, rows, width)
    if block is not None:
        if datatype != block_type:
            check_declared(where, datatype, str(block_type), block)
        return dict(zip(names, block.T, strict=True)), rows
    columns: Columns = {}
    for offset, (column, spec) in enumerate(checked.items()):
        values = data[offset::width] if width > 1 else data
        columns[column] = spec.convert(f"{where} column {column!r}", values)
        if datatype != spec.datatype:
            check_declared(f"{where} column {column!r}", datatype, spec.datatype, columns[column])
    return columns, rows


def _matrix_specs(
    schema: ModelSchema, where: str, datatype: str, names: Sequence[str]
) -> tuple[dict[str, ColumnSpec], str | None]:
    """The spec of each column a ``datatype`` matrix tensor carries, in its order, and the float datatype the whole
    tensor converts to at once (None unless every column is of one float datatype); raises on a column that is not
    the model's, is given twice, or cannot travel as ``datatype``."""
    specs: dict[str, ColumnSpec] = {}
    for column in names:
        spec = schema.by_name.get(column)
        if spec is None:
            raise InvalidInput(f"{where}: column {column!r} is not a model feature; expected {', '.join(schema.names)}")
        if column in specs:
            raise InvalidInput(f"{where}: column {column!r} appears twice in parameters.columns")
        if not spec.accepts(datatype):
            raise InvalidInput(
                f"{where}: datatype {datatype} cannot carry column {column!r} ({spec.datatype}); "
                "send one tensor per column for mixed types"
            )
        specs[column] = spec
    datatypes = {spec.datatype for spec in specs.values()}
    block_type = next(iter(datatypes)) if len(datatypes) == 1 and datatypes <= {"FP64", "FP32"} else None
    return specs, block_type


def _float_block(block_type: str | None, data: list[Any], rows: int, width: int) -> np.ndarray | None:
    """The whole tensor converted at once when every column is of the float datatype ``block_type`` and every value a
    finite number; None sends the tensor through the per-column checks (which also word the errors)."""
    if block_type is None or not set(map(type, data)) <= {float, int}:
        return None
    block = np.asarray(data, dtype=np.float64).reshape(rows, width)
    largest = np.abs(block).max() if block.size else 0.0
    if block_type == "FP32":  # NaN, infinities and values beyond float32: the per-column checks refuse them
        return block.astype(np.float32) if largest <= FLOAT_MAX["FP32"] else None
    return block if largest <= FLOAT_MAX["FP64"] else None


def _entity_ids(where: str, value: Any, rows: int | None, kind: type | None = None) -> list[Any]:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, list) or not value:
        raise InvalidInput(f"{where} must be a non-empty list of entity keys")
    if not all(type(v) in (str, int) for v in value):
        raise InvalidInput(f"{where} must hold strings or integers")
    if kind is not None and not all(type(v) is kind for v in value):
        raise InvalidInput(f"{where} must hold {'strings' if kind is str else 'integers'}, as its datatype says")
    if rows is not None and len(value) != rows:
        raise InvalidInput(f"{where} has {len(value)} keys for {rows} rows")
    return value


def decode_infer_request(
    payload: Any, schema: ModelSchema, entity_key: str | None = None, binary: BinaryInputs | None = None
) -> DecodedRequest:
    """Validate a v2 inference request against the model schema and decode its columns; ``binary`` is the binary
    part of the body (binary tensor data extension), None when the body is JSON alone."""
    if not isinstance(payload, dict):
        raise InvalidInput(f"request body must be a JSON object with 'inputs', got {type(payload).__name__}")
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput("'inputs' must be a non-empty list of tensors")
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput("'id' must be a string")
    parameters = payload.get("parameters")
    if parameters is None:  # absent or null
        parameters = {}
    elif not isinstance(parameters, dict):
        raise InvalidInput(f"'parameters' must be an object, got {parameters!r}")
    content_type = parameters.get("content_type")
    if content_type is not None and (type(content_type) is not str or content_type not in _CONTENT_TYPES):
        raise InvalidInput(f"parameters.content_type must be 'np' or 'pd', got {content_type!r}")

    columns: Columns = {}
    rows: int | None = None
    rows_from = ""
    entity_ids: list[Any] | None = None
    by_name = schema.by_name
    for index, tensor in enumerate(inputs):
        plain = _plain_column(tensor, by_name, columns, rows)
        if plain is not None:
            plain_name, plain_spec, plain_type, plain_data = plain
            rows = len(plain_data)
            rows_from = f"input {plain_name!r}"
            columns[plain_name] = plain_spec.convert(rows_from, plain_data)
            if plain_type != plain_spec.datatype:
                check_declared(rows_from, plain_type, plain_spec.datatype, columns[plain_name])
            continue
        name, datatype, shape, data, tensor_parameters = tensor_fields(index, tensor, binary)
        spec = by_name.get(name)
        if spec is not None:
            if name in columns:
                raise InvalidInput(f"input {name!r} is given twice")
            columns[name], rows = _column_tensor(spec, datatype, shape, data, rows, rows_from)
            rows_from = f"input {name!r}"
        elif entity_key is not None and name == entity_key:
            if entity_ids is not None:
                raise InvalidInput(f"input {name!r} is given twice")
            if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
                raise InvalidInput(f"input {name!r}: entity keys need shape [N] or [N, 1], got {shape}")
            if datatype != "BYTES" and datatype not in INT_RANGES:
                raise InvalidInput(f"input {name!r}: entity keys are BYTES or integers, got datatype {datatype}")
            entity_ids = _entity_ids(f"input {name!r}", data, rows, str if datatype == "BYTES" else int)
        elif (len(shape) == 2 and shape[1] != 1) or tensor_parameters.get("columns") is not None:
            order = tensor_parameters.get("columns", parameters.get("columns"))
            matrix, count = _matrix_tensor(schema, name, datatype, shape, data, order)
            if rows is not None and count != rows:
                raise InvalidInput(f"input {name!r}: {count} rows, but {rows_from} has {rows}")
            rows = count
            rows_from = f"input {name!r}"
            for column, values in matrix.items():
                if column in columns:
                    raise InvalidInput(f"column {column!r} is given twice (in input {name!r} and another input)")
                columns[column] = values
        else:
            raise InvalidInput(f"unexpected input {name!r}: the model takes {', '.join(schema.names)}")

    if "entity_ids" in parameters:
        if entity_ids is not None:
            raise InvalidInput(
                f"entity keys are given twice, in input {entity_key!r} and in parameters.entity_ids: give one of them"
            )
        entity_ids = _entity_ids("parameters.entity_ids", parameters["entity_ids"], rows)
    if rows is None:
        rows = len(entity_ids) if entity_ids else 0
    elif entity_ids is not None and len(entity_ids) != rows:
        raise InvalidInput(f"{len(entity_ids)} entity keys for {rows} rows")
    if rows == 0:
        raise InvalidInput("the request holds no rows")
    if binary is not None:
        binary.finish()
    missing = [n for n in schema.names if n not in columns] if len(columns) != len(schema.inputs) else []
    decoded = DecodedRequest(columns, rows, request_id, entity_ids, missing, _requested_outputs(payload, schema))
    decoded.binary_output, decoded.binary_outputs = wants_binary(payload)
    return decoded


def _requested_outputs(payload: Mapping[str, Any], schema: ModelSchema) -> list[str] | None:
    """The names of the v2 request's ``outputs``, each one the model has; None when it names none."""
    requested = payload.get("outputs")
    if requested is None:
        return None
    if not isinstance(requested, list) or not requested:
        raise InvalidInput("'outputs' must be a non-empty list of objects with a 'name', or left out for all outputs")
    available = [o.name for o in schema.outputs]
    names: list[str] = []
    for index, item in enumerate(requested):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"outputs[{index}]: expected an object with a non-empty 'name'")
        if name not in available:
            raise InvalidInput(f"outputs[{index}]: the model has no output {name!r}; it has {', '.join(available)}")
        if name in names:
            raise InvalidInput(f"outputs[{index}]: output {name!r} is requested twice")
        names.append(name)
    return names


def decode_predict_request(payload: Any, schema: ModelSchema, entity_key: str | None = None) -> DecodedRequest:
    """Validate a v1 ``{"instances": [{column: value, ...}, ...]}`` request."""
    if not isinstance(payload, dict) or not isinstance(payload.get("instances"), list) or not payload["instances"]:
        raise InvalidInput('request body must be {"instances": [{...one object per row...}]}')
    instances: list[Any] = payload["instances"]
    for index, record in enumerate(instances):
        if not isinstance(record, dict):
            raise InvalidInput(f"instances[{index}] must be an object of column values")
        for key in record:
            if key not in schema.by_name and key != entity_key:
                raise InvalidInput(
                    f"instances[{index}]: unexpected field {key!r}; the model takes {', '.join(schema.names)}"
                )
    columns: Columns = {}
    missing: list[str] = []
    for spec in schema.inputs:
        present = [spec.name in record for record in instances]
        if not any(present):
            missing.append(spec.name)
            continue
        if not all(present):
            index = present.index(False)
            raise InvalidInput(f"instances[{index}]: field {spec.name!r} is missing (expected {spec.datatype})")
        columns[spec.name] = spec.convert(f"field {spec.name!r}", [record[spec.name] for record in instances])
    entity_ids = None
    if entity_key is not None and any(entity_key in record for record in instances):
        entity_ids = _entity_ids(f"field {entity_key!r}", [record.get(entity_key) for record in instances], None)
    return DecodedRequest(columns, len(instances), None, entity_ids, missing)


def check_columns_complete(schema: ModelSchema, columns: Mapping[str, np.ndarray], rows: int) -> None:
    """Raise unless every model column is present with ``rows`` values."""
    for spec in schema.inputs:
        values = columns.get(spec.name)
        if values is None:
            raise InvalidInput(
                f"missing input {spec.name!r} ({spec.datatype}, shape [N]); the model takes {', '.join(schema.names)}"
            )
        if len(values) != rows:
            raise InvalidInput(f"input {spec.name!r}: {len(values)} values for {rows} rows")


def columns_from_records(schema: ModelSchema, records: Sequence[Mapping[str, Any]]) -> Columns:
    """Arrays for the model columns from row records (input examples); values are validated."""
    return {s.name: s.convert(f"column {s.name!r}", [r[s.name] for r in records]) for s in schema.inputs}
