"""The two models ``bench/serving.py`` serves, trained and registered in its temp MLflow registry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FEATURES", "Model", "register_demo", "register_raw"]

FEATURES = [f"f{i}" for i in range(20)]
"""Columns of the raw model."""


@dataclass
class Model:
    name: str
    frame: Any
    """Rows the requests are cut from."""
    version: str
    fitted: Any


def register_raw(home: Path) -> Model:
    """The single estimator, logged as ``mlops train`` logs a version, with its ONNX export and parity report."""
    import hashlib

    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from pulumi_mlops.runtime.registry.digest import DIGEST_TAG, directory_digest
    from pulumi_mlops.runtime.registry.onnx_export import (
        ONNX_ARTIFACT,
        ONNX_REPORT_ARTIFACT,
        ONNX_SHA_TAG,
        ONNX_STATUS_TAG,
        OnnxExport,
        OnnxInput,
        OnnxModel,
        record_inputs,
    )
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(4000, len(FEATURES))), columns=FEATURES)
    label = (frame["f0"] + frame["f1"] * frame["f2"] + rng.normal(scale=0.5, size=len(frame)) > 0).astype(int)
    model = GradientBoostingClassifier(n_estimators=100, random_state=0).fit(frame, label)
    proto = convert_sklearn(
        model,
        initial_types=[("input", FloatTensorType([None, len(FEATURES)]))],
        target_opset={"": 17, "ai.onnx.ml": 3},
        options={id(model): {"zipmap": False}},
    )
    inputs = [OnnxInput(name=f, kind="numeric") for f in FEATURES]
    record_inputs(proto, inputs)
    graph = proto.SerializeToString()
    check = frame.head(1000)
    diff = float(np.max(np.abs(OnnxModel(graph, inputs).predict_proba(check) - model.predict_proba(check))))
    report = OnnxExport(
        status="exported" if diff <= 1e-4 else "mismatch",
        inputs=inputs,
        max_abs_diff=diff,
        rows_checked=len(check),
        sha256=hashlib.sha256(graph).hexdigest(),
        reason="" if diff <= 1e-4 else f"probabilities differ by {diff:.2e}",
    )
    mlflow.set_experiment("bench")
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(frame, model.predict_proba(frame)[:, 1]),
            input_example=frame.head(1),
            registered_model_name="raw",
            pip_requirements=["scikit-learn"],
            skops_trusted_types=["sklearn.tree._tree.Tree"],
        )
        (home / ONNX_ARTIFACT).write_bytes(graph)
        (home / ONNX_REPORT_ARTIFACT).write_text(report.model_dump_json())
        mlflow.log_artifact(str(home / ONNX_ARTIFACT))
        mlflow.log_artifact(str(home / ONNX_REPORT_ARTIFACT))
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/raw/{version}", dst_path=str(home / "dl"))
    tags = {DIGEST_TAG: directory_digest(local), "mlops.run_id": run.info.run_id, ONNX_STATUS_TAG: report.tag()}
    if report.status == "exported":
        tags[ONNX_SHA_TAG] = str(report.sha256)
    for key, value in tags.items():
        client.set_model_version_tag("raw", version, key, value)
    client.set_registered_model_alias("raw", "champion", version)
    return Model("raw", frame, version, model)


def register_demo(home: Path) -> Model:
    """The demo's churn model, trained and registered by the trainer (the dev stack's training spec)."""
    import mlflow
    from pulumi_mlops.runtime.config import ModelRef, RuntimeSettings, TrainingSpec
    from pulumi_mlops.runtime.data import generate_churn
    from pulumi_mlops.runtime.training import train

    settings = RuntimeSettings(home=str(home), tracking_uri=mlflow.get_tracking_uri())
    result = train(TrainingSpec(model=ModelRef(name="demo"), estimator="gradient_boosting"), settings)
    mlflow.MlflowClient().set_registered_model_alias("demo", "champion", str(result.version))
    frame = generate_churn(64, seed=3)[list(result.features)]
    return Model("demo", frame, str(result.version), result.pipeline)
