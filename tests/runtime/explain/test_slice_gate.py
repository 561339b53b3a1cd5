"""The promotion gate refuses a challenger that degrades a fairness slice, naming it in the audit log."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pulumi_mlops.runtime.config import ModelRef, RuntimeSettings, TrainingSpec
from pulumi_mlops.runtime.registry import mlflow_client, promote, read_audit
from pulumi_mlops.runtime.training import train


def test_slice_gate_refuses_and_audits_the_failing_slice(tmp_path: Path) -> None:
    settings = RuntimeSettings(home=str(tmp_path / "home"))
    name = "fair"
    data = "generated://churn?rows=1000"
    train(TrainingSpec(model=ModelRef(name=name), estimator="logistic_regression", data=data), settings)
    assert promote(name, settings).promoted

    weak = TrainingSpec(
        model=ModelRef(name=name), estimator="mlp", data=data, params={"epochs": 1, "learning_rate": 1e-4},
        sensitive_columns=["region", "plan"], max_slice_degradation=0.0,
    )  # fmt: skip
    result = train(weak, settings)
    client = mlflow_client(settings)
    onnx_tag = client.get_model_version(name, result.version).tags["mlops.onnx"]
    assert onnx_tag.startswith("unsupported: estimator TabularMLPClassifier")
    assert "mlops.onnx_sha256" not in client.get_model_version(name, result.version).tags
    slices = json.loads(Path(client.download_artifacts(result.run_id, "slices.json", str(tmp_path))).read_text())
    assert {s["column"] for s in slices["slices"]} == {"region", "plan"}
    explained = Path(client.download_artifacts(result.run_id, "explanations.svg", str(tmp_path))).read_text()
    assert explained.startswith("<svg")

    refused = promote(name, settings, margin=-1.0)
    assert not refused.promoted and refused.action == "refuse"
    assert re.search(
        r"slice (region|plan)=\w+ AUC changes by -0\.\d+, worse than max_slice_degradation 0\.0", refused.reason
    )
    assert str(client.get_registered_model(name).aliases["champion"]) == "1"
    event = read_audit(settings, name)[-1]
    assert event.action == "refuse" and event.reason == refused.reason
