"""The whole loop on one machine: train v1, serve it, send traffic, shift it, detect drift, retrain,
promote v2, and watch the server swap to v2 without a failed request.

Everything runs on the embedded local default under one home folder (MLflow on sqlite, prediction
logs on disk); the folder is recreated on every run, so a re-run gives the same result.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pulumi_mlops.runtime.config import DriftSpec, ModelRef, RuntimeSettings, ServingSpec, TrainingSpec

__all__ = ["DemoConfig", "DemoSummary", "run_demo"]

NON_FEATURES = ("customer_id", "event_timestamp", "churned")
SHIFT = "mean:0.8,category:0.6,concept:1.0"


@dataclass(frozen=True)
class DemoConfig:
    """Sizes and places of one demo run."""

    home: Path = Path(".mlops/demo")
    """Working folder (recreated)."""
    model: str = "churn"
    """Registered model name."""
    train_rows: int = 20_000
    """Rows of each training set."""
    requests: int = 1_500
    """Requests per traffic phase (normal, then shifted)."""
    rows_per_request: int = 1
    """Records per request."""
    concurrency: int = 4
    """Parallel client threads."""
    estimator_params: dict[str, float | int | str | bool] = field(
        default_factory=lambda: {"max_iter": 100, "max_depth": 4}
    )
    """Gradient boosting parameters (kept small so the demo is quick on two cores)."""
    shift: str = SHIFT
    """Drift injected into the second traffic phase and the retraining data."""
    server_start_timeout_s: float = 120.0
    """How long the model server may take to become ready."""


@dataclass
class DemoSummary:
    """What the run did, written to ``<home>/summary.json``."""

    champion_v1: str = ""
    champion_v2: str = ""
    v1_auc: float = 0.0
    v2_auc: float = 0.0
    baseline_drift_share: float = 0.0
    shifted_drift_share: float = 0.0
    drifted_features: list[str] = field(default_factory=list)
    retrain_action: str = ""
    retrain_reason: str = ""
    requests_sent: int = 0
    failed_requests: int = 0
    versions_seen: dict[str, int] = field(default_factory=dict)
    swap_seconds: float = 0.0
    drift_report_html: str = ""
    seconds: float = 0.0


Step = Callable[[str], None]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Traffic:
    """Sends records to the server's v1 route and counts answers by model version."""

    def __init__(self, base_url: str, model: str, concurrency: int) -> None:
        import httpx

        self.url = f"{base_url}/v1/models/{model}:predict"
        self.client = httpx.Client(timeout=30.0, limits=httpx.Limits(max_connections=concurrency * 2))
        self.pool = ThreadPoolExecutor(concurrency)
        self.lock = threading.Lock()
        self.sent = 0
        self.failed = 0
        self.versions: dict[str, int] = {}

    def send(self, batch: list[dict[str, Any]]) -> str | None:
        try:
            response = self.client.post(self.url, json={"instances": batch})
            ok = response.status_code == 200
            version = str(response.json().get("model_version")) if ok else None
        except Exception:
            ok, version = False, None
        with self.lock:
            self.sent += 1
            if ok and version is not None:
                self.versions[version] = self.versions.get(version, 0) + 1
            else:
                self.failed += 1
        return version

    def phase(self, records: list[dict[str, Any]], per_request: int) -> None:
        batches = [records[i : i + per_request] for i in range(0, len(records), per_request)]
        list(self.pool.map(self.send, batches))

    def close(self) -> None:
        self.pool.shutdown()
        self.client.close()


def _records(frame: Any) -> list[dict[str, Any]]:
    features = frame.drop(columns=[c for c in NON_FEATURES if c in frame.columns])
    return list(features.to_dict(orient="records"))


def _wait_ready(base_url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the model server exited with status {process.returncode} before it was ready")
        try:
            if httpx.get(f"{base_url}/v2/health/ready", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"the model server was not ready after {timeout_s:.0f} s")


def _wait_for_logs(directory: Path, rows: int, timeout_s: float = 30.0) -> None:
    import pyarrow.dataset as ds

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (
            directory.exists()
            and any(directory.rglob("*.parquet"))
            and ds.dataset(str(directory), format="parquet", partitioning="hive").count_rows() >= rows
        ):
            return
        time.sleep(0.3)
    raise TimeoutError(f"prediction logs under {directory} did not reach {rows} rows in {timeout_s:.0f} s")


def run_demo(config: DemoConfig, step: Step = lambda _: None) -> DemoSummary:
    """Run the loop; ``step`` is called with a line before each stage (progress for the CLI)."""
    from pulumi_mlops.runtime.data.generator import DriftShift, generate_churn
    from pulumi_mlops.runtime.drift.check import run_drift_check
    from pulumi_mlops.runtime.pipeline import RegistryHistory, RetrainGuard, run_retrain
    from pulumi_mlops.runtime.pipeline.steps import LocalRetrain, local_steps
    from pulumi_mlops.runtime.registry.audit import AuditEvent, append_audit
    from pulumi_mlops.runtime.registry.promotion import promote
    from pulumi_mlops.runtime.registry.tracking import mlflow_client
    from pulumi_mlops.runtime.training.trainer import train

    started = time.monotonic()
    home = config.home.resolve()
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    settings = RuntimeSettings(home=str(home))
    summary = DemoSummary()
    logs = Path(settings.resolved_prediction_log_uri())
    drift_spec = DriftSpec(min_rows=min(500, config.requests * config.rows_per_request // 2))

    step(f"train v1 on {config.train_rows:,} generated rows and register it as champion")
    base = TrainingSpec(
        model=ModelRef(name=config.model, alias="champion"),
        estimator="gradient_boosting",
        data=f"generated://churn?rows={config.train_rows}&seed=1",
        params=config.estimator_params,
    )
    v1 = train(base, settings)
    promote(config.model, settings, note="first model of the demo")
    summary.champion_v1, summary.v1_auc = str(v1.version), round(v1.metrics["auc"], 4)

    step("start the model server (Open Inference Protocol v2) on loopback")
    port = _free_port()
    spec = ServingSpec(model=ModelRef(name=config.model), port=port, reload_poll_seconds=1.0)
    spec.prediction_log.flush_seconds = 0.5
    spec.prediction_log.flush_rows = 200
    spec_path = home / "serving.json"
    spec_path.write_text(spec.model_dump_json())
    env = {**os.environ, **settings.to_env(), "MLOPS_HOME": str(home)}
    server_log = (home / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "pulumi_mlops", "serve", "--spec", str(spec_path), "--host", "127.0.0.1"],
        env=env,
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    traffic: _Traffic | None = None
    try:
        _wait_ready(base_url, process, config.server_start_timeout_s)
        traffic = _Traffic(base_url, config.model, config.concurrency)
        rows = config.requests * config.rows_per_request

        step(f"send {config.requests:,} requests of normal traffic")
        normal_start = datetime.now(UTC)
        traffic.phase(_records(generate_churn(rows, seed=11)), config.rows_per_request)
        _wait_for_logs(logs, rows)
        baseline = run_drift_check(
            ModelRef(name=config.model), str(logs), drift_spec, settings, home / "drift-baseline", since=normal_start
        )
        summary.baseline_drift_share = round(baseline.report.drift_share, 3)

        step(f"shift the traffic ({config.shift}) and send {config.requests:,} more requests")
        shifted_start = datetime.now(UTC)
        shifted = generate_churn(rows, seed=12, shift=DriftShift.parse(config.shift))
        traffic.phase(_records(shifted), config.rows_per_request)
        _wait_for_logs(logs, 2 * rows)

        step("detect drift, retrain a challenger on fresh data, and gate its promotion")
        guard = RetrainGuard(
            RegistryHistory(mlflow_client(settings), [config.model]),
            drift_spec.retrain_cooldown_hours,
            drift_spec.max_retrains_per_day,
        )
        fresh = base.model_copy(
            update={"data": f"generated://churn?rows={config.train_rows}&seed=2&shift={config.shift}"}
        )
        job = LocalRetrain(training=fresh, drift=drift_spec, window=str(logs), out=home / "drift", since=shifted_start)

        def audit(record: dict[str, Any]) -> None:
            append_audit(
                settings,
                AuditEvent(
                    action=record["action"],
                    model=config.model,
                    reason=record["why"],
                    versions={"champion": record["champion_version"], "challenger": record["challenger_version"]},
                    details={"drift_share": record["drift_share"]},
                ),
            )

        decision = run_retrain(config.model, local_steps(job, settings), guard, audit)
        report = json.loads((home / "drift" / "drift_report.json").read_text())
        summary.shifted_drift_share = round(report["drift_share"], 3)
        summary.drifted_features = [f["name"] for f in report["features"] if f.get("drifted")]
        summary.drift_report_html = str(home / "drift" / "drift_report.html")
        summary.retrain_action, summary.retrain_reason = decision.action, decision.reason
        summary.champion_v2 = decision.challenger_version or ""

        if decision.promoted:
            step(f"keep traffic flowing while the server swaps to v{summary.champion_v2}")
            swap_start = time.monotonic()
            more = _records(generate_churn(rows, seed=13, shift=DriftShift.parse(config.shift)))
            deadline = swap_start + 60.0
            while time.monotonic() < deadline:
                traffic.phase(more[: config.concurrency * 25], config.rows_per_request)
                if traffic.versions.get(summary.champion_v2, 0) >= config.concurrency:
                    break
            summary.swap_seconds = round(time.monotonic() - swap_start, 2)
            summary.v2_auc = round(_auc_of(config.model, summary.champion_v2, settings), 4)
        summary.requests_sent, summary.failed_requests = traffic.sent, traffic.failed
        summary.versions_seen = dict(sorted(traffic.versions.items()))
    finally:
        if traffic is not None:
            traffic.close()
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        server_log.close()
    summary.seconds = round(time.monotonic() - started, 1)
    (home / "summary.json").write_text(json.dumps(asdict(summary), indent=2) + "\n")
    return summary


def _auc_of(model: str, version: str, settings: RuntimeSettings) -> float:
    from pulumi_mlops.runtime.registry.tracking import mlflow_client

    client = mlflow_client(settings)
    run_id = client.get_model_version(model, version).run_id
    if not run_id:
        return 0.0
    return float(client.get_run(run_id).data.metrics.get("holdout_auc", 0.0))
