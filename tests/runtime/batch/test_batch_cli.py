"""``mlops batch-predict`` end to end against a model registered in a local store."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import pytest
from pulumi_mlops.runtime.config import ModelRef, RuntimeSettings, TrainingSpec
from pulumi_mlops.runtime.registry import mlflow_client
from typer.testing import CliRunner

from pulumi_mlops.cli import app

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RuntimeSettings:
    for key in list(os.environ):
        if key.startswith("MLOPS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    return RuntimeSettings(home=str(tmp_path / "home"))


def test_batch_predict_cli_scores_a_registered_model(
    home: RuntimeSettings, score_frame: pd.DataFrame, tmp_path: Path
) -> None:
    from pulumi_mlops.runtime.training import train

    spec = TrainingSpec(
        model=ModelRef(name="batch-cli"), estimator="logistic_regression", data="generated://churn?rows=600"
    )
    trained = train(spec, home)
    client = mlflow_client(home)
    tags = client.get_model_version("batch-cli", trained.version).tags
    assert tags["mlops.onnx"] == "exported"
    onnx_file = Path(client.download_artifacts(trained.run_id, "model.onnx", str(tmp_path)))
    assert hashlib.sha256(onnx_file.read_bytes()).hexdigest() == tags["mlops.onnx_sha256"]
    source = tmp_path / "in.parquet"
    score_frame.head(300).to_parquet(source)
    out, summary = tmp_path / "scores", tmp_path / "manifest.json"
    args = ["batch-predict", "-m", "batch-cli@challenger", "-i", str(source), "-o", str(out), "--chunk-rows", "128"]
    result = runner.invoke(app, [*args, "--run-id", "nightly", "--json", str(summary)])
    assert result.exit_code == 0, result.output
    assert f"batch-cli v{trained.version}: 300 rows in, 300 scored, 0 rejected" in result.output
    manifest = json.loads(summary.read_text())
    assert manifest["model_run_id"] == trained.run_id and len(manifest["chunks"]) == 3
    scored = pd.read_parquet(out / "run_id=nightly" / "part-00002.parquet")
    assert len(scored) == 44 and set(scored["model_version"]) == {trained.version}

    again = runner.invoke(app, [*args, "--run-id", "nightly"])
    assert again.exit_code == 0 and "already complete" in again.output, again.output

    missing = runner.invoke(app, [*args[:-4], "-i", str(tmp_path / "nowhere"), "-o", str(out)])
    assert missing.exit_code == 2 and "no such file or directory" in " ".join(missing.output.split())
    spec = tmp_path / "batch.json"
    spec.write_text(json.dumps({"model": {"name": "batch-cli", "alias": "challenger"}, "input": str(source),
                                "output": str(out), "chunk_rows": 100}))  # fmt: skip
    from_spec = runner.invoke(app, ["batch-predict", "--spec", str(spec), "--run-id", "from-spec"])
    assert from_spec.exit_code == 0, from_spec.output
    assert sorted(p.name for p in (out / "run_id=from-spec").glob("part-*")) == [
        f"part-0000{i}.parquet" for i in range(3)
    ]
    spec.write_text(json.dumps({"model": {"name": "batch-cli"}, "input": "ftp://x", "output": str(out)}))
    invalid = runner.invoke(app, ["batch-predict", "--spec", str(spec)])
    assert invalid.exit_code == 2 and "unsupported scheme 'ftp'" in " ".join(invalid.output.split())
    nothing = runner.invoke(app, ["batch-predict", "-i", str(source)])
    assert nothing.exit_code == 2 and "missing --model, --output" in " ".join(nothing.output.split())
    unknown = runner.invoke(app, ["batch-predict", "-m", "nope@champion", "-i", str(source), "-o", str(out)])
    assert unknown.exit_code == 2 and "has no version or alias" in " ".join(unknown.output.split())
    assert "Traceback" not in missing.output + unknown.output
