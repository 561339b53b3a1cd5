"""Bad requests: each is answered 4xx with ``{"error": ...}`` naming the tensor or field, and the server stays up."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from serving_support import MODEL, LiveServer, rows, v2_request

Body = dict[str, Any]


def _edit(change: Callable[[Body], None]) -> Body:
    body = copy.deepcopy(v2_request(rows(2)))
    change(body)
    return body


def _tensor(body: Body, name: str) -> Body:
    return next(t for t in body["inputs"] if t["name"] == name)


def _drop(name: str) -> Callable[[Body], None]:
    return lambda b: b["inputs"].remove(_tensor(b, name))


CASES: list[tuple[str, Body | bytes, int, tuple[str, ...]]] = [
    ("invalid json", b'{"inputs": [', 400, ("not valid JSON",)),
    ("not an object", b"[1, 2]", 400, ("JSON object",)),
    ("no inputs", {"id": "x"}, 400, ("'inputs'",)),
    ("missing feature", _edit(_drop("plan")), 400, ("'plan'", "BYTES")),
    (
        "extra feature",
        _edit(lambda b: b["inputs"].append({"name": "age", "datatype": "FP64", "shape": [2], "data": [1, 2]})),
        400,
        ("'age'", "tenure"),
    ),
    ("wrong datatype", _edit(lambda b: _tensor(b, "tenure").update(datatype="BYTES")), 400, ("'tenure'", "FP64")),
    ("unknown datatype", _edit(lambda b: _tensor(b, "tenure").update(datatype="FLOAT")), 400, ("'tenure'", "FP64")),
    ("string in numbers", _edit(lambda b: _tensor(b, "tenure")["data"].__setitem__(0, "7")), 400, ("'tenure'", "'7'")),
    ("bool in numbers", _edit(lambda b: _tensor(b, "tenure")["data"].__setitem__(0, True)), 400, ("'tenure'",)),
    ("null in required", _edit(lambda b: _tensor(b, "tenure")["data"].__setitem__(0, None)), 400, ("'tenure'", "null")),
    (
        "NaN literal",
        b'{"inputs": [{"name": "tenure", "datatype": "FP64", "shape": [1], "data": [NaN]}]}',
        400,
        ("'tenure'", "finite"),
    ),
    (
        "float in ints",
        _edit(lambda b: _tensor(b, "support_calls")["data"].__setitem__(0, 1.5)),
        400,
        ("'support_calls'",),
    ),
    ("int in strings", _edit(lambda b: _tensor(b, "plan")["data"].__setitem__(0, 3)), 400, ("'plan'", "strings")),
    ("shape vs data", _edit(lambda b: _tensor(b, "tenure").update(shape=[3])), 400, ("'tenure'", "[3]", "holds 2")),
    ("3-d column", _edit(lambda b: _tensor(b, "tenure").update(shape=[1, 2, 1])), 400, ("'tenure'", "[N]")),
    (
        "row counts differ",
        _edit(lambda b: _tensor(b, "tenure").update(shape=[1], data=[1.0])),
        400,
        ("'monthly_charges'", "input 'tenure' has 1", "same N"),
    ),
    ("negative shape", _edit(lambda b: _tensor(b, "tenure").update(shape=[-2])), 400, ("'tenure'", "'shape'")),
    ("data not a list", _edit(lambda b: _tensor(b, "tenure").update(data=5)), 400, ("'tenure'", "'data'")),
    (
        "duplicate tensor",
        _edit(lambda b: b["inputs"].append(copy.deepcopy(b["inputs"][0]))),
        400,
        ("'tenure'", "twice"),
    ),
    ("bad content_type", _edit(lambda b: b.update(parameters={"content_type": "xls"})), 400, ("content_type",)),
    (
        "2-d column count",
        {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 3], "data": [1, 2, 3]}]},
        400,
        ("'x'", "4 (tenure"),
    ),
    (
        "2-d cannot carry strings",
        {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 4], "data": [1, 2, 3, 4]}]},
        400,
        ("'x'", "'support_calls'"),
    ),
    (
        "null in 2-d tensor",
        {
            "inputs": [
                {
                    "name": "x",
                    "datatype": "FP64",
                    "shape": [1, 2],
                    "parameters": {"columns": ["tenure", "monthly_charges"]},
                    "data": [[1.0, None]],
                }
            ]
        },
        400,
        ("'x' column 'monthly_charges'", "null"),
    ),
    ("no rows", _edit(lambda b: [t.update(shape=[0], data=[]) for t in b["inputs"]]), 400, ("no rows",)),
]


@pytest.mark.parametrize(("body", "status", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_infer_request(
    shared_server: LiveServer, body: Body | bytes, status: int, fragments: tuple[str, ...]
) -> None:
    url = f"{shared_server.url}/v2/models/{MODEL}/infer"
    response = httpx.post(url, content=body) if isinstance(body, bytes) else httpx.post(url, json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    for fragment in fragments:
        assert fragment in error, (fragment, error)


def test_payload_too_large_and_media_type(shared_server: LiveServer) -> None:
    url = f"{shared_server.url}/v2/models/{MODEL}/infer"
    big = httpx.post(url, json=v2_request(rows(200)))
    assert big.status_code == 413 and "max_payload_bytes" in big.json()["error"]

    def chunks() -> Any:
        for _ in range(10):
            yield b" " * 1000

    assert httpx.post(url, content=chunks()).status_code == 413
    text = httpx.post(url, content=b"a=1", headers={"content-type": "application/x-www-form-urlencoded"})
    assert text.status_code == 415 and "application/json" in text.json()["error"]


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ({"records": []}, ("instances",)),
        ({"instances": [{"tenure": 1.0}]}, ("monthly_charges",)),
        ({"instances": [rows(1)[0] | {"age": 3}]}, ("'age'",)),
        ({"instances": [rows(1)[0], {k: v for k, v in rows(1)[0].items() if k != "plan"}]}, ("instances[1]", "'plan'")),
        ({"instances": [rows(1)[0] | {"tenure": "x"}]}, ("'tenure'", "numbers")),
    ],
    ids=["no instances", "missing field", "extra field", "ragged records", "wrong type"],
)
def test_bad_v1_request(shared_server: LiveServer, body: Body, fragments: tuple[str, ...]) -> None:
    response = httpx.post(f"{shared_server.url}/v1/models/{MODEL}:predict", json=body)
    assert response.status_code == 400, response.text
    for fragment in fragments:
        assert fragment in response.json()["error"]


def test_server_still_answers_after_bad_input(shared_server: LiveServer) -> None:
    response = httpx.post(f"{shared_server.url}/v2/models/{MODEL}/infer", json=v2_request(rows(1)))
    assert response.status_code == 200
    assert 'status="500"' not in httpx.get(f"{shared_server.url}/metrics").text
