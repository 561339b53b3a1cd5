"""``PlatformSpec``: one environment of the platform, on AWS or GCP, described once.

A stack file holds it under the config key ``pulumi-mlops:platform``. Keys a stack leaves out
take the defaults of its profile (:mod:`pulumi_mlops.spec.profiles`).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from pulumi_mlops.runtime.config import (
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
from .profiles import Profile, apply_profile_defaults

__all__ = [
    "AlertReceiver",
    "BatchJobSpec",
    "BucketsSpec",
    "CanarySpec",
    "ClusterSpec",
    "CostSpec",
    "EndpointSpec",
    "ExistingCluster",
    "FeatureStoreSpec",
    "GpuPoolSpec",
    "ImagesSpec",
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

_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_K8S_VERSION = r"^1\.(2[89]|3[0-9])$"


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

    kubernetes_version: str = Field(default="1.33", pattern=_K8S_VERSION)
    """Kubernetes minor version ('1.33'); add-ons and schema checks follow it."""
    existing: ExistingCluster | None = None
    """Attach to an existing cluster; then network and cluster are not created."""
    public_endpoint: bool = True
    """Public API endpoint (restricted to ``api_allowed_cidrs``); prod defaults to private."""
    api_allowed_cidrs: list[str] = Field(default_factory=lambda: ["10.0.0.0/8"])
    """CIDRs allowed to reach a public API endpoint; never 0.0.0.0/0."""
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
    """Minimum nodes; 0 lets the pool scale to zero."""
    max_nodes: int = Field(default=2, ge=1, le=1000)
    """Maximum nodes."""
    spot: bool = False
    """Spot/preemptible capacity (dev and staging default to spot)."""
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

    @model_validator(mode="after")
    def _order(self) -> BucketsSpec:
        if self.log_expiration_days <= self.log_transition_days:
            raise ValueError(
                f"log_expiration_days ({self.log_expiration_days}) must be after "
                f"log_transition_days ({self.log_transition_days})"
            )
        return self


class RegistrySpec(StrictModel):
    """The container registry for training and serving images."""

    repositories: list[str] = Field(default_factory=lambda: ["training", "serving"])
    """Repository names."""
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
    """Read replicas (AWS) / standard-HA tier when > 0 (GCP)."""
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

    runtime: str = "ghcr.io/pulumi-mlops/runtime:0.1.0"
    """Image running ``mlops serve|train|drift|retrain``; a tag or digest, never ``latest``."""
    mlflow: str = "ghcr.io/mlflow/mlflow:v3.5.0"
    """MLflow tracking server image."""
    feast: str = "quay.io/feastdev/feature-server:0.54.0"
    """Feast feature server image."""

    @field_validator("runtime", "mlflow", "feast")
    @classmethod
    def _pinned(cls, v: str) -> str:
        if "@sha256:" in v:
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

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        return check_cron(v)


class BatchJobSpec(StrictModel):
    """A scheduled batch scoring job."""

    name: str = Field(pattern=_NAME, max_length=40)
    """Job name."""
    schedule: str = "0 2 * * *"
    """Cron schedule."""
    batch: BatchSpec
    """Model, input, output and row checks of each run."""
    resources: ResourceSpec = Field(default_factory=lambda: ResourceSpec(cpu="1", memory="2Gi"))
    """Pod resources (memory bounds the chunk size that fits)."""
    gpu_pool: str | None = None
    """GPU pool to schedule onto (required when resources.gpus > 0)."""
    active_deadline_seconds: int = Field(default=4 * 3600, ge=60)
    """Kill the job after this long."""
    backoff_limit: int = Field(default=2, ge=0, le=10)
    """Retries before the job fails (a retry resumes from the last completed chunk)."""

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        return check_cron(v)


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
    autoscaler: Literal["cluster-autoscaler", "karpenter"] = "cluster-autoscaler"
    """GPU node autoscaling (karpenter: AWS only)."""
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
    """Gateway API class; empty picks the cloud's (amazon-vpc-lattice / gke-l7-regional-external-managed)."""

    @field_validator("region")
    @classmethod
    def _region(cls, v: str) -> str:
        if not re.match(r"^[a-z]+(-[a-z]+)+-?[0-9]+$", v):
            raise ValueError(f"{v!r} is not a region name: use the cloud's form, like 'us-east-1' or 'europe-west4'")
        return v

    @model_validator(mode="before")
    @classmethod
    def _profile_defaults(cls, data: Any) -> Any:
        return apply_profile_defaults(data) if isinstance(data, dict) else data

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
        if self.cloud == "gcp" and self.autoscaler == "karpenter":
            errors.append("autoscaler: karpenter runs on AWS only; use cluster-autoscaler (GKE node auto-provisioning)")
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
        names = [e.name for e in self.endpoints]
        if len(set(names)) != len(names):
            errors.append("endpoints: endpoint names must be unique")
        workloads: list[tuple[str, ResourceSpec, str | None]] = [
            (f"endpoints[{i}] ({e.name})", e.resources, e.gpu_pool) for i, e in enumerate(self.endpoints)
        ] + [(f"training[{i}] ({t.name})", t.resources, t.gpu_pool) for i, t in enumerate(self.training)]
        workloads += [(f"batch_jobs[{i}] ({b.name})", b.resources, b.gpu_pool) for i, b in enumerate(self.batch_jobs)]
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
        if self.profile == "prod":
            for i, e in enumerate(self.endpoints):
                if e.min_replicas < 2:
                    errors.append(f"endpoints[{i}] ({e.name}): prod needs min_replicas >= 2, got {e.min_replicas}")
            if self.cluster.public_endpoint:
                errors.append("cluster.public_endpoint: prod clusters keep the API endpoint private")
        training_names = [t.name for t in self.training]
        if len(set(training_names)) != len(training_names):
            errors.append("training: job names must be unique")
        batch_names = [b.name for b in self.batch_jobs]
        if len(set(batch_names)) != len(batch_names):
            errors.append("batch_jobs: job names must be unique")
        scheme = "s3://" if self.cloud == "aws" else "gs://"
        for i, batch_job in enumerate(self.batch_jobs):
            for key in ("input", "output"):
                location = getattr(batch_job.batch, key)
                if not location.startswith(scheme):
                    errors.append(
                        f"batch_jobs[{i}] ({batch_job.name}): batch.{key} {location!r} is not a {scheme} URI; "
                        f"jobs on {self.cloud} read and write the platform's buckets"
                    )
        if errors:
            raise ValueError("\n".join(errors))
        return self

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

    def pool(self, name: str) -> GpuPoolSpec:
        for p in self.gpu_pools:
            if p.name == name:
                return p
        raise KeyError(name)

    def model_refs(self) -> list[ModelRef]:
        """Every model the endpoints serve (stable track)."""
        return [e.serving.model for e in self.endpoints]
