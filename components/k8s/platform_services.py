"""``PlatformServices``: every Kubernetes object of one environment, on any cluster.

Composes namespaces and isolation, monitoring, MLflow, Feast, the Gateway, the serving
endpoints, training jobs, batch scoring jobs and drift detection from a ``PlatformSpec`` and a ``ClusterContext``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_random as random
from pulumi_mlops.runtime.config import ResourceSpec

from pulumi_mlops.spec import PlatformSpec

from .batch import BatchScoringJob, BatchScoringJobArgs
from .context import ClusterContext
from .datasets_volume import datasets_claim
from .drift import DriftMonitor, DriftMonitorArgs, RetrainTrigger, RetrainTriggerArgs
from .feature_server import FeatureServer, FeatureServerArgs
from .gateway import Gateway, GatewayArgs
from .mlflow import MlflowServer, MlflowServerArgs, mlflow_client_env
from .monitoring import Monitoring, MonitoringArgs
from .namespaces import Namespaces, NamespacesArgs
from .queueing import TrainingQueue, TrainingQueueArgs
from .runtime_config import join_uri, runtime_env
from .search_store import SEARCH_SECRET, search_storage_secret
from .serving import ServingEndpoint, ServingEndpointArgs, prediction_log_uri
from .training import TrainingJob, TrainingJobArgs
from .workload import labels

__all__ = [
    "ARTIFACT_ROOT",
    "AUDIT_PREFIX",
    "DRIFT_REPORTS_PREFIX",
    "DRIFT_RESOURCES",
    "GRAFANA_ADMIN_PASSWORD",
    "MLFLOW_ADMIN_PASSWORD",
    "REQUIRED_BUCKETS",
    "RUNTIME_HOME",
    "PlatformServices",
    "PlatformServicesArgs",
    "runtime_image",
    "workload_images",
]

MLFLOW_ADMIN_PASSWORD = "mlflowAdminPassword"
"""Key in ``secrets`` of the MLflow admin password; a random one is generated when absent."""
GRAFANA_ADMIN_PASSWORD = "grafanaAdminPassword"
"""Key in ``secrets`` of the Grafana admin password; a random one is generated when absent."""
REQUIRED_BUCKETS = ("models", "datasets", "prediction-logs")
"""Bucket roles ``ClusterContext.bucket_uris`` must provide."""
RUNTIME_HOME = "/tmp/mlops"
"""``MLOPS_HOME`` of platform pods (on the writable ``/tmp`` emptyDir: scratch only, gone with the pod)."""
ARTIFACT_ROOT = "mlflow-artifacts:/"
"""``MLOPS_ARTIFACT_ROOT`` of platform pods: the tracking server's proxied artifact store (``--serve-artifacts``,
backed by the models bucket), so a model logged by one pod is found by every other."""
AUDIT_PREFIX = "audit"
"""Prefix of the audit log in the models bucket (``MLOPS_AUDIT_LOG``; one object per registry decision)."""
DRIFT_REPORTS_PREFIX = "drift-reports"
"""Prefix of the drift reports in the prediction-logs bucket (``<prefix>/<endpoint>/<window end>/``)."""
DRIFT_RESOURCES = ResourceSpec(cpu="500m", memory="2Gi")
"""Per-pod resources of drift jobs."""


@dataclass
class PlatformServicesArgs:
    """Inputs of :class:`PlatformServices`."""

    spec: PlatformSpec
    """The validated environment spec."""
    context: ClusterContext
    """What the cloud's cluster provides (provider, buckets, identities, database, Redis, GPU scheduling)."""
    secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Secret stack-config values by key: every ``monitoring.receivers[].url_secret``, and optionally
    ``mlflowAdminPassword`` and ``grafanaAdminPassword``."""


class PlatformServices(pulumi.ComponentResource):
    """Everything that runs on the cluster. ``exports`` holds what the stack exports."""

    exports: dict[str, Any]

    def __init__(self, name: str, args: PlatformServicesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:k8s:PlatformServices", name, None, opts)
        spec, ctx, secrets = args.spec, args.context, args.secrets
        missing = [role for role in REQUIRED_BUCKETS if role not in ctx.bucket_uris]
        if missing:
            raise ValueError(f"ClusterContext.bucket_uris lacks {missing}: expected {list(REQUIRED_BUCKETS)}")
        missing = sorted({r.url_secret for r in spec.monitoring.receivers} - set(secrets))
        if missing:
            raise ValueError(f"secrets lacks {missing}: pass the secure stack config of every alert receiver")
        child = pulumi.ResourceOptions(parent=self)
        tags = spec.labels
        images = workload_images(spec, ctx)

        ns = Namespaces(f"{name}-namespaces", NamespacesArgs(spec, ctx, DRIFT_RESOURCES), opts=child)
        names, sas = ns.names, ns.service_accounts

        monitoring = Monitoring(
            f"{name}-monitoring",
            MonitoringArgs(
                context=ctx,
                monitoring=spec.monitoring,
                drift_thresholds=spec.drift.thresholds,
                endpoints=spec.endpoints,
                namespace=names["monitoring"],
                serving_namespace=names["serving"],
                training_namespace=names["training"],
                receiver_urls={r.name: secrets[r.url_secret] for r in spec.monitoring.receivers},
                grafana_admin_password=self._password(name, "grafana-admin", secrets.get(GRAFANA_ADMIN_PASSWORD)),
                labels=tags,
                depends_on=[ns.resources["monitoring"]],
            ),
            opts=child,
        )

        mlflow = MlflowServer(
            f"{name}-mlflow",
            MlflowServerArgs(
                context=ctx,
                namespace=names["platform"],
                image=images["mlflow"],
                service_account=sas["mlflow"],
                artifacts_destination=pulumi.Output.from_input(ctx.bucket_uris["models"]).apply(
                    lambda uri: f"{uri.rstrip('/')}/mlflow"
                ),
                admin_password=self._password(name, "mlflow-admin", secrets.get(MLFLOW_ADMIN_PASSWORD)),
                replicas=spec.tracking.replicas,
                client_namespaces=[names["serving"], names["training"]],
                labels=tags,
                depends_on=list(ns.resources.values()),
            ),
            opts=child,
        )

        feature_url: str | None = None
        if ctx.redis is not None and spec.feature_store.enabled:
            feast = FeatureServer(
                f"{name}-feast",
                FeatureServerArgs(
                    context=ctx,
                    redis=ctx.redis,
                    namespace=names["platform"],
                    image=spec.images.feast,
                    service_account=sas["feast"],
                    datasets_uri=ctx.bucket_uris["datasets"],
                    project=spec.name,
                    replicas=spec.feature_store.server_replicas,
                    labels=tags,
                    depends_on=[ns.resources["platform"]],
                ),
                opts=child,
            )
            feature_url = feast.url

        gateway = Gateway(
            f"{name}-gateway",
            GatewayArgs(
                context=ctx,
                gateway_name=f"{spec.name}-gateway",
                namespace=names["serving"],
                gateway_class=spec.gateway_class,
                labels=labels("gateway", spec.environment, "gateway", tags),
                depends_on=[ns.resources["serving"]],
            ),
            opts=child,
        )

        logs = ctx.bucket_uris["prediction-logs"]
        settings: dict[str, pulumi.Input[str]] = {
            "home": RUNTIME_HOME,
            "tracking_uri": mlflow.url,
            "artifact_root": ARTIFACT_ROOT,
        }
        batch_env = [
            *runtime_env(
                **settings,
                prediction_log_uri=logs,
                pushgateway_url=monitoring.pushgateway_url,
                audit_log=join_uri(ctx.bucket_uris["models"], AUDIT_PREFIX),
            ),
            *mlflow_client_env(),
        ]

        training_deps: list[pulumi.Resource] = [ns.resources["training"], mlflow]
        if ctx.datasets_volume is not None:  # one claim binds the volume; every training pod mounts it
            claim_labels = labels("datasets", spec.environment, "training", tags)
            training_deps.append(
                datasets_claim(
                    f"{name}-datasets-claim",
                    ctx.datasets_volume,
                    names["training"],
                    claim_labels,
                    pulumi.ResourceOptions(
                        parent=self, provider=ctx.provider, depends_on=[*ctx.depends_on, ns.resources["training"]]
                    ),
                )
            )

        # Parallel search workers share their study on the tracking PostgreSQL.
        search_secret: str | None = None
        if ctx.tracking_db is not None and any(job.training.search_workers > 1 for job in spec.training):
            secret = search_storage_secret(
                f"{name}-search-db",
                names["training"],
                ctx.tracking_db,
                labels("search-db", spec.environment, "training", tags),
                pulumi.ResourceOptions(
                    parent=self, provider=ctx.provider, depends_on=[*ctx.depends_on, ns.resources["training"]]
                ),
            )
            search_secret = SEARCH_SECRET
            training_deps.append(secret)

        queue: TrainingQueue | None = None
        if ctx.job_queueing is not None and ctx.job_queueing.pools:
            queue = TrainingQueue(
                f"{name}-training-queue",
                TrainingQueueArgs(
                    context=ctx,
                    queueing=ctx.job_queueing,
                    namespace=names["training"],
                    labels=labels("training-queue", spec.environment, "training", tags),
                    depends_on=[ns.resources["training"]],
                ),
                opts=child,
            )
        queued = {p.pool for p in ctx.job_queueing.pools} if ctx.job_queueing is not None else set()

        # The first training job of each model an endpoint or batch job uses also runs once now; the
        # endpoints serving the model wait for that run (it promotes the first champion).
        used = {ep.serving.model.name for ep in spec.endpoints} | {b.batch.model.name for b in spec.batch_jobs}
        training_cron_jobs: dict[str, str] = {}
        bootstrap_jobs: dict[str, pulumi.Resource] = {}
        for job in spec.training:
            model = job.training.model.name
            training = TrainingJob(
                f"{name}-training-{job.name}",
                TrainingJobArgs(
                    job=job,
                    context=ctx,
                    namespace=names["training"],
                    image=images[runtime_image(job.resources.gpus)],
                    service_account=sas["trainer"],
                    env=batch_env,
                    labels=tags,
                    bootstrap=job.bootstrap and model in used and model not in training_cron_jobs,
                    depends_on=[*training_deps, *(queue.ready if queue is not None and job.gpu_pool in queued else [])],
                    queue=queue.queue_name if queue is not None and job.gpu_pool in queued else None,
                    search_secret=search_secret,
                ),
                opts=child,
            )
            training_cron_jobs.setdefault(model, training.cron_job)
            if training.bootstrap_job is not None:
                bootstrap_jobs[model] = training.bootstrap_job

        endpoint_urls: dict[str, str] = {}
        endpoint_paths: dict[str, str] = {}
        for ep in spec.endpoints:
            endpoint = ServingEndpoint(
                f"{name}-endpoint-{ep.name}",
                ServingEndpointArgs(
                    endpoint=ep,
                    context=ctx,
                    namespace=names["serving"],
                    image=images[runtime_image(ep.resources.gpus)],
                    service_account=sas["server"],
                    gateway=gateway.ref,
                    prediction_log_root=logs,
                    settings=settings,
                    env=mlflow_client_env(),
                    labels=tags,
                    depends_on=[ns.resources["serving"], monitoring.release, mlflow, gateway],
                    bootstrap=bootstrap_jobs.get(ep.serving.model.name),
                ),
                opts=child,
            )
            endpoint_urls[ep.name] = endpoint.url
            endpoint_paths[ep.name] = endpoint.path

        for batch_job in spec.batch_jobs:
            BatchScoringJob(
                f"{name}-batch-{batch_job.name}",
                BatchScoringJobArgs(
                    job=batch_job,
                    context=ctx,
                    namespace=names["training"],
                    image=images[runtime_image(batch_job.resources.gpus)],
                    service_account=sas["trainer"],
                    env=batch_env,
                    labels=tags,
                    kubernetes_version=spec.cluster.kubernetes_version,
                    depends_on=[ns.resources["training"], mlflow],
                ),
                opts=child,
            )

        retrained = {
            ep.name: spec.drift.retrain and ep.serving.model.name in training_cron_jobs for ep in spec.endpoints
        }
        if any(retrained.values()):
            RetrainTrigger(
                f"{name}-retrain-trigger",
                RetrainTriggerArgs(
                    context=ctx,
                    namespace=names["training"],
                    service_account=sas["drift"],
                    service_account_namespace=names["training"],
                    cron_jobs=sorted(
                        training_cron_jobs[ep.serving.model.name] for ep in spec.endpoints if retrained[ep.name]
                    ),
                    labels=tags,
                    depends_on=[ns.resources["training"]],
                ),
                opts=child,
            )
        for ep in spec.endpoints:
            DriftMonitor(
                f"{name}-drift-{ep.name}",
                DriftMonitorArgs(
                    endpoint=ep,
                    drift=spec.drift,
                    context=ctx,
                    namespace=names["training"],
                    image=images["runtime"],
                    service_account=sas["drift"],
                    window=prediction_log_uri(logs, ep.name, "stable"),
                    reports=join_uri(logs, DRIFT_REPORTS_PREFIX, ep.name),
                    training_cron_job=training_cron_jobs[ep.serving.model.name] if retrained[ep.name] else None,
                    env=batch_env,
                    resources=DRIFT_RESOURCES,
                    labels=tags,
                    depends_on=[ns.resources["training"], mlflow],
                ),
                opts=child,
            )

        gateway_id = f"{gateway.ref.namespace}/{gateway.ref.name}"
        self.exports = {
            "namespaces": names,
            "mlflowUrl": mlflow.url,
            "featureServerUrl": feature_url,
            "grafanaUrl": monitoring.grafana_url,
            "prometheusUrl": monitoring.prometheus_url,
            "gatewayName": gateway_id,
            "gatewayClass": gateway.gateway_class,
            "gatewayAddress": f"see status.addresses of Gateway {gateway_id}",
            "endpointPaths": endpoint_paths,
            "endpointUrls": endpoint_urls,
        }
        self.register_outputs(self.exports)

    def _password(self, name: str, role: str, given: pulumi.Input[str] | None) -> pulumi.Input[str]:
        """The configured secret, or a generated 32-character password kept in state."""
        if given is not None:
            return pulumi.Output.secret(given)
        generated = random.RandomPassword(
            f"{name}-{role}-password", length=32, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        return generated.result


def runtime_image(gpus: int) -> str:
    """Key in ``workload_images`` of the runtime image a workload requesting ``gpus`` runs."""
    return "runtime-cuda" if gpus > 0 else "runtime"


def workload_images(spec: PlatformSpec, ctx: ClusterContext) -> dict[str, pulumi.Input[str]]:
    """The image of each role (``runtime``, ``runtime-cuda``, ``mlflow``): the one ``spec.images`` names, as is,
    else the stack's build (``ClusterContext.images``, ``<repository>@<digest>``)."""
    given = {"runtime": spec.images.runtime, "runtime-cuda": spec.images.runtime, "mlflow": spec.images.mlflow}
    needed = {"runtime", "mlflow"} | ({"runtime-cuda"} if spec.runtime_gpu_workloads else set())
    images: dict[str, pulumi.Input[str]] = {}
    for role in sorted(needed):
        image = given[role] if given[role] is not None else ctx.images.get(role)
        if image is None:
            field_name = "mlflow" if role == "mlflow" else "runtime"
            raise ValueError(
                f"spec.images.{field_name} is empty and ClusterContext.images has no {role!r} build: set "
                f"images.{field_name} to a prebuilt image, or build it (pulumi_mlops.components.images.PlatformImages)"
            )
        images[role] = image
    return images
