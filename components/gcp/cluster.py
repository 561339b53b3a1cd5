"""A private GKE Standard cluster with Workload Identity, Dataplane V2, managed Prometheus, Gateway API and
Kubernetes secrets encrypted with a Cloud KMS key."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import pulumi_random as random

from pulumi_mlops.spec import ClusterSpec
from pulumi_mlops.spec.instances import DEFAULT_SYSTEM_TYPE

from .network import PODS_RANGE, SERVICES_RANGE

__all__ = [
    "CLOUD_PLATFORM_SCOPE",
    "CLUSTER_ADMIN_ROLE",
    "DEFAULT_SYSTEM_MACHINE_TYPE",
    "MONITORING_COMPONENTS",
    "GkeCluster",
    "GkeClusterArgs",
    "gke_kubeconfig",
    "gke_metadata",
    "shielded_nodes",
]

MONITORING_COMPONENTS = (
    "SYSTEM_COMPONENTS",
    "APISERVER",
    "SCHEDULER",
    "CONTROLLER_MANAGER",
    "STORAGE",
    "POD",
    "DEPLOYMENT",
    "STATEFULSET",
    "DAEMONSET",
    "HPA",
    "DCGM",
)
"""Cloud Monitoring components collected by GKE; ``DCGM`` brings GPU metrics from the managed DCGM exporter."""

DEFAULT_SYSTEM_MACHINE_TYPE = DEFAULT_SYSTEM_TYPE["gcp"]
"""Machine type of the CPU system pool when ``ClusterSpec.system_instance_type`` is empty."""

CLUSTER_ADMIN_ROLE = "roles/container.admin"
"""Project role given to ``ClusterSpec.admin_principals`` (full control of clusters and their Kubernetes objects)."""

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
"""Node OAuth scope; what nodes may do is limited by the node service account's roles."""


def gke_metadata() -> gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs:
    """Pods see the GKE metadata server (Workload Identity), never the node's own credentials."""
    return gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA")


def shielded_nodes() -> gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs:
    """Secure boot and integrity monitoring on every node."""
    return gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
        enable_secure_boot=True, enable_integrity_monitoring=True
    )


def gke_kubeconfig(cluster_name: str, endpoint: str, ca_certificate: str) -> str:
    """A kubeconfig that authenticates with ``gke-gcloud-auth-plugin`` (no static credentials).

    ``endpoint`` is the DNS-based endpoint (then ``ca_certificate`` is empty: its certificate is publicly
    trusted) or the IP endpoint with the cluster's CA."""
    context = f"gke_{cluster_name}"
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": context,
                    "cluster": {"server": f"https://{endpoint}"}
                    | ({"certificate-authority-data": ca_certificate} if ca_certificate else {}),
                }
            ],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
            "users": [
                {
                    "name": context,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "gke-gcloud-auth-plugin",
                            "installHint": "Install gke-gcloud-auth-plugin: gcloud components install "
                            "gke-gcloud-auth-plugin",
                            "provideClusterInfo": True,
                            "interactiveMode": "Never",
                        }
                    },
                }
            ],
        },
        indent=2,
    )


def _auto_provisioning(args: GkeClusterArgs) -> gcp.container.ClusterClusterAutoscalingArgs | None:
    """Node auto-provisioning within ``args.autoscaling_limits``: auto-created node pools (those of the GPU pools'
    ComputeClasses) get the node service account and scope, COS, shielded boot and auto-repair and -upgrade."""
    if not args.autoscaling_limits:
        return None
    return gcp.container.ClusterClusterAutoscalingArgs(
        enabled=True,
        resource_limits=[
            gcp.container.ClusterClusterAutoscalingResourceLimitArgs(resource_type=kind, maximum=maximum)
            for kind, maximum in args.autoscaling_limits
        ],
        auto_provisioning_defaults=gcp.container.ClusterClusterAutoscalingAutoProvisioningDefaultsArgs(
            service_account=args.node_service_account,
            oauth_scopes=[CLOUD_PLATFORM_SCOPE],
            image_type="COS_CONTAINERD",
            disk_type="pd-balanced",
            management=gcp.container.ClusterClusterAutoscalingAutoProvisioningDefaultsManagementArgs(
                auto_repair=True, auto_upgrade=True
            ),
            shielded_instance_config=(
                gcp.container.ClusterClusterAutoscalingAutoProvisioningDefaultsShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                )
            ),
        ),
    )


@dataclass
class GkeClusterArgs:
    """Inputs of :class:`GkeCluster`."""

    spec: ClusterSpec
    """Version, release channel, endpoint exposure, system pool size, deletion protection."""
    project: str
    """GCP project id (also names the workload pool ``<project>.svc.id.goog``)."""
    region: str
    """Cluster location (a regional cluster)."""
    cluster_name: str
    """Physical cluster name."""
    network: pulumi.Input[str]
    """VPC network id."""
    subnetwork: pulumi.Input[str]
    """Node subnet id; its secondary ranges ``pods`` and ``services`` hold pod and service IPs."""
    master_cidr: str
    """Private control-plane range (a /28)."""
    node_service_account: pulumi.Input[str]
    """Email of the node service account of every pool."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels put on the cluster and its nodes."""
    apis: Sequence[pulumi.Resource] = ()
    """The project's enabled APIs (``ProjectServices``): the project look-up waits for Cloud Resource Manager."""
    autoscaling_limits: Sequence[tuple[str, int]] = ()
    """Node auto-provisioning limits ``(resource, maximum)`` (``cpu`` cores, ``memory`` GB, GPUs per accelerator
    type), which GKE applies to every node pool of the cluster; empty leaves auto-provisioning off."""


class GkeCluster(pulumi.ComponentResource):
    """GKE Standard: private nodes (and a private endpoint unless ``public_endpoint``), authorized networks,
    Workload Identity, Dataplane V2, shielded nodes, managed Prometheus with DCGM, Gateway API, application-layer
    secrets encryption with a Cloud KMS key, node auto-provisioning within ``autoscaling_limits``, and a CPU system
    pool replacing the default pool.

    Outputs: ``cluster_name``, ``endpoint``, ``kubeconfig`` (secret), ``provider`` (Kubernetes provider),
    ``system_pool``.
    """

    cluster_name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    cluster: gcp.container.Cluster
    system_pool: gcp.container.NodePool

    def __init__(self, name: str, args: GkeClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:gcp:GkeCluster", name, None, opts)
        spec = args.spec
        labels = dict(args.labels)
        child = pulumi.ResourceOptions(parent=self)

        # Cloud KMS never deletes a key ring or key: a fresh suffix per stack lets an up follow a destroy.
        ring_suffix = random.RandomId(f"{name}-keyring-suffix", byte_length=4, opts=child)
        ring = gcp.kms.KeyRing(
            f"{name}-keyring",
            name=pulumi.Output.concat(args.cluster_name, "-secrets-", ring_suffix.hex),
            project=args.project,
            location=args.region,
            opts=child,
        )
        key = gcp.kms.CryptoKey(
            f"{name}-secrets-key",
            name=f"{args.cluster_name}-secrets",
            key_ring=ring.id,
            rotation_period="7776000s",
            labels=labels,
            opts=child,
        )
        project = gcp.organizations.get_project_output(
            project_id=args.project, opts=pulumi.InvokeOutputOptions(parent=self, depends_on=list(args.apis))
        )
        key_grant = gcp.kms.CryptoKeyIAMMember(
            f"{name}-secrets-key-gke-agent",
            crypto_key_id=key.id,
            role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
            member=project.number.apply(
                lambda number: f"serviceAccount:service-{number}@container-engine-robot.iam.gserviceaccount.com"
            ),
            opts=child,
        )

        self.cluster = gcp.container.Cluster(
            f"{name}-cluster",
            name=args.cluster_name,
            project=args.project,
            location=args.region,
            network=args.network,
            subnetwork=args.subnetwork,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=PODS_RANGE, services_secondary_range_name=SERVICES_RANGE
            ),
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=spec.release_channel),
            min_master_version=spec.kubernetes_version,
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=f"{args.project}.svc.id.goog"
            ),
            datapath_provider="ADVANCED_DATAPATH",
            enable_shielded_nodes=True,
            enable_legacy_abac=False,
            private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=True,
                enable_private_endpoint=not spec.public_endpoint,
                master_ipv4_cidr_block=args.master_cidr,
                master_global_access_config=gcp.container.ClusterPrivateClusterConfigMasterGlobalAccessConfigArgs(
                    enabled=False
                ),
            ),
            control_plane_endpoints_config=gcp.container.ClusterControlPlaneEndpointsConfigArgs(
                dns_endpoint_config=gcp.container.ClusterControlPlaneEndpointsConfigDnsEndpointConfigArgs(
                    allow_external_traffic=spec.dns_endpoint
                ),
            ),
            master_authorized_networks_config=gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
                cidr_blocks=[
                    gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
                        cidr_block=cidr, display_name=f"allowed-{i}"
                    )
                    for i, cidr in enumerate(spec.api_allowed_cidrs)
                ],
                gcp_public_cidrs_access_enabled=False,
            ),
            master_auth=gcp.container.ClusterMasterAuthArgs(
                client_certificate_config=gcp.container.ClusterMasterAuthClientCertificateConfigArgs(
                    issue_client_certificate=False
                )
            ),
            monitoring_config=gcp.container.ClusterMonitoringConfigArgs(
                enable_components=list(MONITORING_COMPONENTS),
                managed_prometheus=gcp.container.ClusterMonitoringConfigManagedPrometheusArgs(enabled=True),
            ),
            logging_config=gcp.container.ClusterLoggingConfigArgs(
                enable_components=["SYSTEM_COMPONENTS", "APISERVER", "WORKLOADS"]
            ),
            gateway_api_config=gcp.container.ClusterGatewayApiConfigArgs(channel="CHANNEL_STANDARD"),
            addons_config=gcp.container.ClusterAddonsConfigArgs(
                http_load_balancing=gcp.container.ClusterAddonsConfigHttpLoadBalancingArgs(disabled=False),
                horizontal_pod_autoscaling=gcp.container.ClusterAddonsConfigHorizontalPodAutoscalingArgs(
                    disabled=False
                ),
                gcs_fuse_csi_driver_config=gcp.container.ClusterAddonsConfigGcsFuseCsiDriverConfigArgs(enabled=True),
            ),
            cluster_autoscaling=_auto_provisioning(args),
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config=gcp.container.ClusterNodeConfigArgs(
                service_account=args.node_service_account,
                oauth_scopes=[CLOUD_PLATFORM_SCOPE],
                workload_metadata_config=gcp.container.ClusterNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
                shielded_instance_config=gcp.container.ClusterNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
                resource_labels=labels,
            ),
            resource_labels=labels,
            database_encryption=gcp.container.ClusterDatabaseEncryptionArgs(state="ENCRYPTED", key_name=key.id),
            deletion_protection=spec.deletion_protection,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[key_grant], ignore_changes=["nodeConfig", "initialNodeCount"]
            ),
        )

        for i, principal in enumerate(spec.admin_principals):
            # GKE maps IAM to the API server: roles/container.admin is full control of the cluster's objects
            # (the EKS side gives the same principals AmazonEKSClusterAdminPolicy through access entries).
            gcp.projects.IAMMember(
                f"{name}-admin-{i}",
                project=args.project,
                role=CLUSTER_ADMIN_ROLE,
                member=principal,
                opts=pulumi.ResourceOptions(parent=self.cluster),
            )

        self.system_pool = gcp.container.NodePool(
            f"{name}-system",
            name="system",
            project=args.project,
            location=args.region,
            cluster=self.cluster.name,
            initial_node_count=spec.system_min_nodes,
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=spec.system_min_nodes,
                total_max_node_count=spec.system_max_nodes,
                location_policy="BALANCED",
            ),
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=spec.system_instance_type or DEFAULT_SYSTEM_MACHINE_TYPE,
                service_account=args.node_service_account,
                oauth_scopes=[CLOUD_PLATFORM_SCOPE],
                image_type="COS_CONTAINERD",
                disk_size_gb=100,
                disk_type="pd-balanced",
                labels={"pulumi-mlops.io/pool": "system"},
                resource_labels=labels,
                gcfs_config=gcp.container.NodePoolNodeConfigGcfsConfigArgs(enabled=True),
                workload_metadata_config=gke_metadata(),
                shielded_instance_config=shielded_nodes(),
            ),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["initialNodeCount"]),
        )

        self.cluster_name = self.cluster.name
        self.endpoint = self.cluster.endpoint
        if spec.dns_endpoint:
            # The DNS-based endpoint serves a publicly trusted certificate and is authorized by IAM alone.
            dns = self.cluster.control_plane_endpoints_config.apply(
                lambda c: c.dns_endpoint_config.endpoint if c and c.dns_endpoint_config else ""
            )
            self.kubeconfig = pulumi.Output.secret(
                pulumi.Output.all(self.cluster.name, dns).apply(lambda parts: gke_kubeconfig(parts[0], parts[1], ""))
            )
        else:
            self.kubeconfig = pulumi.Output.secret(
                pulumi.Output.all(
                    self.cluster.name, self.cluster.endpoint, self.cluster.master_auth.cluster_ca_certificate
                ).apply(lambda parts: gke_kubeconfig(parts[0], parts[1], parts[2]))
            )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.system_pool]),
        )
        self.register_outputs(
            {"cluster_name": self.cluster_name, "endpoint": self.endpoint, "kubeconfig": self.kubeconfig}
        )
