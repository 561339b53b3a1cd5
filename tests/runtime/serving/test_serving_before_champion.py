"""A server started before its model has a champion (a new cluster's first hour) waits for it instead of failing.

``mlops serve`` runs as its own process, as in the serving Deployment, against an empty registry: it stays
alive, the liveness probe passes and the readiness probe answers 503 while the model does not exist, and
while it exists without the served alias; once the alias is set the process loads the version and serves it,
without a restart. The not-ready cause is logged once, not on every poll.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from pulumi_mlops.runtime.config import RuntimeSettings
from serving_support import MODEL, Registry, free_port, rows, v2_request

pytestmark = pytest.mark.slow


def _wait(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.2)


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.TransportError:
        return None


@pytest.fixture
def empty_registry(tmp_path: Path) -> Registry:
    home = tmp_path / "mlops"
    home.mkdir()
    settings = RuntimeSettings(home=str(home), tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    import mlflow

    mlflow.set_tracking_uri(settings.resolved_tracking_uri())
    mlflow.create_experiment("serving-tests", artifact_location=str(home / "artifacts"))
    return Registry(settings)


@pytest.fixture
def server(empty_registry: Registry, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    port = free_port()
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"model": {"name": MODEL, "alias": "champion"}, "port": port, "reload_poll_seconds": 1}))
    log = tmp_path / "server.log"
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "MLOPS_HOME": empty_registry.settings.home,
        "MLOPS_TRACKING_URI": empty_registry.settings.tracking_uri,
        "MLOPS_PREDICTION_LOG_URI": str(tmp_path / "prediction-logs"),
    }
    mlops = Path(sys.executable).with_name("mlops")
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(mlops), "serve", "--spec", str(spec), "--host", "127.0.0.1"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            yield process, f"http://127.0.0.1:{port}", log
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_server_waits_for_the_champion_and_then_serves_it(
    server: tuple[subprocess.Popen[str], str, Path], empty_registry: Registry
) -> None:
    process, url, log = server
    _wait(lambda: _status(f"{url}/v2/health/live") == 200, 60, "the server is live")

    # No registered model at all: alive, not ready, for several polls.
    for _ in range(8):
        assert process.poll() is None, log.read_text()
        assert _status(f"{url}/v2/health/live") == 200
        assert _status(f"{url}/v2/health/ready") == 503
        time.sleep(0.5)
    response = httpx.post(f"{url}/v2/models/{MODEL}/infer", json=v2_request(rows(2)))
    assert response.status_code == 503, response.text

    # A version registered as challenger only (the bootstrap run before its promotion): still not ready.
    version = empty_registry.register(seed=0, alias="challenger")
    time.sleep(3)
    assert process.poll() is None, log.read_text()
    assert _status(f"{url}/v2/health/ready") == 503

    # Promoted: the same process loads it and serves it.
    empty_registry.set_alias(version, "champion")
    _wait(lambda: _status(f"{url}/v2/health/ready") == 200, 60, "the champion is loaded")
    records = rows(4)
    served = httpx.post(f"{url}/v2/models/{MODEL}/infer", json=v2_request(records), timeout=10).json()
    assert served["model_version"] == version
    np.testing.assert_allclose(served["outputs"][0]["data"], empty_registry.expected(version, records))
    assert process.poll() is None

    text = log.read_text()
    not_found = [line for line in text.splitlines() if "cannot resolve" in line]
    assert 1 <= len(not_found) <= 2, text  # the model missing, then the alias missing: each cause once
    assert "not ready, checking again every 1 s" in not_found[0]
