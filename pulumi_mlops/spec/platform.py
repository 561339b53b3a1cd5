"""``PlatformSpec``: one environment of the platform, on AWS or GCP, described once.

A stack file holds it under the config key ``pulumi-mlops:platform``. Keys a stack leaves out
take the defaults of its profile (:mod:`pulumi_mlops.spec.profiles`).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from pulumi_mlops.runtime.config import DriftSpec, ModelRef, ResourceSpec, StrictModel

from .accelerators import check_accelerator
from .ci import CiSpec
from .cluster import (
    _NAME,
    SUPPORTED_KUBERNETES_VERSIONS,
    ClusterSpec,
    ExistingCluster,
    GpuPoolSpec,
    KubernetesVersion,
    NetworkSpec,
    Taint,
)
from .gke import GkeIngressSpec, gke_problems
from .ingress import IngressSpec, ingress_problems
from .instances import DEFAULT_SYSTEM_TYPE, fit_problem
from .karpenter import KarpenterSpec, karpenter_problems
from .profiles import Profile, apply_profile_defaults
from .services import (
    BUILT_IMAGES,
    IMAGE_REPOSITORIES,
    AlertReceiver,
    BucketRole,
    BucketsSpec,
    CostSpec,
    FeatureStoreSpec,
    ImagesSpec,
    MonitoringSpec,
    RegistrySpec,
    TagsSpec,
    TrackingSpec,
)
from .workloads import (
    BatchJobSpec,
    BatchRunSpec,
    BucketPath,
    CanarySpec,
    EndpointSpec,
    ShadowSpec,
    TrainingJobSpec,
)

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
