"""What a cloud's cluster hands to the cloud-neutral Kubernetes components.

The AWS and GCP platform components build one :class:`ClusterContext` each; the Kubernetes
components take it and never look at the cloud again. Another program can build one by hand
for any cluster (see ``examples/``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

__all__ = [
    "EFA_RESOURCE",
    "WORKLOAD_ROLES",
    "ClusterContext",
    "DatabaseRef",
    "DatasetsVolume",
    "EfaDevices",
    "GpuScheduling",
    "JobQueueing",
    "QueuedPool",
    "RedisRef",
]

EFA_RESOURCE = "vpc.amazonaws.com/efa"
"""Extended resource of Elastic Fabric Adapter interfaces (the EFA device plugin advertises it; Karpenter attaches
interfaces to nodes whose pods request it)."""

WORKLOAD_ROLES = ("trainer", "server", "drift", "mlflow", "feast")
"""Kubernetes service accounts that get a cloud identity (one least-privilege role each)."""


@dataclass(frozen=True)
class EfaDevices:
    """The Elastic Fabric Adapter interfaces of one GPU pool's nodes (AWS), for multi-node training."""

    interfaces: int
    """EFA interfaces a node of the pool has (``vpc.amazonaws.com/efa`` the device plugin advertises)."""
    gpus: int
    """GPUs of a node of the pool: a pod holding part of them requests the same share of the interfaces."""
    rdma: bool = False
    """The instance type does GPUDirect RDMA over EFA (``FI_EFA_USE_DEVICE_RDMA=1``)."""


@dataclass
class GpuScheduling:
    """How pods land on a cloud's GPU nodes."""

    taint_key: str = "nvidia.com/gpu"
    """Key of the taint every GPU node carries."""
    taint_value: str = "true"
    """Value of that taint (AWS ``true``, GKE ``present``)."""
    taint_effect: str = "NoSchedule"
    """Effect of that taint."""
    pool_label: str = "pulumi-mlops.io/gpu-pool"
    """Node label whose value is the ``GpuPoolSpec.name`` of the node's pool."""
    pool_taints: Mapping[str, Sequence[tuple[str, str, str]]] = field(default_factory=dict)
    """Taints (key, value, Kubernetes effect) each pool's nodes carry besides the GPU taint
    (``GpuPoolSpec.taints``), by pool name; workloads pinned to a pool tolerate them."""
    pool_selectors: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Node labels, besides the pool label, that workloads pinned to a pool select, by pool name (GKE: the pool's
    ComputeClass, and the GPU-sharing labels of a pool whose GPUs are shared)."""
    pool_efa: Mapping[str, EfaDevices] = field(default_factory=dict)
    """EFA interfaces of the pools whose nodes have them (AWS ``GpuPoolSpec.efa``), by pool name; the pods of
    multi-node training jobs on those pools request them and configure NCCL's libfabric transport for EFA."""


@dataclass
class DatabaseRef:
    """The managed PostgreSQL behind MLflow."""

    host: pulumi.Input[str]
    """Private address of the database."""
    port: pulumi.Input[int] = 5432
    """Port."""
    database: str = "mlflow"
    """Database name."""
    username: str = "mlflow"
    """User name."""
    password: pulumi.Input[str] = ""
    """Password (a secret Output)."""


@dataclass
class RedisRef:
    """The managed Redis behind the Feast online store."""

    host: pulumi.Input[str]
    """Private address."""
    port: pulumi.Input[int] = 6379
    """Port."""
    tls: bool = True
    """Clients must use TLS."""
    auth_token: pulumi.Input[str] = ""
    """AUTH token (a secret Output)."""


@dataclass
class DatasetsVolume:
    """A PersistentVolume the cloud layer provisioned statically over the datasets bucket, mounted read-only."""

    volume_name: str
    """Name of the PersistentVolume (``storageClassName: ""``, reserved for ``claim_name`` by its ``claimRef``)."""
    claim_name: str
    """Name of the PersistentVolumeClaim that binds it, in the training namespace."""
    mount_path: str = "/mnt/datasets"
    """Where training containers see the bucket."""
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """What the claim waits for: the volume and the CSI driver that mounts it."""


@dataclass(frozen=True)
class QueuedPool:
    """One GPU pool whose Jobs wait in Kueue for a ProvisioningRequest, with what the pool may hold at most."""

    pool: str
    """``GpuPoolSpec.name``."""
    cpu: str
    """CPU quota (all the pool's nodes at its maximum)."""
    memory: str
    """Memory quota."""
    gpus: int
    """GPU quota."""


@dataclass
class JobQueueing:
    """Kueue with a ProvisioningRequest admission check: a Job on a queued pool is admitted once the cluster
    autoscaler has provisioned every node it needs at once."""

    pools: Sequence[QueuedPool]
    """The queued pools (one Kueue ResourceFlavor each)."""
    provisioning_class: str
    """ProvisioningRequest class (GKE: ``queued-provisioning.gke.io``, Dynamic Workload Scheduler)."""
    max_run_seconds: int
    """How long provisioned nodes are asked for (``maxRunDurationSeconds``): the longest deadline of a queued Job."""


@dataclass
class ClusterContext:
    """Everything the Kubernetes components need from the cloud underneath."""

    provider: k8s.Provider
    """Kubernetes provider bound to the cluster."""
    cloud: str
    """``aws`` or ``gcp`` (selects nothing but annotations' meaning and the default gateway class)."""
    bucket_uris: Mapping[str, pulumi.Input[str]]
    """``s3://`` or ``gs://`` URI per bucket role: ``models``, ``datasets``, ``prediction-logs``."""
    service_account_annotations: Mapping[str, Mapping[str, pulumi.Input[str]]] = field(default_factory=dict)
    """Annotations per workload role (GKE ``iam.gke.io/gcp-service-account``, IRSA ``eks.amazonaws.com/role-arn``);
    empty for EKS Pod Identity, which binds by namespace and name."""
    tracking_db: DatabaseRef | None = None
    """MLflow backend; ``None`` runs MLflow on its embedded sqlite (development clusters only)."""
    redis: RedisRef | None = None
    """Feast online store; ``None`` disables the feature server."""
    registry_url: pulumi.Input[str] = ""
    """Container registry prefix for the platform's images."""
    images: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Images the stack built and pushed (``PlatformImages.refs``: ``<repository>@<digest>``) by name of
    ``BUILT_IMAGES`` (``runtime``, ``runtime-cuda``, ``mlflow``); workloads run them unless ``spec.images``
    names an image. Outputs of the build, so every workload waits for the push."""
    gateway_class: str = ""
    """Gateway API class name for the platform's Gateway."""
    gateway_depends_on: list[pulumi.Resource] = field(default_factory=list)
    """Resources the Gateway waits for besides ``depends_on``: the class's controller install, GatewayClass and
    parameters (``EnvoyGateway.ready``); empty when the cluster serves the class itself (GKE)."""
    gateway_namespaces: list[str] = field(default_factory=list)
    """Namespaces the Gateway's in-cluster data plane runs in (Envoy Gateway's proxies); serving pods accept
    traffic from them."""
    gpu: GpuScheduling = field(default_factory=GpuScheduling)
    """GPU taint and pool label of this cloud."""
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """Resources the Kubernetes objects must wait for (node groups, add-ons)."""
    gateway_source_cidrs: list[str] = field(default_factory=list)
    """CIDRs the Gateway's data plane reaches serving pods from (load balancer proxies, proxy-only subnet);
    empty allows the VPC range ``PlatformSpec.network.cidr``. On GCP the load balancers' health-check ranges are
    always allowed as well."""
    gateway_port: int = 80
    """Port of the Gateway's listener, which is the port of the proxies' load-balancer Service (AWS: 443 when the
    NLB terminates TLS on it)."""
    gateway_hostname: str | None = None
    """Hostname the Gateway's listener answers for; ``None`` accepts any host."""
    datasets_volume: DatasetsVolume | None = None
    """The datasets bucket as a read-only volume for training pods (AWS ``buckets.mount_datasets``); ``None``: none."""
    gateway_tls_options: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Implementation-specific TLS options of the Gateway's listener, which then speaks HTTPS and terminates TLS
    (GKE: ``networking.gke.io/cert-manager-certs``, the Certificate Manager certificates); empty: plain HTTP."""
    backend_health_checks: bool = False
    """The Gateway's load balancer probes backends as a policy object per Service says (GKE ``HealthCheckPolicy``):
    each serving Service gets one for the server's readiness path."""
    job_queueing: JobQueueing | None = None
    """GPU pools whose training Jobs Kueue admits only once their nodes are provisioned (GKE DWS queued
    provisioning); ``None``: Jobs start as they are created."""
