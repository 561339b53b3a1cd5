"""The model server: Open Inference Protocol v2 over HTTP for one registered model, following its alias.

Layers, bottom up: :mod:`.schema` (columns and compiled checks from the MLflow signature),
:mod:`.binary` (the binary tensor data extension), :mod:`.protocol` (v2/v1 request decoding),
:mod:`.encoding` (response bodies), :mod:`.model` and :mod:`.loader` (ONNX or native-flavor loading,
digest verification, warm-up), :mod:`.manager` (hot reload), :mod:`.batching` (adaptive micro-batching),
:mod:`.prediction_log` (parquet logs for drift), :mod:`.metrics`, :mod:`.state` (the request path),
:mod:`.app` (routes) and :mod:`.server` (uvicorn). Errors are in :mod:`.errors`.
"""

from .app import create_app
from .errors import (
    FeatureLookupFailed,
    InvalidInput,
    ModelLoadError,
    ModelNotFound,
    ModelNotReady,
    ModelRefused,
    PayloadTooLarge,
    PredictionFailed,
    RequestTimeout,
    ServingError,
    UnsupportedMediaType,
)
from .features import FeatureLookup, StaticFeatureLookup
from .loader import MlflowModelSource, ModelSource
from .model import ServedModel
from .server import serve

__all__ = [
    "FeatureLookup",
    "FeatureLookupFailed",
    "InvalidInput",
    "MlflowModelSource",
    "ModelLoadError",
    "ModelNotFound",
    "ModelNotReady",
    "ModelRefused",
    "ModelSource",
    "PayloadTooLarge",
    "PredictionFailed",
    "RequestTimeout",
    "ServedModel",
    "ServingError",
    "StaticFeatureLookup",
    "UnsupportedMediaType",
    "create_app",
    "serve",
]
