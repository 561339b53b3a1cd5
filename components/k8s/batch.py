"""``BatchScoringJob``: a scheduled ``mlops batch-predict`` run for one ``spec.batch_jobs`` entry.

A CronJob whose pod mounts the job's :class:`~pulumi_mlops.runtime.config.BatchSpec` (platform-bucket
locations resolved to the buckets' URIs) as ``/etc/mlops/spec.json`` and runs ``mlops batch-predict --spec``.
The pod is hardened like every workload (:mod:`.workload`); a job with GPUs is placed on its pool. The run
id defaults to the model version and input digest, so a retry of a failed Job resumes that run instead of
starting over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_mlops.runtime.config import BatchSpec

from pulumi_mlops.spec import BatchJobSpec

from .context import ClusterContext
from .workload import (
    MODEL_LABEL,
    SPEC_DIR,
    SPEC_FILE,
    GpuPlacement,
    child_opts,
    container,
    cron_job,
    labels,
    pod_spec,
    spec_checksum,
    spec_config_map,
    spec_volume,
)

__all__ = [
    "BATCH_JOB_LABEL",
    "BatchScoringJob",
    "BatchScoringJobArgs",
    "batch_command",
    "batch_cron_job_name",
    "batch_spec",
]

BATCH_JOB_LABEL = "pulumi-mlops.io/batch-job"
"""Pod label carrying the batch job's spec name."""


def batch_cron_job_name(job: BatchJobSpec) -> str:
    """Name of the batch job's CronJob."""
    return f"batch-{job.name}"


def batch_spec(job: BatchJobSpec, bucket_uris: Mapping[str, pulumi.Input[str]]) -> pulumi.Output[BatchSpec]:
    """The runtime's ``BatchSpec`` of a job, with platform-bucket locations resolved to the buckets' URIs."""
    roles = sorted(bucket_uris)
    uris = pulumi.Output.all(*[bucket_uris[role] for role in roles])
    return uris.apply(lambda values: job.batch.resolve(dict(zip(roles, values, strict=True))))


def batch_command() -> list[str]:
    """The container's argv: ``mlops batch-predict --spec /etc/mlops/spec.json``."""
    return ["mlops", "batch-predict", "--spec", SPEC_FILE]


@dataclass
class BatchScoringJobArgs:
    """Inputs of :class:`BatchScoringJob`."""

    job: BatchJobSpec
    """The batch job (schedule, model, input, output, resources, GPU pool)."""
    context: ClusterContext
    """The cluster (provider, GPU taint and pool label)."""
    namespace: str
    """Namespace of the job (the training namespace: registry and bucket access)."""
    image: pulumi.Input[str]
    """Pinned runtime image (a tag or digest; an Output, such as a build's digest ref, orders the objects after it)."""
    service_account: str
    """ServiceAccount of the pod (reads the registry and the input, writes the output bucket)."""
    env: Sequence[k8s.core.v1.EnvVarArgs] = ()
    """Runtime settings (``MLOPS_*``) and secret-backed credentials."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Platform tags put on every object."""
    ttl_seconds_after_finished: int = 86400
    """Finished Jobs are deleted after this long."""
    time_zone: str = "Etc/UTC"
    """Time zone of the cron schedule."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources (namespace, service account, MLflow) the objects wait for."""


class BatchScoringJob(pulumi.ComponentResource):
    """The batch scoring CronJob and its spec ConfigMap. Output: ``cron_job`` (CronJob name)."""

    cron_job: str

    def __init__(self, name: str, args: BatchScoringJobArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:k8s:BatchScoringJob", name, None, opts)
        job, ctx = args.job, args.context
        deps = list(args.depends_on)
        self.cron_job = batch_cron_job_name(job)
        obj_labels = {**labels(job.name, self.cron_job, "batch", args.labels), MODEL_LABEL: job.batch.model.name}
        pod_labels = {**obj_labels, BATCH_JOB_LABEL: job.name}
        gpu = GpuPlacement(ctx.gpu, job.gpu_pool) if job.resources.gpus > 0 and job.gpu_pool else None
        if job.resources.gpus > 0 and gpu is None:
            raise ValueError(f"batch job {job.name!r} asks for GPUs but names no gpu_pool")
        run = batch_spec(job, ctx.bucket_uris)
        config_map = spec_config_map(
            f"{name}-spec", f"{self.cron_job}-spec", args.namespace, run, obj_labels, child_opts(self, ctx, *deps)
        )
        command = batch_command()
        scorer = container(
            "scorer",
            args.image,
            command=command[:1],
            args=command[1:],
            resources=job.resources,
            env=list(args.env),
            mounts=[k8s.core.v1.VolumeMountArgs(name="spec", mount_path=SPEC_DIR, read_only=True)],
        )
        job_spec = k8s.batch.v1.JobSpecArgs(
            backoff_limit=job.backoff_limit,
            active_deadline_seconds=job.active_deadline_seconds,
            ttl_seconds_after_finished=args.ttl_seconds_after_finished,
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    labels=pod_labels, annotations={"pulumi-mlops.io/spec-sha256": run.apply(spec_checksum)}
                ),
                spec=pod_spec(
                    [scorer],
                    service_account=args.service_account,
                    volumes=[spec_volume(f"{self.cron_job}-spec")],
                    gpu=gpu,
                    restart_policy="Never",
                ),
            ),
        )
        cron_job(
            f"{name}-cronjob",
            self.cron_job,
            args.namespace,
            obj_labels,
            job.schedule,
            job_spec,
            child_opts(self, ctx, config_map, *deps),
            time_zone=args.time_zone,
            starting_deadline_seconds=3600,
        )
        self.register_outputs({"cron_job": self.cron_job})
