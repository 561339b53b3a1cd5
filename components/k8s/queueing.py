"""Kueue with a ProvisioningRequest admission check: training Jobs on a queued GPU pool start all at once.

A Job labelled with the training namespace's LocalQueue is created suspended; Kueue reserves quota for it in the
ClusterQueue (one ResourceFlavor per queued pool, selecting the pool's nodes), then the ProvisioningRequest
admission check asks the cluster autoscaler for every node the Job's pods need (GKE: Dynamic Workload Scheduler,
``queued-provisioning.gke.io``) and admits the Job, which then starts, once they are all there. The Kueue chart
(its CRDs in its templates) is pinned; the controller runs on the system nodes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from .context import ClusterContext, JobQueueing
from .workload import GPU_RESOURCE, child_opts

__all__ = [
    "ADMISSION_CHECK",
    "KUEUE_API_VERSION",
    "KUEUE_CHART",
    "KUEUE_IMAGE",
    "KUEUE_NAMESPACE",
    "KUEUE_VERSION",
    "QUEUE_LABEL",
    "TrainingQueue",
    "TrainingQueueArgs",
]

KUEUE_VERSION = "0.19.2"
"""Pinned Kueue release (chart and controller)."""
KUEUE_CHART = "oci://registry.k8s.io/kueue/charts/kueue"
"""Kueue's Helm chart (kubernetes-sigs/kueue ``charts/kueue``; its CRDs are templates of the chart)."""
KUEUE_IMAGE = "registry.k8s.io/kueue/kueue"
"""Controller image of the release (the chart in the repository names a staging image; releases pin this one)."""
KUEUE_NAMESPACE = "kueue-system"
"""Namespace of the controller."""
KUEUE_API_VERSION = "kueue.x-k8s.io/v1beta2"
"""Storage version of Kueue's APIs in 0.19."""
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
"""Job label naming its LocalQueue; Kueue suspends and admits Jobs that carry it."""
ADMISSION_CHECK = "dws-provisioning"
"""Name of the ProvisioningRequest AdmissionCheck (and of its ProvisioningRequestConfig)."""


@dataclass
class TrainingQueueArgs:
    """Inputs of :class:`TrainingQueue`."""

    context: ClusterContext
    """The cluster (provider, GPU pool label)."""
    queueing: JobQueueing
    """The queued pools and the ProvisioningRequest class."""
    namespace: str
    """Namespace of the training Jobs (where the LocalQueue lives)."""
    queue_name: str = "training"
    """Name of the LocalQueue (and of the ClusterQueue)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels of every object."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources the objects wait for (the training namespace)."""


class TrainingQueue(pulumi.ComponentResource):
    """The Kueue release, one ResourceFlavor per queued pool, the ProvisioningRequestConfig and AdmissionCheck, the
    ClusterQueue and the training namespace's LocalQueue.

    Outputs: ``queue_name`` (the value of ``kueue.x-k8s.io/queue-name``), ``ready`` (what queued Jobs wait for).
    """

    queue_name: str
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: TrainingQueueArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:k8s:TrainingQueue", name, None, opts)
        ctx, queueing = args.context, args.queueing
        labels = dict(args.labels)
        release = k8s.helm.v3.Release(
            f"{name}-kueue",
            name="kueue",
            chart=KUEUE_CHART,
            version=KUEUE_VERSION,
            namespace=KUEUE_NAMESPACE,
            create_namespace=True,
            atomic=True,
            values={
                "controllerManager": {
                    "manager": {
                        "image": {"repository": KUEUE_IMAGE, "tag": f"v{KUEUE_VERSION}", "pullPolicy": "IfNotPresent"}
                    },
                    "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
                },
                "enablePrometheus": False,
            },
            opts=child_opts(self, ctx),
        )

        def custom(
            resource: str, kind: str, object_name: str, spec: dict[str, object]
        ) -> k8s.apiextensions.CustomResource:
            return k8s.apiextensions.CustomResource(
                f"{name}-{resource}",
                api_version=KUEUE_API_VERSION,
                kind=kind,
                metadata=k8s.meta.v1.ObjectMetaArgs(name=object_name, labels=labels),
                spec=spec,
                opts=child_opts(self, ctx, release),
            )

        flavors = [
            custom(
                f"flavor-{pool.pool}",
                "ResourceFlavor",
                f"gpu-{pool.pool}",
                {"nodeLabels": {ctx.gpu.pool_label: pool.pool}},
            )
            for pool in queueing.pools
        ]
        config = custom(
            "provisioning-config",
            "ProvisioningRequestConfig",
            ADMISSION_CHECK,
            {
                "provisioningClassName": queueing.provisioning_class,
                "managedResources": [GPU_RESOURCE],
                "parameters": {"maxRunDurationSeconds": str(queueing.max_run_seconds)},
                "podSetMergePolicy": "IdenticalWorkloadSchedulingRequirements",
                "retryStrategy": {"backoffLimitCount": 3, "backoffBaseSeconds": 60, "backoffMaxSeconds": 1800},
            },
        )
        check = custom(
            "admission-check",
            "AdmissionCheck",
            ADMISSION_CHECK,
            {
                "controllerName": "kueue.x-k8s.io/provisioning-request",
                "parameters": {
                    "apiGroup": "kueue.x-k8s.io",
                    "kind": "ProvisioningRequestConfig",
                    "name": ADMISSION_CHECK,
                },
            },
        )
        cluster_queue = k8s.apiextensions.CustomResource(
            f"{name}-cluster-queue",
            api_version=KUEUE_API_VERSION,
            kind="ClusterQueue",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.queue_name, labels=labels),
            spec={
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": args.namespace}},
                "queueingStrategy": "BestEffortFIFO",
                "resourceGroups": [
                    {
                        "coveredResources": ["cpu", "memory", GPU_RESOURCE],
                        "flavors": [
                            {
                                "name": f"gpu-{pool.pool}",
                                "resources": [
                                    {"name": "cpu", "nominalQuota": pool.cpu},
                                    {"name": "memory", "nominalQuota": pool.memory},
                                    {"name": GPU_RESOURCE, "nominalQuota": pool.gpus},
                                ],
                            }
                            for pool in queueing.pools
                        ],
                    }
                ],
                "admissionChecksStrategy": {"admissionChecks": [{"name": ADMISSION_CHECK}]},
            },
            opts=child_opts(self, ctx, release, *flavors, config, check),
        )
        local_queue = k8s.apiextensions.CustomResource(
            f"{name}-local-queue",
            api_version=KUEUE_API_VERSION,
            kind="LocalQueue",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.queue_name, namespace=args.namespace, labels=labels),
            spec={"clusterQueue": args.queue_name},
            opts=child_opts(self, ctx, release, cluster_queue, *args.depends_on),
        )
        self.queue_name = args.queue_name
        self.ready = [local_queue]
        self.register_outputs({"queue_name": self.queue_name})
