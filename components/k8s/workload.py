"""Pod and container building blocks shared by every workload: labels, security, probes, resources, GPUs.

Every Deployment, Job and CronJob of the platform is assembled from these functions, so the
hardening rules (non-root, read-only root filesystem, no capabilities, seccomp, pinned images,
requests and limits) live in exactly one place. What the runtime is told (``MLOPS_*`` variables,
Secrets, the workload spec file) is in :mod:`.runtime_config`, whose names are imported here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import pulumi
import pulumi_kubernetes as k8s
from pulumi_mlops.runtime.config import ResourceSpec

from .context import ClusterContext, GpuScheduling
from .runtime_config import (
    SPEC_DIR,
    SPEC_FILE,
    SPEC_KEY,
    cpus_env,
    join_uri,
    runtime_env,
    secret_env,
    secret_value,
    spec_checksum,
    spec_config_map,
    spec_volume,
)

__all__ = [
    "AWAIT_TIMEOUT_ANNOTATION",
    "GPU_RESOURCE",
    "MANAGED_BY",
    "MODEL_LABEL",
    "PART_OF",
    "POD_USER",
    "REPLACE_UNREADY_ANNOTATION",
    "SHM_VOLUME",
    "SKIP_AWAIT_ANNOTATION",
    "SPEC_DIR",
    "SPEC_FILE",
    "SPEC_KEY",
    "TMP_DIR",
    "GpuPlacement",
    "child_opts",
    "container",
    "container_security_context",
    "cpu_limit",
    "cpus_env",
    "cron_job",
    "http_probes",
    "http_service",
    "join_uri",
    "labels",
    "pod_security_context",
    "pod_spec",
    "resource_requirements",
    "runtime_env",
    "secret_env",
    "secret_value",
    "selector_labels",
    "shm_mount",
    "spec_checksum",
    "spec_config_map",
    "spec_volume",
]

MODEL_LABEL = "pulumi-mlops.io/model"
"""Label naming the registered model a workload serves or trains (the retrain trigger finds CronJobs by it)."""
PART_OF = "pulumi-mlops"
"""Value of ``app.kubernetes.io/part-of`` on every object."""
MANAGED_BY = "pulumi"
"""Value of ``app.kubernetes.io/managed-by`` on every object."""
GPU_RESOURCE = "nvidia.com/gpu"
"""Extended resource name of NVIDIA GPUs (device plugin)."""
POD_USER = 10001
"""Unprivileged user and group every platform container runs as."""
SHM_VOLUME = "dshm"
"""Name of the memory-backed ``/dev/shm`` volume of GPU and distributed training pods."""
TMP_DIR = "/tmp"
"""Writable scratch directory (an emptyDir; the root filesystem is read-only)."""
SKIP_AWAIT_ANNOTATION = "pulumi.com/skipAwait"
"""pulumi-kubernetes annotation: ``"true"`` creates the object without waiting for it to become ready."""
AWAIT_TIMEOUT_ANNOTATION = "pulumi.com/timeoutSeconds"
"""pulumi-kubernetes annotation: how long the engine waits for readiness (default 600 s for Deployments and Jobs)."""
REPLACE_UNREADY_ANNOTATION = "pulumi.com/replaceUnready"
"""pulumi-kubernetes annotation: ``"true"`` on a Job replaces it on the next update when it is not complete."""


def child_opts(parent: pulumi.Resource, ctx: ClusterContext, *depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
    """Options of a Kubernetes resource: parented, bound to the cluster's provider, after the cluster's add-ons."""
    return pulumi.ResourceOptions(parent=parent, provider=ctx.provider, depends_on=[*ctx.depends_on, *depends_on])


def selector_labels(name: str, instance: str, component: str) -> dict[str, str]:
    """The immutable labels that select a workload's pods."""
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
    }


def labels(name: str, instance: str, component: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Recommended ``app.kubernetes.io/*`` labels plus the platform's tags (``PlatformSpec.labels``)."""
    return {
        **dict(extra or {}),
        **selector_labels(name, instance, component),
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def cpu_limit(request: str) -> str:
    """Twice a CPU request, in the same notation ('500m' -> '1', '2' -> '4', '1.5' -> '3')."""
    cores = Decimal(request[:-1]) / 1000 if request.endswith("m") else Decimal(request)
    doubled = cores * 2
    if doubled == doubled.to_integral_value():
        return str(int(doubled))
    return f"{int(doubled * 1000)}m"


def resource_requirements(spec: ResourceSpec) -> k8s.core.v1.ResourceRequirementsArgs:
    """Requests from the spec; limits: memory = request, CPU = 2x request, GPUs = request."""
    requests = {"cpu": spec.cpu, "memory": spec.memory}
    limits = {"cpu": cpu_limit(spec.cpu), "memory": spec.memory}
    if spec.gpus > 0:
        requests[GPU_RESOURCE] = str(spec.gpus)
        limits[GPU_RESOURCE] = str(spec.gpus)
    return k8s.core.v1.ResourceRequirementsArgs(requests=requests, limits=limits)


def container_security_context() -> k8s.core.v1.SecurityContextArgs:
    """Non-root, read-only root filesystem, no privilege escalation, no capabilities, RuntimeDefault seccomp."""
    return k8s.core.v1.SecurityContextArgs(
        run_as_non_root=True,
        run_as_user=POD_USER,
        run_as_group=POD_USER,
        read_only_root_filesystem=True,
        allow_privilege_escalation=False,
        privileged=False,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def pod_security_context() -> k8s.core.v1.PodSecurityContextArgs:
    """Pod-level counterpart of :func:`container_security_context`."""
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=POD_USER,
        run_as_group=POD_USER,
        fs_group=POD_USER,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def http_probes(
    port: str | int,
    live_path: str,
    ready_path: str,
    *,
    startup_seconds: int = 300,
) -> dict[str, k8s.core.v1.ProbeArgs]:
    """Liveness, readiness and startup probes on HTTP health endpoints.

    The startup probe gives the process ``startup_seconds`` (model download, migrations) before
    the liveness probe may restart it.
    """

    def get(path: str) -> k8s.core.v1.HTTPGetActionArgs:
        return k8s.core.v1.HTTPGetActionArgs(path=path, port=port)

    period = 10
    return {
        "liveness_probe": k8s.core.v1.ProbeArgs(
            http_get=get(live_path), period_seconds=period, timeout_seconds=5, failure_threshold=3
        ),
        "readiness_probe": k8s.core.v1.ProbeArgs(
            http_get=get(ready_path), period_seconds=5, timeout_seconds=3, failure_threshold=3
        ),
        "startup_probe": k8s.core.v1.ProbeArgs(
            http_get=get(live_path),
            period_seconds=period,
            timeout_seconds=5,
            failure_threshold=max(1, startup_seconds // period),
        ),
    }


def container(
    name: str,
    image: pulumi.Input[str],
    *,
    args: Sequence[pulumi.Input[str]],
    resources: ResourceSpec,
    command: Sequence[str] | None = None,
    env: Sequence[k8s.core.v1.EnvVarArgs] = (),
    ports: Mapping[str, int] | None = None,
    probes: Mapping[str, k8s.core.v1.ProbeArgs] | None = None,
    mounts: Sequence[k8s.core.v1.VolumeMountArgs] = (),
    runtime: bool = True,
) -> k8s.core.v1.ContainerArgs:
    """A hardened container: pinned image, requests/limits, security context, writable ``/tmp``.

    A plain ``image`` string is checked to be pinned; an Output (a build's ``<repository>@<digest>``) is pinned by
    construction.

    ``HOME`` points at ``/tmp`` so tools that write caches work on the read-only root filesystem. A ``runtime``
    container (this package's image) also gets :func:`cpus_env`, which sizes its thread pools to its CPU limit.
    """
    if isinstance(image, str) and (
        image.endswith(":latest") or (":" not in image.rsplit("/", 1)[-1] and "@sha256:" not in image)
    ):
        raise ValueError(f"image {image!r} is not pinned to a version tag or digest")
    probe_args = dict(probes or {})
    return k8s.core.v1.ContainerArgs(
        name=name,
        image=image,
        image_pull_policy="IfNotPresent",
        command=list(command) if command is not None else None,
        args=list(args),
        env=[k8s.core.v1.EnvVarArgs(name="HOME", value=TMP_DIR), *(cpus_env() if runtime else ()), *env],
        ports=[
            k8s.core.v1.ContainerPortArgs(name=port_name, container_port=port, protocol="TCP")
            for port_name, port in (ports or {}).items()
        ]
        or None,
        resources=resource_requirements(resources),
        security_context=container_security_context(),
        volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path=TMP_DIR), *mounts],
        liveness_probe=probe_args.get("liveness_probe"),
        readiness_probe=probe_args.get("readiness_probe"),
        startup_probe=probe_args.get("startup_probe"),
    )


@dataclass
class GpuPlacement:
    """Where a GPU workload runs: the cloud's GPU taint and label, and the pool's name."""

    scheduling: GpuScheduling
    """Taint and pool label of the cloud (``ClusterContext.gpu``)."""
    pool: str
    """``GpuPoolSpec.name`` the pods are pinned to."""

    def tolerations(self) -> list[k8s.core.v1.TolerationArgs]:
        """The GPU taint, then every other taint the pool's spec gives its nodes."""
        s = self.scheduling
        taints = [(s.taint_key, s.taint_value, s.taint_effect)]
        taints += [t for t in s.pool_taints.get(self.pool, ()) if t[0] != s.taint_key]
        return [
            k8s.core.v1.TolerationArgs(key=key, operator="Equal", value=value, effect=effect)
            for key, value, effect in taints
        ]

    def node_selector(self) -> dict[str, str]:
        """The pool label, and the other labels the pool's nodes carry that its pods select (GKE ComputeClass)."""
        return {**self.scheduling.pool_selectors.get(self.pool, {}), self.scheduling.pool_label: self.pool}


def shm_mount() -> k8s.core.v1.VolumeMountArgs:
    """Mount of the pod's memory-backed ``/dev/shm`` volume (``pod_spec(shm=True)``)."""
    return k8s.core.v1.VolumeMountArgs(name=SHM_VOLUME, mount_path="/dev/shm")


def pod_spec(
    containers: Sequence[k8s.core.v1.ContainerArgs],
    *,
    service_account: str,
    volumes: Sequence[k8s.core.v1.VolumeArgs] = (),
    gpu: GpuPlacement | None = None,
    automount_token: bool = False,
    restart_policy: str | None = None,
    subdomain: str | None = None,
    termination_grace_seconds: int = 30,
    topology_spread: Mapping[str, str] | None = None,
    shm: bool = False,
    init_containers: Sequence[k8s.core.v1.ContainerArgs] = (),
) -> k8s.core.v1.PodSpecArgs:
    """A pod with the platform's security context, a ``/tmp`` emptyDir and, for GPUs, toleration and pool selector.

    ``topology_spread`` (pod selector labels) spreads replicas across zones; ``shm`` adds the
    memory-backed volume that :func:`shm_mount` mounts at ``/dev/shm`` (multi-process PyTorch);
    ``init_containers`` run to completion, in order, before the containers start.
    """
    all_volumes = [
        k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="1Gi")),
        *volumes,
    ]
    if shm:
        all_volumes.append(
            k8s.core.v1.VolumeArgs(
                name=SHM_VOLUME, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(medium="Memory", size_limit="8Gi")
            )
        )
    spread = None
    if topology_spread:
        spread = [
            k8s.core.v1.TopologySpreadConstraintArgs(
                max_skew=1,
                topology_key="topology.kubernetes.io/zone",
                when_unsatisfiable="ScheduleAnyway",
                label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(topology_spread)),
            )
        ]
    return k8s.core.v1.PodSpecArgs(
        service_account_name=service_account,
        automount_service_account_token=automount_token,
        security_context=pod_security_context(),
        init_containers=list(init_containers) or None,
        containers=list(containers),
        volumes=all_volumes,
        restart_policy=restart_policy,
        subdomain=subdomain,
        termination_grace_period_seconds=termination_grace_seconds,
        tolerations=gpu.tolerations() if gpu else None,
        node_selector=gpu.node_selector() if gpu else None,
        topology_spread_constraints=spread,
        enable_service_links=False,
    )


def cron_job(
    resource_name: str,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    schedule: str,
    job: k8s.batch.v1.JobSpecArgs,
    opts: pulumi.ResourceOptions,
    *,
    time_zone: str = "Etc/UTC",
    starting_deadline_seconds: int = 600,
) -> k8s.batch.v1.CronJob:
    """A CronJob around ``job`` that never overlaps itself and keeps the last three runs of each outcome."""
    return k8s.batch.v1.CronJob(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=dict(labels)),
        spec=k8s.batch.v1.CronJobSpecArgs(
            schedule=schedule,
            time_zone=time_zone,
            concurrency_policy="Forbid",
            starting_deadline_seconds=starting_deadline_seconds,
            successful_jobs_history_limit=3,
            failed_jobs_history_limit=3,
            job_template=k8s.batch.v1.JobTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=dict(labels)), spec=job
            ),
        ),
        opts=opts,
    )


def http_service(
    resource_name: str,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    selector: Mapping[str, str],
    port: int,
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.Service:
    """A ClusterIP Service exposing the pods' ``http`` container port on ``port``."""
    return k8s.core.v1.Service(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=dict(labels)),
        spec=k8s.core.v1.ServiceSpecArgs(
            type="ClusterIP",
            selector=dict(selector),
            ports=[
                k8s.core.v1.ServicePortArgs(
                    name="http", port=port, target_port="http", protocol="TCP", app_protocol="http"
                )
            ],
        ),
        opts=opts,
    )
