"""Run the model server under uvicorn (uvloop, httptools with one write per response, no access log, no
proxy-header rewriting), as the serving Deployments do."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from pulumi_mlops.runtime.config import RuntimeSettings, ServingSpec

from .app import create_app
from .features import FeatureLookup
from .http import OneWriteHttpToolsProtocol
from .loader import MlflowModelSource, ModelSource

if TYPE_CHECKING:
    import uvicorn

__all__ = ["GRACEFUL_SHUTDOWN_SECONDS", "serve", "server_config"]

GRACEFUL_SHUTDOWN_SECONDS = 25
"""On SIGTERM, in-flight requests get this long to finish before the prediction log is flushed."""


def server_config(app: Any, *, host: str, port: int, log_level: str, loop: str = "uvloop") -> uvicorn.Config:
    """The uvicorn settings of the serving Deployments (``loop="asyncio"`` for a server on a thread of another
    program, where uvloop would become every event loop's policy)."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop=loop,
        http=OneWriteHttpToolsProtocol,
        access_log=False,
        proxy_headers=False,  # nothing reads the client address; one ASGI layer less per request
        log_level=log_level.lower(),
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        lifespan="on",
    )


def serve(
    spec: ServingSpec,
    *,
    host: str = "0.0.0.0",
    settings: RuntimeSettings | None = None,
    source: ModelSource | None = None,
    feature_lookup: FeatureLookup | None = None,
) -> None:
    """Serve ``spec.model`` on ``host:spec.port`` until SIGTERM or SIGINT; blocks."""
    import uvicorn

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    settings = settings or RuntimeSettings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(spec, source or MlflowModelSource(settings), settings=settings, feature_lookup=feature_lookup)
    uvicorn.Server(server_config(app, host=host, port=spec.port, log_level=settings.log_level)).run()
