"""The cluster and its nodes: the network it lives in, the Kubernetes cluster (created or attached) and its
GPU node pools, with the Kubernetes versions the platform supports. ``PlatformSpec``
(:mod:`pulumi_mlops.spec.platform`) holds them under ``network``, ``cluster`` and ``gpu_pools``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from pulumi_mlops.runtime.config import StrictModel

from .gke import GkePoolSpec

__all__ = [
    "SUPPORTED_KUBERNETES_VERSIONS",
    "ClusterSpec",
    "ExistingCluster",
    "GpuPoolSpec",
    "KubernetesVersion",
    "NetworkSpec",
    "Taint",
]

_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
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
