"""``PlatformSpec``: one environment of the platform, on AWS or GCP, described once.

A stack file holds it under the config key ``pulumi-mlops:platform``. Keys a stack leaves out
take the defaults of its profile (:mod:`pulumi_mlops.spec.profiles`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from pulumi_mlops.runtime.config import (
    BUILTIN_ESTIMATORS,
    ESTIMATOR_IMPORT_PATH,
    BatchSpec,
    DriftSpec,
    ModelRef,
    ResourceSpec,
    ServingSpec,
    StrictModel,
    TrainingSpec,
    check_cron,
)

from .accelerators import check_accelerator
from .ci import CiSpec
from .gke import GkeIngressSpec, GkePoolSpec, gke_problems
from .ingress import IngressSpec, ingress_problems
from .instances import DEFAULT_SYSTEM_TYPE, fit_problem
from .karpenter import KarpenterSpec, karpenter_problems
from .profiles import Profile, apply_profile_defaults

__all__ = [
    "BUILT_IMAGES",
    "IMAGE_REPOSITORIES",
    "SUPPORTED_KUBERNETES_VERSIONS",
    "AlertReceiver",
    "BatchJobSpec",
    "BatchRunSpec",
    "BucketPath",
    "BucketRole",
    "BucketsSpec",
    "CanarySpec",
    "ClusterSpec",
    "CostSpec",
    "EndpointSpec",
    "ExistingCluster",
    "FeatureStoreSpec",
    "GpuPoolSpec",
    "ImagesSpec",
    "IngressSpec",
    "KarpenterSpec",
    "KubernetesVersion",
    "MonitoringSpec",
    "NetworkSpec",
    "PlatformSpec",
    "RegistrySpec",
    "ShadowSpec",
    "TagsSpec",
    "Taint",
    "TrackingSpec",
    "TrainingJobSpec",
]

IMAGE_REPOSITORIES = ("runtime", "mlflow")
"""Repositories of the images ``pulumi up`` builds (``RegistrySpec.repositories`` default)."""
BUILT_IMAGES: dict[str, str] = {"runtime": "runtime", "runtime-cuda": "runtime", "mlflow": "mlflow"}
"""Every image the stack can build, by name, with the repository it is pushed to."""

_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
_DOCUMENTATION_RANGES = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)

KubernetesVersion = Literal["1.34", "1.35"]
"""Kubernetes minor versions the platform supports: in standard support on EKS and GKE, with add-on and
autoscaler versions pinned for each (components/aws tables; tests check every table has every version)."""
SUPPORTED_KUBERNETES_VERSIONS: tuple[str, ...] = get_args(KubernetesVersion)


class NetworkSpec(StrictModel):
    """The VPC the cluster lives in (ignored when attaching to an existing cluster)."""

    cidr: str = "10.0.0.0/16"
    """VPC (AWS) or primary subnet (GCP) range."""
    az_count: int = Field(default=2, ge=2, le=3)
    """Availability zones spanned by the subnets (AWS); prod defaults to 3."""
    nat: Literal["single", "per_az"] = "single"
    """One NAT gateway for the VPC, or one per zone (prod)."""
    pods_cidr: str = "10.64.0.0/14"
    """GKE secondary range for pods."""
    services_cidr: str = "10.68.0.0/20"
    """GKE secondary range for services."""
    master_cidr: str = "172.16.0.32/28"
    """GKE control-plane range of a private cluster (a /28)."""
    proxy_cidr: str = "10.72.0.0/23"
    """GCP proxy-only subnet for regional managed Gateways."""

    @field_validator("cidr", "pods_cidr", "services_cidr", "master_cidr", "proxy_cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        try:
            net = ipaddress.ip_network(v, strict=True)
        except ValueError:
            raise ValueError(f"{v!r} is not a network in CIDR form like '10.0.0.0/16'") from None
        if not net.is_private:
            raise ValueError(f"{v} is not a private range: use 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16")
        return v


class ExistingCluster(StrictModel):
    """Attach to a cluster created elsewhere instead of creating one."""

    name: str
    """Cluster name as the cloud knows it."""
    kubeconfig_secret: str = "kubeconfig"
    """Stack config key (a ``secure:`` value) that holds the cluster's kubeconfig."""


class ClusterSpec(StrictModel):
    """The Kubernetes cluster (EKS or GKE Standard)."""

    kubernetes_version: KubernetesVersion = "1.35"
    """Kubernetes minor version, quoted ('1.35'); add-ons, autoscalers and schema checks follow it.
    EKS and GKE upgrade a live cluster one minor version at a time."""
    support_type: Literal["STANDARD", "EXTENDED"] = "STANDARD"
    """EKS upgrade policy at the end of standard support: STANDARD upgrades the control plane to the next
    minor version and is never billed for extended support; EXTENDED keeps the version up to 12 more months
    at an extra per-cluster-hour charge. GKE follows ``release_channel`` instead."""
    existing: ExistingCluster | None = None
    """Attach to an existing cluster; then network and cluster are not created."""
    public_endpoint: bool = True
    """Public API endpoint restricted to ``api_allowed_cidrs``, with private access for nodes kept on.
    AWS: how the machine running ``pulumi up`` reaches a cluster this program creates (a private-only
    endpoint is unreachable before the VPC exists). GCP: the IP endpoint; prod keeps it private and
    deployers use the DNS-based endpoint (``dns_endpoint``)."""
    api_allowed_cidrs: list[str] = Field(default_factory=list)
    """Egress CIDRs of the machines that run ``pulumi up`` and ``kubectl`` (CI runners' NAT addresses,
    VPN egress), allowed on a public IP endpoint; never 0.0.0.0/0 or a documentation range."""
    dns_endpoint: bool = True
    """GKE: enable the DNS-based control-plane endpoint (IAM-authorized, reachable from anywhere) and
    point the kubeconfig at it, so no IP allow-list is needed for deployers. Ignored on AWS."""
    admin_principals: list[str] = Field(default_factory=list)
    """IAM role ARNs (AWS) or Google groups/users (GCP) given cluster-admin access."""
    system_instance_type: str = ""
    """Instance or machine type of the CPU system pool; empty picks the cloud's default."""
    system_min_nodes: int = Field(default=1, ge=1, le=100)
    """Minimum nodes of the system pool."""
    system_max_nodes: int = Field(default=3, ge=1, le=100)
    """Maximum nodes of the system pool."""
    release_channel: Literal["RAPID", "REGULAR", "STABLE"] = "REGULAR"
    """GKE release channel."""
    workload_identity: Literal["pod_identity", "irsa"] = "pod_identity"
    """EKS: bind workload IAM roles with EKS Pod Identity or with IRSA (OIDC + service-account annotation)."""
    deletion_protection: bool = False
    """Refuse cluster deletion (staging and prod)."""

    @field_validator("kubernetes_version", mode="before")
    @classmethod
    def _supported_version(cls, v: Any) -> Any:
        supported = ", ".join(SUPPORTED_KUBERNETES_VERSIONS)
        if not isinstance(v, str):
            raise ValueError(f"quote the version ({v!r} is not a string): one of {supported}")
        if v not in SUPPORTED_KUBERNETES_VERSIONS:
            raise ValueError(
                f"Kubernetes {v} is not supported: use one of {supported} (in standard support on EKS and GKE, "
                "with pinned add-ons and autoscalers)"
            )
        return v

    @field_validator("api_allowed_cidrs")
    @classmethod
    def _no_open_world(cls, v: list[str]) -> list[str]:
        for cidr in v:
            try:
                net = ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                raise ValueError(f"{cidr!r} is not a network in CIDR form") from None
            if net.prefixlen == 0:
                raise ValueError(
                    "0.0.0.0/0 would expose the Kubernetes API to the internet: list your office/VPN CIDRs"
                )
            if any(net.network_address in doc and net.broadcast_address in doc for doc in _DOCUMENTATION_RANGES):
                raise ValueError(
                    f"{cidr} is a documentation range (RFC 5737/3849) that admits nobody: list the egress CIDRs "
                    "of the machines that run `pulumi up`"
                )
        return v

    @model_validator(mode="after")
    def _bounds(self) -> ClusterSpec:
        if self.system_min_nodes > self.system_max_nodes:
            raise ValueError(
                f"system_min_nodes ({self.system_min_nodes}) must not exceed system_max_nodes ({self.system_max_nodes})"
            )
        return self


class Taint(StrictModel):
    """A node taint."""

    key: str
    """Taint key."""
    value: str = ""
    """Taint value."""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"
    """Kubernetes taint effect."""


class GpuPoolSpec(StrictModel):
    """One autoscaled pool of GPU nodes."""

    name: str = Field(pattern=_NAME, max_length=30)
    """Pool name (lowercase, '-'); used in node labels and resource names."""
    accelerator: str
    """Accelerator as the cloud names it: AWS nvidia-t4|a10g|l4|l40s|a100|h100, GCP nvidia-tesla-t4|l4|..."""
    gpus_per_node: int = Field(default=1, ge=1, le=16)
    """GPUs attached to each node; must match the instance type."""
    instance_type: str
    """EC2 instance type (g5.xlarge) or GCE machine type (g2-standard-8)."""
    min_nodes: int = Field(default=0, ge=0, le=1000)
    """Minimum nodes; 0 lets the pool scale to zero. Managed node groups and GKE node pools only: under Karpenter
    nodes follow the pods (the endpoints' ``min_replicas`` hold the floor), so it must stay 0."""
    max_nodes: int = Field(default=2, ge=1, le=1000)
    """Maximum nodes."""
    spot: bool = False
    """Spot/preemptible capacity (dev and staging default to spot)."""
    on_demand_fallback: bool = True
    """Karpenter, spot pools: also allow on-demand capacity, which Karpenter launches only when no spot offering
    fits. Dev defaults to false (dev GPU pools stay on spot); pools with ``spot: false`` are on-demand only."""
    instance_families: list[str] = Field(default_factory=list)
    """Karpenter: EC2 instance families the NodePool launches (``g6``, ``gr6``); empty takes every family that
    carries ``accelerator``. Sizes vary within them: any size with ``gpus_per_node`` GPUs and at least the vCPUs and
    memory of ``instance_type``, so what fits ``instance_type`` fits every node of the pool."""
    single_zone: bool = False
    """Karpenter: launch every node of the pool in one availability zone (the first private subnet's), so the NCCL
    traffic of multi-node training stays inside one zone; pools that serve keep spreading over the zones."""
    efa: bool = False
    """Karpenter: nodes that can attach Elastic Fabric Adapter interfaces for NCCL: a security group admitting all
    traffic from itself, a cluster placement group for the pool and the EFA device plugin. Needs ``single_zone`` and
    an ``instance_type`` with EFA; Karpenter attaches the interfaces to nodes whose pods request
    ``vpc.amazonaws.com/efa``."""
    disk_gb: int = Field(default=100, ge=20, le=16000)
    """Node boot disk size in GiB."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Extra node labels."""
    taints: list[Taint] = Field(default_factory=list)
    """Extra taints (the GPU taint is always added)."""
    ami_type: Literal["AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"] = "AL2023_x86_64_NVIDIA"
    """EKS node image (AWS only): Amazon Linux 2023 or Bottlerocket, NVIDIA variant."""
    gpu_driver_version: Literal["LATEST", "DEFAULT", "INSTALLATION_DISABLED"] = "LATEST"
    """GKE-managed NVIDIA driver version (GCP)."""
    gke: GkePoolSpec = Field(default_factory=GkePoolSpec)
    """GKE: zones, the order of capacity types GKE tries, DWS queued provisioning, GPU sharing (GCP only)."""

    @field_validator("instance_families")
    @classmethod
    def _families(cls, v: list[str]) -> list[str]:
        for family in v:
            if not re.fullmatch(r"[a-z][a-z0-9-]*[0-9][a-z0-9-]*", family):
                raise ValueError(f"{family!r} is not an EC2 instance family: write its name without a size ('g6')")
        if len(set(v)) != len(v):
            raise ValueError("list each instance family once")
        return v

    @model_validator(mode="after")
    def _bounds(self) -> GpuPoolSpec:
        if self.min_nodes > self.max_nodes:
            raise ValueError(f"min_nodes ({self.min_nodes}) must not exceed max_nodes ({self.max_nodes})")
        return self

    @property
    def max_gpus(self) -> int:
        return self.max_nodes * self.gpus_per_node


class BucketsSpec(StrictModel):
    """The model registry, datasets and prediction-log buckets."""

    force_destroy: bool = False
    """Allow deleting non-empty buckets on destroy (dev only)."""
    noncurrent_version_days: int = Field(default=30, ge=1)
    """Days before noncurrent object versions expire."""
    log_transition_days: int = Field(default=30, ge=1)
    """Days before prediction logs move to infrequent-access / nearline storage."""
    log_expiration_days: int = Field(default=365, ge=1)
    """Days before prediction logs are deleted."""
    cmek: bool = True
    """Encrypt with a customer-managed key (AWS: always a KMS key; GCP: Cloud KMS key when true)."""
    external: list[str] = Field(default_factory=list)
    """Buckets created and granted outside this stack that workloads may read or write (names, no scheme);
    batch jobs may name them in plain s3:// or gs:// URIs. The platform's own buckets are named by role."""
    mount_datasets: bool = False
    """AWS: also mount the datasets bucket read-only in training pods (``/mnt/datasets``) through Mountpoint for
    Amazon S3 (its CSI driver as an EKS add-on, a statically provisioned volume). Off by default: the runtime reads
    ``s3://`` URIs itself; turn it on for training code that reads files."""

    @field_validator("external")
    @classmethod
    def _bucket_names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not _BUCKET_NAME.match(name):
                raise ValueError(
                    f"{name!r} is not a bucket name: 3-63 lowercase letters, digits, '-', '.' or '_', "
                    "starting and ending with a letter or digit (no s3:// or gs://)"
                )
        return v

    @model_validator(mode="after")
    def _order(self) -> BucketsSpec:
        if self.log_expiration_days <= self.log_transition_days:
            raise ValueError(
                f"log_expiration_days ({self.log_expiration_days}) must be after "
                f"log_transition_days ({self.log_transition_days})"
            )
        return self


class RegistrySpec(StrictModel):
    """The stack's own container registry: the images ``pulumi up`` builds are pushed here."""

    repositories: list[str] = Field(default_factory=lambda: list(IMAGE_REPOSITORIES))
    """Repository names: one ECR repository each on AWS (``<name>-<environment>/<repository>``); on GCP image names
    in the stack's one Artifact Registry repository. The built runtime image (both variants) goes to ``runtime``,
    the built MLflow image to ``mlflow``."""
    keep_untagged: int = Field(default=10, ge=1)
    """Untagged images kept; older ones are deleted."""
    untagged_days: int = Field(default=14, ge=1)
    """GCP: delete untagged images after this many days."""


class TrackingSpec(StrictModel):
    """MLflow tracking server and model registry, and its PostgreSQL backend."""

    db_instance_class: str = "db.t4g.micro"
    """RDS instance class (AWS)."""
    db_tier: str = "db-custom-1-3840"
    """Cloud SQL tier (GCP)."""
    db_storage_gb: int = Field(default=20, ge=20, le=65536)
    """Allocated storage."""
    postgres_version: str = "16"
    """PostgreSQL major version."""
    high_availability: bool = False
    """Multi-AZ (RDS) or regional (Cloud SQL) database."""
    deletion_protection: bool = False
    """Refuse database deletion (prod)."""
    backup_retention_days: int = Field(default=1, ge=0, le=35)
    """Automated backup retention."""
    replicas: int = Field(default=1, ge=1, le=10)
    """MLflow server replicas."""


class FeatureStoreSpec(StrictModel):
    """Feast: Redis online store, parquet offline store, feature server."""

    enabled: bool = True
    """Create the online store and feature server."""
    redis_node_type: str = "cache.t4g.micro"
    """ElastiCache node type (AWS)."""
    redis_memory_gb: int = Field(default=1, ge=1, le=300)
    """Memorystore capacity (GCP)."""
    redis_replicas: int = Field(default=0, ge=0, le=5)
    """Replicas: ElastiCache read replicas (AWS); on GCP > 0 selects the STANDARD_HA tier with that many replicas
    (Memorystore's ``replica_count``; more than 1 switches read replicas on, which needs 5 GB or more)."""
    server_replicas: int = Field(default=1, ge=1, le=20)
    """Feature server replicas."""


class AlertReceiver(StrictModel):
    """An Alertmanager receiver; its URL is a secret in stack config."""

    name: str = Field(pattern=_NAME)
    """Receiver name."""
    kind: Literal["slack", "webhook", "pagerduty"]
    """Receiver type."""
    url_secret: str
    """Stack config key of the ``secure:`` URL or routing key."""
    severity: Literal["critical", "warning", "all"] = "all"
    """Alerts routed here."""


class MonitoringSpec(StrictModel):
    """Prometheus, Grafana and Alertmanager."""

    retention_days: int = Field(default=3, ge=1, le=365)
    """Prometheus retention."""
    storage_gb: int = Field(default=20, ge=5)
    """Prometheus volume size."""
    chart_version: str = "77.6.2"
    """kube-prometheus-stack chart version."""
    receivers: list[AlertReceiver] = Field(default_factory=list)
    """Alert receivers."""
    p99_latency_ms: float = Field(default=250.0, gt=0)
    """Serving p99 latency alert threshold."""
    error_rate: float = Field(default=0.01, gt=0, lt=1)
    """Serving 5xx share alert threshold."""


class CostSpec(StrictModel):
    """GPU guardrails checked in the spec and by the policy pack."""

    max_gpus_per_pool: int = Field(default=8, ge=1)
    """Largest GPU count one pool may reach at max nodes."""
    max_gpus_per_stack: int = Field(default=16, ge=1)
    """Largest GPU count all pools together may reach."""


class TagsSpec(StrictModel):
    """Tags (AWS) / labels (GCP, Kubernetes) put on every resource that takes them."""

    owner: str = Field(min_length=1, pattern=r"^[a-z0-9_.@-]+$")
    """Owning team or person (required)."""
    cost_center: str = Field(min_length=1, pattern=r"^[a-z0-9_-]+$")
    """Cost center (required)."""
    extra: dict[str, str] = Field(default_factory=dict)
    """More tags."""


class ImagesSpec(StrictModel):
    """Container images of the platform's own workloads."""

    runtime: str | None = None
    """Image running ``mlops serve|train|drift|retrain|batch-predict``. Empty: ``pulumi up`` builds
    ``docker/runtime.Dockerfile`` (and its ``cuda`` variant for the workloads that request GPUs), pushes it to the
    stack's own registry and runs it by digest. Given: that image, as is, for every runtime workload (GPU ones too:
    give one whose torch bundles CUDA); a tag or digest, never ``latest``."""
    mlflow: str | None = None
    """MLflow tracking server image with the PostgreSQL driver, S3 and GCS clients and the basic-auth extra. Empty:
    ``pulumi up`` builds ``docker/mlflow.Dockerfile`` and pushes it to the stack's own registry. Given: that image,
    as is (a tag or digest, never ``latest``); MLflow's own ``ghcr.io/mlflow/mlflow:vX`` holds core MLflow only
    and cannot start the platform's server."""
    feast: str = "quay.io/feastdev/feature-server:0.54.0"
    """Feast feature server image."""

    @field_validator("runtime", "mlflow", "feast")
    @classmethod
    def _pinned(cls, v: str | None) -> str | None:
        if v is None or "@sha256:" in v:
            return v
        name, _, tag = v.rpartition(":")
        if not name or "/" in tag or tag in ("", "latest"):
            raise ValueError(
                f"{v!r} is not pinned: give a version tag ('repo/image:1.2.3') or a digest, never 'latest'"
            )
        return v


class CanarySpec(StrictModel):
    """A canary track receiving part of the live traffic."""

    alias: str = "challenger"
    """Registry alias served by the canary track."""
    weight: int = Field(ge=1, le=99)
    """Percent of traffic sent to the canary (the stable track gets the rest)."""


class ShadowSpec(StrictModel):
    """A shadow track receiving a mirrored copy of traffic; its answers are discarded."""

    alias: str = "challenger"
    """Registry alias served by the shadow track."""
    resources: ResourceSpec | None = None
    """Per-pod resources of the shadow track; empty takes the endpoint's. Without GPUs the shadow of a GPU
    endpoint runs on the CPU nodes and holds none of its pool's GPUs (its answers are discarded)."""


class EndpointSpec(StrictModel):
    """One serving endpoint."""

    name: str = Field(pattern=_NAME, max_length=40)
    """Endpoint name (URL path and Kubernetes names)."""
    serving: ServingSpec
    """Model, batching and logging of the server process."""
    min_replicas: int = Field(default=1, ge=1, le=100)
    """HPA minimum (prod needs >= 2)."""
    max_replicas: int = Field(default=3, ge=1, le=500)
    """HPA maximum."""
    resources: ResourceSpec = Field(default_factory=ResourceSpec)
    """Per-pod resources."""
    gpu_pool: str | None = None
    """GPU pool to schedule onto (required when resources.gpus > 0)."""
    canary: CanarySpec | None = None
    """Canary track."""
    shadow: ShadowSpec | None = None
    """Shadow track."""
    drift_schedule: str | None = None
    """Override of the platform drift schedule for this endpoint."""
    auth: Literal["api-key", "none"] = "api-key"
    """Who may call the inference routes: ``api-key`` (a generated key in the Secret ``<name>-api-keys``, sent as
    ``Authorization: Bearer <key>`` or ``X-API-Key``; the server checks it, probes and metrics stay open) or
    ``none`` (anyone who reaches the endpoint; refused in prod)."""

    @model_validator(mode="after")
    def _rules(self) -> EndpointSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) must not exceed max_replicas ({self.max_replicas})")
        if self.canary and self.canary.alias == self.serving.model.alias:
            raise ValueError("canary.alias must differ from serving.model.alias (the stable track)")
        if self.drift_schedule is not None:
            check_cron(self.drift_schedule)
        return self


class TrainingJobSpec(StrictModel):
    """A scheduled (and drift-triggered) training job."""

    name: str = Field(pattern=_NAME, max_length=40)
    """Job name."""
    schedule: str = "0 3 * * 0"
    """Cron schedule."""
    training: TrainingSpec
    """What the job trains."""
    nodes: int = Field(default=1, ge=1, le=64)
    """Pods of a distributed (torchrun) job; 1 runs a plain job."""
    resources: ResourceSpec = Field(default_factory=lambda: ResourceSpec(cpu="2", memory="4Gi"))
    """Per-pod resources."""
    gpu_pool: str | None = None
    """GPU pool to schedule onto (required when resources.gpus > 0)."""
    active_deadline_seconds: int = Field(default=6 * 3600, ge=60)
    """Kill the job after this long."""
    backoff_limit: int = Field(default=2, ge=0, le=10)
    """Retries before the job fails."""
    bootstrap: bool = True
    """When an endpoint or batch job uses this job's model, also run the job once on the first ``pulumi up``
    (``train-<name>-bootstrap``, promoting its version to ``champion``); the endpoints serving the model wait
    for it. The first job of a model counts. False: no bootstrap run, and the model's endpoints are not awaited
    and answer not-ready until a version is promoted (by a scheduled run or from outside)."""

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        return check_cron(v)

    @model_validator(mode="after")
    def _estimator(self) -> TrainingJobSpec:
        estimator = self.training.estimator
        if estimator not in BUILTIN_ESTIMATORS and not ESTIMATOR_IMPORT_PATH.match(estimator):
            raise ValueError(
                f"training.estimator {estimator!r}: the job runs mlops train in the runtime image, where only the "
                f"built-in families ({', '.join(BUILTIN_ESTIMATORS)}) and import paths package.module:Class of "
                "packages installed in the image resolve; a name given to register_estimator exists only in the "
                "Python process that registered it"
            )
        if self.nodes > 1 and estimator != "mlp":
            raise ValueError(
                f"nodes {self.nodes}: only the mlp estimator trains under torchrun; estimator {estimator!r} trains "
                "in one process: set nodes to 1, or training.estimator to mlp"
            )
        workers = self.training.search_workers
        if workers > 1 and self.nodes > 1:
            raise ValueError(
                f"training.search_workers {workers} with nodes {self.nodes}: search workers are pods of one Indexed "
                "Job, each running trials on its own, and a torchrun job already spans several pods: set nodes to 1, "
                "or search_workers to 1"
            )
        return self


BucketRole = Literal["models", "datasets", "prediction-logs"]
"""The platform's own buckets, by role."""


class BucketPath(StrictModel):
    """A folder or file in one of the platform's own buckets; the stack puts that bucket's URI in front."""

    bucket: BucketRole
    """Bucket role: models, datasets or prediction-logs."""
    path: str = ""
    """Key or key prefix inside the bucket, without a leading '/' ('scoring/customers/'); empty for its root."""

    @field_validator("path")
    @classmethod
    def _relative(cls, v: str) -> str:
        if v.startswith("/") or "://" in v:
            raise ValueError(f"{v!r}: give the path inside the bucket, without a leading '/' or a scheme")
        return v

    def uri(self, bucket_uri: str) -> str:
        """``<bucket URI>/<path>``."""
        return f"{bucket_uri.rstrip('/')}/{self.path}" if self.path else bucket_uri


class BatchRunSpec(BatchSpec):
    """A batch run as a stack file writes it: ``input`` and ``output`` name a platform bucket and a path, or are
    s3:// / gs:// URIs of buckets in ``buckets.external``. The stack resolves it to the runtime's ``BatchSpec``
    with the bucket's real URI (the runtime only ever sees URIs)."""

    input: BucketPath | str  # type: ignore[assignment]  # resolved to the runtime's str by resolve()
    """Parquet/CSV file or folder: ``{bucket: datasets, path: scoring/customers/}``, or an external bucket's URI."""
    output: BucketPath | str  # type: ignore[assignment]
    """Output folder, written as ``input`` is; each run writes ``run_id=<id>/`` under it."""

    @field_validator("input", "output")
    @classmethod
    def _location(cls, v: BucketPath | str) -> BucketPath | str:  # type: ignore[override]
        if isinstance(v, BucketPath):
            return v
        if not v:
            raise ValueError("give a platform bucket and path, or an s3:// / gs:// URI")
        return BatchSpec._location(v)

    @field_validator("shards")
    @classmethod
    def _shards_on_the_job(cls, v: int) -> int:
        if v != 1:
            raise ValueError("set shards on the batch job (batch_jobs[].shards), next to its resources: it is pods")
        return v

    def resolve(self, bucket_uris: Mapping[str, str]) -> BatchSpec:
        """The runtime's spec, with each platform-bucket location turned into a URI (``bucket_uris`` by role)."""
        data = self.model_dump()
        for key in ("input", "output"):
            location = getattr(self, key)
            if isinstance(location, BucketPath):
                data[key] = location.uri(bucket_uris[location.bucket])
        return BatchSpec.model_validate(data)


class BatchJobSpec(StrictModel):
    """A scheduled batch scoring job."""

    name: str = Field(pattern=_NAME, max_length=40)
    """Job name."""
    schedule: str = "0 2 * * *"
    """Cron schedule."""
    batch: BatchRunSpec
    """Model, input, output and row checks of each run."""
    resources: ResourceSpec = Field(default_factory=lambda: ResourceSpec(cpu="1", memory="2Gi"))
    """Pod resources (memory bounds the chunk size that fits)."""
    gpu_pool: str | None = None
    """GPU pool to schedule onto (required when resources.gpus > 0)."""
    active_deadline_seconds: int = Field(default=4 * 3600, ge=60)
    """Kill the job after this long."""
    backoff_limit: int = Field(default=2, ge=0, le=10)
    """Retries before the job fails (a retry resumes from the last completed chunk); with ``shards``, retries of
    each shard (per index) where the cluster's Kubernetes version supports it."""
    shards: int = Field(default=1, ge=1, le=256)
    """Pods the run is split into (an Indexed Job); each scores its own part of the input with these
    ``resources``, and the run completes when the last shard does."""

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        return check_cron(v)

    def resolve(self, bucket_uris: Mapping[str, str]) -> BatchSpec:
        """The runtime's spec of each run (:meth:`BatchRunSpec.resolve`), with the job's ``shards``."""
        return BatchSpec.model_validate({**self.batch.resolve(bucket_uris).model_dump(), "shards": self.shards})


def _no_schema_default(schema: dict[str, Any]) -> None:
    """The field's default depends on other fields (its docstring says how): the JSON schema states none."""
    schema.pop("default", None)


class PlatformSpec(StrictModel):
    """One environment of the MLOps platform."""

    name: str = Field(default="mlops", pattern=_NAME, max_length=20)
    """Prefix of every resource name."""
    cloud: Literal["aws", "gcp"]
    """Cloud provider."""
    region: str
    """Cloud region (us-east-1, europe-west4)."""
    gcp_project: str | None = Field(default=None, pattern=r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
    """GCP project id (required on GCP)."""
    environment: str = Field(pattern=_NAME, max_length=20)
    """Environment name (dev, staging, prod, gcp-dev ...)."""
    profile: Profile = "dev"
    """Profile whose defaults fill every key left out."""
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    """Network."""
    cluster: ClusterSpec = Field(default_factory=ClusterSpec)
    """Kubernetes cluster."""
    autoscaler: Literal["cluster-autoscaler", "karpenter"] = Field(
        default="cluster-autoscaler", json_schema_extra=_no_schema_default
    )
    """Node autoscaling; left out, karpenter on AWS (cluster-autoscaler when ``cluster.existing`` attaches to a
    cluster whose subnets this stack does not tag for Karpenter's discovery) and cluster-autoscaler on GCP.
    karpenter (AWS only): Karpenter provisions every node beyond the system node group: a NodePool per GPU pool and a
    CPU NodePool (``karpenter``), over diversified instance types, spot with on-demand fallback, consolidation and
    disruption budgets. cluster-autoscaler: one managed node group (EKS) or node pool (GKE, which also
    auto-provisions node pools within limits that add up to the pools' maxima) per GPU pool."""
    karpenter: KarpenterSpec = Field(default_factory=KarpenterSpec)
    """Karpenter's CPU NodePool (read with ``autoscaler: karpenter``)."""
    gpu_pools: list[GpuPoolSpec] = Field(default_factory=list)
    """GPU node pools."""
    buckets: BucketsSpec = Field(default_factory=BucketsSpec)
    """Buckets."""
    registry: RegistrySpec = Field(default_factory=RegistrySpec)
    """Container registry."""
    feature_store: FeatureStoreSpec = Field(default_factory=FeatureStoreSpec)
    """Feature store."""
    tracking: TrackingSpec = Field(default_factory=TrackingSpec)
    """Experiment tracking and model registry."""
    endpoints: list[EndpointSpec] = Field(default_factory=list)
    """Serving endpoints."""
    training: list[TrainingJobSpec] = Field(default_factory=list)
    """Training jobs."""
    batch_jobs: list[BatchJobSpec] = Field(default_factory=list)
    """Scheduled batch scoring jobs."""
    drift: DriftSpec = Field(default_factory=DriftSpec)
    """Drift detection (one job per endpoint)."""
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    """Monitoring and alerting."""
    cost: CostSpec = Field(default_factory=CostSpec)
    """GPU guardrails."""
    tags: TagsSpec
    """Required tags."""
    images: ImagesSpec = Field(default_factory=ImagesSpec)
    """Workload images."""
    gateway_class: str = ""
    """Gateway API class; empty picks the cloud's (envoy-gateway, which the AWS layer installs; on GCP
    gke-l7-rilb or gke-l7-regional-external-managed, as ``gke_ingress.public`` says)."""
    gke_ingress: GkeIngressSpec = Field(default_factory=GkeIngressSpec)
    """GKE: internal or public load balancer for the endpoints, and the DNS names their TLS certificate covers."""
    ingress: IngressSpec = Field(default_factory=IngressSpec)
    """AWS: how clients reach the endpoints: the load balancer's scheme (internal by default), admitted ranges and
    TLS (required in prod)."""
    ci: CiSpec | None = None
    """The CI system that previews and deploys this stack through OIDC (no stored keys): the stack creates its
    deploy and preview identities (``CiDeployer``). Empty: none."""

    @field_validator("region")
    @classmethod
    def _region(cls, v: str) -> str:
        if not re.match(r"^[a-z]+(-[a-z]+)+-?[0-9]+$", v):
            raise ValueError(f"{v!r} is not a region name: use the cloud's form, like 'us-east-1' or 'europe-west4'")
        return v

    @model_validator(mode="before")
    @classmethod
    def _profile_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = apply_profile_defaults(data)
        cluster = data.get("cluster")
        attached = isinstance(cluster, dict) and cluster.get("existing") is not None
        if "autoscaler" not in data and data.get("cloud") == "aws" and not attached:
            data["autoscaler"] = "karpenter"
        return data

    @model_validator(mode="after")
    def _cross_field_rules(self) -> PlatformSpec:
        errors: list[str] = []
        if self.cloud == "gcp" and not self.gcp_project:
            errors.append("gcp_project: required when cloud is gcp")
        if self.cloud == "aws" and self.gcp_project:
            errors.append("gcp_project: only valid when cloud is gcp; remove it")
        if self.cloud == "gcp":
            ranges = {
                f"network.{key}": ipaddress.ip_network(getattr(self.network, key))
                for key in ("cidr", "pods_cidr", "services_cidr", "master_cidr", "proxy_cidr")
            }
            keys = list(ranges)
            for i, a in enumerate(keys):
                for b in keys[i + 1 :]:
                    if ranges[a].overlaps(ranges[b]):
                        errors.append(f"{a}: {ranges[a]} overlaps {b} ({ranges[b]}); GKE needs disjoint ranges")
            if ranges["network.master_cidr"].prefixlen != 28:
                errors.append("network.master_cidr: GKE needs a /28 for the private control plane")
        if self.cloud == "gcp" and self.feature_store.redis_replicas > 1 and self.feature_store.redis_memory_gb < 5:
            errors.append(
                f"feature_store.redis_replicas: {self.feature_store.redis_replicas} replicas are read replicas, which "
                f"Memorystore offers from 5 GB; raise redis_memory_gb ({self.feature_store.redis_memory_gb}) or use 1"
            )
        if self.cloud == "gcp":
            for i, principal in enumerate(self.cluster.admin_principals):
                if not principal.startswith(("user:", "group:", "serviceAccount:")):
                    errors.append(
                        f"cluster.admin_principals[{i}]: {principal!r} is not an IAM member on GCP: write "
                        "'user:alice@example.com', 'group:ml-admins@example.com' or 'serviceAccount:...'"
                    )
        if self.cloud == "aws":
            for i, principal in enumerate(self.cluster.admin_principals):
                if not principal.startswith("arn:"):
                    errors.append(
                        f"cluster.admin_principals[{i}]: {principal!r} is not an IAM role or user ARN "
                        "('arn:aws:iam::123456789012:role/ml-admins')"
                    )
        for i, pool in enumerate(self.gpu_pools):
            if self.cloud == "gcp" and pool.gpu_driver_version == "INSTALLATION_DISABLED":
                errors.append(
                    f"gpu_pools[{i}] ({pool.name}): gpu_driver_version INSTALLATION_DISABLED leaves the nodes without "
                    "NVIDIA drivers and the platform installs no driver DaemonSet: use LATEST or DEFAULT"
                )
        if self.cloud == "gcp" and self.ci is not None and self.ci.oidc_provider_arn:
            errors.append("ci.oidc_provider_arn: an AWS IAM OIDC provider; GCP stacks create a workload identity pool")
        if self.cloud == "gcp" and self.autoscaler == "karpenter":
            errors.append("autoscaler: karpenter runs on AWS only; use cluster-autoscaler (GKE node auto-provisioning)")
        errors += karpenter_problems(self)
        errors += gke_problems(self)
        errors += ingress_problems(self)
        if self.buckets.mount_datasets and self.cloud != "aws":
            errors.append("buckets.mount_datasets: Mountpoint for Amazon S3 runs on AWS only; remove it on GCP")
        elif self.buckets.mount_datasets and self.cluster.existing is not None:
            errors.append(
                "buckets.mount_datasets: installs the Mountpoint CSI add-on on the cluster this stack creates, and "
                "cluster.existing is set: install the add-on on that cluster yourself and remove mount_datasets"
            )
        pools = {p.name: p for p in self.gpu_pools}
        if len(pools) != len(self.gpu_pools):
            errors.append("gpu_pools: pool names must be unique")
        for i, pool in enumerate(self.gpu_pools):
            problem = check_accelerator(self.cloud, pool.accelerator, pool.instance_type, pool.gpus_per_node)
            if problem:
                errors.append(f"gpu_pools[{i}] ({pool.name}): {problem}")
            if pool.max_gpus > self.cost.max_gpus_per_pool:
                errors.append(
                    f"gpu_pools[{i}] ({pool.name}): max_nodes x gpus_per_node = {pool.max_gpus} exceeds "
                    f"cost.max_gpus_per_pool ({self.cost.max_gpus_per_pool}); lower max_nodes or raise the cap"
                )
        total = sum(p.max_gpus for p in self.gpu_pools)
        if total > self.cost.max_gpus_per_stack:
            errors.append(
                f"gpu_pools: together they can reach {total} GPUs, over cost.max_gpus_per_stack "
                f"({self.cost.max_gpus_per_stack})"
            )
        for image in self.built_images:
            repository = BUILT_IMAGES[image]
            if repository not in self.registry.repositories:
                field_name = "mlflow" if repository == "mlflow" else "runtime"
                errors.append(
                    f"registry.repositories: lacks {repository!r}, where pulumi up pushes the {image} image it builds; "
                    f"add it, or set images.{field_name} to a prebuilt image"
                )
        names = [e.name for e in self.endpoints]
        if len(set(names)) != len(names):
            errors.append("endpoints: endpoint names must be unique")
        if self.profile == "prod":
            errors += [
                f"endpoints[{i}] ({ep.name}): auth none leaves the inference routes open in prod; use auth: api-key"
                for i, ep in enumerate(self.endpoints)
                if ep.auth == "none"
            ]
        workloads: list[tuple[str, ResourceSpec, str | None]] = [
            (f"endpoints[{i}] ({e.name})", e.resources, e.gpu_pool) for i, e in enumerate(self.endpoints)
        ] + [(f"training[{i}] ({t.name})", t.resources, t.gpu_pool) for i, t in enumerate(self.training)]
        workloads += [(f"batch_jobs[{i}] ({b.name})", b.resources, b.gpu_pool) for i, b in enumerate(self.batch_jobs)]
        workloads += [
            (f"endpoints[{i}] ({e.name}).shadow", e.shadow.resources, e.gpu_pool if e.shadow.resources.gpus else None)
            for i, e in enumerate(self.endpoints)
            if e.shadow is not None and e.shadow.resources is not None
        ]
        for where, resources, pool_name in workloads:
            if pool_name is not None and pool_name not in pools:
                errors.append(f"{where}: gpu_pool {pool_name!r} is not defined; pools are {sorted(pools) or 'none'}")
            elif resources.gpus and pool_name is None:
                errors.append(f"{where}: resources.gpus is {resources.gpus}, so gpu_pool must name a GPU pool")
            elif pool_name is not None and resources.gpus > pools[pool_name].gpus_per_node:
                errors.append(
                    f"{where}: asks for {resources.gpus} GPUs per pod but pool {pool_name!r} has "
                    f"{pools[pool_name].gpus_per_node} per node"
                )
            else:
                problem = self._node_fit(resources, pools[pool_name] if pool_name is not None else None)
                if problem:
                    errors.append(f"{where}: {problem}")
        if self.profile == "prod":
            for i, e in enumerate(self.endpoints):
                if e.min_replicas < 2:
                    errors.append(f"endpoints[{i}] ({e.name}): prod needs min_replicas >= 2, got {e.min_replicas}")
            if self.cloud == "gcp" and self.cluster.public_endpoint:
                errors.append(
                    "cluster.public_endpoint: GKE prod clusters keep the IP endpoint private; deployers use the "
                    "DNS-based endpoint (cluster.dns_endpoint)"
                )
        if self.cluster.existing is None:
            if self.cloud == "aws" and not self.cluster.public_endpoint:
                errors.append(
                    "cluster.public_endpoint: a private-only EKS endpoint cannot be reached by the machine running "
                    "`pulumi up` (it is inside the VPC this program creates): set public_endpoint: true with "
                    "api_allowed_cidrs, or attach to an existing cluster (cluster.existing)"
                )
            if self.cloud == "aws" and self.cluster.public_endpoint and not self.cluster.api_allowed_cidrs:
                errors.append(
                    "cluster.api_allowed_cidrs: list the egress CIDRs of the machines that run `pulumi up` (EKS "
                    "would otherwise open the public endpoint to 0.0.0.0/0)"
                )
            if self.cloud == "gcp" and not self.cluster.public_endpoint and not self.cluster.dns_endpoint:
                errors.append(
                    "cluster.dns_endpoint: with a private IP endpoint and no DNS-based endpoint nothing outside the "
                    "VPC reaches the API: keep dns_endpoint: true"
                )
        training_names = [t.name for t in self.training]
        if len(set(training_names)) != len(training_names):
            errors.append("training: job names must be unique")
        batch_names = [b.name for b in self.batch_jobs]
        if len(set(batch_names)) != len(batch_names):
            errors.append("batch_jobs: job names must be unique")
        scheme = "s3://" if self.cloud == "aws" else "gs://"
        external = set(self.buckets.external)
        for i, batch_job in enumerate(self.batch_jobs):
            for key in ("input", "output"):
                location = getattr(batch_job.batch, key)
                if isinstance(location, BucketPath):
                    continue
                where = f"batch_jobs[{i}] ({batch_job.name}): batch.{key} {location!r}"
                bucket = location.removeprefix(scheme).split("/", 1)[0]
                if not location.startswith(scheme):
                    errors.append(
                        f"{where} is not a {scheme} URI; jobs on {self.cloud} read and write the platform's buckets"
                    )
                elif bucket not in external:
                    errors.append(
                        f"{where} names bucket {bucket!r}, which is neither a platform bucket nor listed in "
                        f"buckets.external: write {{bucket: datasets, path: ...}} for a platform bucket, or add "
                        f"{bucket!r} to buckets.external"
                    )
        if errors:
            raise ValueError("\n".join(errors))
        return self

    def _node_fit(self, resources: ResourceSpec, pool: GpuPoolSpec | None) -> str | None:
        """Why one pod with ``resources`` fits no node of the pool it runs on: the GPU pool, else the system pool."""
        if pool is None:
            if self.cluster.existing is not None:
                return None  # the cluster's nodes are not this stack's
            type_name = self.cluster.system_instance_type or DEFAULT_SYSTEM_TYPE[self.cloud]
            fix = f"set cluster.system_instance_type to a larger type than {type_name} or lower the requests"
        else:
            type_name = pool.instance_type
            fix = f"give gpu_pools ({pool.name}) a larger instance_type or lower the requests"
        problem = fit_problem(
            self.cloud,
            type_name,
            resources.cpu,
            resources.memory,
            resources.gpus,
            karpenter=pool is not None and self.autoscaler == "karpenter",
            image_streaming=self.cloud == "gcp",
            node_gpus=pool.gpus_per_node if pool is not None else None,
        )
        return f"{problem}: {fix}" if problem else None

    # Derived values components share.
    def resource_name(self, role: str) -> str:
        """``<name>-<environment>-<role>``: the physical-name stem of a resource."""
        return f"{self.name}-{self.environment}-{role}"

    @property
    def labels(self) -> dict[str, str]:
        """Tags/labels for every taggable resource (keys valid on AWS, GCP and Kubernetes)."""
        base = {
            "environment": self.environment,
            "owner": self.tags.owner,
            "cost-center": self.tags.cost_center,
            "managed-by": "pulumi-mlops",
        }
        return {**self.tags.extra, **base}

    @property
    def max_gpus(self) -> int:
        return sum(p.max_gpus for p in self.gpu_pools)

    @property
    def runtime_gpu_workloads(self) -> bool:
        """Some endpoint, training job or batch job runs the runtime on GPUs."""
        gpus = [e.resources.gpus for e in self.endpoints] + [t.resources.gpus for t in self.training]
        return any(g > 0 for g in gpus + [b.resources.gpus for b in self.batch_jobs])

    @property
    def built_images(self) -> list[str]:
        """Names (keys of ``BUILT_IMAGES``) of the images ``pulumi up`` builds: those ``images`` leaves empty, the
        ``runtime-cuda`` variant only when some runtime workload requests GPUs."""
        built: list[str] = []
        if self.images.runtime is None:
            built.append("runtime")
            if self.runtime_gpu_workloads:
                built.append("runtime-cuda")
        if self.images.mlflow is None:
            built.append("mlflow")
        return built

    def pool(self, name: str) -> GpuPoolSpec:
        for p in self.gpu_pools:
            if p.name == name:
                return p
        raise KeyError(name)

    def model_refs(self) -> list[ModelRef]:
        """Every model the endpoints serve (stable track)."""
        return [e.serving.model for e in self.endpoints]
