"""The dev stack's MLflow pod, run as local processes with the preview graph's own command, args and env.

The init container and the server container of the ``mlflow`` Deployment run exactly as the graph gives
them (Kubernetes' ``$(VAR)`` expansion, Secrets resolved from the graph, Secret volumes written to files),
rewired only where a laptop differs from the cluster: the PostgreSQL host, port, user, password and TLS
mode point at the local server (trust auth, no TLS) and at throwaway databases; the listen address and
port at a free loopback port; mount paths at temporary folders; the S3 endpoint and credentials (Pod
Identity on the cluster) at a moto server on loopback. The test then proves that the server starts, that
basic auth rejects and accepts what it should, that an artifact logged by a client lands in the bucket,
that the auth store lives in its own database, and that the processes fit the container's memory limit.
"""

from __future__ import annotations

import configparser
import io
import itertools
import os
import signal
import subprocess
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests

from pulumi_mlops.local import expand, free_port, process_env

POSTGRES = ("127.0.0.1", 5432)
BUCKET_ENDPOINT_ENV = "MLFLOW_S3_ENDPOINT_URL"
pytestmark = [pytest.mark.integration, pytest.mark.slow]

_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}


def _bytes(quantity: str) -> int:
    for unit, factor in _UNITS.items():
        if quantity.endswith(unit):
            return int(float(quantity[: -len(unit)]) * factor)
    return int(quantity)


def container_env(container: Mapping[str, Any], secrets: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """A container's environment as the kubelet builds it: values (expanded) and Secret keys."""
    env: dict[str, str] = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = expand(item["value"], env)
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secrets[ref["name"]][ref["key"]]
    return env


class LocalPod:
    """One pod of the graph on this machine: volumes as folders, containers as processes."""

    def __init__(self, graph: Any, deployment: str, root: Path) -> None:
        matches = [
            r for r in graph.of_type("kubernetes:apps/v1:Deployment") if r.props["metadata"]["name"] == deployment
        ]
        assert len(matches) == 1, f"{len(matches)} Deployments named {deployment!r}"
        self.namespace = matches[0].props["metadata"]["namespace"]
        self.spec: dict[str, Any] = matches[0].props["spec"]["template"]["spec"]
        self.secrets: dict[str, dict[str, str]] = {
            s.props["metadata"]["name"]: dict(s.props.get("stringData") or {})
            for s in graph.of_type("kubernetes:core/v1:Secret")
            if s.props["metadata"].get("namespace") == self.namespace
        }
        self.root = root
        self.volumes = {v["name"]: v for v in self.spec.get("volumes", [])}

    def container(self, name: str, init: bool = False) -> dict[str, Any]:
        key = "initContainers" if init else "containers"
        found = [c for c in self.spec.get(key, []) if c["name"] == name]
        assert len(found) == 1, f"no {key} entry named {name!r}"
        return found[0]

    def mount(self, container: Mapping[str, Any], rewrite: Callable[[str, str, str], str]) -> dict[str, Path]:
        """Create a folder per volume mount (Secret volumes hold their keys, passed through ``rewrite``)."""
        mounts: dict[str, Path] = {}
        for m in container.get("volumeMounts", []):
            folder = self.root / "volumes" / m["name"]
            folder.mkdir(parents=True, exist_ok=True)
            volume = self.volumes[m["name"]]
            if "secret" in volume:
                name = volume["secret"]["secretName"]
                for key, value in self.secrets[name].items():
                    (folder / key).write_text(rewrite(name, key, value))
            mounts[m["mountPath"]] = folder
        return mounts

    def process(self, container: Mapping[str, Any]) -> tuple[list[str], dict[str, str]]:
        """The container's argv (command + args, expanded) and environment, before any rewiring."""
        env = container_env(container, self.secrets)
        argv = [expand(a, env) for a in [*container.get("command", []), *container.get("args", [])]]
        return argv, env


def rewire_postgres(uri: str, databases: Mapping[str, str]) -> str:
    """A PostgreSQL URI of the graph pointed at the local server, user ``postgres``, a throwaway database."""
    parts = urllib.parse.urlsplit(uri)
    assert parts.scheme == "postgresql+psycopg2", f"{uri}: the server image's driver is psycopg2"
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert query.get("sslmode") == "require", f"{uri}: the managed database is reached over TLS"
    query["sslmode"] = "disable"  # the local server has no TLS
    database = parts.path.lstrip("/")
    return urllib.parse.urlunsplit(
        (
            parts.scheme,
            f"postgres@{POSTGRES[0]}:{POSTGRES[1]}",
            f"/{databases[database]}",
            urllib.parse.urlencode(query),
            "",
        )
    )


def _swap_prefix(value: str, mounts: Mapping[str, Path]) -> str:
    for path, folder in sorted(mounts.items(), key=lambda kv: -len(kv[0])):
        if value == path or value.startswith(path + "/"):
            return str(folder) + value[len(path) :]
    return value


@pytest.fixture
def databases() -> Iterator[dict[str, str]]:
    """Throwaway names for the tracking and auth databases; the tracking one is created (RDS does that)."""
    import psycopg2

    try:
        admin = psycopg2.connect(
            host=POSTGRES[0], port=POSTGRES[1], user="postgres", dbname="postgres", connect_timeout=3
        )
    except psycopg2.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable on {POSTGRES[0]}:{POSTGRES[1]} as user postgres: {exc}")
    admin.autocommit = True
    suffix = uuid.uuid4().hex[:10]
    names = {"mlflow": f"mlflow_test_{suffix}", "mlflow_auth": f"mlflow_auth_test_{suffix}"}
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{names["mlflow"]}"')
    try:
        yield names
    finally:
        with admin.cursor() as cur:
            for name in names.values():
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def s3() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _query(dbname: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg2

    conn = psycopg2.connect(host=POSTGRES[0], port=POSTGRES[1], user="postgres", dbname=dbname)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


def _tree_pss(pid: int) -> int:
    import psutil

    root = psutil.Process(pid)
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            total += proc.memory_full_info().pss
        except psutil.NoSuchProcess:
            continue
    return total


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_dev_mlflow_deployment_serves_with_auth_on_postgres_and_s3(
    previews: Callable[[str], Any],
    databases: dict[str, str],
    s3: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3
    from mlflow.tracking import MlflowClient

    pod = LocalPod(previews("dev").graph, "mlflow", tmp_path)
    cloud = {  # what EKS Pod Identity and the regional endpoint provide on the cluster
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        BUCKET_ENDPOINT_ENV: s3,
    }

    # The init container: create the auth database next to the tracking one (twice: pods restart).
    init = pod.container("create-auth-db", init=True)
    init_argv, init_env = pod.process(init)
    assert init_argv[:2] == ["python", "-c"] and init_argv[3:] == ["mlflow_auth"]
    assert init_env["PGSSLMODE"] == "require" and init_env["PGDATABASE"] == "mlflow"
    local_init_env = {
        **init_env,
        "HOME": str(pod.mount(init, lambda *kv: kv[2])["/tmp"]),
        "PGHOST": POSTGRES[0],
        "PGPORT": str(POSTGRES[1]),
        "PGUSER": "postgres",
        "PGPASSWORD": "",
        "PGDATABASE": databases["mlflow"],
        "PGSSLMODE": "disable",
    }
    for expected in ("created database", "exists"):
        done = subprocess.run(
            [*init_argv[:3], databases["mlflow_auth"]],
            env=process_env(local_init_env, {}),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert expected in done.stdout

    # The server container, rewired to the local services.
    server = pod.container("mlflow")
    argv, env = pod.process(server)

    def rewrite_secret(secret: str, key: str, value: str) -> str:
        if (secret, key) != ("mlflow-auth", "basic_auth.ini"):
            return value
        ini = configparser.ConfigParser()  # as MLflow reads the file: with % interpolation
        ini.read_string(value)
        local_uri = rewire_postgres(ini["mlflow"]["database_uri"], databases)
        ini = configparser.ConfigParser(interpolation=None)  # edit the one value, keep the others as written
        ini.read_string(value)
        ini["mlflow"]["database_uri"] = local_uri
        out = io.StringIO()
        ini.write(out)
        return out.getvalue()

    mounts = pod.mount(server, rewrite_secret)
    port = free_port()
    flags = dict(itertools.pairwise(argv))
    local_argv = list(argv)
    for flag, local in (
        ("--host", "127.0.0.1"),
        ("--port", str(port)),
        ("--backend-store-uri", rewire_postgres(flags["--backend-store-uri"], databases)),
    ):
        local_argv[argv.index(flag) + 1] = local
    assert [a for a, b in zip(argv, local_argv, strict=True) if a != b] == [
        "0.0.0.0",
        "5000",
        flags["--backend-store-uri"],
    ]
    local_env = {k: _swap_prefix(v, mounts) for k, v in env.items()}
    local_env["MLFLOW_SERVER_ALLOWED_HOSTS"] = env["MLFLOW_SERVER_ALLOWED_HOSTS"].replace(":5000", f":{port}")
    changed = {k for k in env if env[k] != local_env[k]}
    assert changed == {"HOME", "MLFLOW_AUTH_CONFIG_PATH", "MLFLOW_SERVER_ALLOWED_HOSTS"}
    artifacts = urllib.parse.urlsplit(flags["--artifacts-destination"])
    boto3.client("s3", endpoint_url=s3, **_boto(cloud)).create_bucket(Bucket=artifacts.netloc)

    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        local_argv,
        env=process_env(local_env, cloud),
        cwd=mounts["/tmp"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://localhost:{port}"
    try:
        _wait_healthy(proc, f"http://127.0.0.1:{port}/health", tmp_path / "server.log")

        search = f"{base}/api/2.0/mlflow/experiments/search?max_results=1"
        admin = pod.secrets["mlflow-client"]
        assert requests.get(search, timeout=30).status_code == 401
        assert requests.get(search, auth=(admin["username"], "wrong"), timeout=30).status_code == 401
        assert requests.get(search, auth=(admin["username"], admin["password"]), timeout=30).status_code == 200
        foreign = requests.get(search, headers={"Host": "attacker.example"}, timeout=30)
        assert foreign.status_code == 403, "MLFLOW_SERVER_ALLOWED_HOSTS is not enforced"

        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", admin["username"])
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", admin["password"])
        monkeypatch.delenv(BUCKET_ENDPOINT_ENV, raising=False)
        client = MlflowClient(tracking_uri=base)
        experiment = client.create_experiment(f"deployment-{uuid.uuid4().hex[:8]}")
        assert client.get_experiment(experiment).artifact_location.startswith("mlflow-artifacts:")
        run = client.create_run(experiment)
        client.log_text(run.info.run_id, "logged through the tracking server\n", "notes/hello.txt")
        client.set_terminated(run.info.run_id)

        objects = boto3.client("s3", endpoint_url=s3, **_boto(cloud)).list_objects_v2(Bucket=artifacts.netloc)
        keys = [o["Key"] for o in objects.get("Contents", [])]
        prefix = artifacts.path.strip("/") + "/"
        assert [k for k in keys if k.startswith(prefix) and k.endswith(f"{run.info.run_id}/artifacts/notes/hello.txt")]
        fetched = Path(client.download_artifacts(run.info.run_id, "notes/hello.txt", str(tmp_path)))
        assert fetched.read_text() == "logged through the tracking server\n"

        assert _query(databases["mlflow_auth"], "SELECT username, is_admin FROM users") == [(admin["username"], True)]
        assert _query(databases["mlflow"], "SELECT to_regclass('public.users'), to_regclass('public.experiments')") == [
            (None, "experiments")
        ]

        limit = _bytes(server["resources"]["limits"]["memory"])
        used = _tree_pss(proc.pid)
        assert used < limit, f"the server's processes use {used / 2**20:.0f} MiB, limit {limit / 2**20:.0f} MiB"
    finally:
        _stop(proc)
        log.close()


def _boto(cloud: Mapping[str, str]) -> dict[str, str]:
    return {
        "aws_access_key_id": cloud["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": cloud["AWS_SECRET_ACCESS_KEY"],
        "region_name": cloud["AWS_DEFAULT_REGION"],
    }


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path, within_s: float = 240.0) -> None:
    """Poll the probe path until it answers 200 (the Deployment's startup probe allows 300 s)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mlflow server exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    pytest.fail(f"mlflow server not healthy after {within_s:.0f} s:\n{log.read_text()[-4000:]}")
