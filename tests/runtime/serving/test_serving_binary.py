"""The binary tensor data extension: requests built byte for byte as ``tritonclient`` builds them
(``InferInput.set_data_from_numpy(binary_data=True)`` and ``_get_inference_request``), responses read as it reads
them, and bad binary input answered 400 naming the field."""

from __future__ import annotations

import gzip
import json
import struct
import zlib
from typing import Any

import httpx
import numpy as np
import pytest
from serving_support import MODEL, LiveServer, Registry, rows

Tensor = tuple[str, str, np.ndarray]


def _raw(datatype: str, array: np.ndarray) -> bytes:
    """``InferInput._raw_data``: ``tobytes()``, or ``serialize_byte_tensor`` (4-byte little-endian lengths)."""
    if datatype != "BYTES":
        return array.tobytes()
    encoded = [str(v).encode("utf-8") for v in array.ravel()]
    return b"".join(struct.pack("<I", len(item)) + item for item in encoded)


def triton_request(
    tensors: list[Tensor], outputs: list[dict[str, Any]] | None = None, json_tensors: list[dict[str, Any]] = ()
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of ``InferenceServerClient.infer``: inputs with ``binary_data_size``, then their bytes;
    without requested outputs, ``binary_data_output: true``."""
    blobs = [_raw(datatype, array) for _, datatype, array in tensors]
    inputs = [
        {"name": name, "shape": list(array.shape), "datatype": datatype, "parameters": {"binary_data_size": len(blob)}}
        for (name, datatype, array), blob in zip(tensors, blobs, strict=True)
    ]
    request: dict[str, Any] = {"inputs": [*json_tensors, *inputs]}
    if outputs:
        request["outputs"] = outputs
    else:
        request["parameters"] = {"binary_data_output": True}
    header = json.dumps(request).encode()
    return header + b"".join(blobs), {"Inference-Header-Content-Length": str(len(header))}


def read_response(response: httpx.Response) -> dict[str, np.ndarray | list[Any]]:
    """``InferResult``: the JSON part, then each binary output's bytes in order."""
    length = response.headers.get("inference-header-content-length")
    body = response.content
    head = json.loads(body[: int(length)] if length else body)
    offset = int(length) if length else 0
    outputs: dict[str, np.ndarray | list[Any]] = {}
    for output in head["outputs"]:
        size = (output.get("parameters") or {}).get("binary_data_size")
        if size is None:
            outputs[output["name"]] = output["data"]
            continue
        raw = body[offset : offset + size]
        offset += size
        if output["datatype"] == "BYTES":
            items, at = [], 0
            while at < len(raw):
                (n,) = struct.unpack_from("<I", raw, at)
                items.append(raw[at + 4 : at + 4 + n].decode())
                at += 4 + n
            outputs[output["name"]] = items
        else:
            dtype = {"FP64": "<f8", "FP32": "<f4", "INT64": "<i8", "BOOL": "?"}[output["datatype"]]
            outputs[output["name"]] = np.frombuffer(raw, dtype=dtype).reshape(output["shape"])
    assert not length or offset == len(body), "the binary outputs fill the rest of the body"
    return outputs


def _columns(records: list[dict[str, Any]]) -> list[Tensor]:
    return [
        ("tenure", "FP64", np.array([r["tenure"] for r in records], dtype=np.float64)),
        ("monthly_charges", "FP32", np.array([r["monthly_charges"] for r in records], dtype=np.float32)),
        ("support_calls", "INT64", np.array([r["support_calls"] for r in records], dtype=np.int64)),
        ("plan", "BYTES", np.array([r["plan"] for r in records], dtype=object)),
    ]


def test_binary_inputs_and_outputs_as_tritonclient_sends_them(shared_server: LiveServer, registry: Registry) -> None:
    records = rows(6, seed=4)
    body, headers = triton_request(_columns(records))
    response = httpx.post(f"{shared_server.url}/v2/models/{MODEL}/infer", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    outputs = read_response(response)
    version = shared_server.state.manager.current.version
    expected = registry.expected(
        version, [r | {"monthly_charges": float(np.float32(r["monthly_charges"]))} for r in records]
    )
    np.testing.assert_allclose(outputs["probability"], expected, rtol=1e-12)


def test_binary_inputs_with_json_outputs_and_json_inputs_beside(shared_server: LiveServer, registry: Registry) -> None:
    records = rows(3, seed=5)
    binary = [t for t in _columns(records) if t[0] != "tenure"]
    binary[0] = ("monthly_charges", "FP64", np.array([r["monthly_charges"] for r in records], dtype=np.float64))
    plain = [{"name": "tenure", "datatype": "FP64", "shape": [3], "data": [r["tenure"] for r in records]}]
    outputs = [{"name": "probability", "parameters": {"binary_data": False}}]
    body, headers = triton_request(binary, outputs, plain)
    response = httpx.post(f"{shared_server.url}/v2/models/{MODEL}/infer", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert "inference-header-content-length" not in response.headers
    version = shared_server.state.manager.current.version
    np.testing.assert_allclose(read_response(response)["probability"], registry.expected(version, records), rtol=1e-12)


def test_a_binary_matrix_of_several_columns(shared_server: LiveServer, registry: Registry) -> None:
    records = rows(4, seed=6)
    matrix = np.array([[r["monthly_charges"], r["tenure"]] for r in records], dtype=np.float64)
    body, headers = triton_request(
        [("numeric", "FP64", matrix), *[t for t in _columns(records) if t[0] in ("support_calls", "plan")]]
    )
    head_length = int(headers["Inference-Header-Content-Length"])
    request = json.loads(body[:head_length])
    request["inputs"][0]["parameters"]["columns"] = ["monthly_charges", "tenure"]
    header = json.dumps(request).encode()
    body = header + body[head_length:]
    response = httpx.post(
        f"{shared_server.url}/v2/models/{MODEL}/infer",
        content=body,
        headers={"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 200, response.text
    version = shared_server.state.manager.current.version
    np.testing.assert_allclose(read_response(response)["probability"], registry.expected(version, records))


def _resized(tensor: int, size: int) -> tuple[bytes, dict[str, str]]:
    body, headers = triton_request(_columns(rows(2)))
    length = int(headers["Inference-Header-Content-Length"])
    request = json.loads(body[:length])
    request["inputs"][tensor]["parameters"]["binary_data_size"] = size
    header = json.dumps(request).encode()
    return header + body[length:], {"Inference-Header-Content-Length": str(len(header))}


def _edited(change: Any) -> tuple[bytes, dict[str, str]]:
    body, headers = triton_request(_columns(rows(2)))
    length = int(headers["Inference-Header-Content-Length"])
    request = json.loads(body[:length])
    change(request)
    header = json.dumps(request).encode()
    return header + body[length:], {"Inference-Header-Content-Length": str(len(header))}


def _non_utf8() -> tuple[bytes, dict[str, str]]:
    records = rows(2)
    tensors = _columns(records)[:3]
    blob = struct.pack("<I", 2) + b"\xff\xfe" + struct.pack("<I", 4) + b"plus"
    request = {
        "inputs": [
            *(
                {"name": n, "shape": list(a.shape), "datatype": d, "parameters": {"binary_data_size": len(a.tobytes())}}
                for n, d, a in tensors
            ),
            {"name": "plan", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": len(blob)}},
        ]
    }
    header = json.dumps(request).encode()
    return header + b"".join(a.tobytes() for _, _, a in tensors) + blob, {
        "Inference-Header-Content-Length": str(len(header))
    }


def _whole() -> tuple[bytes, dict[str, str]]:
    return triton_request(_columns(rows(2)))


BAD: list[tuple[str, Any, tuple[str, ...]]] = [
    ("size beyond the body", lambda: _resized(3, 10_000), ("input 'plan'", "binary_data_size", "remain")),
    ("size against the shape", lambda: _resized(0, 8), ("input 'tenure'", "binary_data_size is 8", "16 bytes")),
    (
        "bytes left over",
        lambda: (lambda b, h: (b + b"\0\0\0\0", h))(*_whole()),
        ("4 bytes of binary data beyond",),
    ),
    (
        "unknown datatype",
        lambda: _edited(lambda r: r["inputs"][0].update(datatype="BF16")),
        ("input 'tenure'", "'datatype'", "FP64"),
    ),
    (
        "negative size",
        lambda: _edited(lambda r: r["inputs"][1]["parameters"].update(binary_data_size=-1)),
        ("input 'monthly_charges'", "non-negative integer"),
    ),
    (
        "data and size together",
        lambda: _edited(lambda r: r["inputs"][0].update(data=[1.0, 2.0])),
        ("input 'tenure'", "not both"),
    ),
    (
        "header length not a number",
        lambda: (lambda b, h: (b, {"Inference-Header-Content-Length": "many"}))(*_whole()),
        ("Inference-Header-Content-Length", "'many'"),
    ),
    (
        "header length beyond the body",
        lambda: (lambda b, h: (b, {"Inference-Header-Content-Length": str(len(b) + 1)}))(*_whole()),
        ("Inference-Header-Content-Length", "holds"),
    ),
    ("text that is not UTF-8", _non_utf8, ("input 'plan'", "element 0", "UTF-8")),
    (
        "header length in digits that are not ASCII",
        lambda: (lambda b, h: (b, {"Inference-Header-Content-Length": b"\xb2"}))(*_whole()),
        ("Inference-Header-Content-Length", "byte length"),
    ),
    (
        "more text elements than their bytes could hold",
        lambda: _edited(lambda r: r["inputs"][3].update(shape=[10**12])),
        ("input 'plan'", "at least 4000000000000 bytes", "binary_data_size is"),
    ),
    (
        "output parameters that are not an object",
        lambda: _edited(lambda r: r.update(outputs=[{"name": "probability", "parameters": "yes"}])),
        ("outputs[0].parameters", "object"),
    ),
    (
        "size without the header",
        lambda: (lambda b, h: (b[: int(h["Inference-Header-Content-Length"])], {}))(*_whole()),
        ("input 'tenure'", "Inference-Header-Content-Length"),
    ),
]


@pytest.mark.parametrize(("case", "build", "needles"), BAD, ids=[b[0] for b in BAD])
def test_bad_binary_input_is_400_naming_the_field(
    shared_server: LiveServer, case: str, build: Any, needles: tuple[str, ...]
) -> None:
    body, headers = build()
    response = httpx.post(f"{shared_server.url}/v2/models/{MODEL}/infer", content=body, headers=headers)
    assert response.status_code == 400, (case, response.text)
    message = response.json()["error"]
    for needle in needles:
        assert needle in message, (case, message)


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_compressed_request_is_inflated_as_tritonclient_compresses_it(
    shared_server: LiveServer, registry: Registry, coding: str
) -> None:
    """``request_compression_algorithm``: ``gzip.compress`` or ``zlib.compress`` of the whole body, the header
    length still that of the inflated JSON part."""
    records = rows(5, seed=8)
    body, headers = triton_request(_columns(records))
    packed = gzip.compress(body) if coding == "gzip" else zlib.compress(body)
    response = httpx.post(
        f"{shared_server.url}/v2/models/{MODEL}/infer", content=packed, headers={**headers, "Content-Encoding": coding}
    )
    assert response.status_code == 200, response.text
    version = shared_server.state.manager.current.version
    expected = registry.expected(
        version, [r | {"monthly_charges": float(np.float32(r["monthly_charges"]))} for r in records]
    )
    np.testing.assert_allclose(read_response(response)["probability"], expected, rtol=1e-12)


def test_a_gzip_body_of_several_members_is_inflated_whole(shared_server: LiveServer, registry: Registry) -> None:
    """RFC 1952 lets a gzip file hold several members (pigz, streaming compressors); all of them are the body."""
    records = rows(3, seed=9)
    body, headers = triton_request(_columns(records))
    packed = gzip.compress(body[:10]) + gzip.compress(body[10:])
    response = httpx.post(
        f"{shared_server.url}/v2/models/{MODEL}/infer", content=packed, headers={**headers, "Content-Encoding": "gzip"}
    )
    assert response.status_code == 200, response.text
    assert len(read_response(response)["probability"]) == 3


def _post_encoded(server: LiveServer, body: bytes, coding: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v2/models/{MODEL}/infer",
        content=body,
        headers={"Content-Type": "application/json", "Content-Encoding": coding},
    )


def test_bad_compressed_bodies_are_refused_naming_content_encoding(shared_server: LiveServer) -> None:
    request = json.dumps({"inputs": [{"name": "tenure", "datatype": "FP64", "shape": [1], "data": [1.0]}]}).encode()
    unknown = _post_encoded(shared_server, request, "br")
    assert unknown.status_code == 415, unknown.text
    assert "Content-Encoding 'br'" in unknown.json()["error"]
    corrupt = _post_encoded(shared_server, b"not gzip at all", "gzip")
    assert corrupt.status_code == 400, corrupt.text
    assert "not gzip data" in corrupt.json()["error"]
    cut = _post_encoded(shared_server, gzip.compress(request)[:-12], "gzip")
    assert cut.status_code == 400, cut.text
    assert "cut short" in cut.json()["error"]
    limit = shared_server.state.spec.max_payload_bytes
    bomb = _post_encoded(shared_server, gzip.compress(b" " * (limit + 1)), "gzip")
    assert bomb.status_code == 413, bomb.text
    assert "inflates to more than max_payload_bytes" in bomb.json()["error"]
