"""Fixtures of the model-server tests: one temp MLflow registry per session, live servers per test or module."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi_mlops.runtime.config import RuntimeSettings, ServingSpec

sys.path.insert(0, str(Path(__file__).parent))

from serving_support import MODEL, LiveServer, Registry, free_port, start_server


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    import mlflow

    home = tmp_path_factory.mktemp("mlops")
    settings = RuntimeSettings(
        home=str(home),
        tracking_uri=f"sqlite:///{home / 'mlflow.db'}",
        prediction_log_uri=str(home / "prediction-logs"),
    )
    mlflow.set_tracking_uri(settings.resolved_tracking_uri())
    mlflow.create_experiment("serving-tests", artifact_location=str(home / "artifacts"))
    reg = Registry(settings)
    reg.register(seed=0)
    return reg


@pytest.fixture
def serve(registry: Registry) -> Iterator[Callable[..., LiveServer]]:
    """``serve(**spec_fields)``: a live server on a free port, stopped after the test."""
    from pulumi_mlops.runtime.serving import MlflowModelSource, create_app

    started: list[LiveServer] = []

    def start(
        *, model: str = MODEL, feature_lookup: Any = None, ready: bool = True, settings: Any = None, **fields: Any
    ) -> LiveServer:
        port = free_port()
        spec = ServingSpec.model_validate({"model": {"name": model}, "port": port, **fields})
        chosen = settings or registry.settings
        app = create_app(spec, MlflowModelSource(chosen), settings=chosen, feature_lookup=feature_lookup)
        live = start_server(app, port, ready)
        started.append(live)
        return live

    yield start
    for live in started:
        live.stop()


@pytest.fixture(scope="module")
def shared_server(registry: Registry) -> Iterator[LiveServer]:
    """One server on the champion for read-only tests in a module."""
    from pulumi_mlops.runtime.serving import MlflowModelSource, StaticFeatureLookup, create_app

    port = free_port()
    spec = ServingSpec.model_validate({"model": {"name": MODEL}, "port": port, "max_payload_bytes": 4096})
    lookup = StaticFeatureLookup(
        {"c1": {"tenure": 12.0, "monthly_charges": 70.0, "support_calls": 2, "plan": "plus"}, "c2": {"tenure": 3.0}}
    )
    app = create_app(spec, MlflowModelSource(registry.settings), settings=registry.settings, feature_lookup=lookup)
    live = start_server(app, port)
    yield live
    live.stop()
