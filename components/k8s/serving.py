"""``ServingEndpoint``: one model endpoint with stable, canary and shadow tracks behind the Gateway.

Each track is a Deployment running ``mlops serve`` with its own ``ServingSpec`` (the track's
registry alias), a Service, a HorizontalPodAutoscaler and a PodDisruptionBudget. One HTTPRoute
splits traffic by weight between stable and canary and mirrors it to the shadow track; one
ServiceMonitor scrapes ``/metrics`` of every track.

A server is ready only once its alias points at a loadable version. The engine waits for a Deployment's
readiness, so a track waits for the ``bootstrap`` Job that trains and promotes the endpoint's model (it
sets ``champion`` and ``challenger``); a track with no such Job, or serving another alias, is created
without being awaited (``pulumi.com/skipAwait``) and answers not-ready until its alias exists.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
from pulumi_mlops.runtime.config import ModelRef, ResourceSpec, ServingSpec

from pulumi_mlops.spec import EndpointSpec

from .context import ClusterContext
from .gateway import GATEWAY_API_VERSION, GatewayRef, health_check_policy
from .runtime_config import (
    SPEC_DIR,
    SPEC_FILE,
    join_uri,
    runtime_env,
    secret_value,
    spec_checksum,
    spec_config_map,
    spec_volume,
)
from .workload import (
    AWAIT_TIMEOUT_ANNOTATION,
    MODEL_LABEL,
    SKIP_AWAIT_ANNOTATION,
    GpuPlacement,
    child_opts,
    container,
    http_probes,
    http_service,
    labels,
    pod_spec,
    selector_labels,
)

__all__ = [
    "API_KEYS_DIR",
    "API_KEYS_KEY",
    "BOOTSTRAPPED_ALIASES",
    "GPU_ROLLOUT_TIMEOUT_SECONDS",
    "LIVE_PATH",
    "METRICS_PATH",
    "READY_PATH",
    "TRACK_LABEL",
    "ServingEndpoint",
    "ServingEndpointArgs",
    "Track",
    "api_keys_secret",
    "prediction_log_uri",
    "tracks",
]

LIVE_PATH = "/v2/health/live"
"""Runtime liveness endpoint (Open Inference Protocol)."""
READY_PATH = "/v2/health/ready"
"""Runtime readiness endpoint: the model is loaded."""
METRICS_PATH = "/metrics"
"""Prometheus metrics of the runtime."""
TRACK_LABEL = "pulumi-mlops.io/track"
"""Label naming a pod's track: stable, canary or shadow."""
BOOTSTRAPPED_ALIASES = ("champion", "challenger")
"""Aliases a bootstrap run sets on the version it trains (registered as challenger, promoted to champion; the
registry's ``CHAMPION`` and ``CHALLENGER``, not imported here: the registry package loads pandas and MLflow)."""
GPU_ROLLOUT_TIMEOUT_SECONDS = 1200
"""How long the engine waits for a GPU track: a GPU node may have to be launched and the CUDA image pulled."""


@dataclass(frozen=True)
class Track:
    """One deployment of an endpoint: which alias it serves and how far it scales."""

    name: str
    """``stable``, ``canary`` or ``shadow``."""
    alias: str
    """Registry alias served."""
    min_replicas: int
    """HPA minimum."""
    max_replicas: int
    """HPA maximum."""
    weight: int | None
    """Share of live traffic in percent; ``None`` for the shadow track (mirrored copy only)."""
    resources: ResourceSpec = field(default_factory=ResourceSpec)
    """Per-pod resources: the endpoint's, or the shadow's own (a CPU-only shadow holds no GPU)."""


API_KEYS_DIR = "/etc/mlops-auth"
"""Where a serving pod mounts its endpoint's API-key Secret."""
API_KEYS_KEY = "keys"
"""The Secret's key holding the API keys (one per line; the server reads ``MLOPS_API_KEYS_FILE``)."""


def api_keys_secret(endpoint: str) -> str:
    """Name of the Secret holding an endpoint's API keys (clients read their key from it)."""
    return f"{endpoint}-api-keys"


def prediction_log_uri(root: pulumi.Input[str], endpoint: str, track: str) -> pulumi.Output[str]:
    """Where a track's servers write prediction logs (and the drift job of the stable track reads them)."""
    return join_uri(root, endpoint, track)


def tracks(endpoint: EndpointSpec) -> list[Track]:
    """The endpoint's tracks: stable always; canary and shadow when configured.

    The canary answers live traffic, so it keeps the stable track's floor up to two pods (two in
    prod) and scales to its share of the maximum; the shadow receives a mirrored copy of all
    traffic, whose answers are discarded, and scales like stable from one pod, with the endpoint's
    resources unless ``shadow.resources`` gives its own.
    """
    canary_weight = endpoint.canary.weight if endpoint.canary else 0
    own = endpoint.resources
    result = [
        Track(
            "stable",
            endpoint.serving.model.alias,
            endpoint.min_replicas,
            endpoint.max_replicas,
            100 - canary_weight,
            own,
        )
    ]
    if endpoint.canary:
        floor = min(2, endpoint.min_replicas)
        top = max(floor, math.ceil(endpoint.max_replicas * canary_weight / 100))
        result.append(Track("canary", endpoint.canary.alias, floor, top, canary_weight, own))
    if endpoint.shadow:
        shadow = endpoint.shadow.resources or own
        result.append(Track("shadow", endpoint.shadow.alias, 1, endpoint.max_replicas, None, shadow))
    return result


@dataclass
class ServingEndpointArgs:
    """Inputs of :class:`ServingEndpoint`."""

    endpoint: EndpointSpec
    """The endpoint (model, tracks, replicas, resources, GPU pool)."""
    context: ClusterContext
    """The cluster (provider, GPU taint and pool label)."""
    namespace: str
    """Serving namespace."""
    image: pulumi.Input[str]
    """Pinned runtime image (a tag or digest; an Output, such as a build's digest ref, orders the objects after it)."""
    service_account: str
    """ServiceAccount of the model servers (role ``server``)."""
    gateway: GatewayRef
    """Gateway the endpoint's HTTPRoute attaches to."""
    prediction_log_root: pulumi.Input[str]
    """Prediction-logs bucket URI; each track logs under ``<root>/<endpoint>/<track>``."""
    settings: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Runtime settings (``RuntimeSettings`` field -> value) of the server process, besides the log URI."""
    env: Sequence[k8s.core.v1.EnvVarArgs] = ()
    """Further env vars (secret-backed credentials)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Platform tags put on every object."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources (namespace, service account, secrets) the objects wait for."""
    bootstrap: pulumi.Resource | None = None
    """Job that trains and promotes the endpoint's model on the first deployment (``TrainingJob.bootstrap_job``).
    Tracks serving ``champion`` or ``challenger`` wait for it and are awaited; without it no track is awaited."""


class ServingEndpoint(pulumi.ComponentResource):
    """Deployments, Services, HPAs and PDBs per track, one HTTPRoute and one ServiceMonitor.

    Outputs: ``services`` (track -> Service name), ``path`` (URL prefix on the Gateway),
    ``url`` (in-cluster URL of the stable Service).
    """

    services: dict[str, str]
    path: str
    url: str

    def __init__(self, name: str, args: ServingEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:k8s:ServingEndpoint", name, None, opts)
        ep, ctx = args.endpoint, args.context
        self._args = args
        deps = list(args.depends_on)
        self.services = {}
        port = ep.serving.port
        gpu = GpuPlacement(ctx.gpu, ep.gpu_pool) if ep.gpu_pool else None
        if ep.resources.gpus > 0 and gpu is None:
            raise ValueError(f"endpoint {ep.name!r} asks for GPUs but names no gpu_pool")

        self.api_key_secret: str | None = None
        if ep.auth == "api-key":
            key = random.RandomPassword(
                f"{name}-api-key", length=40, special=False, opts=pulumi.ResourceOptions(parent=self)
            )
            self.api_key_secret = api_keys_secret(ep.name)
            deps.append(
                k8s.core.v1.Secret(
                    f"{name}-api-keys",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=self.api_key_secret, namespace=args.namespace, labels=self._labels(ep.name)
                    ),
                    type="Opaque",
                    string_data={API_KEYS_KEY: secret_value(key.result)},
                    opts=child_opts(self, ctx, *deps),
                )
            )
        for track in tracks(ep):
            placement = gpu if track.resources.gpus > 0 else None
            self.services[track.name] = self._track(name, track, placement, deps)

        self._route(name, deps)
        k8s.apiextensions.CustomResource(
            f"{name}-service-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ep.name, namespace=args.namespace, labels=self._labels(ep.name)),
            spec={
                "selector": {
                    "matchLabels": {"app.kubernetes.io/name": ep.name, "app.kubernetes.io/component": "serving"}
                },
                "namespaceSelector": {"matchNames": [args.namespace]},
                "endpoints": [{"port": "http", "path": METRICS_PATH, "interval": "30s", "scheme": "http"}],
                "targetLabels": [TRACK_LABEL],
            },
            opts=child_opts(self, ctx, *deps),
        )
        self.path = f"/{ep.name}"
        self.url = f"http://{self.services['stable']}.{args.namespace}.svc.cluster.local:{port}"
        self.register_outputs(
            {"services": self.services, "path": self.path, "url": self.url, "api_key_secret": self.api_key_secret}
        )

    def _labels(self, instance: str, track: str | None = None) -> dict[str, str]:
        ep = self._args.endpoint
        result = {**labels(ep.name, instance, "serving", self._args.labels), MODEL_LABEL: ep.serving.model.name}
        if track:
            result[TRACK_LABEL] = track
        return result

    def _track(self, name: str, track: Track, gpu: GpuPlacement | None, deps: list[pulumi.Resource]) -> str:
        args, ep, ctx = self._args, self._args.endpoint, self._args.context
        obj = f"{ep.name}-{track.name}"
        base = f"{name}-{track.name}"
        obj_labels = self._labels(obj, track.name)
        selector = selector_labels(ep.name, obj, "serving")
        serving: ServingSpec = ep.serving.model_copy(
            update={"model": ModelRef(name=ep.serving.model.name, alias=track.alias)}
        )
        config_map = spec_config_map(
            f"{base}-spec", f"{obj}-spec", args.namespace, serving, obj_labels, child_opts(self, ctx, *deps)
        )
        waits: list[pulumi.Resource] = []
        if args.bootstrap is not None and track.alias in BOOTSTRAPPED_ALIASES:
            waits.append(args.bootstrap)
            annotations = {AWAIT_TIMEOUT_ANNOTATION: str(GPU_ROLLOUT_TIMEOUT_SECONDS)} if gpu else {}
        else:
            annotations = {SKIP_AWAIT_ANNOTATION: "true"}

        server = container(
            "server",
            args.image,
            command=["mlops"],
            args=["serve", "--model", str(serving.model), "--spec", SPEC_FILE],
            resources=track.resources,
            env=[
                *runtime_env(
                    **args.settings,
                    prediction_log_uri=prediction_log_uri(args.prediction_log_root, ep.name, track.name),
                    **({"api_keys_file": f"{API_KEYS_DIR}/{API_KEYS_KEY}"} if self.api_key_secret else {}),
                ),
                *args.env,
            ],
            ports={"http": serving.port},
            probes=http_probes("http", LIVE_PATH, READY_PATH),
            mounts=[
                k8s.core.v1.VolumeMountArgs(name="spec", mount_path=SPEC_DIR, read_only=True),
                *(
                    [k8s.core.v1.VolumeMountArgs(name="api-keys", mount_path=API_KEYS_DIR, read_only=True)]
                    if self.api_key_secret
                    else []
                ),
            ],
        )
        k8s.apps.v1.Deployment(
            f"{base}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=obj, namespace=args.namespace, labels=obj_labels, annotations=annotations or None
            ),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge=1, max_unavailable=0),
                ),
                revision_history_limit=5,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=obj_labels, annotations={"pulumi-mlops.io/spec-sha256": spec_checksum(serving)}
                    ),
                    spec=pod_spec(
                        [server],
                        service_account=args.service_account,
                        volumes=[
                            spec_volume(obj + "-spec"),
                            *(
                                [
                                    k8s.core.v1.VolumeArgs(
                                        name="api-keys",
                                        secret=k8s.core.v1.SecretVolumeSourceArgs(
                                            secret_name=self.api_key_secret, default_mode=0o440
                                        ),
                                    )
                                ]
                                if self.api_key_secret
                                else []
                            ),
                        ],
                        gpu=gpu,
                        topology_spread=selector,
                    ),
                ),
            ),
            opts=child_opts(self, ctx, config_map, *waits, *deps),
        )
        http_service(
            f"{base}-service",
            obj,
            args.namespace,
            obj_labels,
            selector,
            serving.port,
            child_opts(self, ctx, *deps),
        )
        if ctx.backend_health_checks:
            health_check_policy(
                f"{base}-health-check",
                obj,
                args.namespace,
                serving.port,
                READY_PATH,
                obj_labels,
                child_opts(self, ctx, *deps),
            )
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{base}-hpa",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=obj, namespace=args.namespace, labels=obj_labels),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=obj
                ),
                min_replicas=track.min_replicas,
                max_replicas=track.max_replicas,
                metrics=[
                    k8s.autoscaling.v2.MetricSpecArgs(
                        type="Resource",
                        resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                            name="cpu",
                            target=k8s.autoscaling.v2.MetricTargetArgs(type="Utilization", average_utilization=70),
                        ),
                    )
                ],
            ),
            opts=child_opts(self, ctx, *deps),
        )
        budget: dict[str, Any] = {"max_unavailable": 1} if track.min_replicas >= 2 else {"min_available": 1}
        # Pods that are not ready (no version to serve yet) may be evicted, so they never block a node drain.
        k8s.policy.v1.PodDisruptionBudget(
            f"{base}-pdb",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=obj, namespace=args.namespace, labels=obj_labels),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                unhealthy_pod_eviction_policy="AlwaysAllow",
                **budget,
            ),
            opts=child_opts(self, ctx, *deps),
        )
        return obj

    def _route(self, name: str, deps: list[pulumi.Resource]) -> None:
        args, ep = self._args, self._args.endpoint
        port = ep.serving.port
        backends = [
            {"name": self.services[t.name], "port": port, "weight": t.weight}
            for t in tracks(ep)
            if t.weight is not None and t.weight > 0
        ]
        filters: list[dict[str, Any]] = [
            {"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}}
        ]
        if "shadow" in self.services:
            filters.append(
                {
                    "type": "RequestMirror",
                    "requestMirror": {"backendRef": {"name": self.services["shadow"], "port": port}},
                }
            )
        gw = args.gateway
        k8s.apiextensions.CustomResource(
            f"{name}-route",
            api_version=GATEWAY_API_VERSION,
            kind="HTTPRoute",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ep.name, namespace=args.namespace, labels=self._labels(ep.name)),
            spec={
                "parentRefs": [{"name": gw.name, "namespace": gw.namespace, "sectionName": gw.section_name}],
                "rules": [
                    {
                        "matches": [{"path": {"type": "PathPrefix", "value": f"/{ep.name}"}}],
                        "filters": filters,
                        "backendRefs": backends,
                    }
                ],
            },
            opts=child_opts(self, args.context, *deps),
        )
