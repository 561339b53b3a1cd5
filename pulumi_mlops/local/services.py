"""What a laptop gives in place of the cluster's services: an S3 API on loopback holding the stack's buckets,
an MLflow tracking server started the way the graph's MLflow Deployment starts it, and a Kubernetes API
that serves a CronJob and records the Jobs created from it, reached as a pod reaches its API server."""

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
from abc import ABC, abstractmethod
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from pulumi_mlops.preview import ResourceGraph

from .pods import GraphPod, free_port, process_env, wait_for

if TYPE_CHECKING:
    from pulumi_mlops.runtime.pipeline.kube import KubeApi

__all__ = ["CLOUD_ENV", "FakeKubeApi", "LocalS3", "LocalTracking"]

CLOUD_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
"""What EKS Pod Identity and the region give every pod, as credentials the loopback S3 API accepts."""

BUCKET_TYPE = "aws:s3/bucket:Bucket"


class _Service(ABC):
    """A local service that is a context manager closing it."""

    @abstractmethod
    def close(self) -> None:
        """Stop the service."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class LocalS3(_Service):
    """A moto S3 server on loopback with every bucket of the graph created (versioned like the stack's).

    moto keeps its state per process, shared by every server it runs: the state is reset when this one
    starts and when it closes, so one process runs one at a time."""

    def __init__(self, graph: ResourceGraph) -> None:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError:
            raise RuntimeError(
                "the local S3 API needs moto: pip install 'pulumi-mlops[local]' (make demo installs it)"
            ) from None
        import logging

        import boto3

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per S3 call otherwise
        buckets = [str(b.props["bucket"]) for b in graph.of_type(BUCKET_TYPE)]
        if not buckets:
            raise RuntimeError(
                "the stack creates no S3 bucket: only an AWS stack's workloads run locally (for example --stack dev)"
            )
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        """The S3 API's URL (``MLOPS_S3_ENDPOINT_URL`` of every local workload)."""
        self._reset()
        self.buckets = buckets
        """The graph's bucket names."""
        self.client = boto3.client("s3", endpoint_url=self.endpoint, **_boto_keys())
        for name in buckets:
            self.client.create_bucket(Bucket=name)
            self.client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})

    def bucket(self, role: str) -> str:
        """The graph's bucket whose name carries ``-<role>-`` (``models``, ``datasets``, ``prediction-logs``)."""
        found = [b for b in self.buckets if f"-{role}-" in b]
        if len(found) != 1:
            raise LookupError(f"{len(found)} buckets of the stack are named for {role!r}: {self.buckets}")
        return found[0]

    def keys(self, uri: str) -> list[str]:
        """Keys below an ``s3://bucket/prefix`` URI, sorted."""
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def read(self, bucket: str, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    def write(self, uri: str, data: bytes) -> None:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def _reset(self) -> None:
        import requests

        requests.post(f"{self.endpoint}/moto-api/reset", timeout=30).raise_for_status()

    def close(self) -> None:
        try:
            self._reset()
        finally:
            self._server.stop()


def _boto_keys() -> dict[str, str]:
    return {
        "aws_access_key_id": CLOUD_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CLOUD_ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": CLOUD_ENV["AWS_DEFAULT_REGION"],
    }


class LocalTracking(_Service):
    """``mlflow server`` with the graph's MLflow Deployment's artifact flags (``--artifacts-destination`` the
    models bucket, ``--serve-artifacts``), on sqlite instead of the managed PostgreSQL, on loopback."""

    def __init__(self, graph: ResourceGraph, s3: LocalS3, root: Path, start_timeout_s: float = 240.0) -> None:
        import requests

        pod = GraphPod.of(graph, "Deployment", "mlflow")
        container = pod.container("mlflow")
        argv = pod.argv(container, {})
        flags = dict(itertools.pairwise(argv))
        if "--serve-artifacts" not in argv or "--artifacts-destination" not in flags:
            raise RuntimeError("the graph's MLflow server does not proxy artifacts to a bucket")
        self.artifacts_destination = flags["--artifacts-destination"]
        """Where the graph's server keeps artifacts (``s3://<models bucket>/mlflow``)."""
        root.mkdir(parents=True, exist_ok=True)
        port = free_port()
        local = [
            "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination", self.artifacts_destination, "--serve-artifacts",
        ]  # fmt: skip
        env = process_env(
            {"HOME": str(root), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            {**CLOUD_ENV, "MLFLOW_S3_ENDPOINT_URL": s3.endpoint},
        )
        self.log_path = root / "server.log"
        self._log = self.log_path.open("wb")
        self._proc = subprocess.Popen(
            local, env=env, cwd=root, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.url = f"http://127.0.0.1:{port}"
        """The tracking URI of every local workload."""
        try:
            wait_for(
                lambda: requests.get(f"{self.url}/health", timeout=5).status_code == 200,
                f"the MLflow server (log: {self.log_path})",
                start_timeout_s,
                self._proc,
            )
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        self._log.close()


class FakeKubeApi(_Service):
    """Serves one CronJob over TLS on loopback and records the Jobs created from it (what the drift job's
    retraining step calls), with the service-account token and CA in a folder a local process is pointed at."""

    TOKEN = "local-service-account-token"

    def __init__(self, root: Path, cron_job: dict[str, Any]) -> None:
        uid = cron_job["metadata"].get("uid", "local-cron-job-uid")  # the API server gives every object one
        self.cron_job = {**cron_job, "metadata": {**cron_job["metadata"], "uid": uid}}
        self.created: list[dict[str, Any]] = []
        """Bodies of the Jobs created, in order."""
        self.jobs: dict[str, dict[str, Any]] = {}
        """Created Jobs by name, as ``GET .../jobs/<name>`` returns them (a test may set their status)."""
        self.refuse_create = False
        """Answer Job creation with 403, as the API does without the RBAC grant."""
        self.calls: list[tuple[str, str, dict[str, Any] | None, str]] = []
        """(method, path, body, Authorization header) of every request."""
        self.sa_dir = root / "serviceaccount"
        self.sa_dir.mkdir(parents=True)
        cert, key = _self_signed(self.sa_dir)
        (self.sa_dir / "token").write_text(self.TOKEN)
        namespace = cron_job["metadata"]["namespace"]
        self.namespace = namespace
        (self.sa_dir / "namespace").write_text(namespace)
        api = self
        cron_path = f"/apis/batch/v1/namespaces/{namespace}/cronjobs/{cron_job['metadata']['name']}"
        jobs_path = f"/apis/batch/v1/namespaces/{namespace}/jobs/"

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                api.calls.append(("GET", self.path, None, self.headers.get("Authorization", "")))
                name = self.path.removeprefix(jobs_path)
                if self.path == cron_path:
                    self._reply(200, api.cron_job)
                elif self.path.startswith(jobs_path) and name in api.jobs:
                    self._reply(200, api.jobs[name])
                else:
                    self._reply(404, {"kind": "Status", "message": "not found"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                api.calls.append(("POST", self.path, body, self.headers.get("Authorization", "")))
                if api.refuse_create:
                    self._reply(403, {"kind": "Status", "message": "jobs.batch is forbidden"})
                    return
                api.created.append(body)
                api.jobs[body["metadata"]["name"]] = body
                self._reply(201, body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.port = int(self._server.server_address[1])
        # The kubelet mounts the token and CA at a fixed path; a local process is pointed at this folder.
        self._site = root / "site"
        self._site.mkdir()
        (self._site / "sitecustomize.py").write_text(
            "from pathlib import Path\n"
            "import pulumi_mlops.runtime.pipeline.kube as kube\n"
            f"kube.SERVICE_ACCOUNT_DIR = Path({str(self.sa_dir)!r})\n"
        )

    def pod_env(self) -> dict[str, str]:
        """What the kubelet puts in every pod's environment, plus the service-account folder's redirection."""
        return {
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(self.port),
            "PYTHONPATH": str(self._site),
        }

    def client(self) -> KubeApi:
        """A ``KubeApi`` for this server, as a pod builds it (its token, namespace and the server's CA)."""
        from pulumi_mlops.runtime.pipeline.kube import KubeApi

        context = ssl.create_default_context(cafile=str(self.sa_dir / "ca.crt"))
        return KubeApi(f"https://127.0.0.1:{self.port}", self.TOKEN, self.namespace, ssl_context=context)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


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
