"""Helpers of the model-server tests: a temp MLflow registry with a tiny churn pipeline, live servers, requests."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from pulumi_mlops.runtime.config import RuntimeSettings

MODEL = "churn"
FEATURES = ("tenure", "monthly_charges", "support_calls", "plan")
PLANS = ("basic", "plus", "pro")


def train_churn(home: Path, name: str, rows: int = 800) -> tuple[RuntimeSettings, Any]:
    """``(settings, result)`` of ``mlops train`` run on generated churn data into a registry under ``home``: a
    logistic regression registered as ``name`` (challenger), with its ONNX export and reference profile."""
    from pulumi_mlops.runtime.config import ModelRef, TrainingSpec
    from pulumi_mlops.runtime.training import train

    settings = RuntimeSettings(home=str(home))
    spec = TrainingSpec(
        model=ModelRef(name=name), estimator="logistic_regression", data=f"generated://churn?rows={rows}"
    )
    return settings, train(spec, settings)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def training_frame(rows: int = 300, seed: int = 0) -> tuple[Any, np.ndarray]:
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "tenure": rng.uniform(0, 72, rows),
            "monthly_charges": rng.uniform(20, 120, rows),
            "support_calls": rng.integers(0, 10, rows).astype(np.int64),
            "plan": rng.choice(PLANS, rows),
        }
    )
    logit = -0.05 * frame["tenure"] + 0.02 * frame["monthly_charges"] + 0.3 * frame["support_calls"] - 1.0
    label = (rng.uniform(size=rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, label


def rows(count: int, seed: int = 1) -> list[dict[str, Any]]:
    """Request records like the training data."""
    frame, _ = training_frame(count, seed)
    return [
        {
            "tenure": float(r.tenure),
            "monthly_charges": float(r.monthly_charges),
            "support_calls": int(r.support_calls),
            "plan": str(r.plan),
        }
        for r in frame.itertuples()
    ]


def v2_request(records: list[dict[str, Any]]) -> dict[str, Any]:
    """One tensor per feature column."""
    types = {"tenure": "FP64", "monthly_charges": "FP64", "support_calls": "INT64", "plan": "BYTES"}
    return {
        "inputs": [
            {"name": name, "datatype": types[name], "shape": [len(records)], "data": [r[name] for r in records]}
            for name in FEATURES
        ]
    }


@dataclass
class Registry:
    """A temp MLflow tracking store and registry holding versions of the ``churn`` model."""

    settings: RuntimeSettings
    versions: dict[str, Any] = field(default_factory=dict)
    """version -> the fitted pipeline."""

    def register(self, *, seed: int = 0, alias: str | None = "champion", digest: str | None = None) -> str:
        """Train, log and register a version; ``digest`` overrides the recorded digest tag."""
        import mlflow
        from mlflow.models import infer_signature
        from pulumi_mlops.runtime.registry.digest import DIGEST_TAG, directory_digest
        from sklearn.compose import ColumnTransformer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        frame, label = training_frame(seed=seed)
        pipeline = Pipeline(
            [
                (
                    "features",
                    ColumnTransformer(
                        [
                            ("num", StandardScaler(), ["tenure", "monthly_charges", "support_calls"]),
                            ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
                        ]
                    ),
                ),
                ("model", LogisticRegression(C=1.0 + seed)),
            ]
        ).fit(frame, label)
        output = pipeline.predict_proba(frame)[:, 1]
        signature = infer_signature(frame, output)
        mlflow.set_tracking_uri(self.settings.resolved_tracking_uri())
        mlflow.set_registry_uri(self.settings.resolved_registry_uri())
        mlflow.set_experiment("serving-tests")
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(
                pipeline,
                name="model",
                signature=signature,
                input_example=frame.head(2),
                registered_model_name=MODEL,
                pip_requirements=["scikit-learn"],
            )
        version = str(info.registered_model_version)
        client = mlflow.MlflowClient()
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=client.get_model_version_download_uri(MODEL, version),
            dst_path=str(Path(self.settings.home) / f"dl-{version}"),
        )
        client.set_model_version_tag(MODEL, version, DIGEST_TAG, digest or directory_digest(local))
        client.set_model_version_tag(MODEL, version, "mlops.flavor", "sklearn")
        if alias:
            client.set_registered_model_alias(MODEL, alias, version)
        self.versions[version] = pipeline
        return version

    def set_alias(self, version: str, alias: str = "champion") -> None:
        import mlflow

        mlflow.MlflowClient(self.settings.resolved_tracking_uri()).set_registered_model_alias(MODEL, alias, version)

    def expected(self, version: str, records: list[dict[str, Any]]) -> np.ndarray:
        import pandas as pd

        return np.asarray(self.versions[version].predict_proba(pd.DataFrame(records))[:, 1])


@dataclass
class LiveServer:
    url: str
    app: Any
    server: Any
    thread: threading.Thread

    @property
    def state(self) -> Any:
        return self.app.state.server

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def start_server(app: Any, port: int, ready: bool = True) -> LiveServer:
    """The app served on a thread with the serving Deployments' uvicorn settings (but the asyncio loop)."""
    import uvicorn
    from pulumi_mlops.runtime.serving.server import server_config

    server = uvicorn.Server(server_config(app, host="127.0.0.1", port=port, log_level="warning", loop="asyncio"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    path = "/v2/health/ready" if ready else "/v2/health/live"
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + path, timeout=1).status_code == 200:
                return LiveServer(url, app, server, thread)
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    server.should_exit = True
    raise RuntimeError(f"server on port {port} did not become {'ready' if ready else 'live'}")
