"""``MlflowServer``: the MLflow tracking server and model registry.

Backend store on the managed PostgreSQL (the password reaches the URI through env-var
substitution from a Secret), artifacts proxied to the models bucket, basic authentication with
admin credentials from a Secret. The auth store is a second database on the same server (auth
and tracking in one database fail their migrations, mlflow/mlflow#18373), created by an init
container; the Flask secret key the basic-auth app requires is random, kept in state and shared
by every replica through a Secret. Clients in other namespaces get a copy of the credentials.

The image must hold the PostgreSQL driver, the bucket's client and the ``auth`` extra
(``docker/mlflow.Dockerfile``); URIs name the psycopg2 driver, since SQLAlchemy 2.1 defaults
``postgresql://`` to psycopg 3.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
from pulumi_mlops.runtime.config import ResourceSpec

from .context import ClusterContext, DatabaseRef
from .namespaces import MLFLOW_PORT
from .runtime_config import secret_env, secret_value
from .workload import child_opts, container, http_probes, http_service, labels, pod_spec, selector_labels

__all__ = [
    "CREATE_DATABASE_SCRIPT",
    "MLFLOW_CLIENT_SECRET",
    "MLFLOW_SERVER_SECRET",
    "MlflowServer",
    "MlflowServerArgs",
    "allowed_hosts",
    "mlflow_client_env",
]

MLFLOW_CLIENT_SECRET = "mlflow-client"
"""Secret (in each client namespace) with the ``username`` and ``password`` MLflow clients send."""
MLFLOW_SERVER_SECRET = "mlflow-server"
"""Secret (platform namespace) with the ``flask-secret-key`` of the basic-auth app."""
_AUTH_DIR = "/etc/mlflow-auth"
_DATA_DIR = "/mlflow"
_PG_DRIVER = "postgresql+psycopg2"

CREATE_DATABASE_SCRIPT = """\
import sys

import psycopg2
from psycopg2 import errors, sql

name = sys.argv[1]
conn = psycopg2.connect("")
conn.autocommit = True
with conn.cursor() as cur:
    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
    if cur.fetchone() is None:
        try:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print("created database", name)
        except (errors.DuplicateDatabase, errors.UniqueViolation):
            print("database", name, "was created concurrently")
    else:
        print("database", name, "exists")
conn.close()
"""
"""``python -c`` program of the init container: create the database named by its argument unless it exists,
connecting with libpq's ``PG*`` environment (another replica creating it at the same moment is fine)."""


def mlflow_client_env() -> list[k8s.core.v1.EnvVarArgs]:
    """``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD`` from the client Secret."""
    return [
        secret_env("MLFLOW_TRACKING_USERNAME", MLFLOW_CLIENT_SECRET, "username"),
        secret_env("MLFLOW_TRACKING_PASSWORD", MLFLOW_CLIENT_SECRET, "password"),
    ]


def allowed_hosts(service: str, namespace: str) -> str:
    """Host headers the server accepts (``MLFLOW_SERVER_ALLOWED_HOSTS``): the Service's DNS names, with and
    without port, and private addresses (kubelet probes and pod-IP clients)."""
    names = [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]
    hosts = [*names, *(f"{n}:{MLFLOW_PORT}" for n in names), "localhost", f"localhost:{MLFLOW_PORT}"]
    return ",".join([*hosts, "10.*", "172.*", "192.168.*"])


def _postgres_uri(db: DatabaseRef, password: str, database: str) -> pulumi.Output[str]:
    return pulumi.Output.format(
        "{0}://{1}:{2}@{3}:{4}/{5}?sslmode=require", _PG_DRIVER, db.username, password, db.host, db.port, database
    )


def _libpq_env(db: DatabaseRef) -> list[k8s.core.v1.EnvVarArgs]:
    """``PG*`` variables that point libpq at the tracking database as the MLflow user, over TLS."""
    return [
        k8s.core.v1.EnvVarArgs(name="PGHOST", value=db.host),
        k8s.core.v1.EnvVarArgs(name="PGPORT", value=pulumi.Output.from_input(db.port).apply(lambda p: str(int(p)))),
        k8s.core.v1.EnvVarArgs(name="PGDATABASE", value=db.database),
        k8s.core.v1.EnvVarArgs(name="PGUSER", value=db.username),
        secret_env("PGPASSWORD", "mlflow-db", "password"),
        k8s.core.v1.EnvVarArgs(name="PGSSLMODE", value="require"),
        k8s.core.v1.EnvVarArgs(name="PGCONNECT_TIMEOUT", value="10"),
    ]


def _auth_ini(*, username: str, password: str, database_uri: str) -> str:
    """``basic_auth.ini``. MLflow reads it with ``configparser`` interpolation, so ``%`` (URL-encoded passwords)
    is written as ``%%``."""
    values = {
        "default_permission": "READ",
        "database_uri": database_uri,
        "admin_username": username,
        "admin_password": password,
        "authorization_function": "mlflow.server.auth:authenticate_request_basic_auth",
    }
    return "\n".join(["[mlflow]", *(f"{k} = {v.replace('%', '%%')}" for k, v in values.items()), ""])


@dataclass
class MlflowServerArgs:
    """Inputs of :class:`MlflowServer`."""

    context: ClusterContext
    """The cluster (provider, ``tracking_db``; ``None`` runs on sqlite in an emptyDir, development only)."""
    namespace: str
    """Platform namespace."""
    image: pulumi.Input[str]
    """Pinned MLflow image (a tag or digest; an Output, such as a build's digest ref, orders the objects after it)."""
    service_account: str
    """ServiceAccount of the server (role ``mlflow``; its cloud identity writes the models bucket)."""
    artifacts_destination: pulumi.Input[str]
    """Bucket URI the server proxies artifacts to (``<models bucket>/mlflow``)."""
    admin_password: pulumi.Input[str]
    """Password of the ``admin`` user (a secret)."""
    admin_username: str = "admin"
    """Admin user name."""
    secret_key: pulumi.Input[str] | None = None
    """Flask secret key of the basic-auth app (CSRF), the same in every replica; ``None`` generates a random one
    kept in state."""
    auth_database: str = "mlflow_auth"
    """Database of the auth store on the tracking PostgreSQL (created by the init container if missing)."""
    replicas: int = 1
    """Server replicas (forced to 1 without a database)."""
    workers: int = 2
    """Uvicorn worker processes per replica (MLflow's default of 4 does not fit the memory limit)."""
    client_namespaces: Sequence[str] = ()
    """Namespaces that get the ``mlflow-client`` credentials Secret."""
    resources: ResourceSpec = field(default_factory=lambda: ResourceSpec(cpu="500m", memory="1Gi"))
    """Per-pod resources."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Platform tags put on every object."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources (namespaces, service account) the objects wait for."""


class MlflowServer(pulumi.ComponentResource):
    """Deployment + Service of ``mlflow server``, its Secrets and the client credential copies.

    Outputs: ``url`` (in-cluster tracking URI), ``service`` (Service name).
    """

    url: str
    service: str

    def __init__(self, name: str, args: MlflowServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:k8s:MlflowServer", name, None, opts)
        ctx, db = args.context, args.context.tracking_db
        deps = list(args.depends_on)
        self.service = "mlflow"
        self.url = f"http://{self.service}.{args.namespace}.svc.cluster.local:{MLFLOW_PORT}"
        obj_labels = labels("mlflow", self.service, "mlflow", args.labels)
        selector = selector_labels("mlflow", self.service, "mlflow")

        env: list[k8s.core.v1.EnvVarArgs] = [
            k8s.core.v1.EnvVarArgs(name="MLFLOW_AUTH_CONFIG_PATH", value=f"{_AUTH_DIR}/basic_auth.ini"),
            k8s.core.v1.EnvVarArgs(
                name="MLFLOW_SERVER_ALLOWED_HOSTS", value=allowed_hosts(self.service, args.namespace)
            ),
            secret_env("MLFLOW_FLASK_SERVER_SECRET_KEY", MLFLOW_SERVER_SECRET, "flask-secret-key"),
            # The GenAI job runner (a supervisor and seven huey consumers, ~1 GiB) serves nothing the platform uses.
            k8s.core.v1.EnvVarArgs(name="MLFLOW_SERVER_ENABLE_JOB_EXECUTION", value="false"),
        ]
        secret_key = args.secret_key
        if secret_key is None:
            secret_key = random.RandomPassword(
                f"{name}-secret-key", length=64, special=False, opts=pulumi.ResourceOptions(parent=self)
            ).result
        secrets: list[pulumi.Resource] = [
            k8s.core.v1.Secret(
                f"{name}-server",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=MLFLOW_SERVER_SECRET, namespace=args.namespace, labels=obj_labels
                ),
                type="Opaque",
                string_data={"flask-secret-key": secret_value(secret_key)},
                opts=child_opts(self, ctx, *deps),
            )
        ]
        init_containers: list[k8s.core.v1.ContainerArgs] = []
        volumes = [
            k8s.core.v1.VolumeArgs(
                name="auth", secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name="mlflow-auth", default_mode=0o440)
            )
        ]
        mounts = [k8s.core.v1.VolumeMountArgs(name="auth", mount_path=_AUTH_DIR, read_only=True)]
        if db is not None:
            if args.auth_database == db.database:
                raise ValueError(
                    f"auth_database {args.auth_database!r} is the tracking database: MLflow's auth and tracking "
                    "migrations cannot share one database (mlflow/mlflow#18373)"
                )
            secrets.append(
                k8s.core.v1.Secret(
                    f"{name}-db",
                    metadata=k8s.meta.v1.ObjectMetaArgs(name="mlflow-db", namespace=args.namespace, labels=obj_labels),
                    type="Opaque",
                    string_data={
                        "password": secret_value(db.password),
                        "password-urlencoded": secret_value(
                            pulumi.Output.from_input(db.password).apply(lambda p: urllib.parse.quote(p or "", safe=""))
                        ),
                    },
                    opts=child_opts(self, ctx, *deps),
                )
            )
            env.append(secret_env("MLFLOW_DB_PASSWORD", "mlflow-db", "password-urlencoded"))
            backend: pulumi.Input[str] = _postgres_uri(db, "$(MLFLOW_DB_PASSWORD)", db.database)
            auth_db: pulumi.Input[str] = (
                pulumi.Output.from_input(db.password)
                .apply(lambda p: urllib.parse.quote(p or "", safe=""))
                .apply(lambda quoted: _postgres_uri(db, quoted, args.auth_database))
            )
            init_containers.append(
                container(
                    "create-auth-db",
                    args.image,
                    command=["python", "-c", CREATE_DATABASE_SCRIPT],
                    args=[args.auth_database],
                    resources=ResourceSpec(cpu="100m", memory="128Mi"),
                    env=_libpq_env(db),
                    runtime=False,
                )
            )
            replicas = args.replicas
        else:
            backend = f"sqlite:///{_DATA_DIR}/mlflow.db"
            auth_db = f"sqlite:///{_DATA_DIR}/basic_auth.db"
            volumes.append(
                k8s.core.v1.VolumeArgs(name="data", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="5Gi"))
            )
            mounts.append(k8s.core.v1.VolumeMountArgs(name="data", mount_path=_DATA_DIR))
            replicas = 1

        ini = pulumi.Output.all(args.admin_username, args.admin_password, auth_db).apply(
            lambda v: _auth_ini(username=v[0], password=v[1], database_uri=v[2])
        )
        secrets.append(
            k8s.core.v1.Secret(
                f"{name}-auth",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="mlflow-auth", namespace=args.namespace, labels=obj_labels),
                type="Opaque",
                string_data={"basic_auth.ini": secret_value(ini)},
                opts=child_opts(self, ctx, *deps),
            )
        )
        for ns in dict.fromkeys([args.namespace, *args.client_namespaces]):
            secrets.append(
                k8s.core.v1.Secret(
                    f"{name}-client-{ns}",
                    metadata=k8s.meta.v1.ObjectMetaArgs(name=MLFLOW_CLIENT_SECRET, namespace=ns, labels=obj_labels),
                    type="kubernetes.io/basic-auth",
                    string_data={
                        "username": args.admin_username,
                        "password": secret_value(args.admin_password),
                    },
                    opts=child_opts(self, ctx, *deps),
                )
            )

        server = container(
            "mlflow",
            args.image,
            command=["mlflow"],
            args=[
                "server",
                "--host",
                "0.0.0.0",
                "--port",
                str(MLFLOW_PORT),
                "--backend-store-uri",
                backend,
                "--artifacts-destination",
                args.artifacts_destination,
                "--serve-artifacts",
                "--app-name",
                "basic-auth",
                "--workers",
                str(args.workers),
            ],
            resources=args.resources,
            env=env,
            ports={"http": MLFLOW_PORT},
            probes=http_probes("http", "/health", "/health"),
            mounts=mounts,
            runtime=False,
        )
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=self.service, namespace=args.namespace, labels=obj_labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate" if db is not None else "Recreate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge=1, max_unavailable=0)
                    if db is not None
                    else None,
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=obj_labels),
                    spec=pod_spec(
                        [server],
                        service_account=args.service_account,
                        volumes=volumes,
                        topology_spread=selector,
                        init_containers=init_containers,
                    ),
                ),
            ),
            opts=child_opts(self, ctx, *secrets, *deps),
        )
        http_service(
            f"{name}-service",
            self.service,
            args.namespace,
            obj_labels,
            selector,
            MLFLOW_PORT,
            child_opts(self, ctx, deployment, *deps),
        )
        self.register_outputs({"url": self.url, "service": self.service})
