"""One server process's state and the request path of ``infer`` and ``:predict``: read, decode, enrich, batch,
record, encode.

Per request the path does a fixed amount of Python work; what grows with the rows (decoding, the model call,
the prediction log, the prediction histogram) is whole-array numpy work, and the prediction log and the
histogram are only handed references here, their work done later off the request path.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

import orjson
from pulumi_mlops.runtime.config import RuntimeSettings, ServingSpec
from pydantic import TypeAdapter, ValidationError
from starlette.types import Receive, Scope

from .batching import MicroBatcher
from .binary import HEADER_LENGTH, BinaryInputs, split_body
from .compression import inflate
from .encoding import Answer, encode_v1, encode_v2
from .errors import (
    FeatureLookupFailed,
    InvalidInput,
    ModelNotFound,
    ModelNotReady,
    PayloadTooLarge,
    RequestTimeout,
    ServingError,
    UnsupportedMediaType,
)
from .features import FeatureLookup
from .loader import ModelSource
from .manager import ModelManager
from .metrics import ServingMetrics
from .model import ServedModel
from .prediction_log import PredictionLogger
from .protocol import (
    Columns,
    DecodedRequest,
    check_columns_complete,
    decode_infer_request,
    decode_predict_request,
)
from .tensors import parse_json

__all__ = ["OTHER_MODEL", "RequestHeaders", "ServerState"]

OTHER_MODEL = "_unknown"
"""The ``model`` label of requests for a model this server does not serve (no label per arbitrary URL path)."""
log = logging.getLogger(__name__)


class RequestHeaders:
    """The request headers the inference path reads, found in one pass."""

    __slots__ = ("content_encoding", "content_length", "content_type", "header_length", "request_id")

    def __init__(self, scope: Scope) -> None:
        self.content_type: str | None = None
        self.content_length: str | None = None
        self.content_encoding: str | None = None
        """``Content-Encoding``: the body is compressed (gzip or deflate)."""
        self.header_length: str | None = None
        """``Inference-Header-Content-Length``: binary tensor data follows this many bytes of JSON."""
        self.request_id: str | None = None
        for key, value in scope["headers"]:
            if key == b"content-type":
                self.content_type = value.decode("latin-1")
            elif key == b"content-length":
                self.content_length = value.decode("latin-1")
            elif key == HEADER_LENGTH:
                self.header_length = value.decode("latin-1").strip()
            elif key == b"x-request-id":
                self.request_id = value.decode("latin-1")
            elif key == b"content-encoding":
                self.content_encoding = value.decode("latin-1")


class ServerState:
    """Everything one server process holds: the model manager, batcher, logger and metrics."""

    def __init__(
        self,
        spec: ServingSpec,
        source: ModelSource,
        *,
        settings: RuntimeSettings | None = None,
        feature_lookup: FeatureLookup | None = None,
        metrics: ServingMetrics | None = None,
    ) -> None:
        settings = settings or RuntimeSettings.from_env()
        self.spec = spec
        self.metrics = metrics or ServingMetrics()
        self.manager = ModelManager(spec.model, source, self.metrics, spec.reload_poll_seconds)
        self.feature_lookup = feature_lookup
        self.entity_key = feature_lookup.entity_key if feature_lookup is not None else None
        self.arriving = 0
        prefix = uuid.uuid4().hex[:16]
        self._request_ids = (f"{prefix}-{n}" for n in itertools.count())
        """IDs of requests that bring none: unique across replicas (a random prefix per process), cheaper than a
        uuid4 per request."""
        self.batcher = MicroBatcher(
            spec.max_batch_size,
            spec.max_batch_wait_ms,
            arriving=lambda: self.arriving,
            on_batch=self._on_batch,
        )
        self.prediction_log = PredictionLogger(
            spec.prediction_log,
            settings.resolved_prediction_log_uri(),
            self.metrics,
            s3_endpoint_url=settings.s3_endpoint_url,
            model=spec.model.name,
        )
        self._batch_sizes = self.metrics.batch_size.labels(spec.model.name)
        self._model_cpu = self.metrics.model_cpu.labels(spec.model.name)
        self._model_cpu_counted = 0.0

    def _on_batch(
        self, model: ServedModel, requests: list[tuple[str, int]], columns: Columns, predictions: Any
    ) -> None:
        self._batch_sizes.observe(len(predictions))
        spent = self.batcher.model_cpu_seconds
        self._model_cpu.inc(spent - self._model_cpu_counted)
        self._model_cpu_counted = spent
        scores = model.score_values(predictions)
        if scores is not None:
            self.metrics.predictions.observe(model.name, model.version, scores)
        self.prediction_log.record(model.version, model.schema.names, columns, model.log_values(predictions), requests)

    def model_for(self, name: str, version: str | None = None) -> ServedModel:
        """The served model if ``name`` (and ``version``) match it."""
        if name != self.spec.model.name:
            raise ModelNotFound(f"model {name!r} is not served here; this server serves {self.spec.model.name!r}")
        model = self.manager.current
        if model is None:
            detail = f": {self.manager.last_error}" if self.manager.last_error else ""
            raise ModelNotReady(f"model {name!r} is not loaded yet{detail}")
        if version is not None and version != model.version:
            raise ModelNotFound(f"model {name!r} version {version!r} is not served; version {model.version} is")
        return model

    async def read_body(self, receive: Receive, headers: RequestHeaders) -> bytes:
        """The body, refused with 415 unless JSON (or JSON and binary tensor data), with 413 beyond
        ``max_payload_bytes`` (as sent, and once inflated when it is compressed), and with 408 when its next part
        takes longer than ``body_timeout_seconds``."""
        content_type = headers.content_type
        if content_type is not None and "json" not in content_type and headers.header_length is None:
            raise UnsupportedMediaType(
                f"content-type {content_type!r} is not supported; send application/json, or JSON followed by binary "
                "tensor data with an Inference-Header-Content-Length header"
            )
        limit = self.spec.max_payload_bytes
        length = headers.content_length
        if length is not None and length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(f"request body of {length} bytes exceeds max_payload_bytes ({limit})")
        chunks = []
        size = 0
        while True:
            try:
                async with asyncio.timeout(self.spec.body_timeout_seconds):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(
                    f"the request body stopped after {size} of {length or 'the announced'} bytes and nothing more "
                    f"arrived in {self.spec.body_timeout_seconds:g} s (body_timeout_seconds)"
                ) from None
            if message["type"] == "http.disconnect":
                raise InvalidInput("the client disconnected before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"request body exceeds max_payload_bytes ({limit})")
            chunks.append(chunk)
            if not message.get("more_body", False):
                body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                return body if headers.content_encoding is None else inflate(body, headers.content_encoding, limit)

    async def enrich(self, model: ServedModel, decoded: DecodedRequest) -> None:
        """Look up the features the request left out, by its entity keys."""
        if decoded.missing and decoded.entity_ids is not None and self.feature_lookup is not None:
            loop = asyncio.get_running_loop()
            try:
                found = await loop.run_in_executor(
                    None, self.feature_lookup.get_features, decoded.entity_ids, list(decoded.missing)
                )
            except Exception as exc:
                raise FeatureLookupFailed(f"online feature lookup for {self.entity_key} failed: {exc}") from exc
            for name in decoded.missing:
                values = found.get(name)
                if values is None or len(values) != decoded.rows:
                    raise InvalidInput(f"feature {name!r} was not found online for the given {self.entity_key} keys")
                spec = model.schema.by_name[name]
                decoded.columns[name] = spec.convert(f"feature {name!r} looked up by {self.entity_key}", list(values))
            decoded.missing = []
        check_columns_complete(model.schema, decoded.columns, decoded.rows)

    async def respond(self, scope: Scope, receive: Receive, name: str, version: str | None, v2: bool) -> Answer:
        """Answer one v2 ``infer`` (``v2``) or v1 ``:predict`` request."""
        start = time.perf_counter()
        self.arriving += 1
        arriving = True
        status = 200
        label_version = ""
        try:
            model = self.model_for(name, version)
            label_version = model.version
            headers = RequestHeaders(scope)
            body = await self.read_body(receive, headers)
            explain = _wants_explanations(scope)
            if v2:
                if explain:
                    raise InvalidInput(
                        f"explanations are answered on POST /v1/models/{name}:predict?explain=true; "
                        "the v2 infer route has none"
                    )
                binary = None
                if headers.header_length is not None:
                    body, rest = split_body(body, headers.header_length)
                    binary = BinaryInputs(rest)
                decoded = decode_infer_request(parse_json(body), model.schema, self.entity_key, binary)
            else:
                decoded = decode_predict_request(parse_json(body), model.schema, self.entity_key)
            await self.enrich(model, decoded)
            self.arriving -= 1
            arriving = False
            request_id = decoded.request_id
            if request_id is None:
                request_id = headers.request_id or next(self._request_ids)
            predictions = await self.batcher.predict(model, decoded.columns, decoded.rows, request_id)
            if v2:
                body, json_length = encode_v2(model, request_id, predictions, decoded)
                return 200, body, json_length
            explained = None
            if explain:
                try:
                    explained = await asyncio.get_running_loop().run_in_executor(
                        None, model.explain_columns, decoded.columns
                    )
                except ValueError as exc:
                    raise InvalidInput(str(exc)) from None
            return 200, encode_v1(model, request_id, predictions, explained), None
        except ServingError as exc:
            status = exc.status_code
            return status, orjson.dumps({"error": exc.message}), None
        except Exception as exc:
            log.exception("request to %s failed", name)
            status = 500
            return status, orjson.dumps({"error": f"internal error: {exc}"}), None
        finally:
            if arriving:
                self.arriving -= 1
            served = name if name == self.spec.model.name else OTHER_MODEL
            self.metrics.observe_request(served, label_version, status, time.perf_counter() - start)

    async def startup(self) -> None:
        self.batcher.start()
        self.prediction_log.start()
        self.manager.start()

    async def shutdown(self) -> None:
        await self.manager.stop()
        await self.batcher.stop()
        await self.prediction_log.close()


_FLAG = TypeAdapter(bool)
"""Reads a query flag as pydantic reads a boolean (true/false, 1/0, yes/no, on/off, t/f, y/n; any case)."""


def _wants_explanations(scope: Scope) -> bool:
    """``?explain=true`` (or another boolean spelling, :data:`_FLAG`) on the request; False for a false one, an
    empty one or none."""
    query = scope.get("query_string", b"")
    if not query:
        return False
    wanted = False
    for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if key != "explain":
            continue
        if not value.strip():
            wanted = False
            continue
        try:
            wanted = _FLAG.validate_python(value.strip())
        except ValidationError:
            raise InvalidInput(f"query parameter explain must be true or false, got {value!r}") from None
    return wanted
