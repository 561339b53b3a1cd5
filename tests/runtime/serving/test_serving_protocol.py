"""Open Inference Protocol v2 conformance of every endpoint, v1 ``:predict``, metrics and feature enrichment."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import numpy as np
from serving_support import FEATURES, MODEL, LiveServer, Registry, rows, v2_request


def test_health_and_server_metadata(shared_server: LiveServer) -> None:
    url = shared_server.url
    assert httpx.get(f"{url}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{url}/v2/health/ready").json() == {"ready": True}
    assert httpx.get(f"{url}/").json() == {"ready": True}, "load balancers probing / see readiness"
    meta = httpx.get(f"{url}/v2").json()
    assert meta["name"] == "pulumi-mlops" and "version" in meta and meta["extensions"] == ["binary_tensor_data"]


def test_model_metadata_from_signature(shared_server: LiveServer) -> None:
    version = shared_server.state.manager.current.version
    for path in (f"/v2/models/{MODEL}", f"/v2/models/{MODEL}/versions/{version}"):
        meta = httpx.get(shared_server.url + path).json()
        assert meta["name"] == MODEL and meta["versions"] == [version]
        assert meta["platform"] == "mlflow_sklearn"
        assert [(t["name"], t["datatype"], t["shape"]) for t in meta["inputs"]] == [
            ("tenure", "FP64", [-1]),
            ("monthly_charges", "FP64", [-1]),
            ("support_calls", "INT64", [-1]),
            ("plan", "BYTES", [-1]),
        ]
        assert meta["outputs"] == [{"name": "probability", "datatype": "FP64", "shape": [-1]}]
        assert meta["parameters"]["format"] == "native", "the version has no ONNX export"
        assert "no ONNX export passed its parity check" in meta["parameters"]["format_reason"]
    assert httpx.get(f"{shared_server.url}/v2/models/{MODEL}/ready").json() == {"name": MODEL, "ready": True}
    assert httpx.get(f"{shared_server.url}/v2/models/{MODEL}/versions/{version}/ready").status_code == 200


def test_unknown_model_version_and_route_are_404_with_error_body(shared_server: LiveServer) -> None:
    url = shared_server.url
    for method, path in (
        ("GET", "/v2/models/nope"),
        ("GET", "/v2/models/nope/ready"),
        ("GET", f"/v2/models/{MODEL}/versions/999"),
        ("POST", "/v2/models/nope/infer"),
        ("POST", f"/v2/models/{MODEL}/versions/999/infer"),
        ("GET", "/v3/whatever"),
    ):
        response = httpx.request(method, url + path, json=v2_request(rows(1)))
        assert response.status_code == 404, path
        assert response.json()["error"], path
    assert "nope" in httpx.get(f"{url}/v2/models/nope").json()["error"]
    assert "999" in httpx.post(f"{url}/v2/models/{MODEL}/versions/999/infer", json=v2_request(rows(1))).json()["error"]


def test_infer_one_tensor_per_column(shared_server: LiveServer, registry: Registry) -> None:
    records = rows(5)
    body = v2_request(records) | {"id": "req-1"}
    body["inputs"][0]["shape"] = [5, 1]
    response = httpx.post(f"{shared_server.url}/v2/models/{MODEL}/infer", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["model_name"] == MODEL and result["id"] == "req-1"
    (output,) = result["outputs"]
    assert output["name"] == "probability" and output["datatype"] == "FP64" and output["shape"] == [5]
    np.testing.assert_allclose(output["data"], registry.expected(result["model_version"], records), rtol=1e-9)
    versioned = f"{shared_server.url}/v2/models/{MODEL}/versions/{result['model_version']}/infer"
    assert httpx.post(versioned, json=body).json()["outputs"][0]["data"] == output["data"]


def test_infer_2d_tensor_with_column_order(shared_server: LiveServer, registry: Registry) -> None:
    records = rows(3)
    body = {
        "parameters": {"content_type": "pd"},
        "inputs": [
            {
                "name": "numeric",
                "datatype": "FP64",
                "shape": [3, 2],
                "parameters": {"columns": ["monthly_charges", "tenure"]},
                "data": [[r["monthly_charges"], r["tenure"]] for r in records],
            },
            {"name": "support_calls", "datatype": "INT64", "shape": [3], "data": [r["support_calls"] for r in records]},
            {"name": "plan", "datatype": "BYTES", "shape": [3], "data": [r["plan"] for r in records]},
        ],
    }
    response = httpx.post(f"{shared_server.url}/v2/models/{MODEL}/infer", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    np.testing.assert_allclose(result["outputs"][0]["data"], registry.expected(result["model_version"], records))


def test_v1_predict_and_request_id_header(shared_server: LiveServer, registry: Registry) -> None:
    records = rows(2)
    response = httpx.post(
        f"{shared_server.url}/v1/models/{MODEL}:predict", json={"instances": records}, headers={"x-request-id": "abc"}
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["id"] == "abc"
    np.testing.assert_allclose(result["predictions"], registry.expected(result["model_version"], records))


def test_feature_enrichment_by_entity_key(shared_server: LiveServer, registry: Registry) -> None:
    url = f"{shared_server.url}/v2/models/{MODEL}/infer"
    known = {"tenure": 12.0, "monthly_charges": 70.0, "support_calls": 2, "plan": "plus"}
    by_tensor = {"inputs": [{"name": "customer_id", "datatype": "BYTES", "shape": [1], "data": ["c1"]}]}
    result = httpx.post(url, json=by_tensor).json()
    np.testing.assert_allclose(result["outputs"][0]["data"], registry.expected(result["model_version"], [known]))
    partial = v2_request([known])
    partial["inputs"] = [t for t in partial["inputs"] if t["name"] != "plan"]
    partial["parameters"] = {"entity_ids": ["c1"]}
    assert httpx.post(url, json=partial).json()["outputs"][0]["data"] == result["outputs"][0]["data"]
    missing = httpx.post(url, json={**by_tensor, "inputs": [{**by_tensor["inputs"][0], "data": ["c2"]}]})
    assert missing.status_code == 400
    assert "monthly_charges" in missing.json()["error"]


def test_openapi_document_describes_v2(shared_server: LiveServer) -> None:
    document = httpx.get(f"{shared_server.url}/openapi.json").json()
    paths = document["paths"]
    for path in (
        "/v2/health/live",
        "/v2/health/ready",
        "/v2",
        "/v2/models/{name}",
        "/v2/models/{name}/ready",
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
        "/v1/models/{name}:predict",
    ):
        assert path in paths, path
    assert "InferenceRequest" in document["components"]["schemas"]
    assert "RequestInput" in document["components"]["schemas"]


def test_metrics_exposition(shared_server: LiveServer) -> None:
    httpx.post(f"{shared_server.url}/v2/models/{MODEL}/infer", json=v2_request(rows(2)))
    httpx.post(f"{shared_server.url}/v2/models/{MODEL}/infer", content=b"{")
    text = httpx.get(f"{shared_server.url}/metrics").text
    version = shared_server.state.manager.current.version
    assert f'mlops_requests_total{{model="{MODEL}",status="200",version="{version}"}}' in text
    assert f'mlops_requests_total{{model="{MODEL}",status="400",version="{version}"}}' in text
    assert "mlops_request_duration_seconds_bucket" in text
    assert "mlops_batch_size_bucket" in text
    cpu = [line for line in text.splitlines() if line.startswith(f'mlops_model_cpu_seconds_total{{model="{MODEL}"}}')]
    assert cpu and float(cpu[0].split()[-1]) > 0, "the model calls' CPU time is counted"
    count = re.search(
        rf'mlops_request_duration_seconds_count{{model="{MODEL}",status="200",version="{version}"}} (\S+)', text
    )
    total = re.search(rf'mlops_requests_total{{model="{MODEL}",status="200",version="{version}"}} (\S+)', text)
    assert count and total and float(count.group(1)) == float(total.group(1)) >= 1
    assert 'mlops_model_load_total{outcome="success"} 1.0' in text
    assert 'mlops_prediction_bucket{le="0.5",model="churn"' in text
    assert set(FEATURES) <= set(shared_server.state.manager.current.schema.names)


def test_not_ready_until_a_model_loads(serve: Callable[..., LiveServer]) -> None:
    live = serve(model="ghost", ready=False)
    assert httpx.get(f"{live.url}/v2/health/live").status_code == 200
    assert httpx.get(f"{live.url}/v2/health/ready").status_code == 503
    assert httpx.get(f"{live.url}/").status_code == 503
    assert httpx.get(f"{live.url}/v2/models/ghost/ready").json() == {"name": "ghost", "ready": False}
    response = httpx.post(f"{live.url}/v2/models/ghost/infer", json=v2_request(rows(1)))
    assert response.status_code == 503
    assert "ghost" in response.json()["error"] and "not loaded" in response.json()["error"]
