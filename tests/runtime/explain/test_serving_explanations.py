"""The model server: ``explain=true`` on the v1 route, and ``--format onnx`` loading of the ONNX artifact."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from pulumi_mlops.runtime.config import ModelRef, RuntimeSettings, ServingSpec
from pulumi_mlops.runtime.data import generate_churn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))

from serving_support import free_port, start_server, train_churn

NAME = "explained"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[RuntimeSettings, Any]:
    return train_churn(tmp_path_factory.mktemp("home"), NAME)


@pytest.fixture
def server(trained: tuple[RuntimeSettings, Any]) -> Iterator[Any]:
    from pulumi_mlops.runtime.serving import MlflowModelSource, create_app

    settings, _ = trained
    started = []

    def start(model_format: str = "native") -> str:
        port = free_port()
        spec = ServingSpec(model=ModelRef(name=NAME, alias="challenger"), port=port)
        source = MlflowModelSource(settings, model_format=model_format)
        live = start_server(create_app(spec, source, settings=settings), port)
        started.append(live)
        return str(live.url)

    yield start
    for live in started:
        live.stop()


def _instances(rows: int) -> list[dict[str, Any]]:
    frame = generate_churn(20, seed=9).head(rows).drop(columns=["customer_id", "event_timestamp", "churned"])
    return frame.to_dict(orient="records")  # type: ignore[no-any-return]


def test_explain_true_returns_per_row_contributions(server: Any, trained: tuple[RuntimeSettings, Any]) -> None:
    _, result = trained
    url = server() + f"/v1/models/{NAME}:predict"
    instances = _instances(4)
    plain = httpx.post(url, json={"instances": instances}).json()
    assert "explanations" not in plain
    body = httpx.post(url + "?explain=true", json={"instances": instances}).json()
    assert body["predictions"] == pytest.approx(plain["predictions"])
    assert len(body["explanations"]) == 4 and set(body["explanations"][0]) == set(result.features)
    from pulumi_mlops.runtime.explain import occlusion_contributions, pipeline_reference

    frame = generate_churn(20, seed=9).head(4)[result.features]
    reference = pipeline_reference(result.pipeline)
    _, expected = occlusion_contributions(result.pipeline, frame, reference or {})
    for got, want in zip(body["explanations"], expected, strict=True):
        assert got == pytest.approx(want, abs=1e-9)


def test_onnx_format_serves_the_onnx_artifact(server: Any, trained: tuple[RuntimeSettings, Any]) -> None:
    _, result = trained
    url = server("onnx") + f"/v1/models/{NAME}:predict"
    instances = _instances(20)
    body = httpx.post(url, json={"instances": instances}).json()
    native = result.pipeline.predict_proba(generate_churn(20, seed=9)[result.features])[:, 1]
    np.testing.assert_allclose(body["predictions"], native, atol=1e-4)
    refused = httpx.post(url + "?explain=true", json={"instances": instances[:1]})
    assert refused.status_code == 400 and "(onnx) has no per-request explanations" in refused.json()["error"]


def test_the_explain_flag_takes_boolean_spellings_and_refuses_others(server: Any) -> None:
    base = server()
    url = f"{base}/v1/models/{NAME}:predict"
    instances = _instances(2)
    for flag in ("True", "1", "yes", "true"):
        body = httpx.post(f"{url}?explain={flag}", json={"instances": instances}).json()
        assert len(body["explanations"]) == 2, flag
    for flag in ("false", "0", "No"):
        assert "explanations" not in httpx.post(f"{url}?explain={flag}", json={"instances": instances}).json()
    refused = httpx.post(f"{url}?explain=maybe", json={"instances": instances})
    assert refused.status_code == 400
    assert refused.json()["error"] == "query parameter explain must be true or false, got 'maybe'"
    kinds = {str: "BYTES", int: "INT64", float: "FP64"}
    tensors = [{"name": k, "datatype": kinds[type(v)], "shape": [1], "data": [v]} for k, v in instances[0].items()]
    v2 = {"inputs": tensors}
    on_v2 = httpx.post(f"{base}/v2/models/{NAME}/infer?explain=true", json=v2)
    assert on_v2.status_code == 400
    assert f"explanations are answered on POST /v1/models/{NAME}:predict?explain=true" in on_v2.json()["error"]
    empty_id = httpx.post(f"{base}/v2/models/{NAME}/infer", json={**v2, "id": ""})
    assert empty_id.status_code == 200, empty_id.text
    assert empty_id.json()["id"] == "", "the request's own id is echoed, even an empty one"
