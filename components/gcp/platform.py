"""The whole platform on GCP, composed from the GCP components and driven by ``PlatformSpec``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
from pulumi_mlops.components.images import PlatformImages, PlatformImagesArgs, RegistryLogin, image_platforms
from pulumi_mlops.components.k8s.context import WORKLOAD_ROLES, ClusterContext, DatabaseRef, RedisRef
from pulumi_mlops.components.k8s.crds import MonitoringCrds, MonitoringCrdsArgs
from pulumi_mlops.components.k8s.namespaces import service_account_subject

from pulumi_mlops.spec import PROJECT, PlatformSpec
from pulumi_mlops.spec.gke import GKE_INTERNAL_CLASS, GKE_PUBLIC_CLASS, compact_placement, pool_zones, public_endpoints

from .ci_deployer import CI_SERVICES, CiDeployer, CiDeployerArgs
from .cluster import GkeCluster, GkeClusterArgs
from .compute_classes import (
    ComputeClassArgs,
    GpuComputeClass,
    autoscaling_limits,
    compute_class_name,
    gpu_scheduling,
    job_queueing,
)
from .container_registry import ContainerRegistry, ContainerRegistryArgs
from .gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from .identity import WorkloadIdentities, WorkloadIdentitiesArgs
from .ingress import CERT_MANAGER_CERTS_OPTION, GatewayCertificate, GatewayCertificateArgs
from .network import Network, NetworkArgs
from .node_identity import NodeServiceAccount, NodeServiceAccountArgs
from .online_store import OnlineStore, OnlineStoreArgs
from .private_services import PrivateServiceAccess, PrivateServiceAccessArgs
from .registry_buckets import RegistryBuckets, RegistryBucketsArgs
from .services import PLATFORM_SERVICES, ProjectServices, ProjectServicesArgs
from .tracking_store import DATABASE, USERNAME, TrackingStore, TrackingStoreArgs

__all__ = ["CERTIFICATE_MANAGER_API", "KUEUE_WEBHOOK_PORT", "GcpPlatform", "GcpPlatformArgs"]

CERTIFICATE_MANAGER_API = "certificatemanager.googleapis.com"
"""API of the Gateway's TLS certificate, enabled when ``gke_ingress.hostnames`` asks for TLS."""
KUEUE_WEBHOOK_PORT = 9443
"""Port of Kueue's admission webhook: a private cluster's control plane reaches nodes on 443 and 10250 only, so a
firewall rule admits it from the control-plane range."""

WORKLOAD_SA_ANNOTATION = "iam.gke.io/gcp-service-account"
"""Kubernetes service account annotation naming the Google service account (Workload Identity)."""


@dataclass
class GcpPlatformArgs:
    """Inputs of :class:`GcpPlatform`."""

    spec: PlatformSpec
    """The validated environment spec (``cloud: gcp``)."""


class GcpPlatform(pulumi.ComponentResource):
    """Every GCP resource of one environment.

    ``exports`` holds what the stack exports; ``cluster_context`` is what the Kubernetes components take.
    """

    exports: dict[str, Any]
    cluster_context: ClusterContext

    def __init__(self, name: str, args: GcpPlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:gcp:Platform", name, None, opts)
        spec = args.spec
        if spec.gcp_project is None:
            raise ValueError("GcpPlatform needs spec.gcp_project (PlatformSpec requires it for cloud gcp)")
        project = spec.gcp_project
        stem = f"{spec.name}-{spec.environment}"
        labels = spec.labels

        bootstrap = gcp.Provider(
            f"{name}-gcp-bootstrap", project=project, region=spec.region, opts=pulumi.ResourceOptions(parent=self)
        )
        services = ProjectServices(
            f"{name}-services",
            ProjectServicesArgs(
                project=project,
                services=(
                    *PLATFORM_SERVICES,
                    *(CI_SERVICES if spec.ci else ()),
                    *((CERTIFICATE_MANAGER_API,) if spec.gke_ingress.hostnames else ()),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, providers={"gcp": bootstrap}),
        )
        provider = gcp.Provider(
            f"{name}-gcp",
            project=project,
            region=spec.region,
            default_labels=labels,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(services.services)),
        )
        child = pulumi.ResourceOptions(parent=self, providers={"gcp": provider})

        buckets = RegistryBuckets(
            f"{name}-buckets",
            RegistryBucketsArgs(spec=spec.buckets, project=project, location=spec.region, labels=labels, stem=stem),
            opts=child,
        )
        nodes_sa = NodeServiceAccount(f"{name}-nodes", NodeServiceAccountArgs(project=project, stem=stem), opts=child)

        existing = spec.cluster.existing
        cluster_deps: list[pulumi.Resource]
        if existing is None:
            network = Network(
                f"{name}-network",
                NetworkArgs(spec=spec.network, project=project, region=spec.region, stem=stem),
                opts=child,
            )
            network_id: pulumi.Output[str] = network.network_id
            gke = GkeCluster(
                f"{name}-gke",
                GkeClusterArgs(
                    spec=spec.cluster,
                    project=project,
                    region=spec.region,
                    cluster_name=spec.resource_name("gke"),
                    network=network.network_id,
                    subnetwork=network.subnet_id,
                    master_cidr=spec.network.master_cidr,
                    node_service_account=nodes_sa.email,
                    labels=labels,
                    apis=services.services,
                    autoscaling_limits=autoscaling_limits(spec),
                ),
                opts=child,
            )
            cluster_name: pulumi.Output[str] = gke.cluster_name
            kubeconfig: pulumi.Output[str] = gke.kubeconfig
            k8s_provider = gke.provider
            cluster_deps = [gke.cluster, gke.system_pool]
            gateway_deps: list[pulumi.Resource] = [network.proxy_subnet]
            if job_queueing(spec) is not None:
                gcp.compute.Firewall(
                    f"{name}-kueue-webhook",
                    name=f"{stem}-kueue-webhook",
                    project=project,
                    network=network.network_id,
                    direction="INGRESS",
                    source_ranges=[spec.network.master_cidr],
                    allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=[str(KUEUE_WEBHOOK_PORT)])],
                    description="GKE control plane to Kueue's admission webhook",
                    opts=child,
                )
        else:
            found = gcp.container.get_cluster_output(
                name=existing.name,
                location=spec.region,
                project=project,
                opts=pulumi.InvokeOptions(parent=self, provider=provider),
            )
            network_id = found.network
            cluster_name = pulumi.Output.from_input(existing.name)
            kubeconfig = pulumi.Config(PROJECT).require_secret(existing.kubeconfig_secret)
            k8s_provider = k8s.Provider(
                f"{name}-k8s",
                kubeconfig=kubeconfig,
                enable_server_side_apply=True,
                opts=pulumi.ResourceOptions(parent=self),
            )
            cluster_deps = []
            gateway_deps = []

        gpu_pools = [
            GpuNodePool(
                f"{name}-gpu-{pool.name}",
                GpuNodePoolArgs(
                    pool=pool,
                    project=project,
                    region=spec.region,
                    cluster=cluster_name,
                    node_service_account=nodes_sa.email,
                    labels=labels,
                    zones=pool_zones(spec, pool),
                    compact=compact_placement(spec, pool),
                    compute_class=None if pool.gke.queued_provisioning else compute_class_name(pool),
                ),
                opts=pulumi.ResourceOptions(parent=self, providers={"gcp": provider}, depends_on=cluster_deps),
            )
            for pool in spec.gpu_pools
        ]
        compute_classes = [
            GpuComputeClass(
                f"{name}-class-{pool.name}",
                ComputeClassArgs(
                    spec=spec,
                    pool=pool,
                    node_service_account=nodes_sa.email,
                    labels=labels,
                    depends_on=[*cluster_deps, node_pool.node_pool],
                ),
                opts=pulumi.ResourceOptions(parent=self, providers={"kubernetes": k8s_provider}),
            ).resource
            for pool, node_pool in zip(spec.gpu_pools, gpu_pools, strict=True)
            if not pool.gke.queued_provisioning
        ]
        certificate: GatewayCertificate | None = None
        if spec.gke_ingress.hostnames:
            certificate = GatewayCertificate(
                f"{name}-gateway-tls",
                GatewayCertificateArgs(
                    project=project,
                    region=spec.region,
                    name=spec.resource_name("gateway"),
                    hostnames=spec.gke_ingress.hostnames,
                    labels=labels,
                ),
                opts=child,
            )
            gateway_deps.append(certificate.certificate)

        crds = MonitoringCrds(
            f"{name}-crds",
            MonitoringCrdsArgs(kube_prometheus_stack_version=spec.monitoring.chart_version, depends_on=cluster_deps),
            opts=pulumi.ResourceOptions(parent=self, providers={"kubernetes": k8s_provider}),
        )
        registry = ContainerRegistry(
            f"{name}-registry",
            ContainerRegistryArgs(
                spec=spec.registry,
                project=project,
                location=spec.region,
                repository_id=spec.resource_name("images"),
                labels=labels,
            ),
            opts=child,
        )
        images = self._images(name, spec, registry, provider)
        identities = WorkloadIdentities(
            f"{name}-identity",
            WorkloadIdentitiesArgs(
                project=project,
                stem=stem,
                bucket_names=buckets.bucket_names,
                identities={role: service_account_subject(spec, role) for role in WORKLOAD_ROLES},
                depends_on=cluster_deps[:1],
            ),
            opts=child,
        )
        psa = PrivateServiceAccess(
            f"{name}-psa",
            PrivateServiceAccessArgs(project=project, network=network_id, stem=stem, labels=labels),
            opts=child,
        )
        tracking = TrackingStore(
            f"{name}-tracking",
            TrackingStoreArgs(
                spec=spec.tracking,
                project=project,
                region=spec.region,
                instance_name=spec.resource_name("mlflow"),
                network=network_id,
                private_services=psa.connection,
                accessors={"mlflow": identities.emails["mlflow"]},
                labels=labels,
            ),
            opts=child,
        )
        online: OnlineStore | None = None
        if spec.feature_store.enabled:
            online = OnlineStore(
                f"{name}-online-store",
                OnlineStoreArgs(
                    spec=spec.feature_store,
                    project=project,
                    region=spec.region,
                    instance_name=spec.resource_name("feast"),
                    network=network_id,
                    private_services=psa.connection,
                    accessors={"feast": identities.emails["feast"]},
                    labels=labels,
                ),
                opts=child,
            )

        self.cluster_context = ClusterContext(
            provider=k8s_provider,
            cloud="gcp",
            bucket_uris=dict(buckets.bucket_urls),
            service_account_annotations={
                role: {WORKLOAD_SA_ANNOTATION: email} for role, email in identities.emails.items()
            },
            tracking_db=DatabaseRef(
                host=tracking.private_ip, database=DATABASE, username=USERNAME, password=tracking.password
            ),
            redis=(
                RedisRef(host=online.host, port=online.port, tls=True, auth_token=online.auth_string)
                if online is not None
                else None
            ),
            registry_url=registry.url,
            images=images.refs if images is not None else {},
            gateway_class=spec.gateway_class or (GKE_PUBLIC_CLASS if public_endpoints(spec) else GKE_INTERNAL_CLASS),
            gpu=gpu_scheduling(spec),
            depends_on=[*cluster_deps[1:], *(p.node_pool for p in gpu_pools), *compute_classes, crds.release],
            gateway_source_cidrs=[spec.network.proxy_cidr] if existing is None else [],
            gateway_depends_on=gateway_deps,
            gateway_port=443 if certificate is not None else 80,
            gateway_tls_options=(
                {CERT_MANAGER_CERTS_OPTION: certificate.certificate_name} if certificate is not None else {}
            ),
            backend_health_checks=True,
            job_queueing=job_queueing(spec),
        )
        self.exports = {
            "cloud": "gcp",
            "region": spec.region,
            "project": project,
            "bucketNames": buckets.bucket_names,
            "clusterName": cluster_name,
            "kubeconfig": pulumi.Output.secret(kubeconfig),
            "registryUrl": registry.url,
            "imageRefs": images.refs if images is not None else {},
            "databasePrivateIp": tracking.private_ip,
            "databaseConnectionName": tracking.connection_name,
            "databasePasswordSecret": tracking.password_secret_id,
            "redisHost": online.host if online is not None else None,
            "maxGpus": spec.max_gpus,
            "maxGpusByPool": {p.name: p.max_gpus for p in spec.gpu_pools},
            "serviceAccounts": identities.emails,
            "certificateDnsRecords": certificate.dns_records if certificate is not None else [],
        }
        if spec.ci is not None:
            ci = CiDeployer(
                f"{name}-ci",
                CiDeployerArgs(ci=spec.ci, project=project, stem=stem, audit_bucket=buckets.bucket_names["models"]),
                opts=child,
            )
            self.exports["ciDeployer"] = ci.exports
        self.register_outputs(self.exports)

    def _images(
        self, name: str, spec: PlatformSpec, registry: ContainerRegistry, provider: gcp.Provider
    ) -> PlatformImages | None:
        """The images the spec leaves empty, built and pushed to the stack's Artifact Registry repository with the
        deployer's access token (the provider's credentials)."""
        if not spec.built_images:
            return None
        client = gcp.organizations.get_client_config_output(opts=pulumi.InvokeOptions(parent=self, provider=provider))
        return PlatformImages(
            f"{name}-images",
            PlatformImagesArgs(
                images=spec.built_images,
                repositories={r: pulumi.Output.concat(registry.url, "/", r) for r in spec.registry.repositories},
                login=RegistryLogin(
                    address=f"{spec.region}-docker.pkg.dev", username="oauth2accesstoken", password=client.access_token
                ),
                platforms=image_platforms(spec),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
