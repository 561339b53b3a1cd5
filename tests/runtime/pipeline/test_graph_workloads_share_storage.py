"""The dev stack's workloads as local processes: what one pod stores, another pod finds.

Every workload runs with the command, args, env and spec file its container gets in the preview graph,
each in its own empty home (a pod's emptyDir, gone with the pod), rewired only where a laptop differs
from the cluster:

* ``MLOPS_TRACKING_URI``: the in-cluster MLflow Service becomes a local ``mlflow server`` started with the
  graph's own ``--artifacts-destination`` (the models bucket) and ``--serve-artifacts``, on sqlite;
* the buckets: a moto S3 server on loopback (``MLOPS_S3_ENDPOINT_URL``; the AWS keys stand for Pod Identity);
* ``HOME``, ``MLOPS_HOME`` and the ConfigMap mount: temporary folders; listen address and port: loopback;
* ``MLOPS_PUSHGATEWAY_URL``: a closed loopback port (the drift job then stores its metrics with its reports);
* the training data: 3,000 (MLP: 2,000) generated rows instead of 20,000, to keep the test short;
* the Kubernetes API: a fake API server over TLS on loopback, reached as a pod reaches its API server
  (``KUBERNETES_SERVICE_HOST``/``PORT``, the service-account token and CA in a temporary folder);
* torchrun's rendezvous endpoint: pod 0's DNS name becomes loopback.

The first test follows a model from the training CronJob to the serving Deployment and the drift CronJob,
then the retraining Job the drift job creates; the second runs the multi-node torchrun job as two nodes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pulumi_mlops.runtime.config import RuntimeSettings

from pulumi_mlops.local import FakeKubeApi, GraphPod, LocalS3, LocalTracking, LocalWorkload, free_port, wait_for
from pulumi_mlops.local.services import CLOUD_ENV
from pulumi_mlops.preview import ResourceGraph

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SPEC_DIR = "/etc/mlops"
SHIFT = "mean:0.8,category:0.6,concept:1.0"


@pytest.fixture(scope="module")
def graph(previews: Any) -> ResourceGraph:
    result: ResourceGraph = previews("dev").graph
    return result


@pytest.fixture(scope="module")
def bucket_api(graph: ResourceGraph) -> Iterator[LocalS3]:
    """A moto S3 server holding the stack's buckets; this process gets the same keys as the pods."""
    saved = {k: os.environ.get(k) for k in CLOUD_ENV}
    os.environ.update(CLOUD_ENV)
    with LocalS3(graph) as server:
        try:
            yield server
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@pytest.fixture(scope="module")
def s3(bucket_api: LocalS3) -> str:
    return bucket_api.endpoint


def _keys(s3: str, uri: str) -> list[str]:
    """Keys below an ``s3://bucket/prefix`` URI."""
    import boto3

    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    pages = boto3.client("s3", endpoint_url=s3).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def _read(s3: str, bucket: str, key: str) -> bytes:
    import boto3

    body: bytes = boto3.client("s3", endpoint_url=s3).get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


@pytest.fixture(scope="module")
def tracking(graph: ResourceGraph, bucket_api: LocalS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mlflow server`` proxying artifacts to the bucket the graph's MLflow Deployment names."""
    with LocalTracking(graph, bucket_api, tmp_path_factory.mktemp("tracking")) as server:
        assert server.artifacts_destination.startswith("s3://") and "-models-" in server.artifacts_destination
        yield server.url


class Workload(LocalWorkload):
    """A graph container as a local process, checking that the graph keeps nothing in the pod."""

    def env(self, fields: Any = None, extra: Any = None) -> dict[str, str]:
        env = self.graph_env(fields)
        assert env["HOME"] == "/tmp" and env["MLOPS_HOME"] == "/tmp/mlops", "scratch space only, on the emptyDir"
        assert env["MLOPS_TRACKING_URI"] == "http://mlflow.mlops-platform.svc.cluster.local:5000"
        assert env["MLOPS_ARTIFACT_ROOT"] == "mlflow-artifacts:/", "artifacts go through the tracking server"
        return super().env(fields, extra)

    def smaller_training_set(self, rows: int) -> None:
        def smaller(data: dict[str, Any]) -> dict[str, Any]:
            assert data["data"] == "generated://churn?rows=20000"
            return {**data, "data": f"generated://churn?rows={rows}"}

        self.edit_spec(smaller)


def _records(rows: int, seed: int, shift: str = "") -> list[dict[str, Any]]:
    from pulumi_mlops.runtime.data import DriftShift, generate_churn

    frame = generate_churn(rows, seed=seed, shift=DriftShift.parse(shift))
    features = frame.drop(columns=["customer_id", "event_timestamp", "churned"])
    return list(features.to_dict(orient="records"))


# --- the tests --------------------------------------------------------------------------------------------------


def test_a_model_trained_in_one_pod_is_served_checked_and_retrained_from_others(
    graph: ResourceGraph, s3: str, tracking: str, tmp_path: Path
) -> None:
    from mlflow import MlflowClient
    from pulumi_mlops.runtime.registry import read_audit

    client = MlflowClient(tracking_uri=tracking, registry_uri=tracking)
    models = next(b.props["bucket"] for b in graph.of_type("aws:s3/bucket:Bucket") if "-models-" in b.props["bucket"])

    # 1. The training CronJob's pod trains, registers and promotes v1; then the pod is gone.
    trainer = Workload(GraphPod.of(graph, "CronJob", "train-churn"), "trainer", tmp_path / "train", s3, tracking)
    trainer.smaller_training_set(3000)
    env = trainer.env()
    audit_log = env["MLOPS_AUDIT_LOG"]
    assert audit_log == f"s3://{models}/audit", "registry decisions are kept in the models bucket"
    done = trainer.run(trainer.argv(env), env)
    assert "registered churn version 1" in done.stdout and "becomes champion" in done.stdout
    assert trainer.stored_locally("MLmodel", "reference_profile.json", "audit.jsonl") == []
    v1 = client.get_model_version_by_alias("churn", "champion")
    assert v1.version == "1"
    stored = _keys(s3, f"s3://{models}/mlflow/")
    assert [k for k in stored if k.endswith("/MLmodel")], "the model is in the models bucket"
    assert [k for k in stored if k.endswith(f"{v1.run_id}/artifacts/reference_profile.json")]

    # 2. A serving pod, in another home, loads the champion and answers; its logs go to the bucket on exit.
    server = Workload(GraphPod.of(graph, "Deployment", "churn-stable"), "server", tmp_path / "serve", s3, tracking)
    env = server.env()
    port = free_port()
    argv = [*server.argv(env), "--host", "127.0.0.1", "--port", str(port)]
    log = (server.root / "process.log").open("wb")
    proc = subprocess.Popen(argv, env=env, cwd=server.home, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(f"{base}/v2/health/ready", timeout=2).status_code == 200, "ready", 180, proc)
        records = _records(600, seed=12, shift=SHIFT)
        for i in range(0, len(records), 100):
            answer = requests.post(
                f"{base}/v1/models/churn:predict", json={"instances": records[i : i + 100]}, timeout=60
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["model_version"] == "1" and len(answer.json()["predictions"]) == 100
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
    logs = env["MLOPS_PREDICTION_LOG_URI"]
    assert [k for k in _keys(s3, logs) if k.endswith(".parquet")], "prediction logs are in the bucket"

    # 3. The drift CronJob's pod, in a third home, finds the champion's reference profile, reports drift to
    #    the bucket and starts a retraining Job from the training CronJob.
    cron_job = GraphPod.of(graph, "CronJob", "train-churn").manifest
    api = FakeKubeApi(tmp_path / "kube", cron_job)
    try:
        drift = Workload(GraphPod.of(graph, "CronJob", "drift-churn"), "drift", tmp_path / "drift", s3, tracking)
        env = drift.env(extra=api.pod_env())
        argv = drift.argv(env)
        assert argv[:2] == ["/bin/sh", "-c"]
        done = drift.run(argv, env)
    finally:
        api.close()
    assert "DRIFT" in done.stdout and "started Job train-churn-retrain-" in done.stdout, done.stdout[-2000:]
    logs_bucket = logs.removeprefix("s3://").split("/")[0]
    reports = _keys(s3, f"s3://{logs_bucket}/drift-reports/churn/")
    assert {k.rsplit("/", 1)[-1] for k in reports} == {"drift_report.json", "drift_report.html", "drift.prom"}
    assert len({k.rsplit("/", 1)[0] for k in reports}) == 1, "one run, one folder"
    report = json.loads(_read(s3, logs_bucket, next(k for k in reports if k.endswith(".json"))))
    assert report["dataset_drift"] is True and report["window"]["rows"] == 600
    assert report["reference"].startswith(f"models:/churn@champion (version 1, run {v1.run_id})")
    assert drift.stored_locally("drift_report.json", "drift_report.html", "audit.jsonl") == []

    assert [c[:2] for c in api.calls] == [
        ("GET", "/apis/batch/v1/namespaces/mlops-training/cronjobs/train-churn"),
        ("POST", "/apis/batch/v1/namespaces/mlops-training/jobs"),
    ]
    assert {c[2] for c in api.calls} == {f"Bearer {FakeKubeApi.TOKEN}"}
    (job,) = api.created
    scheduled = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    added = job["spec"]["template"]["spec"]["containers"][0]["args"][len(scheduled) :]
    assert added[0::2] == ["--since", "--until"], "the Job trains on the drift window, not the scheduled data"
    since, until = (dt.datetime.fromisoformat(t) for t in added[1::2])
    window_hours = json.loads((drift.mounts[SPEC_DIR] / "spec.json").read_text())["window_hours"]
    assert until - since == dt.timedelta(hours=window_hours), "the window the drift job checked"

    # 4. The retraining Job's pod trains v2 on the window's fresh rows and ends in the promotion gate.
    retrainer = Workload(GraphPod(job, graph), "trainer", tmp_path / "retrain", s3, tracking)
    retrainer.smaller_training_set(3000)
    env = retrainer.env()
    done = retrainer.run(retrainer.argv(env), env)
    assert "registered churn version 2" in done.stdout
    v2 = client.get_model_version("churn", "2")
    params = client.get_run(str(v2.run_id)).data.params
    assert (params["data_since"], params["data_until"]) == (since.isoformat(), until.isoformat())
    assert v2.tags["mlops.dataset_sha256"] != v1.tags["mlops.dataset_sha256"], "fresh rows, not the champion's"

    # Every decision, from every pod, is in the bucket's audit log.
    settings = RuntimeSettings(audit_log=audit_log, s3_endpoint_url=s3)
    events = read_audit(settings, "churn")
    assert [e.action for e in events][:3] == ["register", "promote", "retrain-submitted"]
    gate = events[-1]
    assert gate.action in ("promote", "refuse") and gate.versions["challenger"] == "2"
    assert gate.reason.endswith("(note: gate after training)")
    assert len(_keys(s3, f"{audit_log}/churn/")) == len(events), "one object per decision"


def test_the_multi_node_torchrun_job_ends_in_the_promotion_gate(
    graph: ResourceGraph, s3: str, tracking: str, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    pod = GraphPod.of(graph, "CronJob", "train-churn-mlp")
    job_spec = pod.manifest["spec"]["jobTemplate"]["spec"]
    nodes = int(job_spec["parallelism"])
    assert nodes == 2 and job_spec["completionMode"] == "Indexed"
    job_name = "train-churn-mlp-29412345"
    fields = {"metadata.labels['batch.kubernetes.io/job-name']": job_name}
    port = free_port()
    procs: list[tuple[Workload, subprocess.Popen[str]]] = []
    for index in range(nodes):
        node = Workload(pod, "trainer", tmp_path / f"node-{index}", s3, tracking)
        node.smaller_training_set(2000)
        env = node.env(fields, {"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"})
        argv = node.argv(env)
        assert argv[0] == "torchrun" and argv[-1] == "--promote"
        endpoint = argv.index("--rdzv-endpoint") + 1
        assert argv[endpoint] == f"{job_name}-0.train-churn-mlp-rdzv:29500", "pod 0 hosts the rendezvous"
        argv[endpoint] = f"127.0.0.1:{port}"
        out = (node.root / "process.log").open("w")
        procs.append(
            (node, subprocess.Popen(argv, env=env, cwd=node.home, stdout=out, stderr=subprocess.STDOUT, text=True))
        )
    for node, proc in procs:
        assert proc.wait(timeout=600) == 0, (node.root / "process.log").read_text()[-5000:]

    client = MlflowClient(tracking_uri=tracking, registry_uri=tracking)
    champion = client.get_model_version_by_alias("churn-mlp", "champion")
    assert champion.version == "1", "rank 0 ran the gate after registering"
    assert len(client.search_model_versions("name='churn-mlp'")) == 1, "only rank 0 registers"
    summaries = [
        json.loads(line)
        for node, _ in procs
        for line in (node.root / "process.log").read_text().splitlines()
        if line.startswith('{"version"')
    ]
    assert [s["promotion"]["action"] for s in summaries] == ["promote"]
    assert client.get_run(str(champion.run_id)).data.params["world_size"] == str(nodes)
