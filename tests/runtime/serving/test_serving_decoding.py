"""The request path's shortcuts give what the full checks give: the plain-column decoder, the float converter's
finiteness test, and response tensors built as lists for a few rows."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import numpy as np
import orjson
import pytest
from pulumi_mlops.runtime.serving import model as model_module
from pulumi_mlops.runtime.serving import protocol
from pulumi_mlops.runtime.serving.encoding import encode_v2
from pulumi_mlops.runtime.serving.errors import InvalidInput
from pulumi_mlops.runtime.serving.model import ServedModel
from pulumi_mlops.runtime.serving.protocol import decode_infer_request
from pulumi_mlops.runtime.serving.schema import ColumnSpec, ModelSchema, OutputSpec
from pulumi_mlops.runtime.serving.tensors import parse_json

SCHEMA = ModelSchema(
    (
        ColumnSpec("tenure", "FP64"),
        ColumnSpec("charges", "FP32"),
        ColumnSpec("calls", "INT64"),
        ColumnSpec("plan", "BYTES"),
        ColumnSpec("active", "BOOL"),
        ColumnSpec("score", "FP64", required=False),
    )
)
GOOD: dict[str, Any] = {
    "inputs": [
        {"name": "tenure", "datatype": "FP64", "shape": [2], "data": [1.5, 3]},
        {"name": "charges", "datatype": "FP32", "shape": [2], "data": [20.25, 30.5]},
        {"name": "calls", "datatype": "INT64", "shape": [2], "data": [0, 4]},
        {"name": "plan", "datatype": "BYTES", "shape": [2], "data": ["basic", "pro"]},
        {"name": "active", "datatype": "BOOL", "shape": [2], "data": [True, False]},
        {"name": "score", "datatype": "FP64", "shape": [2], "data": [0.5, None]},
    ]
}


def broken(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """GOOD with the field at ``path`` set to ``value`` (removed when value is ``...``)."""
    payload = copy.deepcopy(GOOD)
    target = payload
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return payload


CASES = {
    "valid": GOOD,
    "float column given ints": broken(("inputs", 0, "data"), [1, 2]),
    "NaN in a required column": broken(("inputs", 0, "data"), [1.5, math.nan]),
    "infinity": broken(("inputs", 0, "data"), [math.inf, 1.0]),
    "finite values whose sum overflows": broken(("inputs", 0, "data"), [1.7e308, 1.7e308]),
    "FP32 overflow": broken(("inputs", 1, "data"), [1e39, 1.0]),
    "FP32 integer overflow": broken(("inputs", 1, "data"), [10**39, 1]),
    "NaN in an optional column": broken(("inputs", 5, "data"), [math.nan, 1.0]),
    "string in a number column": broken(("inputs", 0, "data"), ["1", 2.0]),
    "int column given a float": broken(("inputs", 2, "data"), [1.5, 2]),
    "int out of range": broken(("inputs", 2, "data"), [2**63, 1]),
    "null in a string column": broken(("inputs", 3, "data"), ["basic", None]),
    "number in a bool column": broken(("inputs", 4, "data"), [1, True]),
    "wrong datatype": broken(("inputs", 0, "datatype"), "BYTES"),
    "unknown datatype": broken(("inputs", 0, "datatype"), "FP128"),
    "shape disagrees with data": broken(("inputs", 0, "shape"), [3]),
    "rows disagree between inputs": broken(("inputs", 1), {**GOOD["inputs"][1], "shape": [1], "data": [1.0]}),
    "shape [N, 1] with nested data": broken(
        ("inputs", 0), {**GOOD["inputs"][0], "shape": [2, 1], "data": [[1.0], [2.0]]}
    ),
    "shape not a list": broken(("inputs", 0, "shape"), 2),
    "negative shape": broken(("inputs", 0, "shape"), [-2]),
    "boolean as shape": broken(("inputs", 0, "shape"), [True]),
    "data not a list": broken(("inputs", 0, "data"), "1.5"),
    "name not a string": broken(("inputs", 0, "name"), ["tenure"]),
    "unknown input": broken(("inputs", 0, "name"), "tenur"),
    "input given twice": broken(("inputs", 1), GOOD["inputs"][0]),
    "tensor with parameters": broken(("inputs", 0, "parameters"), {"content_type": "np"}),
    "tensor with an unknown field": broken(("inputs", 0, "extra"), 1),
    "tensor missing its data": broken(("inputs", 0, "data"), ...),
    "tensor not an object": broken(("inputs", 0), ["tenure"]),
    "no rows": {"inputs": [{"name": "tenure", "datatype": "FP64", "shape": [0], "data": []}]},
}


def outcome(payload: dict[str, Any]) -> Any:
    try:
        decoded = decode_infer_request(payload, SCHEMA)
    except InvalidInput as exc:
        return ("error", exc.message)
    return (
        "ok",
        decoded.rows,
        decoded.missing,
        {name: (values.dtype.str, repr(values.tolist())) for name, values in decoded.columns.items()},
    )


@pytest.mark.parametrize("payload", CASES.values(), ids=CASES.keys())
def test_the_plain_column_shortcut_decodes_as_the_full_checks(
    payload: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[str] = []
    original = protocol._plain_column

    def counted(*args: Any) -> Any:
        found = original(*args)
        if found is not None:
            taken.append(found[0])
        return found

    monkeypatch.setattr(protocol, "_plain_column", counted)
    fast = outcome(payload)
    monkeypatch.setattr(protocol, "_plain_column", lambda *args: None)
    assert fast == outcome(payload)
    if payload is GOOD:
        assert taken == list(SCHEMA.names)  # every column of a usual request takes the shortcut


def test_non_finite_and_out_of_range_values_are_refused_with_the_column_named() -> None:
    for name, fragment in (
        ("NaN in a required column", "input 'tenure': nan at position 1"),
        ("infinity", "input 'tenure': inf at position 0"),
        ("FP32 overflow", "input 'charges': inf at position 0"),
        ("int out of range", "input 'calls': integer out of range"),
    ):
        result = outcome(CASES[name])
        assert result[0] == "error" and fragment in result[1], name
    assert outcome(CASES["finite values whose sum overflows"])[0] == "ok"
    result = outcome(CASES["NaN in an optional column"])
    assert result[0] == "ok" and result[3]["score"] == ("<f8", "[nan, 1.0]")


def test_integers_whose_exact_sum_overflows_a_float_are_still_accepted() -> None:
    """Each integer fits a float64 though their exact sum does not (a body with NaN is read by the json module,
    which keeps integers exact): the values are checked one by one, not refused."""
    payload = {"inputs": [{"name": "tenure", "datatype": "FP64", "shape": [3], "data": [10**308, 10**308, 0.5]}]}
    decoded = decode_infer_request(payload, SCHEMA)
    assert decoded.columns["tenure"].tolist() == [1e308, 1e308, 0.5]
    payload["inputs"][0]["data"] = [10**308, 10**308, math.inf]
    with pytest.raises(InvalidInput, match=r"input 'tenure': inf at position 2"):
        decode_infer_request(payload, SCHEMA)


def test_an_integer_beyond_float_range_is_a_bad_request() -> None:
    body = json.dumps(broken(("inputs", 0, "data"), [10**400, 1.5])).replace("1.5", "NaN").encode()
    with pytest.raises(InvalidInput, match=r"input 'tenure': inf at position 0; the column takes finite numbers only"):
        decode_infer_request(parse_json(body), SCHEMA)


def served(task: str | None, classes: tuple[Any, ...], outputs: tuple[OutputSpec, ...]) -> ServedModel:
    schema = ModelSchema((ColumnSpec("x", "FP64"),), outputs=outputs)
    return ServedModel("m", "3", schema, predictor=lambda frame: None, task=task, classes=classes)


BINARY_OUTPUTS = (
    OutputSpec("probability", parameters={"class": 1}),
    OutputSpec("probabilities", shape=(-1, 2)),
    OutputSpec("label", "INT64"),
)


@pytest.mark.parametrize(
    "model",
    [
        served("binary", (0, 1), BINARY_OUTPUTS),
        served("binary", ("stay", "churn"), (*BINARY_OUTPUTS[:2], OutputSpec("label", "BYTES"))),
        served("binary", (False, True), (*BINARY_OUTPUTS[:2], OutputSpec("label", "BOOL"))),
        served("regression", (), (OutputSpec("value"),)),
        served(None, (), (OutputSpec("prediction"),)),
    ],
    ids=["int-classes", "string-classes", "bool-classes", "regression", "signature-output"],
)
@pytest.mark.parametrize("rows", [1, 7, model_module.SMALL_ROWS])
def test_small_responses_encode_the_bytes_numpy_would(
    model: ServedModel, rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(rows)
    predictions = rng.random(rows)
    predictions[0] = 0.5  # the threshold itself is the positive class
    if rows > 1:
        predictions[1] = 0.1 + 0.2  # a value whose shortest repr has many digits
    decoded = protocol.DecodedRequest({}, rows)
    small = encode_v2(model, "req-1", predictions, decoded)
    monkeypatch.setattr(model_module, "SMALL_ROWS", 0)
    assert small == encode_v2(model, "req-1", predictions, decoded)
    tensors = orjson.loads(small[0])["outputs"]
    if model.task == "binary":
        assert tensors[2]["data"][0] == model.classes[1]
        assert tensors[1]["shape"] == [rows, 2]


def test_requested_outputs_are_answered_in_the_requested_order_on_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    model = served("binary", (0, 1), BINARY_OUTPUTS)
    decoded = protocol.DecodedRequest({}, 2, outputs=["label", "probability"])
    small = encode_v2(model, "r", np.array([0.2, 0.9]), decoded)
    assert [t["name"] for t in orjson.loads(small[0])["outputs"]] == ["label", "probability"]
    monkeypatch.setattr(model_module, "SMALL_ROWS", 0)
    assert small == encode_v2(model, "r", np.array([0.2, 0.9]), decoded)


NUMERIC = ModelSchema((ColumnSpec("a", "FP64"), ColumnSpec("b", "FP64"), ColumnSpec("c", "INT64")))


def _matrix(datatype: str, data: list[Any], columns: list[str] | None = None) -> dict[str, Any]:
    tensor: dict[str, Any] = {"name": "x", "datatype": datatype, "shape": [len(data) // 3, 3], "data": data}
    if columns is not None:
        tensor["parameters"] = {"columns": columns}
    return {"inputs": [tensor]}


def _decode_error(payload: dict[str, Any], schema: ModelSchema) -> str:
    with pytest.raises(InvalidInput) as caught:
        decode_infer_request(payload, schema)
    return caught.value.message


def test_matrix_tensors_in_schema_order_are_checked_once_per_datatype() -> None:
    schema = ModelSchema(NUMERIC.inputs)
    message = _decode_error(_matrix("BYTES", ["1", "2", "3"]), schema)
    assert "datatype BYTES cannot carry column 'a'" in message
    assert "cannot carry column 'c'" in _decode_error(_matrix("FP64", [1.5, 2.5, 3.0]), schema)
    assert schema.matrix_specs == {}  # a failed check keeps nothing
    assert _decode_error(_matrix("BYTES", ["1", "2", "3"]), schema) == message  # and is made again
    first = decode_infer_request(_matrix("INT64", [1, 2, 3, 4, 5, 6]), schema)
    assert set(schema.matrix_specs) == {"INT64"}
    again = decode_infer_request(_matrix("INT64", [1, 2, 3, 4, 5, 6]), schema)
    for decoded in (first, again):
        np.testing.assert_array_equal(decoded.columns["a"], [1.0, 4.0])
        np.testing.assert_array_equal(decoded.columns["c"], [3, 6])
        assert decoded.columns["c"].dtype == np.int64 and decoded.columns["a"].dtype == np.float64
    # the kept specs still check every value
    assert "expected integers" in _decode_error(_matrix("INT64", [1, 2, 3.5]), schema)
    assert "null at position 0" in _decode_error(_matrix("INT64", [None, 2, 3]), schema)
    assert "cannot carry column 'c'" in _decode_error(_matrix("FP64", [1.5, 2.5, 3.0]), schema)  # per datatype


def test_matrix_tensors_in_a_client_order_are_checked_every_time_and_not_kept() -> None:
    schema = ModelSchema(NUMERIC.inputs)
    decoded = decode_infer_request(_matrix("INT64", [3, 1, 2], columns=["c", "a", "b"]), schema)
    assert (decoded.columns["a"][0], decoded.columns["b"][0], decoded.columns["c"][0]) == (1.0, 2.0, 3)
    assert schema.matrix_specs == {}
    assert "appears twice" in _decode_error(_matrix("INT64", [3, 1, 2], columns=["c", "a", "a"]), schema)
    assert "not a model feature" in _decode_error(_matrix("INT64", [3, 1, 2], columns=["c", "a", "z"]), schema)
    for order in ("a,b,c", ["a", "b", 3]):
        assert "parameters.columns must be a list of column names" in _decode_error(
            _matrix("INT64", [1, 2, 3], order), schema
        )  # type: ignore[arg-type]
    same = decode_infer_request(_matrix("INT64", [1, 2, 3], columns=["a", "b", "c"]), schema)
    assert same.columns["c"][0] == 3 and set(schema.matrix_specs) == {"INT64"}  # the schema's own order is kept


def test_an_all_float_matrix_is_converted_at_once_to_the_columns_datatype() -> None:
    schema = ModelSchema((ColumnSpec("a", "FP32"), ColumnSpec("b", "FP32"), ColumnSpec("c", "FP32")))
    for _ in range(2):
        decoded = decode_infer_request(_matrix("FP64", [1.5, 2.5, 3.0, 4.5, 5.5, 6.0]), schema)
        assert all(decoded.columns[n].dtype == np.float32 for n in "abc")
        np.testing.assert_array_equal(decoded.columns["b"], np.array([2.5, 5.5], dtype=np.float32))
        first, last = decoded.columns["a"], decoded.columns["c"]
        assert first.base is not None and first.base is last.base  # views of one converted block
    assert schema.matrix_specs["FP64"][1] == "FP32"
    assert "finite numbers only" in _decode_error(_matrix("FP64", [1.5, math.inf, 3.0]), schema)
    mixed = ModelSchema((ColumnSpec("a", "FP64"), ColumnSpec("b", "FP32"), ColumnSpec("c", "FP64")))
    decoded = decode_infer_request(_matrix("FP64", [1.5, 2.5, 3.0]), mixed)  # column by column
    assert (decoded.columns["a"].dtype, decoded.columns["b"].dtype) == (np.float64, np.float32)
    assert decoded.columns["a"].base is None or decoded.columns["a"].base is not decoded.columns["c"].base
    assert mixed.matrix_specs["FP64"][1] is None


def _with_matrix(columns: list[str], datatype: str, data: list[Any]) -> dict[str, Any]:
    """GOOD with its first column replaced by a matrix tensor carrying ``columns``."""
    rest = [t for t in GOOD["inputs"] if t["name"] not in columns]
    tensor = {"name": "m", "datatype": datatype, "shape": [2, len(columns)], "data": data}
    return {"inputs": [{**tensor, "parameters": {"columns": columns}}, *rest]}


REFUSED = {
    "datatype a list": (broken(("inputs", 0, "datatype"), ["FP64"]), "input 'tenure': 'datatype' must be one of"),
    "content_type a list": ({**GOOD, "parameters": {"content_type": ["np"]}}, "parameters.content_type must be"),
    "request parameters a falsy list": ({**GOOD, "parameters": []}, "'parameters' must be an object, got []"),
    "tensor parameters a falsy list": (
        broken(("inputs", 0, "parameters"), []),
        "input 'tenure': 'parameters' must be an object",
    ),
    "output parameters a falsy list": (
        {**GOOD, "outputs": [{"name": "probability", "parameters": []}]},
        "outputs[0].parameters must be an object",
    ),
    "int given a float beyond int64": (broken(("inputs", 2, "data"), [1e20, 1]), "out of range for int64"),
    "int beyond 64 bits beside a float": (broken(("inputs", 2, "data"), [2**64, 1.0]), "out of range for int64"),
    "int below int64 read as a float": (
        broken(("inputs", 2, "data"), [-9.223372036854776e18, 1]),
        "out of range for int64",
    ),
    "ragged rows of a column": (
        broken(("inputs", 0), {**GOOD["inputs"][0], "shape": [2, 1], "data": [[1.0, 2.0], []]}),
        "input 'tenure': data[0] holds 2 values but shape [2, 1] needs 1 on axis 1",
    ),
    "ragged rows of a matrix": (
        _with_matrix(["tenure", "score"], "FP64", [[1.0, 2.0, 3.0], [4.0]]),
        "input 'm': data[0] holds 3 values but shape [2, 2] needs 2 on axis 1",
    ),
    "too few rows, nested": (
        _with_matrix(["tenure", "score"], "FP64", [[1.0, 2.0]]),
        "input 'm': data holds 1 items but shape [2, 2] needs 2 on axis 0",
    ),
    "FP32 matrix beyond float32": (_with_matrix(["charges"], "FP32", [[1e39], [1.0]]), "inf at position 0"),
    "INT8 carrying 1000": (
        broken(("inputs", 2), {**GOOD["inputs"][2], "datatype": "INT8", "data": [1000, 1]}),
        "input 'calls': values from 1 to 1000 do not fit the tensor's datatype INT8",
    ),
    "UINT8 carrying -5": (
        broken(("inputs", 2), {**GOOD["inputs"][2], "datatype": "UINT8", "data": [-5, 1]}),
        "do not fit the tensor's datatype UINT8",
    ),
    "INT64 carrying 1.5 into a float column": (
        broken(("inputs", 0, "datatype"), "INT64"),
        "input 'tenure': 1.5 is not an integer, but the tensor's datatype is INT64",
    ),
    "FP16 carrying 1e10": (
        broken(("inputs", 0), {**GOOD["inputs"][0], "datatype": "FP16", "data": [1e10, 1.0]}),
        "do not fit the tensor's datatype FP16",
    ),
    "an empty matrix": (
        {
            "inputs": [
                {
                    "name": "m",
                    "datatype": "FP64",
                    "shape": [0, 2],
                    "data": [],
                    "parameters": {"columns": ["tenure", "score"]},
                }
            ]
        },
        "the request holds no rows",
    ),
    "INT64 matrix carrying floats": (
        _with_matrix(["tenure", "score"], "INT64", [[1.5, 2.0], [3.0, 4.0]]),
        "1.5 is not an integer, but the tensor's datatype is INT64",
    ),
}


@pytest.mark.parametrize(("payload", "fragment"), REFUSED.values(), ids=REFUSED.keys())
def test_values_that_do_not_fit_what_the_request_declares_are_refused(payload: dict[str, Any], fragment: str) -> None:
    result = outcome(payload)
    assert result[0] == "error", result
    assert fragment in result[1], result[1]


def test_narrower_declared_datatypes_that_fit_and_null_parameters_are_accepted() -> None:
    payload = broken(("inputs", 2, "datatype"), "INT8")
    payload["inputs"][0] = {**GOOD["inputs"][0], "datatype": "FP32", "parameters": None}
    payload["parameters"] = None
    assert outcome(payload) == outcome(GOOD)
    matrix = outcome(_with_matrix(["tenure", "score"], "INT32", [[1, 2], [3, 4]]))
    assert matrix[0] == "ok" and matrix[3]["tenure"] == ("<f8", "[1.0, 3.0]")


def test_entity_keys_given_twice_or_of_the_wrong_datatype_are_refused() -> None:
    keys = {"name": "customer_id", "datatype": "BYTES", "shape": [2], "data": ["c1", "c2"]}
    decoded = decode_infer_request({"inputs": [*GOOD["inputs"], keys]}, SCHEMA, "customer_id")
    assert decoded.entity_ids == ["c1", "c2"]
    for payload, fragment in (
        ({"inputs": [*GOOD["inputs"], keys, keys]}, "input 'customer_id' is given twice"),
        (
            {"inputs": [*GOOD["inputs"], keys], "parameters": {"entity_ids": ["c3", "c4"]}},
            "entity keys are given twice, in input 'customer_id' and in parameters.entity_ids",
        ),
        ({"inputs": [*GOOD["inputs"], {**keys, "datatype": "FP64"}]}, "entity keys are BYTES or integers"),
        ({"inputs": [*GOOD["inputs"], {**keys, "datatype": "INT64"}]}, "must hold integers, as its datatype says"),
    ):
        with pytest.raises(InvalidInput) as raised:
            decode_infer_request(payload, SCHEMA, "customer_id")
        assert fragment in raised.value.message


def test_a_body_read_for_its_nan_literals_is_held_to_orjsons_limits() -> None:
    deep = b'{"p": NaN, "inputs": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    with pytest.raises(InvalidInput, match="nested deeper than 1024 levels"):
        parse_json(deep)
    surrogate = b'{"p": NaN, "id": "\\ud800"}'
    with pytest.raises(InvalidInput, match="lone surrogate"):
        parse_json(surrogate)
    with pytest.raises(InvalidInput, match="not valid JSON"):
        parse_json(b'{"id": "\\ud800"}')
    assert parse_json(b'{"a": [NaN, 18446744073709551616, 18446744073709551615]}')["a"][1:] == [
        1.8446744073709552e19,
        18446744073709551615,
    ]
