"""The HTTP application: Open Inference Protocol v2 routes, v1 ``:predict``, health, metrics and OpenAPI."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pulumi_mlops.runtime.config import RuntimeSettings, ServingSpec
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from .auth import ApiKeyAuth
from .batching import MicroBatcher
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
from .openapi import DOC_MODELS, ErrorBody, InferenceResponse, ModelMetadata, PredictResponse, ServerMetadata
from .prediction_log import PredictionLogger
from .protocol import (
    Columns,
    DecodedRequest,
    check_columns_complete,
    decode_infer_request,
    decode_predict_request,
    encode_infer_outputs,
    parse_json,
)

__all__ = ["OTHER_MODEL", "SERVER_NAME", "InferenceFastPath", "ServerState", "create_app"]

SERVER_NAME = "pulumi-mlops"
OTHER_MODEL = "_unknown"
"""The ``model`` label of requests for a model this server does not serve (no label per arbitrary URL path)."""
log = logging.getLogger(__name__)
_JSON = "application/json"
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (400, "Invalid input: the message names the tensor or field"),
        (404, "Unknown model or version"),
        (408, "Body not received within body_timeout_seconds (shorter than its Content-Length)"),
        (413, "Body larger than max_payload_bytes"),
        (415, "Body is not JSON"),
        (503, "Model not loaded yet"),
    )
}


def _json(content: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status_code, media_type=_JSON)


def _error(exc: ServingError) -> Response:
    return _json({"error": exc.message}, exc.status_code)


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

    def _on_batch(
        self, model: ServedModel, requests: list[tuple[str, int]], columns: Columns, predictions: Any
    ) -> None:
        self.metrics.batch_size.labels(model.name).observe(len(predictions))
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

    async def read_body(self, scope: Scope, receive: Receive) -> bytes:
        """The body, refused with 415 unless JSON, with 413 beyond ``max_payload_bytes``, and with 408 when its next
        part takes longer than ``body_timeout_seconds`` to arrive."""
        content_type = _header(scope, b"content-type")
        if content_type is not None and "json" not in content_type:
            raise UnsupportedMediaType(f"content-type {content_type!r} is not supported; send application/json")
        limit = self.spec.max_payload_bytes
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(f"request body of {length} bytes exceeds max_payload_bytes ({limit})")
        chunks = []
        size = 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), self.spec.body_timeout_seconds)
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
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

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

    async def respond(
        self,
        scope: Scope,
        receive: Receive,
        name: str,
        version: str | None,
        decode: Callable[[Any, Any, str | None], DecodedRequest],
        encode: Callable[[ServedModel, str, Any, DecodedRequest], bytes],
    ) -> tuple[int, bytes]:
        """The request path of ``infer`` and ``:predict``: read, decode, enrich, batch, log, encode."""
        start = time.perf_counter()
        self.arriving += 1
        arriving = True
        status = 200
        label_version = ""
        try:
            model = self.model_for(name, version)
            label_version = model.version
            decoded = decode(parse_json(await self.read_body(scope, receive)), model.schema, self.entity_key)
            await self.enrich(model, decoded)
            self.arriving -= 1
            arriving = False
            request_id = decoded.request_id or _header(scope, b"x-request-id") or uuid.uuid4().hex
            predictions = await self.batcher.predict(model, decoded.columns, decoded.rows, request_id)
            if encode is _encode_v1 and _wants_explanations(scope):
                try:
                    explained = await asyncio.get_running_loop().run_in_executor(
                        None, model.explain_columns, decoded.columns
                    )
                except ValueError as exc:
                    raise InvalidInput(str(exc)) from None
                return 200, _encode_v1(model, request_id, predictions, decoded, explained)
            return 200, encode(model, request_id, predictions, decoded)
        except ServingError as exc:
            status = exc.status_code
            return status, orjson.dumps({"error": exc.message})
        except Exception as exc:
            log.exception("request to %s failed", name)
            status = 500
            return status, orjson.dumps({"error": f"internal error: {exc}"})
        finally:
            if arriving:
                self.arriving -= 1
            served = name if name == self.spec.model.name else OTHER_MODEL
            self.metrics.observe_request(served, label_version, status, time.perf_counter() - start)

    async def run(
        self,
        request: Request,
        name: str,
        version: str | None,
        decode: Callable[[Any, Any, str | None], DecodedRequest],
        encode: Callable[[ServedModel, str, Any, DecodedRequest], bytes],
    ) -> Response:
        status, body = await self.respond(request.scope, request.receive, name, version, decode, encode)
        return Response(body, status_code=status, media_type=_JSON)

    async def startup(self) -> None:
        self.batcher.start()
        self.prediction_log.start()
        self.manager.start()

    async def shutdown(self) -> None:
        await self.manager.stop()
        await self.batcher.stop()
        await self.prediction_log.close()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


_INFER_PATH = re.compile(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?/infer$")
_PREDICT_PATH = re.compile(r"^/v1/models/([^/:]+):predict$")


class InferenceFastPath:
    """ASGI middleware that answers ``infer`` and ``:predict`` directly, without routing or dependency
    resolution; the same routes are declared on the application for the OpenAPI document."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            match = _INFER_PATH.match(path)
            if match is not None:
                name, version = match.group(1), match.group(2)
                status, body = await self.state.respond(scope, receive, name, version, decode_infer_request, _encode_v2)
                await _send(send, status, body)
                return
            match = _PREDICT_PATH.match(path)
            if match is not None:
                status, body = await self.state.respond(
                    scope, receive, match.group(1), None, decode_predict_request, _encode_v1
                )
                await _send(send, status, body)
                return
        await self.app(scope, receive, send)


async def _send(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == RequestTimeout.status_code:  # the rest of the body may still come: it must not read as a request
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _metadata(model: ServedModel) -> dict[str, Any]:
    return {
        "name": model.name,
        "versions": [model.version],
        "platform": model.platform,
        "inputs": [{"name": c.name, "datatype": c.datatype, "shape": [-1]} for c in model.schema.inputs],
        "outputs": [output.metadata() for output in model.schema.outputs],
    }


def _encode_v2(model: ServedModel, request_id: str, predictions: Any, decoded: DecodedRequest) -> bytes:
    tensors = model.output_tensors(predictions, decoded.outputs)
    return encode_infer_outputs(model.name, model.version, request_id, tensors)


def _wants_explanations(scope: Scope) -> bool:
    """``?explain=true`` on the request."""
    query = scope.get("query_string", b"")
    return b"explain=true" in query.split(b"&") if query else False


def _encode_v1(
    model: ServedModel,
    request_id: str,
    predictions: Any,
    decoded: DecodedRequest,
    explanations: list[dict[str, float]] | None = None,
) -> bytes:
    body: dict[str, Any] = {"predictions": predictions, "model_version": model.version, "id": request_id}
    if model.task in ("binary", "multiclass"):
        body["labels"] = model.labels(predictions).tolist()
    if explanations is not None:
        body["explanations"] = explanations
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def create_app(
    spec: ServingSpec,
    source: ModelSource,
    *,
    settings: RuntimeSettings | None = None,
    feature_lookup: FeatureLookup | None = None,
    metrics: ServingMetrics | None = None,
) -> FastAPI:
    """The model server for ``spec.model``; models come from ``source`` (the MLflow registry in production)."""
    state = ServerState(spec, source, settings=settings, feature_lookup=feature_lookup, metrics=metrics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await state.startup()
        try:
            yield
        finally:
            await state.shutdown()

    app = FastAPI(
        title=f"{SERVER_NAME} model server",
        description=f"Open Inference Protocol v2 for {spec.model}",
        lifespan=lifespan,
    )
    app.state.server = state
    app.add_middleware(InferenceFastPath, state=state)
    keys_file = (settings or RuntimeSettings.from_env()).api_keys_file
    if keys_file:  # outermost: checked before the fast path answers
        app.add_middleware(ApiKeyAuth, keys_file=keys_file)

    def guarded(call: Callable[[], Response]) -> Response:
        try:
            return call()
        except ServingError as exc:
            return _error(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return _json({"error": str(exc.detail)}, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _json({"error": f"{where}: {first.get('msg', 'invalid request')}"}, 400)

    @app.get("/v2/health/live", tags=["health"], response_model=None)
    async def live() -> Response:
        return _json({"live": True})

    @app.get("/v2/health/ready", tags=["health"], response_model=None)
    async def ready() -> Response:
        return _json({"ready": state.manager.ready}, 200 if state.manager.ready else 503)

    # Load balancers that probe "/" by default (GKE Gateway's health check with no HealthCheckPolicy) see the
    # same readiness as the kubelet.
    app.add_api_route("/", ready, methods=["GET"], include_in_schema=False, response_model=None)

    @app.get("/v2", tags=["metadata"], responses={200: {"model": ServerMetadata}}, response_model=None)
    async def server_metadata() -> Response:
        from importlib.metadata import PackageNotFoundError, version

        try:
            server_version = version("pulumi-mlops")
        except PackageNotFoundError:
            server_version = "0"
        return _json({"name": SERVER_NAME, "version": server_version, "extensions": []})

    metadata_docs: dict[str, Any] = {
        "tags": ["metadata"],
        "responses": {200: {"model": ModelMetadata}, **_ERRORS},
        "response_model": None,
    }

    @app.get("/v2/models/{name}", **metadata_docs)
    async def model_metadata(name: str) -> Response:
        return guarded(lambda: _json(_metadata(state.model_for(name))))

    @app.get("/v2/models/{name}/versions/{version}", **metadata_docs)
    async def model_version_metadata(name: str, version: str) -> Response:
        return guarded(lambda: _json(_metadata(state.model_for(name, version))))

    def model_ready(name: str, version: str | None) -> Response:
        try:
            state.model_for(name, version)
        except ModelNotReady:
            return _json({"name": name, "ready": False}, 503)
        return _json({"name": name, "ready": True})

    @app.get("/v2/models/{name}/ready", tags=["health"], response_model=None, responses=_ERRORS)
    async def ready_model(name: str) -> Response:
        return guarded(lambda: model_ready(name, None))

    @app.get("/v2/models/{name}/versions/{version}/ready", tags=["health"], response_model=None, responses=_ERRORS)
    async def ready_model_version(name: str, version: str) -> Response:
        return guarded(lambda: model_ready(name, version))

    infer_docs: dict[str, Any] = {
        "tags": ["inference"],
        "response_model": None,
        "responses": {200: {"model": InferenceResponse}, **_ERRORS},
        "openapi_extra": {
            "requestBody": {
                "required": True,
                "content": {_JSON: {"schema": {"$ref": "#/components/schemas/InferenceRequest"}}},
            }
        },
    }

    @app.post("/v2/models/{name}/infer", **infer_docs)
    async def infer(name: str, request: Request) -> Response:
        return await state.run(request, name, None, decode_infer_request, _encode_v2)

    @app.post("/v2/models/{name}/versions/{version}/infer", **infer_docs)
    async def infer_version(name: str, version: str, request: Request) -> Response:
        return await state.run(request, name, version, decode_infer_request, _encode_v2)

    @app.post(
        "/v1/models/{name}:predict",
        tags=["inference"],
        response_model=None,
        responses={200: {"model": PredictResponse}, **_ERRORS},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {_JSON: {"schema": {"$ref": "#/components/schemas/PredictRequest"}}},
            }
        },
    )
    async def predict(name: str, request: Request) -> Response:
        return await state.run(request, name, None, decode_predict_request, _encode_v1)

    @app.get("/metrics", tags=["metrics"], response_model=None)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for model in DOC_MODELS:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(schema.pop("$defs", {}))
                schemas[model.__name__] = schema
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
