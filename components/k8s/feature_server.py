"""``FeatureServer``: the Feast feature server and the materialization CronJob.

``feature_store.yaml`` comes from a ConfigMap: online store on the managed Redis (TLS, AUTH
token from a Secret through ``${REDIS_TOKEN}``), registry and parquet offline store on the
datasets bucket.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pulumi_mlops.runtime.config import ResourceSpec

from .context import ClusterContext, RedisRef
from .namespaces import FEAST_PORT
from .runtime_config import secret_env, secret_value
from .workload import child_opts, container, cron_job, http_probes, http_service, labels, pod_spec, selector_labels

__all__ = ["FEAST_CONFIG_DIR", "FeatureServer", "FeatureServerArgs", "feature_store_yaml"]

FEAST_CONFIG_DIR = "/etc/feast"
"""Mount point of ``feature_store.yaml`` (``feast -c``)."""
_TOKEN_ENV = "REDIS_TOKEN"


def feature_store_yaml(project: str, redis_host: str, redis_port: int | str, tls: bool, datasets_uri: str) -> str:
    """Feast repo config: Redis online store, file registry and parquet offline store on the datasets bucket."""
    connection = f"{redis_host}:{redis_port},ssl={'true' if tls else 'false'},password=${{{_TOKEN_ENV}}}"
    doc = {
        "project": project.replace("-", "_"),
        "provider": "local",
        "registry": {
            "registry_type": "file",
            "path": f"{datasets_uri.rstrip('/')}/feast/registry.db",
            "cache_ttl_seconds": 60,
        },
        "online_store": {"type": "redis", "connection_string": connection},
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }
    return yaml.safe_dump(doc, sort_keys=False)


@dataclass
class FeatureServerArgs:
    """Inputs of :class:`FeatureServer`."""

    context: ClusterContext
    """The cluster (provider)."""
    redis: RedisRef
    """The managed Redis of the online store."""
    namespace: str
    """Platform namespace."""
    image: str
    """Pinned Feast feature-server image."""
    service_account: str
    """ServiceAccount (role ``feast``; its cloud identity reads the datasets bucket)."""
    datasets_uri: pulumi.Input[str]
    """Datasets bucket URI (registry and offline store)."""
    project: str = "mlops"
    """Feast project name."""
    replicas: int = 1
    """Feature server replicas."""
    materialize_schedule: str = "15 * * * *"
    """Cron schedule of ``feast materialize-incremental``."""
    resources: ResourceSpec = field(default_factory=lambda: ResourceSpec(cpu="500m", memory="1Gi"))
    """Per-pod resources of the server and the materialization job."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Platform tags put on every object."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources (namespace, service account) the objects wait for."""


class FeatureServer(pulumi.ComponentResource):
    """ConfigMap, Secret, Deployment, Service and materialization CronJob. Outputs: ``url``, ``service``."""

    url: str
    service: str

    def __init__(self, name: str, args: FeatureServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:k8s:FeatureServer", name, None, opts)
        ctx, redis = args.context, args.redis
        deps = list(args.depends_on)
        self.service = "feast"
        self.url = f"http://{self.service}.{args.namespace}.svc.cluster.local:{FEAST_PORT}"
        obj_labels = labels("feast", self.service, "feast", args.labels)
        selector = selector_labels("feast", self.service, "feast")

        config = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="feast-config", namespace=args.namespace, labels=obj_labels),
            data={
                "feature_store.yaml": pulumi.Output.all(redis.host, redis.port, args.datasets_uri).apply(
                    lambda v: feature_store_yaml(args.project, v[0], v[1], redis.tls, v[2])
                )
            },
            opts=child_opts(self, ctx, *deps),
        )
        token = k8s.core.v1.Secret(
            f"{name}-redis",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="feast-redis", namespace=args.namespace, labels=obj_labels),
            type="Opaque",
            string_data={"token": secret_value(redis.auth_token)},
            opts=child_opts(self, ctx, *deps),
        )
        env = [secret_env(_TOKEN_ENV, "feast-redis", "token")]
        volumes = [
            k8s.core.v1.VolumeArgs(
                name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name="feast-config", default_mode=0o444)
            )
        ]
        mounts = [k8s.core.v1.VolumeMountArgs(name="config", mount_path=FEAST_CONFIG_DIR, read_only=True)]

        server = container(
            "feast",
            args.image,
            command=["feast"],
            args=["-c", FEAST_CONFIG_DIR, "serve", "--host", "0.0.0.0", "--port", str(FEAST_PORT)],
            resources=args.resources,
            env=env,
            ports={"http": FEAST_PORT},
            probes=http_probes("http", "/health", "/health"),
            mounts=mounts,
            runtime=False,  # feast's own process: nothing in it reads MLOPS_CPUS
        )
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=self.service, namespace=args.namespace, labels=obj_labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=args.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=obj_labels),
                    spec=pod_spec(
                        [server], service_account=args.service_account, volumes=volumes, topology_spread=selector
                    ),
                ),
            ),
            opts=child_opts(self, ctx, config, token, *deps),
        )
        http_service(
            f"{name}-service",
            self.service,
            args.namespace,
            obj_labels,
            selector,
            FEAST_PORT,
            child_opts(self, ctx, deployment, *deps),
        )

        job_labels = labels("feast", "feast-materialize", "feast", args.labels)
        materialize = container(
            "materialize",
            args.image,
            command=["/bin/sh", "-c"],
            args=[f'exec feast -c {FEAST_CONFIG_DIR} materialize-incremental "$(date -u +%Y-%m-%dT%H:%M:%S)"'],
            resources=args.resources,
            env=env,
            mounts=mounts,
            runtime=False,
        )
        materialize_job = k8s.batch.v1.JobSpecArgs(
            backoff_limit=2,
            active_deadline_seconds=3600,
            ttl_seconds_after_finished=86400,
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=job_labels),
                spec=pod_spec(
                    [materialize], service_account=args.service_account, volumes=volumes, restart_policy="Never"
                ),
            ),
        )
        cron_job(
            f"{name}-materialize",
            "feast-materialize",
            args.namespace,
            job_labels,
            args.materialize_schedule,
            materialize_job,
            child_opts(self, ctx, config, token, *deps),
        )
        self.register_outputs({"url": self.url, "service": self.service})
