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

__all__ = ["WORKLOAD_ROLES", "ClusterContext", "DatabaseRef", "GpuScheduling", "RedisRef"]

WORKLOAD_ROLES = ("trainer", "server", "drift", "mlflow", "feast")
"""Kubernetes service accounts that get a cloud identity (one least-privilege role each)."""


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
