"""Drift detection per endpoint and the permission it uses to trigger retraining.

``DriftMonitor`` is a CronJob running ``mlops drift`` on the endpoint's prediction logs, writing each
run's reports to the bucket (``<reports>/<window end>/``, not the pod's emptyDir); when the command
exits with the drift code it runs ``mlops retrain --endpoint <name> --cronjob <training>``, which
checks the retraining guard (cooldown, daily cap) and creates a Job from the training CronJob of the
endpoint's model, told to train on the drift window of the training data (``--since``/``--until``).
``RetrainTrigger`` is the Role and RoleBinding allowing exactly that: create and get Jobs, get the
training CronJobs.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_mlops.runtime.config import DriftSpec, ResourceSpec

from pulumi_mlops.spec import EndpointSpec

from .context import ClusterContext
from .runtime_config import SPEC_DIR, SPEC_FILE, spec_checksum, spec_config_map, spec_volume
from .workload import MODEL_LABEL, child_opts, container, cron_job, labels, pod_spec

__all__ = [
    "DRIFT_EXIT_CODE",
    "DriftMonitor",
    "DriftMonitorArgs",
    "RetrainTrigger",
    "RetrainTriggerArgs",
    "drift_script",
]

DRIFT_EXIT_CODE = 3
"""Exit status of ``mlops drift`` when the dataset drifted (0: no drift; other codes: errors)."""


def drift_script(
    endpoint: EndpointSpec,
    window: str,
    training_cron_job: str | None,
    drift_exit_code: int = DRIFT_EXIT_CODE,
    *,
    reports: str,
) -> str:
    """Shell line: check the ``window`` of prediction logs (reports under ``reports/<window end>/``), then run
    the retraining trigger (a Job from ``training_cron_job``) when (and only when) the check exits with the
    drift code; any other status is the job's status. Without a training CronJob the check alone runs."""
    model = shlex.quote(str(endpoint.serving.model))
    check = (
        f"mlops drift --model {model} --window {shlex.quote(window)} --spec {SPEC_FILE} "
        f"--out {shlex.quote(reports)} --run-folder"
    )
    if not training_cron_job:
        return f"exec {check}"
    retrain = (
        f"mlops retrain --endpoint {shlex.quote(endpoint.name)} --model {model} "
        f"--cronjob {shlex.quote(training_cron_job)} --spec {SPEC_FILE}"
    )
    return f'{check}; rc=$?; if [ "$rc" -eq {drift_exit_code} ]; then exec {retrain}; fi; exit $rc'


@dataclass
class DriftMonitorArgs:
    """Inputs of :class:`DriftMonitor`."""

    endpoint: EndpointSpec
    """The endpoint whose prediction logs are checked (model, alias, schedule override)."""
    drift: DriftSpec
    """Platform drift settings (schedule, window, thresholds, retraining limits)."""
    context: ClusterContext
    """The cluster (provider)."""
    namespace: str
    """Namespace of the drift job (the training namespace, where retraining Jobs are created)."""
    image: pulumi.Input[str]
    """Pinned runtime image (a tag or digest; an Output, such as a build's digest ref, orders the objects after it)."""
    service_account: str
    """ServiceAccount of the drift job (role ``drift``)."""
    window: pulumi.Input[str]
    """Prediction logs checked: the stable track's prefix (``serving.prediction_log_uri``)."""
    reports: pulumi.Input[str]
    """Bucket prefix the drift reports go to, one folder per run (``<prediction-logs>/drift-reports/<endpoint>``)."""
    training_cron_job: str | None = None
    """Training CronJob (same namespace) that ``mlops retrain`` starts a Job from on drift; ``None``: no retraining."""
    env: Sequence[k8s.core.v1.EnvVarArgs] = ()
    """Runtime settings (``MLOPS_*``) and secret-backed credentials."""
    resources: ResourceSpec = field(default_factory=ResourceSpec)
    """Per-pod resources."""
    drift_exit_code: int = DRIFT_EXIT_CODE
    """Exit status of ``mlops drift`` meaning the dataset drifted."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Platform tags put on every object."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources (namespace, service account, secrets) the objects wait for."""


class DriftMonitor(pulumi.ComponentResource):
    """The endpoint's drift CronJob and its spec ConfigMap. Outputs: ``cron_job``, ``schedule``."""

    cron_job: str
    schedule: str

    def __init__(self, name: str, args: DriftMonitorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:k8s:DriftMonitor", name, None, opts)
        ep, ctx = args.endpoint, args.context
        deps = list(args.depends_on)
        self.cron_job = f"drift-{ep.name}"
        self.schedule = ep.drift_schedule or args.drift.schedule
        obj_labels = {**labels(ep.name, self.cron_job, "drift", args.labels), MODEL_LABEL: ep.serving.model.name}
        config_map = spec_config_map(
            f"{name}-spec",
            f"{self.cron_job}-spec",
            args.namespace,
            args.drift,
            obj_labels,
            child_opts(self, ctx, *deps),
        )
        checker = container(
            "drift",
            args.image,
            command=["/bin/sh", "-c"],
            args=[
                pulumi.Output.all(args.window, args.reports).apply(
                    lambda where: drift_script(
                        ep,
                        where[0],
                        args.training_cron_job if args.drift.retrain else None,
                        args.drift_exit_code,
                        reports=where[1],
                    )
                )
            ],
            resources=args.resources,
            env=args.env,
            mounts=[k8s.core.v1.VolumeMountArgs(name="spec", mount_path=SPEC_DIR, read_only=True)],
        )
        job_spec = k8s.batch.v1.JobSpecArgs(
            backoff_limit=1,
            active_deadline_seconds=3600,
            ttl_seconds_after_finished=86400,
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    labels=obj_labels,
                    annotations={"pulumi-mlops.io/spec-sha256": spec_checksum(args.drift)},
                ),
                spec=pod_spec(
                    [checker],
                    service_account=args.service_account,
                    volumes=[spec_volume(f"{self.cron_job}-spec")],
                    automount_token=bool(args.training_cron_job and args.drift.retrain),
                    restart_policy="Never",
                ),
            ),
        )
        cron_job(
            f"{name}-cronjob",
            self.cron_job,
            args.namespace,
            obj_labels,
            self.schedule,
            job_spec,
            child_opts(self, ctx, config_map, *deps),
        )
        self.register_outputs({"cron_job": self.cron_job, "schedule": self.schedule})


@dataclass
class RetrainTriggerArgs:
    """Inputs of :class:`RetrainTrigger`."""

    context: ClusterContext
    """The cluster (provider)."""
    namespace: str
    """Training namespace (where the training CronJobs live and retraining Jobs are created)."""
    service_account: str
    """The drift ServiceAccount granted the permission."""
    service_account_namespace: str
    """Namespace of that ServiceAccount."""
    cron_jobs: Sequence[str]
    """Training CronJobs the trigger may read (their job templates are copied)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Platform tags put on both objects."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources (namespace, service account) the objects wait for."""


class RetrainTrigger(pulumi.ComponentResource):
    """Role + RoleBinding: create/get Jobs and get the named training CronJobs, nothing more."""

    role: str

    def __init__(self, name: str, args: RetrainTriggerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:k8s:RetrainTrigger", name, None, opts)
        ctx, deps = args.context, list(args.depends_on)
        self.role = "retrain-trigger"
        obj_labels = labels("retrain-trigger", args.namespace, "drift", args.labels)
        role = k8s.rbac.v1.Role(
            f"{name}-role",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=self.role, namespace=args.namespace, labels=obj_labels),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(api_groups=["batch"], resources=["jobs"], verbs=["create", "get"]),
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=["batch"], resources=["cronjobs"], verbs=["get"], resource_names=sorted(args.cron_jobs)
                ),
            ],
            opts=child_opts(self, ctx, *deps),
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-binding",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=self.role, namespace=args.namespace, labels=obj_labels),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name=self.role),
            subjects=[
                k8s.rbac.v1.SubjectArgs(
                    kind="ServiceAccount", name=args.service_account, namespace=args.service_account_namespace
                )
            ],
            opts=child_opts(self, ctx, role, *deps),
        )
        self.register_outputs({"role": self.role})
