"""The HTTP application: Open Inference Protocol v2 routes, v1 ``:predict``, health, metrics and OpenAPI.

``infer`` and ``:predict`` are answered by :class:`InferenceFastPath` before the framework's middleware and
routing (after the API-key check when keys are configured); the same routes are declared on the application for
the OpenAPI document. The request path itself is :meth:`.state.ServerState.respond`.
"""

from __future__ import annotations

import re
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
from .binary import HEADER_LENGTH
from .errors import ModelNotReady, RequestTimeout, ServingError
from .features import FeatureLookup
from .loader import ModelSource
from .metrics import ServingMetrics
from .model import ServedModel
from .openapi import DOC_MODELS, ErrorBody, InferenceResponse, ModelMetadata, PredictResponse, ServerMetadata
from .state import OTHER_MODEL, ServerState

__all__ = ["EXTENSIONS", "OTHER_MODEL", "SERVER_NAME", "InferenceFastPath", "ServerState", "create_app"]

SERVER_NAME = "pulumi-mlops"
EXTENSIONS = ["binary_tensor_data"]
"""Protocol extensions listed in the server metadata."""
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


_INFER_PATH = re.compile(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?/infer$")
_PREDICT_PATH = re.compile(r"^/v1/models/([^/:]+):predict$")


class InferenceFastPath:
    """The outermost ASGI layer: answers ``infer`` and ``:predict`` itself, without routing or dependency
    resolution, and hands everything else (and requests without a valid API key) to ``app``."""

    def __init__(self, app: ASGIApp, state: ServerState, auth: ApiKeyAuth | None = None) -> None:
        self.app = app
        self.state = state
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            match = _INFER_PATH.match(path)
            v2 = match is not None
            if match is None:
                match = _PREDICT_PATH.match(path)
            if match is not None and (self.auth is None or self.auth.allowed(scope)):
                version = match.group(2) if v2 else None
                status, body, json_length = await self.state.respond(scope, receive, match.group(1), version, v2)
                await _send(send, status, body, json_length)
                return
        await self.app(scope, receive, send)


class ModelServerApp(FastAPI):
    """The FastAPI application with :class:`InferenceFastPath` in front of its middleware stack."""

    fast_path: InferenceFastPath | None = None

    async def framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The application without the fast path: middleware, routing, the declared routes."""
        await super().__call__(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.fast_path is None:
            await super().__call__(scope, receive, send)
        else:
            await self.fast_path(scope, receive, send)


async def _answer(state: ServerState, request: Request, name: str, version: str | None, v2: bool) -> Response:
    """A declared inference route (reached only when the fast path passed the request on)."""
    status, body, json_length = await state.respond(request.scope, request.receive, name, version, v2)
    headers = {} if json_length is None else {HEADER_LENGTH.decode(): str(json_length)}
    media = _JSON if json_length is None else "application/octet-stream"
    return Response(body, status_code=status, media_type=media, headers=headers)


_JSON_TYPE = (b"content-type", b"application/json")
_BINARY_TYPE = (b"content-type", b"application/octet-stream")


async def _send(send: Send, status: int, body: bytes, json_length: int | None) -> None:
    headers = [_JSON_TYPE if json_length is None else _BINARY_TYPE, (b"content-length", str(len(body)).encode())]
    if json_length is not None:
        headers.append((HEADER_LENGTH, str(json_length).encode()))
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
        "parameters": {"format": model.model_format, "format_reason": model.format_reason},
    }


def create_app(
    spec: ServingSpec,
    source: ModelSource,
    *,
    settings: RuntimeSettings | None = None,
    feature_lookup: FeatureLookup | None = None,
    metrics: ServingMetrics | None = None,
) -> ModelServerApp:
    """The model server for ``spec.model``; models come from ``source`` (the MLflow registry in production)."""
    state = ServerState(spec, source, settings=settings, feature_lookup=feature_lookup, metrics=metrics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await state.startup()
        try:
            yield
        finally:
            await state.shutdown()

    app = ModelServerApp(
        title=f"{SERVER_NAME} model server",
        description=f"Open Inference Protocol v2 for {spec.model}",
        lifespan=lifespan,
    )
    app.state.server = state
    framework = app.framework
    keys_file = (settings or RuntimeSettings.from_env()).api_keys_file
    auth = ApiKeyAuth(framework, keys_file) if keys_file else None
    app.fast_path = InferenceFastPath(auth or framework, state, auth)

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
        return _json({"name": SERVER_NAME, "version": server_version, "extensions": EXTENSIONS})

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
        return await _answer(state, request, name, None, True)

    @app.post("/v2/models/{name}/versions/{version}/infer", **infer_docs)
    async def infer_version(name: str, version: str, request: Request) -> Response:
        return await _answer(state, request, name, version, True)

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
        return await _answer(state, request, name, None, False)

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
