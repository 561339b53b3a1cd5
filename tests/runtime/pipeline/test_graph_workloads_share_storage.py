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
import ipaddress
import itertools
import json
import os
import signal
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from pulumi_mlops.runtime.config import RuntimeSettings

from pulumi_mlops.preview import ResourceGraph

from .graph_pods import GraphPod, free_port, process_env, run_process, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SPEC_DIR = "/etc/mlops"
CLOUD = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
"""What EKS Pod Identity and the region give every pod."""
SHIFT = "mean:0.8,category:0.6,concept:1.0"


@pytest.fixture(scope="module")
def graph(previews: Any) -> ResourceGraph:
    result: ResourceGraph = previews("dev").graph
    return result


@pytest.fixture(scope="module")
def s3(graph: ResourceGraph) -> Iterator[str]:
    """A moto S3 server holding the stack's buckets; this process gets the same keys as the pods."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in CLOUD}
    os.environ.update(CLOUD)
    client = boto3.client("s3", endpoint_url=endpoint)
    for bucket in graph.of_type("aws:s3/bucket:Bucket"):
        client.create_bucket(Bucket=bucket.props["bucket"])
    try:
        yield endpoint
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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
def tracking(graph: ResourceGraph, s3: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mlflow server`` proxying artifacts to the bucket the graph's MLflow Deployment names."""
    mlflow_pod = GraphPod.of(graph, "Deployment", "mlflow")
    server = mlflow_pod.container("mlflow")
    flags = dict(itertools.pairwise(mlflow_pod.argv(server, {})))
    assert "--serve-artifacts" in server["args"], "clients reach artifacts only through the server"
    root = tmp_path_factory.mktemp("tracking")
    port = free_port()
    argv = [
        "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", flags["--artifacts-destination"], "--serve-artifacts",
    ]  # fmt: skip
    env = process_env(
        {"HOME": str(root), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        {**CLOUD, "MLFLOW_S3_ENDPOINT_URL": s3},
    )
    log = (root / "server.log").open("wb")
    proc = subprocess.Popen(argv, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(f"{url}/health", timeout=5).status_code == 200, "mlflow server", 240, proc)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
        log.close()


class Workload:
    """Runs one container of the graph as a local process in a fresh home."""

    def __init__(self, pod: GraphPod, container: str, root: Path, s3: str, tracking: str) -> None:
        self.pod, self.spec = pod, pod.container(container)
        self.root = root
        root.mkdir(parents=True)
        self.home = root / "tmp"  # the pod's writable /tmp emptyDir (HOME and MLOPS_HOME live there)
        self.home.mkdir()
        self.mounts = pod.config_files(self.spec, root / "mounts")
        self.s3, self.tracking = s3, tracking

    def env(self, fields: dict[str, str] | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = self.pod.env(self.spec, fields)
        assert env["HOME"] == "/tmp" and env["MLOPS_HOME"] == "/tmp/mlops", "scratch space only, on the emptyDir"
        assert env["MLOPS_TRACKING_URI"] == "http://mlflow.mlops-platform.svc.cluster.local:5000"
        assert env["MLOPS_ARTIFACT_ROOT"] == "mlflow-artifacts:/", "artifacts go through the tracking server"
        local = {
            **env,
            "HOME": str(self.home),
            "MLOPS_HOME": str(self.home / "mlops"),
            "MLOPS_TRACKING_URI": self.tracking,
        }
        if "MLOPS_PUSHGATEWAY_URL" in env:
            local["MLOPS_PUSHGATEWAY_URL"] = f"http://127.0.0.1:{free_port()}"
        return process_env(local, {**CLOUD, "MLOPS_S3_ENDPOINT_URL": self.s3, **(extra or {})})

    def argv(self, env: dict[str, str]) -> list[str]:
        """The container's argv with the mounted spec folder's path made local (also inside ``sh -c``)."""
        local = str(self.mounts[SPEC_DIR])
        return [a.replace(SPEC_DIR, local) for a in self.pod.argv(self.spec, env)]

    def smaller_training_set(self, rows: int) -> None:
        spec = self.mounts[SPEC_DIR] / "spec.json"
        data = json.loads(spec.read_text())
        assert data["data"] == "generated://churn?rows=20000"
        spec.write_text(json.dumps({**data, "data": f"generated://churn?rows={rows}"}))

    def run(self, argv: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
        done = run_process(argv, env, self.home, self.root / "process.log", timeout)
        assert done.returncode == 0, (
            f"{argv[:3]} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        )
        return done

    def stored_locally(self, *names: str) -> list[Path]:
        """Files of ``names`` left in this pod's own folders (they would be lost with the pod)."""
        return sorted(p for p in self.home.rglob("*") if p.name in names)


def _records(rows: int, seed: int, shift: str = "") -> list[dict[str, Any]]:
    from pulumi_mlops.runtime.data import DriftShift, generate_churn

    frame = generate_churn(rows, seed=seed, shift=DriftShift.parse(shift))
    features = frame.drop(columns=["customer_id", "event_timestamp", "churned"])
    return list(features.to_dict(orient="records"))


# --- a fake Kubernetes API over TLS, reached as a pod reaches its API server ---------------------------------


class FakeKubeApi:
    """Serves the graph's training CronJob and records the Jobs created from it."""

    TOKEN = "drift-service-account-token"

    def __init__(self, root: Path, cron_job: dict[str, Any]) -> None:
        self.cron_job = {**cron_job, "metadata": {**cron_job["metadata"], "uid": "5e1f-cron-uid"}}
        self.created: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str, str]] = []
        self.sa_dir = root / "serviceaccount"
        self.sa_dir.mkdir(parents=True)
        cert, key = _self_signed(self.sa_dir)
        (self.sa_dir / "token").write_text(self.TOKEN)
        (self.sa_dir / "namespace").write_text(cron_job["metadata"]["namespace"])
        api = self
        base = f"/apis/batch/v1/namespaces/{cron_job['metadata']['namespace']}"

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                api.calls.append(("GET", self.path, self.headers["Authorization"]))
                if self.path == f"{base}/cronjobs/{cron_job['metadata']['name']}":
                    self._reply(200, api.cron_job)
                else:
                    self._reply(404, {"kind": "Status", "message": "not found"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                api.calls.append(("POST", self.path, self.headers["Authorization"]))
                api.created.append(body)
                self._reply(201, body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.port = int(self.server.server_address[1])
        # The token and CA live where the kubelet mounts them; a local process finds this folder instead.
        self.site = root / "site"
        self.site.mkdir()
        (self.site / "sitecustomize.py").write_text(
            "from pathlib import Path\n"
            "import pulumi_mlops.runtime.pipeline.kube as kube\n"
            f"kube.SERVICE_ACCOUNT_DIR = Path({str(self.sa_dir)!r})\n"
        )

    def pod_env(self) -> dict[str, str]:
        """What the kubelet puts in every pod's environment, plus the service-account folder's redirection."""
        return {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.port)} | {
            "PYTHONPATH": str(self.site)
        }

    def close(self) -> None:
        self.server.shutdown()


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "ca.crt", folder / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


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
