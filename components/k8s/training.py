"""``TrainingJob``: a scheduled training run, single-pod or multi-node PyTorch (torchrun).

A job with ``nodes: 1`` is a CronJob running ``mlops train``. A job with more nodes is a
CronJob whose job template is an Indexed Job (one pod per node, ``parallelism = completions =
nodes``) plus a headless Service giving each pod a stable DNS name; pod 0 hosts the c10d
rendezvous. Both run ``mlops train --promote`` semantics: the run ends in the champion/challenger
gate. The drift-triggered retraining creates a Job from the same template with the fresh data
added to the trainer's arguments (``--since``/``--until``: the drift window of the training data),
so both paths run identical pods, and a retraining learns from new rows.

On a pool whose nodes have Elastic Fabric Adapter interfaces (``GpuScheduling.pool_efa``), the pods of a multi-node
job request their share of them (``vpc.amazonaws.com/efa``) and point NCCL's libfabric transport at EFA; with
``ClusterContext.datasets_volume`` the trainer sees the datasets bucket read-only at its mount path.

A job with ``training.search_workers: N > 1`` (and one node) is an Indexed Job of N pods running the same
``mlops train --promote``: each runs trials of one shared study (:mod:`.search_store`: storage URL from a Secret,
study named after the Job), and the runtime decides which pod fits and registers the winner.

With ``bootstrap`` the component also creates a one-off Job from that template (``<cronjob>-bootstrap``):
it trains and promotes the first version when the stack is first deployed, and the engine waits for it
to complete (pulumi-kubernetes awaits Jobs), so endpoints that wait for it find a ``champion``. Later
changes of its spec are ignored: scheduled runs and drift retraining keep the model fresh.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

import pulumi
import pulumi_kubernetes as k8s

from pulumi_mlops.spec import TrainingJobSpec

from .context import EFA_RESOURCE, ClusterContext, EfaDevices
from .datasets_volume import datasets_mount, datasets_pod_volume
from .namespaces import RDZV_PORT
from .queueing import QUEUE_LABEL
from .runtime_config import SPEC_DIR, SPEC_FILE, spec_checksum, spec_config_map, spec_volume
from .search_store import search_env
from .workload import (
    AWAIT_TIMEOUT_ANNOTATION,
    MODEL_LABEL,
    REPLACE_UNREADY_ANNOTATION,
    GpuPlacement,
    child_opts,
    container,
    cron_job,
    labels,
    pod_spec,
    resource_requirements,
    selector_labels,
    shm_mount,
)

__all__ = [
    "BOOTSTRAP_AWAIT_MARGIN_SECONDS",
    "DO_NOT_DISRUPT_ANNOTATION",
    "EFA_ENV",
    "JOB_LABEL",
    "TORCHRUN_MODULE",
    "TrainingJob",
    "TrainingJobArgs",
    "bootstrap_job_name",
    "cron_job_name",
    "efa_env",
    "efa_interfaces",
    "torchrun_command",
]

JOB_LABEL = "pulumi-mlops.io/training-job"
"""Pod label carrying the training job's spec name (selects the rendezvous Service's pods)."""
TORCHRUN_MODULE = "pulumi_mlops.runtime.training"
"""Module ``torchrun`` starts on every process (the runtime's distributed training entry point)."""
JOB_NAME_ENV = "JOB_NAME"
"""Env var holding the running Job's name (CronJob runs and retrainings get generated names)."""
TRIGGER_LABEL = "pulumi-mlops.io/trigger"
"""Label saying what started a training Job (``bootstrap`` here; ``drift`` on retraining Jobs)."""
BOOTSTRAP_AWAIT_MARGIN_SECONDS = 300
"""The engine waits this much longer than the Job's ``activeDeadlineSeconds``, so the Job's own deadline
ends a run that is too long and the update reports the Job's failure rather than its own timeout."""
DO_NOT_DISRUPT_ANNOTATION = "karpenter.sh/do-not-disrupt"
"""Pod annotation (``"true"``): Karpenter neither consolidates nor gracefully drains a node while a training pod
runs on it (ignored where Karpenter does not run)."""
EFA_ENV = {"FI_PROVIDER": "efa", "FI_EFA_USE_HUGE_PAGE": "0"}
"""libfabric settings of pods using EFA: the EFA provider, and no huge pages (the pods request none: Karpenter
counts no ``hugepages-2Mi`` on the nodes it plans, so a pod requesting them never gets a node)."""


def efa_interfaces(devices: EfaDevices, gpus: int) -> int:
    """EFA interfaces a pod holding ``gpus`` of a node's GPUs requests: the same share of the node's, at least one
    (all of them for a pod that takes the whole node, as in the EKS user guide's NCCL test)."""
    return max(1, devices.interfaces * gpus // max(1, devices.gpus))


def efa_env(devices: EfaDevices) -> list[k8s.core.v1.EnvVarArgs]:
    """:data:`EFA_ENV`, and ``FI_EFA_USE_DEVICE_RDMA=1`` on instance types with GPUDirect RDMA over EFA."""
    env = dict(EFA_ENV)
    if devices.rdma:
        env["FI_EFA_USE_DEVICE_RDMA"] = "1"
    return [k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in env.items()]


def cron_job_name(job: TrainingJobSpec) -> str:
    """Name of the training job's CronJob (also the prefix of every Job it creates)."""
    return f"train-{job.name}"


def bootstrap_job_name(job: TrainingJobSpec) -> str:
    """Name of the training job's one-off bootstrap Job."""
    return f"{cron_job_name(job)}-bootstrap"


def torchrun_command(job: TrainingJobSpec, rendezvous_service: str) -> list[str]:
    """``torchrun`` launching the runtime's training module on every node; pod 0 of the Job hosts the rendezvous.

    Like the single-node ``mlops train --promote``, the run ends in the champion/challenger gate: rank 0 runs it
    after training (``--promote``), so a multi-node model becomes champion when it wins.

    Pods of an Indexed Job are named ``<job>-<index>``; with ``subdomain`` set to the headless
    Service they resolve as ``<job>-<index>.<service>``. The Job name is read at run time
    (``$(JOB_NAME)``), so scheduled runs and retrainings rendezvous within their own Job.
    """
    return [
        "torchrun",
        "--nnodes",
        str(job.nodes),
        "--nproc-per-node",
        str(max(1, job.resources.gpus)),
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        f"$({JOB_NAME_ENV})-0.{rendezvous_service}:{RDZV_PORT}",
        "--rdzv-id",
        f"$({JOB_NAME_ENV})",
        "-m",
        TORCHRUN_MODULE,
        "--spec",
        SPEC_FILE,
        "--promote",
    ]


@dataclass
class TrainingJobArgs:
    """Inputs of :class:`TrainingJob`."""

    job: TrainingJobSpec
    """The training job (schedule, nodes, resources, GPU pool, what to train)."""
    context: ClusterContext
    """The cluster (provider, GPU taint and pool label)."""
    namespace: str
    """Training namespace."""
    image: pulumi.Input[str]
    """Pinned runtime image (a tag or digest; an Output, such as a build's digest ref, orders the objects after it)."""
    service_account: str
    """ServiceAccount of the trainer (role ``trainer``)."""
    env: Sequence[k8s.core.v1.EnvVarArgs] = ()
    """Runtime settings (``MLOPS_*``) and secret-backed credentials."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Platform tags put on every object."""
    ttl_seconds_after_finished: int = 86400
    """Finished Jobs (and their pods' logs) are deleted after this long."""
    time_zone: str = "Etc/UTC"
    """Time zone of the cron schedule."""
    bootstrap: bool = False
    """Also run the job once now: a Job from the same pod template, kept after it finishes, that the engine
    waits for (up to ``active_deadline_seconds`` plus a margin); a failed one is replaced on the next update."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources (namespace, service account, secrets) the objects wait for."""
    search_secret: str | None = None
    """Secret in ``namespace`` with the study database's URL (:func:`.search_store.search_storage_secret`); required
    by a job with ``training.search_workers`` > 1, whose pods share the study there."""
    queue: str | None = None
    """Kueue LocalQueue of the Jobs (the job's GPU pool is queued, ``ClusterContext.job_queueing``): they are
    created suspended and start once Kueue admits them; pass the queue in ``depends_on``."""


class TrainingJob(pulumi.ComponentResource):
    """The training CronJob, and for ``nodes > 1`` its Indexed job template and rendezvous Service; with
    ``bootstrap`` the one-off Job (``bootstrap_job``, for ``depends_on``).

    Outputs: ``cron_job`` (CronJob name), ``rendezvous_service`` (headless Service name or ``None``),
    ``distributed``, ``search_workers`` (pods of the search), ``bootstrap`` (bootstrap Job name or ``None``).
    """

    cron_job: str
    rendezvous_service: str | None
    distributed: bool
    search_workers: int
    bootstrap_job: k8s.batch.v1.Job | None

    def __init__(self, name: str, args: TrainingJobArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:k8s:TrainingJob", name, None, opts)
        job, ctx = args.job, args.context
        deps = list(args.depends_on)
        self.cron_job = cron_job_name(job)
        self.distributed = job.nodes > 1
        self.search_workers = job.training.search_workers
        indexed = self.distributed or self.search_workers > 1
        pods = job.nodes if self.distributed else self.search_workers
        obj_labels = {**labels(job.name, self.cron_job, "training", args.labels), MODEL_LABEL: job.training.model.name}
        pod_labels = {**obj_labels, JOB_LABEL: job.name}
        job_labels = {**obj_labels, QUEUE_LABEL: args.queue} if args.queue else obj_labels
        gpu = GpuPlacement(ctx.gpu, job.gpu_pool) if job.resources.gpus > 0 and job.gpu_pool else None
        if job.resources.gpus > 0 and gpu is None:
            raise ValueError(f"training job {job.name!r} asks for GPUs but names no gpu_pool")

        config_map = spec_config_map(
            f"{name}-spec",
            f"{self.cron_job}-spec",
            args.namespace,
            job.training,
            obj_labels,
            child_opts(self, ctx, *deps),
        )
        env = list(args.env)
        if self.search_workers > 1:
            if args.search_secret is None:
                raise ValueError(
                    f"training job {job.name!r} has search_workers {self.search_workers}, whose pods share their "
                    "study in the platform's PostgreSQL, and the cluster has none (ClusterContext.tracking_db): "
                    "give the cluster its tracking database, or set search_workers to 1"
                )
            env += search_env(args.search_secret)
        efa = ctx.gpu.pool_efa.get(job.gpu_pool) if self.distributed and gpu is not None and job.gpu_pool else None
        if efa is not None:
            env += efa_env(efa)
        use_shm = self.distributed or job.resources.gpus > 0
        mounts = [k8s.core.v1.VolumeMountArgs(name="spec", mount_path=SPEC_DIR, read_only=True)]
        volumes = [spec_volume(f"{self.cron_job}-spec")]
        if use_shm:
            mounts.append(shm_mount())
        if ctx.datasets_volume is not None:
            mounts.append(datasets_mount(ctx.datasets_volume))
            volumes.append(datasets_pod_volume(ctx.datasets_volume))
        self.rendezvous_service = None
        rendezvous: list[pulumi.Resource] = []
        if self.distributed:
            self.rendezvous_service = f"{self.cron_job}-rdzv"
            service = k8s.core.v1.Service(
                f"{name}-rendezvous",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=self.rendezvous_service, namespace=args.namespace, labels=obj_labels
                ),
                spec=k8s.core.v1.ServiceSpecArgs(
                    cluster_ip="None",
                    publish_not_ready_addresses=True,
                    selector={JOB_LABEL: job.name, **selector_labels(job.name, self.cron_job, "training")},
                    ports=[
                        k8s.core.v1.ServicePortArgs(name="rdzv", port=RDZV_PORT, target_port=RDZV_PORT, protocol="TCP")
                    ],
                ),
                opts=child_opts(self, ctx, *deps),
            )
            rendezvous.append(service)
            env.append(
                k8s.core.v1.EnvVarArgs(
                    name=JOB_NAME_ENV,
                    value_from=k8s.core.v1.EnvVarSourceArgs(
                        field_ref=k8s.core.v1.ObjectFieldSelectorArgs(
                            field_path="metadata.labels['batch.kubernetes.io/job-name']"
                        )
                    ),
                )
            )
            command = torchrun_command(job, self.rendezvous_service)
            trainer = container(
                "trainer",
                args.image,
                command=command[:1],
                args=command[1:],
                resources=job.resources,
                env=env,
                ports={"rdzv": RDZV_PORT},
                mounts=mounts,
            )
        else:
            trainer = container(
                "trainer",
                args.image,
                command=["mlops"],
                args=["train", "--spec", SPEC_FILE, "--promote"],
                resources=job.resources,
                env=env,
                mounts=mounts,
            )
        if efa is not None:
            interfaces = str(efa_interfaces(efa, job.resources.gpus))
            base = resource_requirements(job.resources)
            trainer.resources = k8s.core.v1.ResourceRequirementsArgs(
                requests={**cast(dict[str, str], base.requests), EFA_RESOURCE: interfaces},
                limits={**cast(dict[str, str], base.limits), EFA_RESOURCE: interfaces},
            )

        template = k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(
                labels=pod_labels,
                annotations={
                    "pulumi-mlops.io/spec-sha256": spec_checksum(job.training),
                    DO_NOT_DISRUPT_ANNOTATION: "true",
                },
            ),
            spec=pod_spec(
                [trainer],
                service_account=args.service_account,
                volumes=volumes,
                gpu=gpu,
                restart_policy="Never",
                subdomain=self.rendezvous_service,
                shm=use_shm,
            ),
        )

        def job_spec(ttl_seconds_after_finished: int | None) -> k8s.batch.v1.JobSpecArgs:
            return k8s.batch.v1.JobSpecArgs(
                backoff_limit=job.backoff_limit,
                active_deadline_seconds=job.active_deadline_seconds,
                ttl_seconds_after_finished=ttl_seconds_after_finished,
                completion_mode="Indexed" if indexed else None,
                completions=pods if indexed else None,
                parallelism=pods if indexed else None,
                suspend=True if args.queue else None,
                template=template,
            )

        cron_job(
            f"{name}-cronjob",
            self.cron_job,
            args.namespace,
            job_labels,
            job.schedule,
            job_spec(args.ttl_seconds_after_finished),
            child_opts(self, ctx, config_map, *deps),
            time_zone=args.time_zone,
            starting_deadline_seconds=3600,
        )
        self.bootstrap_job = None
        if args.bootstrap:
            # Kept after it finishes (no TTL): a Job deleted by its TTL would be created again after a refresh.
            self.bootstrap_job = k8s.batch.v1.Job(
                f"{name}-bootstrap",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=bootstrap_job_name(job),
                    namespace=args.namespace,
                    labels={**job_labels, TRIGGER_LABEL: "bootstrap"},
                    annotations={
                        AWAIT_TIMEOUT_ANNOTATION: str(job.active_deadline_seconds + BOOTSTRAP_AWAIT_MARGIN_SECONDS),
                        REPLACE_UNREADY_ANNOTATION: "true",
                    },
                ),
                spec=job_spec(None),
                opts=pulumi.ResourceOptions.merge(
                    child_opts(self, ctx, config_map, *rendezvous, *deps),
                    pulumi.ResourceOptions(ignore_changes=["spec"]),
                ),
            )
        self.register_outputs(
            {
                "cron_job": self.cron_job,
                "rendezvous_service": self.rendezvous_service,
                "distributed": self.distributed,
                "search_workers": self.search_workers,
                "bootstrap": bootstrap_job_name(job) if args.bootstrap else None,
            }
        )
