"""``BatchScoringJob``: a scheduled ``mlops batch-predict`` run for one ``spec.batch_jobs`` entry.

A CronJob whose pod mounts the job's :class:`~pulumi_mlops.runtime.config.BatchSpec` (platform-bucket
locations resolved to the buckets' URIs) as ``/etc/mlops/spec.json`` and runs ``mlops batch-predict --spec``.
The pod is hardened like every workload (:mod:`.workload`); a job with GPUs is placed on its pool. The run
id defaults to the model version and input digest, so a retry of a failed Job resumes that run instead of
starting over.

A job with ``shards: N > 1`` is an Indexed Job of N pods (``completions = parallelism = N``); each scores shard
``JOB_COMPLETION_INDEX`` (set by Kubernetes) of one run whose id is the Job's name (read from the downward API
label ``batch.kubernetes.io/job-name``), so a retried pod resumes its own shard of the same run. Retries are
counted per index (``backoffLimitPerIndex``, on by default from Kubernetes 1.29, GA in 1.33), so one shard's
failures do not use up the others' retries, and a shard's replacement pod starts only once the failed one has
terminated (``podReplacementPolicy: Failed``, same versions), so two pods never write one shard; on older
clusters the Job-wide ``backoffLimit`` applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_mlops.runtime.config import BatchSpec

from pulumi_mlops.spec import BatchJobSpec

from .context import ClusterContext
from .runtime_config import SPEC_DIR, SPEC_FILE, spec_checksum, spec_config_map, spec_volume
from .workload import MODEL_LABEL, GpuPlacement, child_opts, container, cron_job, labels, pod_spec

__all__ = [
    "BATCH_JOB_LABEL",
    "JOB_NAME_ENV",
    "JOB_NAME_FIELD",
    "PER_INDEX_BACKOFF_SINCE",
    "BatchScoringJob",
    "BatchScoringJobArgs",
    "batch_command",
    "batch_cron_job_name",
    "batch_spec",
    "per_index_backoff",
]

BATCH_JOB_LABEL = "pulumi-mlops.io/batch-job"
"""Pod label carrying the batch job's spec name."""
JOB_NAME_ENV = "JOB_NAME"
"""Env var of a sharded job's pods holding the Job's name (the run id every shard is given)."""
JOB_NAME_FIELD = "metadata.labels['batch.kubernetes.io/job-name']"
"""Downward API field of the Job's name on its pods."""
PER_INDEX_BACKOFF_SINCE = (1, 29)
"""First Kubernetes minor version whose API servers accept ``backoffLimitPerIndex`` and ``podReplacementPolicy``
by default (beta; GA in 1.33 and 1.34)."""


def per_index_backoff(kubernetes_version: str) -> bool:
    """Whether an Indexed Job on a cluster of ``kubernetes_version`` ('1.35') counts retries per index."""
    major, minor = (int(part) for part in kubernetes_version.split(".")[:2])
    return (major, minor) >= PER_INDEX_BACKOFF_SINCE


def batch_cron_job_name(job: BatchJobSpec) -> str:
    """Name of the batch job's CronJob."""
    return f"batch-{job.name}"


def batch_spec(job: BatchJobSpec, bucket_uris: Mapping[str, pulumi.Input[str]]) -> pulumi.Output[BatchSpec]:
    """The runtime's ``BatchSpec`` of a job, with platform-bucket locations resolved to the buckets' URIs."""
    roles = sorted(bucket_uris)
    uris = pulumi.Output.all(*[bucket_uris[role] for role in roles])
    return uris.apply(lambda values: job.resolve(dict(zip(roles, values, strict=True))))


def batch_command(job: BatchJobSpec | None = None) -> list[str]:
    """The container's argv: ``mlops batch-predict --spec /etc/mlops/spec.json``; a sharded job's pods add
    ``--run-id $(JOB_NAME)`` (the shard is ``JOB_COMPLETION_INDEX``, the shard count is in the spec)."""
    command = ["mlops", "batch-predict", "--spec", SPEC_FILE]
    if job is not None and job.shards > 1:
        command += ["--run-id", f"$({JOB_NAME_ENV})"]
    return command


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
    kubernetes_version: str = "1.35"
    """Minor version of the cluster (``ClusterSpec.kubernetes_version``): decides how a sharded job counts retries."""
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
        command = batch_command(job)
        env = list(args.env)
        sharded = job.shards > 1
        if sharded:
            env.append(
                k8s.core.v1.EnvVarArgs(
                    name=JOB_NAME_ENV,
                    value_from=k8s.core.v1.EnvVarSourceArgs(
                        field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path=JOB_NAME_FIELD)
                    ),
                )
            )
        scorer = container(
            "scorer",
            args.image,
            command=command[:1],
            args=command[1:],
            resources=job.resources,
            env=env,
            mounts=[k8s.core.v1.VolumeMountArgs(name="spec", mount_path=SPEC_DIR, read_only=True)],
        )
        per_index = sharded and per_index_backoff(args.kubernetes_version)
        job_spec = k8s.batch.v1.JobSpecArgs(
            backoff_limit=None if per_index else job.backoff_limit,
            backoff_limit_per_index=job.backoff_limit if per_index else None,
            # A shard's replacement starts only once the pod it replaces is gone: never two writers of one shard.
            pod_replacement_policy="Failed" if per_index else None,
            completion_mode="Indexed" if sharded else None,
            completions=job.shards if sharded else None,
            parallelism=job.shards if sharded else None,
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
