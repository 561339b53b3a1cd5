"""The dev stack's bootstrap Job, run as a local process with the preview graph's own command, args and env.

The container of ``train-churn-bootstrap`` runs exactly as the graph gives it (its ``$(VAR)`` expansion,
the Secret it reads, the training spec of the ConfigMap it mounts), rewired only where a laptop differs
from the cluster: the tracking server is a local ``mlflow server`` (sqlite and an artifact folder under a
temporary directory) instead of the platform's, the S3 API a moto server on loopback with test credentials
(Pod Identity on the cluster), and the pod's ``/tmp`` and ``/etc/mlops`` mounts local folders. Afterwards the
registry holds a ``champion`` (the version the endpoints wait for), and the promotion is in the audit log.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pulumi_mlops.local import GraphPod, free_port, process_env, run_process, wait_for
from pulumi_mlops.preview import PreviewResult

pytestmark = [pytest.mark.integration, pytest.mark.slow]

JOB = "kubernetes:batch/v1:Job"


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def tracking_server(tmp_path: Path) -> Iterator[str]:
    """A local MLflow server proxying artifacts (as the platform's does), on sqlite under ``tmp_path``."""
    import requests

    root = tmp_path / "tracking"
    root.mkdir()
    port = free_port()
    argv = [
        str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "artifacts"),
        "--workers", "1",
    ]  # fmt: skip
    with (root / "server.log").open("w") as log:
        proc = subprocess.Popen(argv, cwd=root, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: requests.get(f"{url}/health", timeout=2).ok, "the tracking server starts", 180, proc)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_dev_bootstrap_job_leaves_a_champion(
    previews: Callable[[str], PreviewResult], tmp_path: Path, s3_endpoint: str, tracking_server: str
) -> None:
    import boto3
    from mlflow import MlflowClient

    graph = previews("dev").graph
    [job] = [r.props for r in graph.of_type(JOB) if r.props["metadata"]["name"] == "train-churn-bootstrap"]
    pod = GraphPod(job, graph)
    container = pod.container("trainer")
    env = pod.env(container)
    argv = pod.argv(container, env)
    assert argv == ["mlops", "train", "--spec", "/etc/mlops/spec.json", "--promote"]
    assert env["MLOPS_TRACKING_URI"] == "http://mlflow.mlops-platform.svc.cluster.local:5000"

    # The pod's folders on this machine: the spec ConfigMap's files and the /tmp emptyDir.
    mounts = pod.config_files(container, tmp_path / "volumes")
    scratch = tmp_path / "pod-tmp"
    scratch.mkdir()
    mounts["/tmp"] = scratch
    assert set(mounts) == {m["mountPath"] for m in container["volumeMounts"]}

    def local(value: str) -> str:
        for path, folder in mounts.items():
            if value == path or value.startswith(path + "/"):
                return str(folder) + value[len(path) :]
        return value

    audit = env["MLOPS_AUDIT_LOG"]
    assert audit.startswith("s3://"), audit
    bucket = audit.removeprefix("s3://").split("/", 1)[0]
    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    rewired = {
        "MLOPS_TRACKING_URI": tracking_server,
        "MLOPS_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = run_process(
        [local(a) for a in argv],
        process_env({k: local(v) for k, v in env.items()}, rewired),
        cwd=scratch,
        log=tmp_path / "bootstrap.log",
        timeout=540,
    )
    assert done.returncode == 0, (tmp_path / "bootstrap.log").read_text()[-4000:]

    client = MlflowClient(tracking_uri=tracking_server, registry_uri=tracking_server)
    champion = client.get_model_version_by_alias("churn", "champion")
    challenger = client.get_model_version_by_alias("churn", "challenger")
    assert champion.version == challenger.version == "1", "the first version is both (the canary serves it too)"
    assert "becomes champion" in done.stdout

    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert any("/churn/" in key for key in keys), keys
