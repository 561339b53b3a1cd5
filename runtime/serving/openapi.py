"""Pydantic descriptions of the request and response bodies, used only for the OpenAPI document.

The request path decodes JSON itself (orjson and compiled per-signature checks); these models only
document the wire format at ``/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "DOC_MODELS",
    "ErrorBody",
    "InferenceRequest",
    "InferenceResponse",
    "LiveResponse",
    "MetadataTensor",
    "ModelMetadata",
    "ModelReadyResponse",
    "PredictRequest",
    "PredictResponse",
    "ReadyResponse",
    "RequestInput",
    "ResponseOutput",
    "ServerMetadata",
]

Datatype = str


class RequestInput(BaseModel):
    """One input tensor: a feature column (shape [N] or [N, 1]) or several columns (shape [N, K])."""

    name: str = Field(description="Feature column name, or any name for an [N, K] tensor of several columns")
    shape: list[int]
    datatype: Datatype = Field(description="BOOL, INT32, INT64, FP32, FP64 or BYTES")
    parameters: dict[str, Any] | None = Field(
        default=None, description="'columns': column order of an [N, K] tensor (default: signature order)"
    )
    data: list[Any] = Field(description="Values, flat in row-major order or nested by shape")


class InferenceRequest(BaseModel):
    """Open Inference Protocol v2 inference request."""

    id: str | None = None
    parameters: dict[str, Any] | None = Field(
        default=None,
        description="'content_type': 'np' or 'pd'; 'columns': order of an [N, K] tensor; "
        "'entity_ids': keys whose missing features are looked up online",
    )
    inputs: list[RequestInput]
    outputs: list[dict[str, Any]] | None = None


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: Datatype
    parameters: dict[str, Any] | None = Field(
        default=None, description="The classes of `probabilities` (columns in this order), the class of `probability`."
    )
    data: list[Any]


class InferenceResponse(BaseModel):
    """Open Inference Protocol v2 inference response."""

    model_name: str
    model_version: str
    id: str
    outputs: list[ResponseOutput]


class MetadataTensor(BaseModel):
    name: str
    datatype: Datatype
    shape: list[int]
    parameters: dict[str, Any] | None = None


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]
    parameters: dict[str, Any] | None = Field(
        default=None,
        description="`format`: `onnx` (ONNX Runtime) or `native` (the MLflow flavor); `format_reason`: why.",
    )


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class LiveResponse(BaseModel):
    live: bool


class ReadyResponse(BaseModel):
    ready: bool


class ModelReadyResponse(BaseModel):
    name: str
    ready: bool


class PredictRequest(BaseModel):
    """v1 request: one object of column values per row."""

    instances: list[dict[str, Any]]


class PredictResponse(BaseModel):
    predictions: list[Any]
    model_version: str
    labels: list[Any] | None = Field(default=None, description="Predicted class per row (classifiers).")


class ErrorBody(BaseModel):
    """Every error: the message names the tensor or field at fault and what was expected."""

    error: str


DOC_MODELS: tuple[type[BaseModel], ...] = (
    InferenceRequest,
    InferenceResponse,
    ModelMetadata,
    ServerMetadata,
    PredictRequest,
    PredictResponse,
    ErrorBody,
)
"""Models whose schemas are added to the document's components."""
