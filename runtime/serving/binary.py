"""The Open Inference Protocol's binary tensor data extension (what ``tritonclient`` sends with ``binary_data=True``).

A request whose ``Inference-Header-Content-Length`` header is ``L`` holds the JSON inference request in its first
``L`` bytes and, after it, the raw data of every input whose ``parameters.binary_data_size`` is set, in the order
of ``inputs``. Data is little-endian and row-major without padding; BOOL is one byte (0 or 1) per element and
BYTES is, per element, a 4-byte little-endian length followed by that many bytes (UTF-8 text here).

Outputs go back as binary data when the request asks: ``parameters.binary_data`` on a requested output, else
``parameters.binary_data_output`` on the request. The response is then the JSON response, whose binary outputs
carry ``parameters.binary_data_size`` instead of ``data``, followed by their bytes, and its
``Inference-Header-Content-Length`` header gives the JSON's length.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from .errors import InvalidInput

__all__ = [
    "BINARY_DTYPES",
    "HEADER_LENGTH",
    "BinaryInputs",
    "encode_response",
    "split_body",
    "wants_binary",
]

HEADER_LENGTH = b"inference-header-content-length"
"""The request and response header that gives the length of the JSON part of the body."""
BINARY_DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("u1"),
    "UINT8": np.dtype("u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
"""Wire layout of each fixed-size datatype (BYTES is length-prefixed)."""
_LENGTH = struct.Struct("<I")


def split_body(body: bytes, header_length: str) -> tuple[bytes, memoryview]:
    """``(JSON part, binary part)`` of a body whose ``Inference-Header-Content-Length`` is ``header_length``."""
    if not (header_length.isascii() and header_length.isdigit()):
        raise InvalidInput(
            f"Inference-Header-Content-Length must be the byte length of the JSON part, got {header_length!r}"
        )
    length = int(header_length)
    if length > len(body):
        raise InvalidInput(
            f"Inference-Header-Content-Length is {length} but the body holds {len(body)} bytes; it must give the "
            "length of the JSON part, which the tensor data follows"
        )
    view = memoryview(body)
    return body[:length], view[length:]


def _bytes_elements(where: str, raw: memoryview, count: int) -> np.ndarray:
    values = np.empty(count, dtype=object)
    offset, size = 0, len(raw)
    for index in range(count):
        if offset + 4 > size:
            raise InvalidInput(
                f"{where}: binary_data_size {size} ends inside element {index} of {count}; each BYTES element is "
                "a 4-byte little-endian length and that many bytes"
            )
        (length,) = _LENGTH.unpack_from(raw, offset)
        offset += 4
        if offset + length > size:
            raise InvalidInput(f"{where}: element {index} announces {length} bytes, beyond binary_data_size {size}")
        try:
            values[index] = str(raw[offset : offset + length], "utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"{where}: element {index} is not UTF-8 text") from None
        offset += length
    if offset != size:
        raise InvalidInput(f"{where}: binary_data_size is {size} but its {count} BYTES elements take {offset} bytes")
    return values


class BinaryInputs:
    """The binary part of a request, handed out tensor by tensor in the order of ``inputs``."""

    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.offset = 0

    def take(self, where: str, datatype: str, shape: list[int], size: Any) -> np.ndarray:
        """The flat array of one input whose ``parameters.binary_data_size`` is ``size``."""
        if type(size) is not int or size < 0:
            raise InvalidInput(f"{where}: parameters.binary_data_size must be a non-negative integer, got {size!r}")
        left = len(self.data) - self.offset
        if size > left:
            raise InvalidInput(
                f"{where}: parameters.binary_data_size is {size} but only {left} bytes of binary data remain after "
                "the earlier inputs; the sizes must add up to the body length minus Inference-Header-Content-Length"
            )
        raw = self.data[self.offset : self.offset + size]
        self.offset += size
        count = math.prod(shape)
        if datatype == "BYTES":
            if count * _LENGTH.size > size:  # checked before an array of `count` objects is allocated
                raise InvalidInput(
                    f"{where}: shape {shape} of BYTES has {count} elements, which take at least {count * _LENGTH.size} "
                    f"bytes (a 4-byte length each), but parameters.binary_data_size is {size}"
                )
            return _bytes_elements(where, raw, count)
        dtype = BINARY_DTYPES[datatype]
        if size != count * dtype.itemsize:
            raise InvalidInput(
                f"{where}: parameters.binary_data_size is {size} but shape {shape} of {datatype} takes "
                f"{count * dtype.itemsize} bytes ({count} x {dtype.itemsize})"
            )
        array = np.frombuffer(raw, dtype=dtype)
        if datatype == "BOOL":
            if array.size and array.max() > 1:
                raise InvalidInput(f"{where}: BOOL elements must be bytes 0 or 1")
            return array.view(np.bool_)
        return array.astype(dtype.newbyteorder("="), copy=False)

    def finish(self) -> None:
        """Raise unless every byte of the binary part was claimed by an input."""
        left = len(self.data) - self.offset
        if left:
            raise InvalidInput(
                f"the body holds {left} bytes of binary data beyond what the inputs' parameters.binary_data_size "
                "claim; check Inference-Header-Content-Length and each binary_data_size"
            )


def wants_binary(payload: Mapping[str, Any]) -> tuple[bool, dict[str, bool]]:
    """``(binary_data_output of the request, binary_data per requested output name)``; the second overrides."""
    parameters = payload.get("parameters")
    default = parameters.get("binary_data_output", False) if isinstance(parameters, dict) else False
    if type(default) is not bool:
        raise InvalidInput(f"parameters.binary_data_output must be true or false, got {default!r}")
    chosen: dict[str, bool] = {}
    for index, item in enumerate(payload.get("outputs") or ()):
        if not isinstance(item, dict):
            continue
        parameters = item.get("parameters")
        if parameters is None:  # absent or null
            continue
        if not isinstance(parameters, dict):
            raise InvalidInput(f"outputs[{index}].parameters must be an object, got {parameters!r}")
        flag = parameters.get("binary_data")
        if flag is None:
            continue
        if type(flag) is not bool:
            raise InvalidInput(f"outputs[{index}].parameters.binary_data must be true or false, got {flag!r}")
        chosen[str(item.get("name"))] = flag
    return default, chosen


def _tensor_bytes(tensor: Mapping[str, Any]) -> bytes:
    data = tensor["data"]
    datatype = tensor["datatype"]
    if datatype == "BYTES":
        parts = []
        for value in data:
            text = value if isinstance(value, bytes) else str(value).encode()
            parts.append(_LENGTH.pack(len(text)))
            parts.append(text)
        return b"".join(parts)
    array = np.asarray(data)
    return np.ascontiguousarray(array, dtype=BINARY_DTYPES[datatype]).tobytes()


def encode_response(head: dict[str, Any], tensors: list[dict[str, Any]], binary: list[bool]) -> tuple[bytes, int]:
    """``(body, JSON length)`` of a v2 response whose ``tensors`` flagged in ``binary`` follow as binary data."""
    blobs = []
    outputs = []
    for tensor, as_binary in zip(tensors, binary, strict=True):
        if not as_binary:
            outputs.append(tensor)
            continue
        blob = _tensor_bytes(tensor)
        blobs.append(blob)
        entry = {k: v for k, v in tensor.items() if k != "data"}
        entry["parameters"] = {**(tensor.get("parameters") or {}), "binary_data_size": len(blob)}
        outputs.append(entry)
    header = orjson.dumps({**head, "outputs": outputs}, option=orjson.OPT_SERIALIZE_NUMPY)
    return header + b"".join(blobs), len(header)
