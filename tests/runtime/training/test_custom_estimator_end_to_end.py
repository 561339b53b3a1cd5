"""A user's own estimator, given by import path, through the whole loop on breast_cancer written to CSV: train
and promote, load the plain MLflow way, serve multi-row requests over the protocol, drift with per-row labels,
a second version promoted over the first, batch scoring, retraining with the champion's spec, and the refusals
(a tampered artifact named, ``--format onnx`` without an ONNX artifact, ``--nproc 2``)."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from pulumi_mlops.runtime.config import PredictionLogSpec, RuntimeSettings, ServingSpec
from pulumi_mlops.runtime.registry import load_model_version, mlflow_client, read_audit
from pulumi_mlops.runtime.serving.prediction_log import PredictionLogger
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from pulumi_mlops.cli import app

sys.path.insert(0, str(Path(__file__).parent))

runner = CliRunner()
MODEL = "cancer-centroid"
ESTIMATOR = "custom_estimators:CentroidClassifier"
REQUESTS, ROWS = 24, 5


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RuntimeSettings]:
    for key in list(os.environ):
        if key.startswith("MLOPS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLOPS_PREDICTION_LOG_URI", str(tmp_path / "prediction-logs"))
    yield RuntimeSettings.from_env()


def _invoke(args: list[str], *codes: int) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code in (codes or (0,)), result.output
    return " ".join(result.output.split())


def _request(rows: pd.DataFrame, request_id: str) -> dict[str, Any]:
    return {
        "id": request_id,
        "inputs": [{"name": "block", "datatype": "FP64", "shape": list(rows.shape), "data": rows.to_numpy().tolist(),
                    "parameters": {"columns": list(rows.columns)}}],
    }  # fmt: skip


def _serve_and_query(settings: RuntimeSettings, features: pd.DataFrame) -> dict[str, np.ndarray]:
    """Multi-row requests to the champion; the answered probability of each queried row, by request."""
    from fastapi.testclient import TestClient
    from pulumi_mlops.runtime.serving import MlflowModelSource, create_app

    spec = ServingSpec.model_validate({"model": {"name": MODEL}, "max_batch_wait_ms": 0})
    answers: dict[str, np.ndarray] = {}
    with TestClient(create_app(spec, MlflowModelSource(settings), settings=settings)) as server:
        deadline = time.monotonic() + 60
        while server.get(f"/v2/models/{MODEL}/ready").status_code != 200:
            assert time.monotonic() < deadline, server.get(f"/v2/models/{MODEL}").json()
            time.sleep(0.1)
        for r in range(REQUESTS):
            body = _request(features.iloc[r * ROWS : (r + 1) * ROWS], f"q{r}")
            answer = server.post(f"/v2/models/{MODEL}/infer", json=body)
            assert answer.status_code == 200, answer.text
            outputs = {o["name"]: o for o in answer.json()["outputs"]}
            assert list(outputs) == ["probability", "probabilities", "label"]
            answers[f"q{r}"] = np.asarray(outputs["probability"]["data"])
        only = server.post(f"/v2/models/{MODEL}/infer", json=body | {"id": "one", "outputs": [{"name": "label"}]})
        only = only.json()
        assert [o["name"] for o in only["outputs"]] == ["label"]
        wrong = server.post(f"/v2/models/{MODEL}/infer", json=body | {"outputs": [{"name": "value"}]})
        assert wrong.status_code == 400 and "has no output 'value'" in wrong.json()["error"]
        records = features.head(2).to_dict(orient="records")
        explained = server.post(f"/v1/models/{MODEL}:predict?explain=true", json={"instances": records}).json()
        assert len(explained["explanations"]) == 2 and set(explained["explanations"][0]) == set(features.columns)
    return answers


def test_an_estimator_by_import_path_goes_through_the_whole_loop(env: RuntimeSettings, tmp_path: Path) -> None:
    frame = load_breast_cancer(as_frame=True).frame
    data = tmp_path / "breast_cancer.csv"
    frame.to_csv(data, index=False)
    features = frame.drop(columns="target")

    refused = _invoke(["train", "--data", str(data), "--label", "target", "--model", MODEL, "--estimator", ESTIMATOR,
                       "--nproc", "2"], 2)  # fmt: skip
    assert f"--nproc 2: estimator '{ESTIMATOR}' trains in one process" in refused and "launching" not in refused
    v1 = tmp_path / "v1.json"
    printed = _invoke(["train", "--data", str(data), "--label", "target", "--model", MODEL, "--estimator", ESTIMATOR,
                       "--param", "temperature=50", "--promote", "--json", str(v1)])  # fmt: skip
    assert "becomes champion" in printed and json.loads(v1.read_text())["metrics"]["auc"] > 0.9

    import mlflow.sklearn
    from pulumi_mlops.runtime.registry import configure_mlflow

    configure_mlflow(env)
    plain = mlflow.sklearn.load_model(f"models:/{MODEL}@champion")
    answers = _serve_and_query(env, features)
    for r in range(REQUESTS):
        rows = features.iloc[r * ROWS : (r + 1) * ROWS]
        np.testing.assert_allclose(answers[f"q{r}"], plain.predict_proba(rows)[:, 1], rtol=1e-9)

    logs = Path(env.resolved_prediction_log_uri())
    other = PredictionLogger(PredictionLogSpec(), str(logs), model="another-model")
    other.record("4", ("mean radius",), {"mean radius": np.ones(200)}, np.full(200, 0.5), [("other", 200)])
    other.flush()
    queried = np.arange(REQUESTS * ROWS)
    labels = pd.DataFrame({"request_id": [f"q{i // ROWS}" for i in queried], "row": queried % ROWS,
                           "label": frame["target"].to_numpy()[queried]})  # fmt: skip
    labels.to_parquet(tmp_path / "labels.parquet", index=False)
    (tmp_path / "drift.yaml").write_text(yaml.safe_dump({"min_rows": 10}))
    _invoke(["drift", "--model", MODEL, "--window", str(logs), "--labels", str(tmp_path / "labels.parquet"),
             "--spec", str(tmp_path / "drift.yaml"), "--out", str(tmp_path / "drift")], 0, 3)  # fmt: skip
    report = json.loads((tmp_path / "drift" / "drift_report.json").read_text())
    served_rows = queried.size + ROWS + 2  # the queries, then the request for one output and the explained one
    assert report["window"]["rows"] == served_rows, "the other model's rows are not counted"
    sent = np.concatenate([answers[f"q{r}"] for r in range(REQUESTS)])
    real_auc = roc_auc_score(labels["label"], sent)
    assert report["performance"]["labelled_rows"] == queried.size
    assert report["performance"]["current"]["auc"] == pytest.approx(real_auc, abs=1e-9) and real_auc > 0.9

    _invoke(["train", "--data", str(data), "--label", "target", "--model", MODEL, "--estimator", ESTIMATOR,
             "--param", "temperature=200", "--no-explain"])  # fmt: skip
    _invoke(["promote", "--model", MODEL])
    gate = read_audit(env, MODEL)[-1]
    assert gate.action in ("promote", "refuse") and gate.versions["challenger"] == "2"
    assert gate.details["metric"] == "auc" and gate.details["champion_score"] is not None
    _invoke(["batch-predict", "--model", f"{MODEL}@champion", "--input", str(data), "--output", str(tmp_path / "out")])
    scored = pd.concat(pd.read_parquet(p) for p in sorted((tmp_path / "out").rglob("part-*.parquet")))
    champion = load_model_version(MODEL, "champion", env).model
    assert type(champion.named_steps["estimator"]).__name__ == "CentroidClassifier"
    ordered = scored.sort_values("row_number")
    np.testing.assert_allclose(ordered["probability"], champion.predict_proba(features)[:, 1], rtol=1e-9)

    onnx = _invoke(["serve", "--model", f"{MODEL}@challenger", "--format", "onnx"], 2)
    assert "version 2, which has no ONNX artifact" in onnx and "--format native" in onnx

    retrained = _invoke(["retrain", "--model", MODEL, "--window", str(logs), "--data", str(data), "--spec",
                         str(tmp_path / "drift.yaml"), "--out", str(tmp_path / "retrain"), "--force"])  # fmt: skip
    client = mlflow_client(env)
    params = client.get_run(client.get_model_version(MODEL, "3").run_id).data.params
    served = client.get_run(client.get_model_version(MODEL, gate.versions["champion_after"] or "").run_id).data.params
    assert (params["estimator"], params["label"], params["task"]) == (ESTIMATOR, "target", "binary")
    assert params["estimator.temperature"] == served["estimator.temperature"], "the champion's parameters are reused"
    assert params["features"] == served["features"]
    event = [e for e in read_audit(env, MODEL) if e.details.get("forced")][-1]
    assert event.reason.startswith("forced (--force)") and event.action in retrained

    location = Path(client.get_model_version_download_uri(MODEL, "2").removeprefix("file://"))
    with (location / "requirements.txt").open("a") as fh:
        fh.write("left-pad==1.0\n")
    tampered = _invoke(["batch-predict", "--model", f"{MODEL}@2", "--input", str(data), "--output",
                        str(tmp_path / "again")], 2)  # fmt: skip
    assert "requirements.txt (sha256" in tampered and "differs from the registered files" in tampered
