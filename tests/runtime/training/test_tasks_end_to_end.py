"""``mlops train`` with no spec file on scikit-learn's breast_cancer (binary), wine (multiclass) and diabetes
(regression) data written to CSV and Parquet, then serving over the Open Inference Protocol v2 (native and
ONNX), drift with labels, batch scoring, and promotion of a second version trained from a YAML spec with
flag overrides."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from pulumi_mlops.runtime.config import RuntimeSettings, ServingSpec
from pulumi_mlops.runtime.registry import load_model_version, mlflow_client, read_audit
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from typer.testing import CliRunner

from pulumi_mlops.cli import app

runner = CliRunner()

DATASETS: dict[str, tuple[Any, str, list[str], str, str, list[str]]] = {
    "breast-cancer": (
        load_breast_cancer, "binary", ["probability", "probabilities", "label"], "auc", "auc", ["probability"]
    ),
    "wine": (
        load_wine, "multiclass", ["probabilities", "label"], "macro_f1", "macro_f1",
        ["label", "probability_0", "probability_1", "probability_2"],
    ),
    "diabetes": (load_diabetes, "regression", ["value"], "r2", "rmse", ["value"]),
}  # fmt: skip
"""name: (loader, task, v2 outputs, promotion metric, performance-drift metric, batch prediction columns)."""
QUERIED = 40


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Each dataset as ``<name>.csv`` and ``<name>.parquet`` (the label column is ``target``)."""
    folder = tmp_path_factory.mktemp("datasets")
    for name, (loader, *_) in DATASETS.items():
        frame = loader(as_frame=True).frame
        frame.to_csv(folder / f"{name}.csv", index=False)
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mlops-home")


@pytest.fixture
def env(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RuntimeSettings]:
    for key in list(os.environ):
        if key.startswith("MLOPS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("MLOPS_HOME", str(home))
    yield RuntimeSettings(home=str(home))


def _invoke(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


def _v2_request(rows: pd.DataFrame, request_id: str) -> dict[str, Any]:
    inputs = [
        {"name": str(c), "datatype": "FP64", "shape": [len(rows)], "data": rows[c].astype(float).tolist()}
        for c in rows.columns
    ]
    return {"id": request_id, "inputs": inputs}


def _serve(settings: RuntimeSettings, name: str, model_format: str = "native") -> Any:
    from fastapi.testclient import TestClient
    from pulumi_mlops.runtime.serving import MlflowModelSource, create_app

    spec = ServingSpec.model_validate({"model": {"name": name}, "max_batch_wait_ms": 0})
    return TestClient(create_app(spec, MlflowModelSource(settings, model_format=model_format), settings=settings))


def _wait_ready(client: Any, name: str) -> None:
    deadline = time.monotonic() + 60
    while client.get(f"/v2/models/{name}/ready").status_code != 200:
        assert time.monotonic() < deadline, client.get(f"/v2/models/{name}").json()
        time.sleep(0.1)


def _outputs(body: dict[str, Any]) -> dict[str, np.ndarray]:
    return {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in body["outputs"]}


def _check_answer(task: str, outputs: dict[str, np.ndarray], native: Any, rows: pd.DataFrame, atol: float) -> None:
    if task == "regression":
        np.testing.assert_allclose(outputs["value"], native.predict(rows), rtol=1e-4, atol=atol)
        return
    proba = native.predict_proba(rows)
    np.testing.assert_allclose(outputs["probabilities"], proba, atol=atol)
    np.testing.assert_allclose(outputs["probabilities"].sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(outputs["label"], np.asarray(native.classes_)[np.argmax(proba, axis=1)])
    if task == "binary":
        np.testing.assert_allclose(outputs["probability"], proba[:, 1], atol=atol)


@pytest.mark.parametrize("name", list(DATASETS))
def test_train_serve_drift_and_promote(name: str, data: Path, env: RuntimeSettings, tmp_path: Path) -> None:
    _, task, outputs, metric, drift_metric, scored_columns = DATASETS[name]
    frame = pd.read_csv(data / f"{name}.csv")
    features = frame.drop(columns="target")

    out = tmp_path / "v1.json"
    printed = _invoke(["train", "--data", str(data / f"{name}.csv"), "--label", "target", "--model", name,
                       "--estimator", "gradient_boosting", "--param", "max_iter=15", "--promote",
                       "--json", str(out)])  # fmt: skip
    assert f"task {task}: 'target'" in printed and "becomes champion" in printed
    v1 = json.loads(out.read_text())
    assert (v1["version"], v1["task"], v1["promotion_metric"]) == ("1", task, metric)
    assert metric in v1["metrics"] and drift_metric in v1["metrics"]

    client = mlflow_client(env)
    version = client.get_model_version(name, "1")
    assert version.tags["mlops.task"] == task and version.tags["mlops.onnx"] == "exported"
    from mlflow.models import Model

    recorded = Model.load(f"models:/{name}/1").metadata["mlops"]
    assert [o["name"] for o in recorded["outputs"]] == outputs
    native = load_model_version(name, "1", env).model

    logs = tmp_path / "prediction-logs"
    settings = env.model_copy(update={"prediction_log_uri": str(logs)})
    queried = features.sample(QUERIED, random_state=1)
    with _serve(settings, name) as server:
        _wait_ready(server, name)
        metadata = server.get(f"/v2/models/{name}").json()
        assert metadata["outputs"] == recorded["outputs"]
        for position, (_, row) in enumerate(queried.iterrows()):
            answer = server.post(f"/v2/models/{name}/infer", json=_v2_request(row.to_frame().T, f"r{position}"))
            assert answer.status_code == 200, answer.text
            assert [o["name"] for o in answer.json()["outputs"]] == outputs
        batch = server.post(f"/v2/models/{name}/infer", json=_v2_request(queried.head(5), "batch"))
        _check_answer(task, _outputs(batch.json()), native, queried.head(5), atol=1e-9)
        records = queried.head(2).to_dict(orient="records")
        explained = server.post(f"/v1/models/{name}:predict?explain=true", json={"instances": records}).json()
        assert len(explained["explanations"]) == 2 and set(explained["explanations"][0]) == set(features.columns)
        assert ("labels" in explained) == (task != "regression")
    with _serve(settings.model_copy(update={"prediction_log_uri": str(tmp_path / "onnx-logs")}), name, "onnx") as onnx:
        _wait_ready(onnx, name)
        assert onnx.get(f"/v2/models/{name}").json()["platform"] == "mlflow_onnx"
        answer = onnx.post(f"/v2/models/{name}/infer", json=_v2_request(queried.head(5), "onnx"))
        _check_answer(task, _outputs(answer.json()), native, queried.head(5), atol=1e-4)

    labels = pd.DataFrame(
        {"request_id": [f"r{i}" for i in range(QUERIED)], "label": frame.loc[queried.index, "target"]}
    )
    labels.to_parquet(tmp_path / "labels.parquet", index=False)
    (tmp_path / "drift.yaml").write_text(yaml.safe_dump({"min_rows": 10}))
    drift = runner.invoke(app, ["drift", "--model", f"{name}@champion", "--window", str(logs), "--labels",
                                str(tmp_path / "labels.parquet"), "--spec", str(tmp_path / "drift.yaml"),
                                "--out", str(tmp_path / "drift")])  # fmt: skip
    assert drift.exit_code in (0, 3), drift.output
    performance = json.loads((tmp_path / "drift" / "drift_report.json").read_text())["performance"]
    assert performance["metric"] == drift_metric and performance["labelled_rows"] == QUERIED
    assert drift_metric in performance["current"] and performance["degradation"] is not None

    _invoke(["batch-predict", "--model", f"{name}@champion", "--input", str(data / f"{name}.parquet"),
             "--output", str(tmp_path / "scored")])  # fmt: skip
    scored = pd.concat(pd.read_parquet(part) for part in sorted((tmp_path / "scored").rglob("part-*.parquet")))
    assert len(scored) == len(frame) and set(scored_columns) <= set(scored.columns)
    first = scored.sort_values("row_number").head(5)
    if task == "regression":
        np.testing.assert_allclose(first["value"], native.predict(features.head(5)), rtol=1e-9)
    else:
        column = "probability" if task == "binary" else "probability_1"
        np.testing.assert_allclose(first[column], native.predict_proba(features.head(5))[:, 1], rtol=1e-9)

    spec = tmp_path / "train.yaml"
    spec.write_text(yaml.safe_dump({
        "model": {"name": "placeholder"}, "data": "generated://churn?rows=100", "label": "churned",
        "estimator": "random_forest", "params": {"n_estimators": 20, "max_depth": 4},
        "purpose": f"Predicts target of the {name} data.", "owner": "data-science",
    }))  # fmt: skip
    _invoke(["train", "--config", str(spec), "--model", name, "--label", "target",
             "--data", str(data / f"{name}.parquet")])  # fmt: skip
    promoted = _invoke(["promote", "--model", name])
    decision = read_audit(env, name)[-1]
    assert decision.versions["challenger"] == "2" and decision.details["metric"] == metric
    assert decision.details["task"] == task and metric in promoted
    v2_run = str(client.get_model_version(name, "2").run_id)
    assert decision.details["champion_score"] == pytest.approx(v1["metrics"][metric])
    assert decision.details["challenger_score"] == pytest.approx(
        client.get_run(v2_run).data.metrics[f"holdout_{metric}"]
    )
    card = Path(client.download_artifacts(v2_run, "model_card.md", str(tmp_path)))
    text = card.read_text()
    assert f"## Purpose\nPredicts target of the {name} data." in text and "- Owner: data-science" in text
    assert "churn" not in text.lower() and "## Intended use" not in text
