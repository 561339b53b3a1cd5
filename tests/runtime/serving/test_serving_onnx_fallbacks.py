"""``--format auto`` when the ONNX export cannot be used: a report that does not fit the graph, a graph that fails its
warm-up prediction, an export from before the graph recorded its columns, and a download that fails for a while.
Each loads the real registered version through :class:`MlflowModelSource`, as the server does."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pulumi_mlops.runtime.config import ModelRef, RuntimeSettings
from pulumi_mlops.runtime.data import generate_churn
from serving_support import train_churn

NAME = "fallbacks"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[RuntimeSettings, Any]:
    return train_churn(tmp_path_factory.mktemp("home"), NAME, rows=600)


def _client(settings: RuntimeSettings) -> Any:
    import mlflow

    return mlflow.MlflowClient(settings.resolved_tracking_uri(), settings.resolved_registry_uri())


def _run_artifacts(settings: RuntimeSettings, version: str) -> Path:
    client = _client(settings)
    run_id = client.get_model_version(NAME, version).tags["mlops.run_id"]
    return Path(client.get_run(run_id).info.artifact_uri)


@pytest.fixture
def artifacts(trained: tuple[RuntimeSettings, Any]) -> Iterator[Path]:
    """The version's run artifacts, put back as they were (files and the ONNX sha tag) after the test."""
    settings, result = trained
    folder = _run_artifacts(settings, result.version)
    saved = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    tag = _client(settings).get_model_version(NAME, result.version).tags["mlops.onnx_sha256"]
    yield folder
    for file_name, content in saved.items():
        (folder / file_name).write_bytes(content)
    _client(settings).set_model_version_tag(NAME, result.version, "mlops.onnx_sha256", tag)


def _load(settings: RuntimeSettings, version: str, model_format: str = "auto") -> Any:
    from pulumi_mlops.runtime.serving import MlflowModelSource

    return MlflowModelSource(settings, model_format=model_format).load(NAME, version)


def _check_predictions(model: Any, result: Any) -> None:
    frame = generate_churn(25, seed=21)[result.features].reset_index(drop=True)
    columns = {c: frame[c].to_numpy() for c in frame.columns}
    np.testing.assert_allclose(model.predict([columns]), result.pipeline.predict_proba(frame)[:, 1], atol=1e-4)


def test_the_export_records_its_columns_in_the_graph(trained: tuple[RuntimeSettings, Any]) -> None:
    settings, result = trained
    model = _load(settings, result.version)
    assert model.model_format == "onnx", model.format_reason
    _check_predictions(model, result)
    onnx = model.column_predictor.__self__
    assert [i.name for i in onnx.recorded_inputs] == [i.name for i in onnx.inputs]
    assert set(onnx.signature_columns) == set(result.features)


def test_a_report_that_does_not_fit_the_graph_serves_natively(
    trained: tuple[RuntimeSettings, Any], artifacts: Path
) -> None:
    """Columns swapped in ``onnx.json`` would feed one column's values to another's input: the graph's own list
    refuses the report, and the native model serves, with the right predictions."""
    from pulumi_mlops.runtime.serving.errors import ModelRefused

    settings, result = trained
    report = json.loads((artifacts / "onnx.json").read_text())
    numeric = [i for i, item in enumerate(report["inputs"]) if item["kind"] == "numeric"]
    first, second = numeric[:2]
    report["inputs"][first], report["inputs"][second] = report["inputs"][second], report["inputs"][first]
    (artifacts / "onnx.json").write_text(json.dumps(report))
    model = _load(settings, result.version)
    assert model.model_format == "native"
    assert "onnx.json does not fit model.onnx" in model.format_reason
    assert "differ from those the graph records" in model.format_reason
    assert not model.retry_format, "a report that does not fit stays unusable: no retries"
    _check_predictions(model, result)
    with pytest.raises(ModelRefused, match=r"does not fit model\.onnx"):
        _load(settings, result.version, model_format="onnx")


def test_an_onnx_model_that_fails_its_warm_up_serves_natively(
    trained: tuple[RuntimeSettings, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pulumi_mlops.runtime.registry.onnx_export import OnnxModel
    from pulumi_mlops.runtime.serving.errors import ModelRefused

    def broken(self: Any, columns: Any) -> Any:
        raise RuntimeError("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Unexpected input data type")

    monkeypatch.setattr(OnnxModel, "predict_proba_columns", broken)
    settings, result = trained
    model = _load(settings, result.version)
    assert model.model_format == "native"
    assert "failed its warm-up prediction" in model.format_reason
    assert "INVALID_ARGUMENT" in model.format_reason
    _check_predictions(model, result)
    with pytest.raises(ModelRefused, match="warm-up"):
        _load(settings, result.version, model_format="onnx")


def test_an_export_from_before_the_columns_were_recorded_still_serves_with_onnx(
    trained: tuple[RuntimeSettings, Any], artifacts: Path
) -> None:
    """A graph without ``mlops.inputs`` whose input names are the report's columns, in order, is checked by them."""
    import hashlib

    import onnx

    settings, result = trained
    graph = onnx.load_from_string((artifacts / "model.onnx").read_bytes())
    kept = [(e.key, e.value) for e in graph.metadata_props if e.key != "mlops.inputs"]
    del graph.metadata_props[:]
    for key, value in kept:
        graph.metadata_props.add(key=key, value=value)
    payload = graph.SerializeToString()
    (artifacts / "model.onnx").write_bytes(payload)
    _client(settings).set_model_version_tag(
        NAME, result.version, "mlops.onnx_sha256", hashlib.sha256(payload).hexdigest()
    )
    model = _load(settings, result.version)
    assert model.model_format == "onnx", model.format_reason
    assert model.column_predictor.__self__.recorded_inputs is None
    _check_predictions(model, result)


def _manager(trained: tuple[RuntimeSettings, Any], alias: str, unreachable: Any) -> tuple[Any, Any, Any]:
    """``(source, manager, metrics)`` following ``alias`` (set to the trained version), with 1 s polls, its source's
    artifact downloads going through ``unreachable(download, run_id, path, dst_path)``."""
    from pulumi_mlops.runtime.serving import MlflowModelSource
    from pulumi_mlops.runtime.serving.manager import ModelManager
    from pulumi_mlops.runtime.serving.metrics import ServingMetrics

    settings, result = trained
    _client(settings).set_registered_model_alias(NAME, alias, result.version)
    source = MlflowModelSource(settings)
    download = source.client.download_artifacts
    source.client.download_artifacts = lambda *args: unreachable(download, *args)
    metrics = ServingMetrics()
    return source, ModelManager(ModelRef(name=NAME, alias=alias), source, metrics, poll_seconds=1.0), metrics


def test_a_failed_onnx_download_serves_natively_and_is_retried_until_onnx_loads(
    trained: tuple[RuntimeSettings, Any],
) -> None:
    _, result = trained
    outage = {"on": True}

    def flaky(download: Any, run_id: str, path: str, dst_path: str | None = None) -> str:
        if outage["on"]:
            raise ConnectionError("artifact store unreachable")
        return str(download(run_id, path, dst_path))

    _, manager, _ = _manager(trained, "retry", flaky)

    async def scenario() -> list[tuple[bool, str, bool]]:
        seen = [(await manager.check(), manager.current.model_format, manager.current.retry_format)]
        manager._retry_at = 0.0  # the retry is due (the delay itself is the poll, then doubles)
        seen.append((await manager.check(), manager.current.model_format, manager.current.retry_format))
        assert manager._retry_delay == 2.0, "a failed retry doubles the delay"
        seen.append((await manager.check(), manager.current.model_format, manager.current.retry_format))
        outage["on"] = False
        manager._retry_at = 0.0
        seen.append((await manager.check(), manager.current.model_format, manager.current.retry_format))
        return seen

    seen = asyncio.run(scenario())
    assert seen == [
        (True, "native", True),  # served natively at once, not left not-ready
        (False, "native", True),  # the retry failed: still native, still retrying
        (False, "native", True),  # not due yet: nothing loaded
        (True, "onnx", False),  # the export loads: swapped in, no more retries
    ]
    assert "trying it again later" not in manager.current.format_reason
    assert manager._retry_delay == 1.0
    _check_predictions(manager.current, result)


@pytest.mark.parametrize("damage", ["corrupt report", "no model.onnx"])
def test_a_missing_or_unreadable_export_serves_natively_without_retries(
    trained: tuple[RuntimeSettings, Any], artifacts: Path, damage: str
) -> None:
    settings, result = trained
    if damage == "corrupt report":
        (artifacts / "onnx.json").write_text("{not json")
        fragment = "onnx.json is not an ONNX export report"
    else:
        (artifacts / "model.onnx").unlink()
        fragment = "its run has no ONNX artifact"
    model = _load(settings, result.version)
    assert model.model_format == "native" and fragment in model.format_reason
    assert not model.retry_format, "downloading again cannot help"


def test_onnx_retries_stop_after_their_cap_count_their_failures_and_restart_with_a_new_version(
    trained: tuple[RuntimeSettings, Any],
) -> None:
    from pulumi_mlops.runtime.serving.manager import MAX_FORMAT_RETRIES

    def unreachable(download: Any, run_id: str, path: str, dst_path: str | None = None) -> str:
        raise ConnectionError("artifact store unreachable")

    source, manager, metrics = _manager(trained, "capped", unreachable)
    loads = {"count": 0}
    load = source.load

    def counted(name: str, version: str) -> Any:
        loads["count"] += 1
        if loads["count"] > 1:
            raise ConnectionError("registry unreachable")  # every retry fails outright
        return load(name, version)

    source.load = counted

    async def scenario() -> None:
        await manager.check()
        for _ in range(MAX_FORMAT_RETRIES + 3):
            manager._retry_at = 0.0
            await manager.check()

    asyncio.run(scenario())
    assert manager.current is not None and manager.current.model_format == "native"
    assert loads["count"] == 1 + MAX_FORMAT_RETRIES, "no load after the cap"
    assert metrics.model_loads.labels("failure")._value.get() == MAX_FORMAT_RETRIES
    assert manager.last_error == "registry unreachable"
    assert manager._retry_delay > 1.0
    manager.install(dataclasses.replace(manager.current, version="99"))
    assert (manager._retry_delay, manager._retries) == (1.0, 0), "a new version starts its own back-off"
