"""The dev stack's workloads as local processes: what one pod stores, another pod finds.

Every workload runs with the command, args, env and spec file its container gets in the preview graph,
each in its own empty home (a pod's emptyDir, gone with the pod), rewired only as ``pulumi_mlops.local``
says (tracking server, loopback S3 API, a loopback Kubernetes API, local folders). The first test runs
``mlops demo``'s loop (bootstrap Job, stable Deployment, drift CronJob twice, the retraining Job it creates,
batch CronJob) on small data, so a change on the Kubernetes side that the runtime does not follow fails
here, and then checks where everything was stored; the second runs the multi-node torchrun job as two
nodes (torchrun's rendezvous endpoint, pod 0's DNS name, becomes loopback).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi_mlops.runtime.config import RuntimeSettings

from pulumi_mlops.local import GraphPod, LocalS3, LocalTracking, LocalWorkload, free_port
from pulumi_mlops.local.demo import DemoConfig, StackWorkloads, run_stack_demo
from pulumi_mlops.local.services import CLOUD_ENV
from pulumi_mlops.preview import ResourceGraph

pytestmark = [pytest.mark.integration, pytest.mark.slow]

IN_CLUSTER_TRACKING = "http://mlflow.mlops-platform.svc.cluster.local:5000"


@pytest.fixture(scope="module")
def graph(previews: Any) -> ResourceGraph:
    result: ResourceGraph = previews("dev").graph
    return result


@pytest.fixture(scope="module")
def bucket_api(graph: ResourceGraph) -> Iterator[LocalS3]:
    """A moto S3 server holding the stack's buckets; this process gets the same keys as the pods."""
    with pytest.MonkeyPatch.context() as env:
        for key, value in CLOUD_ENV.items():
            env.setenv(key, value)
        with LocalS3(graph) as server:
            yield server


@pytest.fixture(scope="module")
def tracking(
    graph: ResourceGraph, bucket_api: LocalS3, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalTracking]:
    """``mlflow server`` proxying artifacts to the bucket the graph's MLflow Deployment names."""
    with LocalTracking(graph, bucket_api, tmp_path_factory.mktemp("tracking")) as server:
        assert server.artifacts_destination.startswith("s3://") and "-models-" in server.artifacts_destination
        yield server


def _graph_argv(graph: ResourceGraph, kind: str, name: str, container: str) -> list[str]:
    pod = GraphPod.of(graph, kind, name)
    spec = pod.container(container)
    return pod.argv(spec, pod.env(spec))


def test_the_stack_loop_runs_from_the_graph_and_keeps_nothing_in_a_pod(
    graph: ResourceGraph, bucket_api: LocalS3, tracking: LocalTracking, tmp_path: Path
) -> None:
    from mlflow import MlflowClient
    from pulumi_mlops.runtime.registry import read_audit

    # The graph keeps scratch space on the pod's emptyDir and reaches MLflow and its artifacts in-cluster.
    for kind, name, container in [("Job", "train-churn-bootstrap", "trainer"), ("CronJob", "drift-churn", "drift")]:
        pod = GraphPod.of(graph, kind, name)
        env = pod.env(pod.container(container))
        assert env["HOME"] == "/tmp" and env["MLOPS_HOME"] == "/tmp/mlops", "scratch space only, on the emptyDir"
        assert env["MLOPS_TRACKING_URI"] == IN_CLUSTER_TRACKING
        assert env["MLOPS_ARTIFACT_ROOT"] == "mlflow-artifacts:/", "artifacts go through the tracking server"

    home = tmp_path / "demo"
    (home / "stale").mkdir(parents=True)
    steps: list[str] = []
    config = DemoConfig(home=home, train_rows=3_000, requests=600, concurrency=3)
    summary = run_stack_demo(graph, config, steps.append, s3=bucket_api, tracking=tracking)

    assert not (home / "stale").exists(), "every run starts from a fresh home"
    assert len(steps) == 8, steps
    for workload in ("train-churn-bootstrap", "churn-stable", "drift-churn", "train-churn-retrain-", "batch-churn"):
        assert any(workload in line for line in steps), f"no progress line names {workload}"

    # The processes ran the graph's containers' argv (the server with a loopback address added).
    ran = {name.split("/")[-1]: argv for name, argv in summary.workloads.items()}
    for kind, name, container in [
        ("Job", "train-churn-bootstrap", "trainer"),
        ("Deployment", "churn-stable", "server"),
        ("CronJob", "drift-churn", "drift"),
        ("CronJob", "batch-churn-nightly", "scorer"),
    ]:
        assert ran.pop(name) == _graph_argv(graph, kind, name, container), name
    [(retrain_job, argv)] = ran.items()
    assert retrain_job == summary.retrain_job and retrain_job.startswith("train-churn-retrain-")
    scheduled = _graph_argv(graph, "CronJob", "train-churn", "trainer")
    assert argv[: len(scheduled)] == scheduled and argv[len(scheduled) :: 2] == ["--since", "--until"], (
        "the retraining Job is the training CronJob's, on the drift window"
    )
    since, until = (dt.datetime.fromisoformat(t) for t in argv[len(scheduled) + 1 :: 2])
    drift_spec = json.loads(
        GraphPod.of(graph, "CronJob", "drift-churn").mounted_config_maps()["drift-churn-spec"]["spec.json"]
    )
    assert until - since == dt.timedelta(hours=drift_spec["window_hours"]), "the window the drift job checked"
    assert summary.kube_calls == [
        "GET /apis/batch/v1/namespaces/mlops-training/cronjobs/train-churn (authorized)",
        "POST /apis/batch/v1/namespaces/mlops-training/jobs (authorized)",
    ]

    # The loop: v1 from the bootstrap Job, no drift on normal traffic, drift after the shift, v2 promoted
    # because it beats v1 on the fresh rows, served without a failed request, then the nightly batch.
    assert summary.champion_v1 == "1" and summary.champion_v2 == "2"
    assert summary.baseline_drift_share < 0.3 <= summary.shifted_drift_share
    assert {"monthly_charges", "plan"} <= set(summary.drifted_features)
    assert summary.retrain_action == "promote"
    assert summary.gate_challenger_auc > summary.gate_champion_auc + 0.005, "v2 beats v1 on the fresh rows"
    assert summary.failed_requests == 0
    assert summary.anonymous_status == 401, "the endpoint's routes need its generated API key"
    assert summary.versions_seen.get("1", 0) >= 1_200 and summary.versions_seen.get("2", 0) >= 1
    assert summary.requests_sent == sum(summary.versions_seen.values())
    assert summary.batch_rows == 2_000 and summary.batch_output.startswith("s3://mlops-dev-datasets-")
    html = Path(summary.drift_report_html).read_text()
    assert "<svg" in html and "monthly_charges" in html
    assert json.loads((home / "summary.json").read_text())["champion_v2"] == "2"

    # Where it was kept: models, reference profiles, reports and the audit log in the buckets, none in a pod.
    leftovers = [
        p for p in (home / "pods").rglob("*") if p.name in ("MLmodel", "reference_profile.json", "audit.jsonl")
    ]
    assert leftovers == [], "a pod's own folders are gone with the pod"
    client = MlflowClient(tracking_uri=tracking.url, registry_uri=tracking.url)
    v1, v2 = client.get_model_version("churn", "1"), client.get_model_version("churn", "2")
    models = bucket_api.bucket("models")
    stored = bucket_api.keys(f"s3://{models}/mlflow/")
    for version in (v1, v2):
        assert [k for k in stored if k.endswith(f"{version.run_id}/artifacts/reference_profile.json")]
    assert [k for k in stored if k.endswith("/MLmodel")], "the models are in the models bucket"
    assert v2.tags["mlops.dataset_sha256"] != v1.tags["mlops.dataset_sha256"], "fresh rows, not the champion's"
    params = client.get_run(str(v2.run_id)).data.params
    assert (params["data_since"], params["data_until"]) == (since.isoformat(), until.isoformat())

    logs = bucket_api.bucket("prediction-logs")
    assert [k for k in bucket_api.keys(f"s3://{logs}/churn/stable/") if k.endswith(".parquet")]
    reports = bucket_api.keys(f"s3://{logs}/drift-reports/churn/")
    folders = {k.rsplit("/", 1)[0] for k in reports}
    assert len(folders) == 2, "one folder per drift run"
    assert {k.rsplit("/", 1)[-1] for k in reports} == {"drift_report.json", "drift_report.html", "drift.prom"}
    last = json.loads(bucket_api.read(logs, sorted(k for k in reports if k.endswith(".json"))[-1]))
    assert last["dataset_drift"] is True and last["window"]["rows"] == 2 * config.requests
    assert last["reference"].startswith(f"models:/churn@champion (version 1, run {v1.run_id})")

    audit_log = GraphPod.of(graph, "Job", "train-churn-bootstrap").env(
        GraphPod.of(graph, "Job", "train-churn-bootstrap").container("trainer")
    )["MLOPS_AUDIT_LOG"]
    assert audit_log == f"s3://{models}/audit", "registry decisions are kept in the models bucket"
    events = read_audit(RuntimeSettings(audit_log=audit_log, s3_endpoint_url=bucket_api.endpoint), "churn")
    assert [e.action for e in events][:3] == ["register", "promote", "retrain-submitted"]
    assert events[-1].action == "promote" and events[-1].versions["challenger"] == "2"
    assert events[-1].reason.endswith("(note: gate after training)")
    assert len(bucket_api.keys(f"{audit_log}/churn/")) == len(events), "one object per decision"


def test_the_demo_finds_each_workload_of_a_model_by_what_it_runs(graph: ResourceGraph) -> None:
    found = StackWorkloads.of(graph, "churn")
    assert (found.bootstrap.kind, found.bootstrap.name) == ("Job", "train-churn-bootstrap")
    assert (found.training.kind, found.training.name) == ("CronJob", "train-churn")
    assert (found.serving.kind, found.serving.name) == ("Deployment", "churn-stable")
    assert (found.drift.kind, found.drift.name) == ("CronJob", "drift-churn")
    assert found.batch is not None and found.batch.name == "batch-churn-nightly"
    with pytest.raises(LookupError, match="no bootstrap training Job for model 'nope'"):
        StackWorkloads.of(graph, "nope")


class Workload(LocalWorkload):
    """A graph container as a local process on a smaller training set."""

    def smaller_training_set(self, rows: int) -> None:
        def smaller(data: dict[str, Any]) -> dict[str, Any]:
            assert data["data"] == "generated://churn?rows=20000"
            return {**data, "data": f"generated://churn?rows={rows}"}

        self.edit_spec(smaller)


def test_the_multi_node_torchrun_job_ends_in_the_promotion_gate(
    graph: ResourceGraph, bucket_api: LocalS3, tracking: LocalTracking, tmp_path: Path
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
        node = Workload(pod, "trainer", tmp_path / f"node-{index}", bucket_api.endpoint, tracking.url)
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

    client = MlflowClient(tracking_uri=tracking.url, registry_uri=tracking.url)
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


def test_a_stack_without_s3_buckets_is_refused_with_the_fix(previews: Any) -> None:
    with pytest.raises(RuntimeError, match=r"only an AWS stack's workloads run locally \(for example --stack dev\)"):
        LocalS3(previews("gcp-dev").graph)
