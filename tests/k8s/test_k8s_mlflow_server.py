"""The MLflow server's objects: an image that can run them, its own auth database, a shared random secret key."""

from __future__ import annotations

import configparser
import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from pulumi_mlops.components.images import IMAGE_BUILDS
from pulumi_mlops.components.k8s import ClusterContext, DatabaseRef
from pulumi_mlops.components.k8s.mlflow import CREATE_DATABASE_SCRIPT, MlflowServer, MlflowServerArgs

from pulumi_mlops.preview import run_program
from pulumi_mlops.spec import ImagesSpec

ROOT = Path(__file__).resolve().parents[2]
SECRET = "kubernetes:core/v1:Secret"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"


def _pod(b: Any) -> dict[str, Any]:
    spec: dict[str, Any] = b.one("Deployment", "mlflow", "mlops-platform")["spec"]["template"]["spec"]
    return spec


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container["env"]}


def _resource(b: Any, type_: str, k8s_name: str) -> Any:
    found = [r for r in b.graph.of_type(type_) if r.props.get("metadata", {}).get("name") == k8s_name]
    assert len(found) == 1, f"{len(found)} {type_} named {k8s_name}"
    return found[0]


def test_default_image_is_the_stacks_build_of_the_platform_dockerfile() -> None:
    assert ImagesSpec().mlflow is None, "empty: pulumi up builds the image (tests/test_image_builds.py)"
    assert IMAGE_BUILDS["mlflow"].dockerfile == "docker/mlflow.Dockerfile", "not MLflow's own core-only image"


def test_server_and_init_step_run_the_spec_image(built: Callable[[str], Any]) -> None:
    b = built("prod")
    pod = _pod(b)
    images = {c["name"]: c["image"] for c in [*pod["initContainers"], *pod["containers"]]}
    assert images == {"create-auth-db": b.images["mlflow"], "mlflow": b.images["mlflow"]}


def test_auth_store_is_its_own_database_created_before_the_server_starts(built: Callable[[str], Any]) -> None:
    b = built("prod")
    pod = _pod(b)
    server = pod["containers"][0]
    tracking = dict(itertools.pairwise(server["args"]))["--backend-store-uri"]
    ini = configparser.ConfigParser()
    ini.read_string(b.one("Secret", "mlflow-auth")["stringData"]["basic_auth.ini"])
    auth = ini["mlflow"]["database_uri"]
    assert tracking.startswith("postgresql+psycopg2://") and auth.startswith("postgresql+psycopg2://")
    assert re.sub(r"/mlflow\?", "/mlflow_auth?", tracking.replace("$(MLFLOW_DB_PASSWORD)", "p%40ss%2Fword%3A1")) == auth

    (init,) = pod["initContainers"]
    assert init["command"] == ["python", "-c", CREATE_DATABASE_SCRIPT] and init["args"] == ["mlflow_auth"]
    assert "$(" not in CREATE_DATABASE_SCRIPT, "the kubelet would expand $(...) in the script"
    env = _env(init)
    assert {k: env[k].get("value") for k in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSSLMODE")} == {
        "PGHOST": "db.internal",
        "PGPORT": "5432",
        "PGDATABASE": "mlflow",
        "PGUSER": "mlflow",
        "PGSSLMODE": "require",
    }
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "mlflow-db", "key": "password", "optional": False}
    assert init["securityContext"] == server["securityContext"]
    assert "livenessProbe" not in init and "readinessProbe" not in init


def test_basic_auth_secret_key_is_random_kept_in_state_and_shared_by_replicas(built: Callable[[str], Any]) -> None:
    b = built("prod")
    server = _pod(b)["containers"][0]
    ref = _env(server)["MLFLOW_FLASK_SERVER_SECRET_KEY"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "mlflow-server", "key": "flask-secret-key", "optional": False}
    secret = _resource(b, SECRET, "mlflow-server")
    assert secret.props["metadata"]["namespace"] == "mlops-platform"
    (key,) = [r for r in b.graph.of_type(RANDOM_PASSWORD) if r.name.endswith("-mlflow-secret-key")]
    assert key.urn in secret.property_dependencies["stringData"] and key.inputs["length"] >= 32
    assert (
        secret.props["stringData"]["flask-secret-key"]
        == b.one("Secret", "mlflow-server")["stringData"]["flask-secret-key"]
    )
    deployment = _resource(b, "kubernetes:apps/v1:Deployment", "mlflow")
    assert secret.urn in deployment.dependencies


def test_server_runs_two_workers_without_the_genai_job_runner(built: Callable[[str], Any]) -> None:
    server = _pod(built("prod"))["containers"][0]
    args = dict(itertools.pairwise(server["args"]))
    assert args["--workers"] == "2"
    assert _env(server)["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"]["value"] == "false"


def test_without_a_database_auth_uses_its_own_sqlite_file_and_no_init_step(unmanaged: Any) -> None:
    pod = _pod(unmanaged)
    assert "initContainers" not in pod
    ini = unmanaged.one("Secret", "mlflow-auth")["stringData"]["basic_auth.ini"]
    assert "database_uri = sqlite:////mlflow/basic_auth.db" in ini
    assert "MLFLOW_FLASK_SERVER_SECRET_KEY" in _env(pod["containers"][0])


def test_auth_database_cannot_be_the_tracking_database() -> None:
    def program() -> None:
        ctx = ClusterContext(
            provider=k8s.Provider("test", kubeconfig="{}"),
            cloud="aws",
            bucket_uris={"models": "s3://m"},
            tracking_db=DatabaseRef(host="db.internal", password=pulumi.Output.secret("pw")),
        )
        MlflowServer(
            "mlflow",
            MlflowServerArgs(
                context=ctx,
                namespace="mlops-platform",
                image=ImagesSpec().mlflow,
                service_account="mlflow",
                artifacts_destination="s3://m/mlflow",
                admin_password="admin-password",
                auth_database="mlflow",
            ),
        )

    with pytest.raises(Exception, match="18373"):
        run_program(program, config={})
