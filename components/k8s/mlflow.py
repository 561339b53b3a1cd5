"""``MlflowServer``: the MLflow tracking server and model registry.

Backend store on the managed PostgreSQL (the password reaches the URI through env-var
substitution from a Secret), artifacts proxied to the models bucket, basic authentication with
admin credentials from a Secret. Clients in other namespaces get a copy of the credentials.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_mlops.runtime.config import ResourceSpec

from .context import ClusterContext, DatabaseRef
from .namespaces import MLFLOW_PORT
from .workload import (
    child_opts,
    container,
    http_probes,
    http_service,
    labels,
    pod_spec,
    secret_env,
    secret_value,
    selector_labels,
)

__all__ = ["MLFLOW_CLIENT_SECRET", "MlflowServer", "MlflowServerArgs", "allowed_hosts", "mlflow_client_env"]

MLFLOW_CLIENT_SECRET = "mlflow-client"
"""Secret (in each client namespace) with the ``username`` and ``password`` MLflow clients send."""
_AUTH_DIR = "/etc/mlflow-auth"
_DATA_DIR = "/mlflow"


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


def _postgres_uri(db: DatabaseRef, password: str) -> pulumi.Output[str]:
    return pulumi.Output.format(
        "postgresql://{0}:{1}@{2}:{3}/{4}?sslmode=require", db.username, password, db.host, db.port, db.database
    )


@dataclass
class MlflowServerArgs:
    """Inputs of :class:`MlflowServer`."""

    context: ClusterContext
    """The cluster (provider, ``tracking_db``; ``None`` runs on sqlite in an emptyDir, development only)."""
    namespace: str
    """Platform namespace."""
    image: str
    """Pinned MLflow image."""
    service_account: str
    """ServiceAccount of the server (role ``mlflow``; its cloud identity writes the models bucket)."""
    artifacts_destination: pulumi.Input[str]
    """Bucket URI the server proxies artifacts to (``<models bucket>/mlflow``)."""
    admin_password: pulumi.Input[str]
    """Password of the ``admin`` user (a secret)."""
    admin_username: str = "admin"
    """Admin user name."""
    replicas: int = 1
    """Server replicas (forced to 1 without a database)."""
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
        ]
        secrets: list[pulumi.Resource] = []
        volumes = [
            k8s.core.v1.VolumeArgs(
                name="auth", secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name="mlflow-auth", default_mode=0o440)
            )
        ]
        mounts = [k8s.core.v1.VolumeMountArgs(name="auth", mount_path=_AUTH_DIR, read_only=True)]
        if db is not None:
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
            backend: pulumi.Input[str] = _postgres_uri(db, "$(MLFLOW_DB_PASSWORD)")
            auth_db: pulumi.Input[str] = (
                pulumi.Output.from_input(db.password)
                .apply(lambda p: urllib.parse.quote(p or "", safe=""))
                .apply(lambda quoted: _postgres_uri(db, quoted))
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
            lambda v: "\n".join(
                [
                    "[mlflow]",
                    "default_permission = READ",
                    f"database_uri = {v[2]}",
                    f"admin_username = {v[0]}",
                    f"admin_password = {v[1]}",
                    "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
                    "",
                ]
            )
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
            ],
            resources=args.resources,
            env=env,
            ports={"http": MLFLOW_PORT},
            probes=http_probes("http", "/health", "/health"),
            mounts=mounts,
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
                        [server], service_account=args.service_account, volumes=volumes, topology_spread=selector
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
