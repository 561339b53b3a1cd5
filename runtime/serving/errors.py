"""Typed serving errors, each mapped to the HTTP status it is answered with.

Every error is answered with the body ``{"error": "<message>"}``; messages name the tensor, column
or field at fault and what was expected.
"""

from __future__ import annotations

__all__ = [
    "FeatureLookupFailed",
    "InvalidInput",
    "ModelLoadError",
    "ModelNotFound",
    "ModelNotReady",
    "ModelRefused",
    "PayloadTooLarge",
    "PredictionFailed",
    "RequestTimeout",
    "ServingError",
    "UnsupportedMediaType",
]


class ServingError(Exception):
    """Base of the errors a request can be answered with."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ServingError):  # noqa: N818 (kserve's names)
    """The request does not match the protocol or the model signature."""

    status_code = 400


class ModelNotFound(ServingError):  # noqa: N818 (kserve's names)
    """No model (or model version) of that name is served here."""

    status_code = 404


class RequestTimeout(ServingError):  # noqa: N818 (kserve's names)
    """The request body stopped arriving before its end (shorter than its Content-Length)."""

    status_code = 408


class PayloadTooLarge(ServingError):  # noqa: N818 (kserve's names)
    """The request body exceeds ``max_payload_bytes``."""

    status_code = 413


class UnsupportedMediaType(ServingError):  # noqa: N818 (kserve's names)
    """The request body is not JSON."""

    status_code = 415


class PredictionFailed(ServingError):  # noqa: N818 (kserve's names)
    """The model raised on input that passed validation."""

    status_code = 500


class ModelNotReady(ServingError):  # noqa: N818 (kserve's names)
    """The model is not loaded and warmed up yet."""

    status_code = 503


class ModelLoadError(RuntimeError):
    """A model version could not be loaded; the load may succeed when retried."""


class ModelRefused(ModelLoadError):  # noqa: N818 (kserve's names)
    """A model version was refused (digest mismatch, no usable signature, failed warm-up); retrying cannot help."""


class FeatureLookupFailed(ServingError):  # noqa: N818 (kserve's names)
    """The online feature store did not answer."""

    status_code = 503
