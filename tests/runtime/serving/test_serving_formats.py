"""``--format auto`` (the default): ONNX Runtime when the version's export passed its parity check, the native
flavor otherwise, the choice shown in the model metadata and the load log line."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from pulumi_mlops.runtime.config import ModelRef, RuntimeSettings, ServingSpec
from pulumi_mlops.runtime.data import generate_churn
from serving_support import free_port, start_server, train_churn

NAME = "formats"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[RuntimeSettings, Any]:
    return train_churn(tmp_path_factory.mktemp("home"), NAME)


@pytest.fixture
def server(trained: tuple[RuntimeSettings, Any]) -> Iterator[Any]:
    from pulumi_mlops.runtime.serving import MlflowModelSource, create_app

    settings, _ = trained
    started = []

    def start(**source: Any) -> str:
        port = free_port()
        spec = ServingSpec(model=ModelRef(name=NAME, alias="challenger"), port=port)
        live = start_server(create_app(spec, MlflowModelSource(settings, **source), settings=settings), port)
        started.append(live)
        return str(live.url)

    yield start
    for live in started:
        live.stop()


def _v2(frame: Any) -> dict[str, Any]:
    inputs = []
    for column in frame.columns:
        values = frame[column]
        kind = "BYTES" if values.dtype == object else ("INT64" if values.dtype.kind == "i" else "FP64")
        inputs.append({"name": column, "datatype": kind, "shape": [len(frame)], "data": values.tolist()})
    return {"inputs": inputs}


def test_auto_serves_the_checked_onnx_export(
    server: Any, trained: tuple[RuntimeSettings, Any], caplog: pytest.LogCaptureFixture
) -> None:
    _, result = trained
    with caplog.at_level(logging.INFO, logger="pulumi_mlops.runtime.serving.loader"):
        url = server()
    assert any("loads with ONNX Runtime" in r.getMessage() and "parity check" in r.getMessage() for r in caplog.records)
    meta = httpx.get(f"{url}/v2/models/{NAME}").json()
    assert meta["platform"] == "mlflow_onnx"
    assert meta["parameters"]["format"] == "onnx"
    assert (
        meta["parameters"]["format_reason"] == "--format auto: the ONNX export passed its parity check at registration"
    )
    frame = generate_churn(40, seed=11)[result.features]
    answer = httpx.post(f"{url}/v2/models/{NAME}/infer", json=_v2(frame)).json()
    outputs = {o["name"]: o["data"] for o in answer["outputs"]}
    native = result.pipeline.predict_proba(frame)
    np.testing.assert_allclose(outputs["probability"], native[:, 1], atol=1e-4)
    explained = httpx.post(
        f"{url}/v1/models/{NAME}:predict?explain=true", json={"instances": frame.head(2).to_dict(orient="records")}
    )
    assert explained.status_code == 200, "explanations come from the native model, loaded beside"
    assert set(explained.json()["explanations"][0]) == set(result.features)


def test_native_on_request_and_when_the_export_failed_its_check(
    server: Any, trained: tuple[RuntimeSettings, Any]
) -> None:
    import mlflow

    settings, result = trained
    meta = httpx.get(f"{server(model_format='native')}/v2/models/{NAME}").json()
    assert (meta["platform"], meta["parameters"]) == (
        "mlflow_sklearn",
        {"format": "native", "format_reason": "--format native"},
    )
    client = mlflow.MlflowClient(settings.resolved_tracking_uri())
    client.set_model_version_tag(NAME, result.version, "mlops.onnx", "mismatch: probabilities differ by 2e-3")
    try:
        meta = httpx.get(f"{server()}/v2/models/{NAME}").json()
    finally:
        client.set_model_version_tag(NAME, result.version, "mlops.onnx", "exported")
    assert meta["parameters"]["format"] == "native"
    assert (
        "no ONNX export passed its parity check (mismatch: probabilities differ by 2e-3)"
        in (meta["parameters"]["format_reason"])
    )


def test_an_unknown_format_is_refused() -> None:
    from pulumi_mlops.runtime.serving import MlflowModelSource

    with pytest.raises(ValueError, match="use auto, native, onnx"):
        MlflowModelSource(RuntimeSettings(), model_format="tensorrt")


def test_the_cli_names_the_formats() -> None:
    from typer.testing import CliRunner

    from pulumi_mlops.cli import app

    result = CliRunner().invoke(app, ["serve", "--model", f"{NAME}@champion", "--format", "tensorrt"])
    assert result.exit_code == 2
    assert "--format 'tensorrt': use auto, native or onnx" in result.output


def test_onnx_on_decoded_columns_matches_onnx_on_the_dataframe(trained: tuple[RuntimeSettings, Any]) -> None:
    """The columns the server decodes (float, int, object strings with nulls) feed the graph as the DataFrame does."""
    from pulumi_mlops.runtime.registry.onnx_export import OnnxModel, export_onnx

    _, result = trained
    frame = generate_churn(30, seed=12)[result.features].reset_index(drop=True)
    report, payload = export_onnx(result.pipeline, frame)
    assert payload is not None, report.reason
    categorical = next(i.name for i in report.inputs if i.kind == "categorical")
    numeric = next(i.name for i in report.inputs if i.kind == "numeric")
    frame.loc[[2, 5], categorical] = None
    frame.loc[[3], numeric] = np.nan
    model = OnnxModel(payload, report.inputs, threads=1, spinning=False)
    columns = {c: frame[c].to_numpy() for c in frame.columns}
    np.testing.assert_array_equal(model.predict_proba_columns(columns), model.predict_proba(frame))
