"""Response bodies of the inference routes: v2 (JSON, or JSON then binary outputs) and v1 ``:predict``."""

from __future__ import annotations

from typing import Any

import orjson

from .binary import encode_response
from .model import ServedModel
from .protocol import DecodedRequest

__all__ = ["Answer", "encode_v1", "encode_v2"]

Answer = tuple[int, bytes, int | None]
"""``(status, body, JSON length)``; the length is set when binary tensor data follows the JSON."""


def encode_v2(
    model: ServedModel, request_id: str, predictions: Any, decoded: DecodedRequest
) -> tuple[bytes, int | None]:
    """The v2 inference response and, when some output goes back as binary data, the length of its JSON part."""
    tensors = model.output_tensors(predictions, decoded.outputs)
    head = {"model_name": model.name, "model_version": model.version, "id": request_id}
    binary = [decoded.output_is_binary(t["name"]) for t in tensors]
    if any(binary):
        return encode_response(head, tensors, binary)
    return orjson.dumps({**head, "outputs": tensors}, option=orjson.OPT_SERIALIZE_NUMPY), None


def encode_v1(
    model: ServedModel,
    request_id: str,
    predictions: Any,
    explanations: list[dict[str, float]] | None = None,
) -> bytes:
    """The v1 ``:predict`` response: predictions, labels of a classifier, explanations when asked for."""
    body: dict[str, Any] = {"predictions": predictions, "model_version": model.version, "id": request_id}
    if model.task in ("binary", "multiclass"):
        body["labels"] = model.labels(predictions).tolist()
    if explanations is not None:
        body["explanations"] = explanations
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
