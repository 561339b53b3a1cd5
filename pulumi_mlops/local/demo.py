"""The stack's own ML loop on this machine: the workloads of an AWS stack's preview graph run as local
processes, in the order a new cluster runs them, against local services.

1. the bootstrap training Job registers and promotes v1 (the first champion);
2. the stable serving Deployment loads it and answers traffic, logging predictions to the bucket;
3. the drift CronJob checks a window of normal traffic (no drift), then, after the traffic shifts and
   fresh labelled rows land in the datasets bucket, finds drift and creates a retraining Job from the
   training CronJob through the Kubernetes API;
4. that Job trains v2 on the drift window's rows and ends in the promotion gate; the server swaps to v2
   while traffic keeps flowing;
5. the nightly batch CronJob scores the customers file with the new champion.

Each container gets the command, args, environment and mounted spec file the graph gives it, rewired only
as :mod:`pulumi_mlops.local.workloads` says, plus three stand-ins this module names: the training data (the
graph's ``generated://`` source becomes a dataset in the stack's datasets bucket that the demo writes, so
that fresh rows can land in it), and the server's registry poll and log flush intervals (seconds instead of
the graph's 30 s, so a run takes about a minute).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pulumi_mlops.preview import ResourceGraph

from .pods import GraphPod, free_port, wait_for
from .services import CLOUD_ENV, FakeKubeApi, LocalS3, LocalTracking
from .traffic import Traffic, records
from .workloads import LocalWorkload

__all__ = ["DemoConfig", "DemoSummary", "StackWorkloads", "run_stack_demo"]

SHIFT = "mean:0.8,category:0.6,concept:1.0"


@dataclass(frozen=True)
class DemoConfig:
    """Sizes and places of one run."""

    home: Path = Path(".mlops/demo")
    """Working folder (recreated on every run)."""
    model: str = "churn"
    """The registered model whose workloads run."""
    train_rows: int = 20_000
    """Rows of the historical dataset the bootstrap Job trains on (and of the fresh rows that land later)."""
    requests: int = 1_500
    """Requests per traffic phase (normal, then shifted)."""
    concurrency: int = 4
    """Parallel client threads."""
    shift: str = SHIFT
    """Drift of the second traffic phase and of the fresh rows."""
    reload_poll_seconds: float = 1.0
    """The server's registry poll (the graph's is 30 s)."""
    flush_seconds: float = 0.5
    """The server's prediction-log flush interval (the graph's is 30 s)."""


@dataclass
class DemoSummary:
    """What the run did, written to ``<home>/summary.json``."""

    stack: str = ""
    workloads: dict[str, list[str]] = field(default_factory=dict)
    """Graph workload (``Kind/namespace/name``) -> its container's argv as the graph gives it (the process ran
    it with the mount paths made local)."""
    champion_v1: str = ""
    v1_auc: float = 0.0
    baseline_drift_share: float = 0.0
    shifted_drift_share: float = 0.0
    drifted_features: list[str] = field(default_factory=list)
    kube_calls: list[str] = field(default_factory=list)
    """``METHOD path (authorized|anonymous)`` of each call the drift job made to the Kubernetes API."""
    retrain_job: str = ""
    retrain_action: str = ""
    retrain_reason: str = ""
    champion_v2: str = ""
    v2_auc: float = 0.0
    gate_champion_auc: float = 0.0
    """The champion's AUC on the challenger's holdout (the fresh rows), as the promotion gate measured it."""
    gate_challenger_auc: float = 0.0
    """The challenger's AUC on the same rows."""
    anonymous_status: int = 0
    """Status of one inference request sent without the endpoint's API key (401 when its routes need one)."""
    requests_sent: int = 0
    failed_requests: int = 0
    versions_seen: dict[str, int] = field(default_factory=dict)
    swap_seconds: float = 0.0
    drift_report_html: str = ""
    batch_rows: int = 0
    batch_output: str = ""
    seconds: float = 0.0


Step = Callable[[str], None]


@dataclass(frozen=True)
class StackWorkloads:
    """The graph workloads of one model, found by what their containers run."""

    bootstrap: GraphPod
    training: GraphPod
    serving: GraphPod
    drift: GraphPod
    batch: GraphPod | None

    @classmethod
    def of(cls, graph: ResourceGraph, model: str) -> StackWorkloads:
        def pods(kind: str) -> list[GraphPod]:
            from .pods import WORKLOAD_TYPES

            return [GraphPod(r.props, graph) for r in graph.of_type(WORKLOAD_TYPES[kind])]

        def runs(pod: GraphPod, *words: str) -> bool:
            argv = " ".join(str(a) for c in pod.spec["containers"] for a in [*c.get("command", []), *c.get("args", [])])
            return all(w in argv for w in words)

        def one(found: list[GraphPod], what: str) -> GraphPod:
            if not found:
                raise LookupError(f"the stack has no {what} for model {model!r}")
            return found[0]

        def trains(pod: GraphPod) -> bool:
            return runs(pod, "mlops train") and pod.name in (f"train-{model}", f"train-{model}-bootstrap")

        return cls(
            bootstrap=one([p for p in pods("Job") if trains(p)], "bootstrap training Job"),
            training=one([p for p in pods("CronJob") if trains(p)], "training CronJob (mlops train)"),
            serving=one(
                [p for p in pods("Deployment") if runs(p, "mlops serve", f"{model}@champion")], "serving Deployment"
            ),
            drift=one([p for p in pods("CronJob") if runs(p, "mlops drift", f"{model}@champion")], "drift CronJob"),
            batch=next((p for p in pods("CronJob") if runs(p, "mlops batch-predict") and _batch_of(p, model)), None),
        )


def _batch_of(pod: GraphPod, model: str) -> bool:
    specs = [json.loads(text) for data in pod.mounted_config_maps().values() for text in data.values()]
    return any(spec.get("model", {}).get("name") == model for spec in specs)


@contextmanager
def _cloud_keys() -> Iterator[None]:
    """This process reads the buckets with the pods' stand-in keys; the caller's are restored after."""
    saved = {k: os.environ.get(k) for k in CLOUD_ENV}
    os.environ.update(CLOUD_ENV)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _parquet(frame: Any) -> bytes:
    import io

    out = io.BytesIO()
    frame.to_parquet(out, index=False)
    return out.getvalue()


class _Run:
    """One demo run: the services, the workloads' roots and the summary."""

    def __init__(self, graph: ResourceGraph, config: DemoConfig, s3: LocalS3, tracking: LocalTracking) -> None:
        self.graph, self.config, self.s3, self.tracking = graph, config, s3, tracking
        self.home = config.home.resolve()
        self.summary = DemoSummary()
        self.workloads = StackWorkloads.of(graph, config.model)
        self.dataset = f"s3://{s3.bucket('datasets')}/local-demo/{config.model}/"

    def workload(self, pod: GraphPod, container: str, role: str) -> LocalWorkload:
        return LocalWorkload(pod, container, self.home / "pods" / role, self.s3.endpoint, self.tracking.url)

    def record(self, work: LocalWorkload, env: dict[str, str]) -> list[str]:
        """The argv to run (mount paths local), noting the graph's own in the summary."""
        name = f"{work.pod.kind}/{work.pod.namespace}/{work.pod.name}"
        self.summary.workloads[name] = work.pod.argv(work.spec, env)
        return work.argv(env)

    def train_data(self, work: LocalWorkload) -> None:
        """The training spec reads the stack's datasets bucket instead of a generated source."""
        work.edit_spec(lambda spec: {**spec, "data": self.dataset})

    def settings(self, work: LocalWorkload) -> Any:
        from pulumi_mlops.runtime.config import RuntimeSettings

        env = work.env()
        return RuntimeSettings.from_env({k: v for k, v in env.items() if k.startswith("MLOPS_")})

    def holdout_auc(self, version: str) -> float:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=self.tracking.url, registry_uri=self.tracking.url)
        run_id = client.get_model_version(self.config.model, version).run_id
        return round(float(client.get_run(str(run_id)).data.metrics.get("holdout_auc", 0.0)), 4) if run_id else 0.0

    def champion(self) -> str:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=self.tracking.url, registry_uri=self.tracking.url)
        return str(client.get_model_version_by_alias(self.config.model, "champion").version)

    def logged_rows(self, uri: str) -> int:
        import pyarrow.dataset as ds
        import pyarrow.fs as pafs

        region = CLOUD_ENV["AWS_DEFAULT_REGION"]
        fs = pafs.S3FileSystem(endpoint_override=self.s3.endpoint, scheme="http", region=region)
        files = [f"{uri.removeprefix('s3://').split('/')[0]}/{k}" for k in self.s3.keys(uri) if k.endswith(".parquet")]
        return int(ds.dataset(files, filesystem=fs, format="parquet").count_rows()) if files else 0

    def latest_report(self, prefix: str) -> tuple[dict[str, Any], str]:
        """The newest drift report under ``prefix`` and the key of its folder."""
        bucket = prefix.removeprefix("s3://").split("/")[0]
        reports = [k for k in self.s3.keys(prefix) if k.endswith("/drift_report.json")]
        if not reports:
            raise RuntimeError(f"the drift job wrote no report under {prefix}")
        key = reports[-1]
        return json.loads(self.s3.read(bucket, key)), key.rsplit("/", 1)[0]


def run_stack_demo(
    graph: ResourceGraph,
    config: DemoConfig,
    step: Step = lambda _: None,
    *,
    s3: LocalS3 | None = None,
    tracking: LocalTracking | None = None,
) -> DemoSummary:
    """Run the loop on ``graph`` (an AWS stack's preview); ``step`` gets a line before each stage.

    ``s3`` and ``tracking`` are services the caller started (and closes, so it can inspect them after);
    by default the run starts its own and stops them at the end."""
    started = time.monotonic()
    home = config.home.resolve()
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    step("start the local services: the stack's buckets on a loopback S3 API, its MLflow server on sqlite")
    with ExitStack() as services:
        services.enter_context(_cloud_keys())
        s3 = s3 or services.enter_context(LocalS3(graph))
        tracking = tracking or services.enter_context(LocalTracking(graph, s3, home / "services" / "mlflow"))
        run = _Run(graph, config, s3, tracking)
        _loop(run, step)
    run.summary.seconds = round(time.monotonic() - started, 1)
    (home / "summary.json").write_text(json.dumps(asdict(run.summary), indent=2) + "\n")
    return run.summary


def _loop(run: _Run, step: Step) -> None:
    from pulumi_mlops.runtime.data import DriftShift, generate_churn

    config, s3, summary, found = run.config, run.s3, run.summary, run.workloads
    shift = DriftShift.parse(config.shift)
    s3.write(f"{run.dataset}history.parquet", _parquet(generate_churn(config.train_rows, seed=1)))

    step(f"Job {found.bootstrap.name}: train v1 on {config.train_rows:,} rows of the datasets bucket and promote it")
    boot = run.workload(found.bootstrap, "trainer", "bootstrap")
    run.train_data(boot)
    env = boot.env()
    boot.run(run.record(boot, env), env)
    summary.champion_v1 = run.champion()
    summary.v1_auc = run.holdout_auc(summary.champion_v1)

    step(f"Deployment {found.serving.name}: serve the champion over the Open Inference Protocol v2")
    server = run.workload(found.serving, "server", "serving")
    server.edit_spec(
        lambda spec: {
            **spec,
            "reload_poll_seconds": config.reload_poll_seconds,
            "prediction_log": {**spec["prediction_log"], "flush_seconds": config.flush_seconds},
        }
    )
    env = server.env()
    logs = env["MLOPS_PREDICTION_LOG_URI"]
    port = free_port()
    argv = [*run.record(server, env), "--host", "127.0.0.1", "--port", str(port)]
    proc = server.start(argv, env)
    base = f"http://127.0.0.1:{port}"
    traffic: Traffic | None = None
    try:
        import httpx

        wait_for(lambda: httpx.get(f"{base}/v2/health/ready", timeout=2).status_code == 200, "server ready", 180, proc)
        traffic = Traffic(base, config.model, config.concurrency, _api_key(server, env))
        anonymous = httpx.post(f"{base}/v1/models/{config.model}:predict", json={"instances": []}, timeout=30)
        summary.anonymous_status = anonymous.status_code

        step(f"send {config.requests:,} requests of normal traffic; CronJob {found.drift.name} checks the window")
        traffic.phase(records(generate_churn(config.requests, seed=11)))
        wait_for(lambda: run.logged_rows(logs) >= config.requests, "prediction logs in the bucket", 60, proc)
        drift = run.workload(found.drift, "drift", "drift-1")
        env = drift.env()
        drift_out = _drift_out(drift.argv(env))
        done = drift.run(run.record(drift, env), env)
        summary.baseline_drift_share = round(run.latest_report(drift_out)[0]["drift_share"], 3)
        if "started Job" in done.stdout:
            raise RuntimeError(f"the drift job retrained on normal traffic (log: {drift.log})")

        step(f"shift the traffic ({config.shift}), land fresh labelled rows, run {found.drift.name} again")
        traffic.phase(records(generate_churn(config.requests, seed=12, shift=shift)))
        now = datetime.now(UTC)
        fresh = generate_churn(config.train_rows, seed=2, shift=shift, window=(now - timedelta(hours=23), now))
        s3.write(f"{run.dataset}fresh-{now:%Y%m%dT%H%M%S}.parquet", _parquet(fresh))
        wait_for(lambda: run.logged_rows(logs) >= 2 * config.requests, "prediction logs in the bucket", 60, proc)
        api = FakeKubeApi(run.home / "services" / "kubernetes", found.training.manifest)
        try:
            drift = run.workload(found.drift, "drift", "drift-2")
            env = drift.env(extra=api.pod_env())
            drift.run(drift.argv(env), env)
        finally:
            api.close()
        summary.kube_calls = [
            f"{method} {path} ({'authorized' if auth == f'Bearer {api.TOKEN}' else 'anonymous'})"
            for method, path, _, auth in api.calls
        ]
        report, folder = run.latest_report(drift_out)
        summary.shifted_drift_share = round(report["drift_share"], 3)
        summary.drifted_features = [f["name"] for f in report["features"] if f.get("drifted")]
        html = run.home / "drift_report.html"
        html.write_bytes(s3.read(drift_out.removeprefix("s3://").split("/")[0], f"{folder}/drift_report.html"))
        summary.drift_report_html = str(html)
        if not api.created:
            summary.retrain_action, summary.retrain_reason = "not-triggered", "the drift job created no Job"
            return

        job = api.created[0]
        summary.retrain_job = str(job["metadata"].get("name") or job["metadata"].get("generateName", ""))
        step(f"Job {summary.retrain_job}: train v2 on the drift window's rows and run the promotion gate")
        retrain = run.workload(GraphPod(job, run.graph), "trainer", "retrain")
        run.train_data(retrain)
        env = retrain.env()
        retrain.run(run.record(retrain, env), env)
        gate = _gate(run, retrain)
        summary.retrain_action, summary.retrain_reason = gate.action, gate.reason
        summary.champion_v2 = str(gate.versions.get("challenger") or "")
        summary.gate_champion_auc = round(float(gate.details.get("champion_auc") or 0.0), 4)
        summary.gate_challenger_auc = round(float(gate.details.get("challenger_auc") or 0.0), 4)
        if summary.retrain_action == "promote":
            summary.v2_auc = run.holdout_auc(summary.champion_v2)
            step(f"keep traffic flowing while the server swaps to v{summary.champion_v2}")
            more = records(generate_churn(config.concurrency * 25, seed=13, shift=shift))
            swap = time.monotonic()
            while time.monotonic() - swap < 60 and traffic.versions.get(summary.champion_v2, 0) < config.concurrency:
                traffic.phase(more)
            summary.swap_seconds = round(time.monotonic() - swap, 2)
        summary.requests_sent, summary.failed_requests = traffic.sent, traffic.failed
        summary.versions_seen = dict(sorted(traffic.versions.items()))
    finally:
        if traffic is not None:
            traffic.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    if found.batch is not None:
        _batch(run, found.batch, step)


def _api_key(server: LocalWorkload, env: dict[str, str]) -> str | None:
    """The first key of the endpoint's API-key Secret, as a client reads it (None when the routes are open)."""
    keys_file = env.get("MLOPS_API_KEYS_FILE")
    if not keys_file:
        return None
    lines = [line.strip() for line in Path(keys_file).read_text().splitlines() if line.strip()]
    if not lines:
        raise RuntimeError(f"{server.pod.name}: the API-key Secret mounted at {keys_file} holds no key")
    return lines[0]


def _drift_out(argv: list[str]) -> str:
    words = " ".join(argv).split()
    return words[words.index("--out") + 1].rstrip("/") + "/"


def _gate(run: _Run, work: LocalWorkload) -> Any:
    """The promotion gate's last decision on the model (an ``AuditEvent``), from the audit log in the bucket."""
    from pulumi_mlops.runtime.registry import read_audit

    events = read_audit(run.settings(work), run.config.model)
    gate = next((e for e in reversed(events) if e.action in ("promote", "refuse")), None)
    if gate is None:
        raise RuntimeError(f"the retraining Job ran no promotion gate (log: {work.log})")
    return gate


def _batch(run: _Run, pod: GraphPod, step: Step) -> None:
    from pulumi_mlops.runtime.data import generate_churn

    step(f"CronJob {pod.name}: score the customers file with the champion")
    work = run.workload(pod, "scorer", "batch")
    spec = json.loads(work.spec_file().read_text())
    customers = generate_churn(2_000, seed=21).drop(columns=["churned"])
    run.s3.write(f"{spec['input'].rstrip('/')}/customers.parquet", _parquet(customers))
    env = work.env()
    work.run(run.record(work, env), env)
    run.summary.batch_output = spec["output"]
    run.summary.batch_rows = run.logged_rows(spec["output"])
