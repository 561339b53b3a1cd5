"""The whole platform on AWS, composed from the AWS components and driven by ``PlatformSpec``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi_mlops.components.images import PlatformImages, PlatformImagesArgs, RegistryLogin, image_platforms
from pulumi_mlops.components.k8s.context import WORKLOAD_ROLES, ClusterContext, GpuScheduling
from pulumi_mlops.components.k8s.crds import MonitoringCrds, MonitoringCrdsArgs
from pulumi_mlops.components.k8s.envoy_gateway import (
    ENVOY_GATEWAY_CLASS,
    ENVOY_GATEWAY_NAMESPACE,
    EnvoyGateway,
    EnvoyGatewayArgs,
)
from pulumi_mlops.components.k8s.namespaces import namespace_name, service_account_subject

from pulumi_mlops.spec import PlatformSpec
from pulumi_mlops.spec.instances import DEFAULT_SYSTEM_TYPE, instance_type

from .ci_deployer import CiDeployer, CiDeployerArgs
from .cluster import EksCluster, EksClusterArgs
from .cluster_autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from .container_registry import ContainerRegistry, ContainerRegistryArgs
from .device_plugin import NvidiaGpuAddons, NvidiaGpuAddonsArgs
from .efa import efa_devices
from .gateway_load_balancer import GatewayLoadBalancer, GatewayLoadBalancerArgs
from .gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from .identity import WorkloadIdentity, WorkloadIdentityArgs
from .karpenter import Karpenter, KarpenterArgs
from .mountpoint import MountpointS3, MountpointS3Args
from .network import Network, NetworkArgs
from .online_store import OnlineStore, OnlineStoreArgs
from .registry_buckets import RegistryBuckets, RegistryBucketsArgs
from .tracking_store import TrackingStore, TrackingStoreArgs

__all__ = ["DEFAULT_GATEWAY_CLASS", "AwsPlatform", "AwsPlatformArgs"]

DEFAULT_GATEWAY_CLASS = ENVOY_GATEWAY_CLASS
"""Gateway API class used when the spec names none: Envoy Gateway, installed here with an NLB in front of its
proxies as ``spec.ingress`` says (internal by default; TLS with an ACM certificate when ``ingress.tls`` is set). It
implements the weighted backends, RequestMirror and URLRewrite the serving routes use; the VPC Lattice controller
implements neither filter."""


@dataclass
class AwsPlatformArgs:
    """Inputs of :class:`AwsPlatform`."""

    spec: PlatformSpec
    """The validated environment spec (``cloud: aws``)."""


class AwsPlatform(pulumi.ComponentResource):
    """Every AWS resource of one environment.

    ``exports`` holds what the stack exports; ``cluster_context`` is what the Kubernetes components take.
    """

    exports: dict[str, Any]
    cluster_context: ClusterContext

    def __init__(self, name: str, args: AwsPlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:aws:Platform", name, None, opts)
        spec = args.spec
        tags = spec.labels
        provider = aws.Provider(f"{name}-aws", region=spec.region, opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, providers={"aws": provider})
        gpu = GpuScheduling(
            taint_value="true",
            pool_taints={p.name: [(t.key, t.value, t.effect) for t in p.taints] for p in spec.gpu_pools},
            pool_efa={p.name: efa_devices(p) for p in spec.gpu_pools if p.efa},
        )
        stem = f"{spec.name}-{spec.environment}"

        buckets = RegistryBuckets(
            f"{name}-buckets",
            RegistryBucketsArgs(spec=spec.buckets, tags=tags, key_alias=f"{stem}-buckets", stem=stem),
            opts=child,
        )

        existing = spec.cluster.existing
        cluster_name = existing.name if existing is not None else spec.resource_name("eks")
        network = (
            None
            if existing is not None
            else Network(
                f"{name}-network",
                NetworkArgs(spec=spec.network, region=spec.region, cluster_name=cluster_name, tags=tags),
                opts=child,
            )
        )
        cluster = EksCluster(
            f"{name}-cluster",
            EksClusterArgs(
                spec=spec.cluster,
                cluster_name=cluster_name,
                region=spec.region,
                subnet_ids=network.private_subnet_ids if network else (),
                tags=tags,
            ),
            opts=child,
        )
        vpc_id = network.vpc_id if network else cluster.vpc_id
        subnet_ids: pulumi.Input[list[str]] = (
            pulumi.Output.all(*network.private_subnet_ids) if network else cluster.subnet_ids
        )
        with_k8s = pulumi.ResourceOptions(parent=self, providers={"aws": provider, "kubernetes": cluster.provider})

        registry = ContainerRegistry(
            f"{name}-registry",
            ContainerRegistryArgs(
                spec=spec.registry,
                prefix=stem,
                kms_key_arn=buckets.kms_key_arn,
                force_delete=spec.buckets.force_destroy,
                tags=tags,
            ),
            opts=child,
        )
        images = self._images(name, spec, registry, provider)
        tracking = TrackingStore(
            f"{name}-tracking",
            TrackingStoreArgs(
                spec=spec.tracking,
                identifier=spec.resource_name("mlflow"),
                vpc_id=vpc_id,
                subnet_ids=subnet_ids,
                client_security_group_id=cluster.security_group_id,
                kms_key_arn=buckets.kms_key_arn,
                tags=tags,
            ),
            opts=child,
        )
        online = (
            OnlineStore(
                f"{name}-online-store",
                OnlineStoreArgs(
                    spec=spec.feature_store,
                    identifier=spec.resource_name("feast"),
                    vpc_id=vpc_id,
                    subnet_ids=subnet_ids,
                    client_security_group_id=cluster.security_group_id,
                    kms_key_arn=buckets.kms_key_arn,
                    tags=tags,
                ),
                opts=child,
            )
            if spec.feature_store.enabled
            else None
        )
        secret_arns: dict[str, list[pulumi.Input[str]]] = {"mlflow": [tracking.secret_arn]}
        if online is not None:
            secret_arns["feast"] = [online.secret_arn]
        identity = WorkloadIdentity(
            f"{name}-identity",
            WorkloadIdentityArgs(
                cluster_name=cluster.cluster_name,
                bucket_arns=buckets.bucket_arns,
                kms_key_arn=buckets.kms_key_arn,
                subjects={role: service_account_subject(spec, role) for role in WORKLOAD_ROLES},
                secret_arns=secret_arns,
                mode=spec.cluster.workload_identity,
                oidc_issuer=cluster.oidc_issuer,
                oidc_provider_arn=cluster.oidc_provider_arn,
                tags=tags,
            ),
            opts=child,
        )

        crds = MonitoringCrds(
            f"{name}-crds",
            MonitoringCrdsArgs(kube_prometheus_stack_version=spec.monitoring.chart_version, depends_on=cluster.ready),
            opts=with_k8s,
        )
        gateway_class = spec.gateway_class or DEFAULT_GATEWAY_CLASS
        gateway_ready: list[pulumi.Resource] = []
        load_balancer: GatewayLoadBalancer | None = None
        if gateway_class == ENVOY_GATEWAY_CLASS:
            load_balancer = GatewayLoadBalancer(
                f"{name}-gateway-lb", GatewayLoadBalancerArgs(ingress=spec.ingress, tags=tags), opts=child
            )
            envoy = EnvoyGateway(
                f"{name}-envoy-gateway",
                EnvoyGatewayArgs(
                    service_annotations=load_balancer.annotations,
                    source_ranges=spec.ingress.allowed_cidrs,
                    controller_replicas=min(2, spec.cluster.system_min_nodes),
                    proxy_replicas=min(2, spec.cluster.system_min_nodes),
                    labels=tags,
                    depends_on=[*cluster.ready, *load_balancer.ready],
                ),
                opts=with_k8s,
            )
            gateway_ready = envoy.ready
        datasets_volume = None
        if spec.buckets.mount_datasets:
            datasets_volume = MountpointS3(
                f"{name}-mountpoint",
                MountpointS3Args(
                    cluster_name=cluster.cluster_name,
                    kubernetes_version=spec.cluster.kubernetes_version,
                    bucket_name=buckets.bucket_names["datasets"],
                    bucket_arn=buckets.bucket_arns["datasets"],
                    kms_key_arn=buckets.kms_key_arn,
                    region=spec.region,
                    volume_name=spec.resource_name("datasets"),
                    claim_namespace=namespace_name(spec, "training"),
                    tags=tags,
                    depends_on=cluster.ready,
                ),
                opts=with_k8s,
            ).volume
        gpu_ready: list[pulumi.Resource] = []
        if spec.autoscaler == "karpenter":
            system_type = instance_type("aws", spec.cluster.system_instance_type or DEFAULT_SYSTEM_TYPE["aws"])
            karpenter = Karpenter(
                f"{name}-karpenter",
                KarpenterArgs(
                    pools=spec.gpu_pools,
                    cluster_name=cluster.cluster_name,
                    region=spec.region,
                    subnet_ids=subnet_ids,
                    security_group_id=cluster.security_group_id,
                    vpc_id=vpc_id,
                    subnet_zones=network.private_subnet_zones if network else (),
                    cpu_pool=spec.karpenter,
                    cpu_arch=system_type.arch if system_type is not None else "amd64",
                    training=spec.training,
                    gpu=gpu,
                    tags=tags,
                    depends_on=cluster.ready,
                    controller_replicas=min(2, spec.cluster.system_min_nodes),
                ),
                opts=with_k8s,
            )
            gpu_ready.extend(karpenter.ready)
        else:
            for pool in spec.gpu_pools:
                gpu_ready.append(
                    GpuNodePool(
                        f"{name}-gpu-{pool.name}",
                        GpuNodePoolArgs(
                            pool=pool,
                            cluster_name=cluster_name,
                            node_role_arn=cluster.node_role.arn,
                            subnet_ids=subnet_ids,
                            gpu=gpu,
                            tags=tags,
                            depends_on=cluster.ready,
                        ),
                        opts=child,
                    ).node_group
                )
            if spec.gpu_pools:
                autoscaler = ClusterAutoscaler(
                    f"{name}-cluster-autoscaler",
                    ClusterAutoscalerArgs(
                        cluster_name=cluster.cluster_name,
                        region=spec.region,
                        kubernetes_version=spec.cluster.kubernetes_version,
                        tags=tags,
                        depends_on=[*cluster.ready, *gpu_ready],
                    ),
                    opts=with_k8s,
                )
                gpu_ready.append(autoscaler.release)
        if spec.gpu_pools:
            addons = NvidiaGpuAddons(
                f"{name}-nvidia",
                NvidiaGpuAddonsArgs(
                    pools=spec.gpu_pools, gpu=gpu, depends_on=[*cluster.ready, *gpu_ready, crds.release]
                ),
                opts=with_k8s,
            )
            gpu_ready.extend(addons.releases)

        self.cluster_context = ClusterContext(
            provider=cluster.provider,
            cloud="aws",
            bucket_uris={role: pulumi.Output.concat("s3://", bucket) for role, bucket in buckets.bucket_names.items()},
            service_account_annotations=identity.service_account_annotations,
            tracking_db=tracking.database,
            redis=online.redis if online is not None else None,
            registry_url=registry.registry_url,
            images=images.refs if images is not None else {},
            gateway_class=gateway_class,
            gateway_depends_on=gateway_ready,
            gateway_namespaces=[ENVOY_GATEWAY_NAMESPACE] if gateway_ready else [],
            gateway_port=load_balancer.port if load_balancer is not None else 80,
            gateway_hostname=load_balancer.hostname if load_balancer is not None else None,
            datasets_volume=datasets_volume,
            gpu=gpu,
            # Pods get credentials only if their Pod Identity association exists when they start: the workloads
            # wait for the identities (roles, policies, associations).
            depends_on=[*cluster.ready, *gpu_ready, crds.release, identity],
        )
        max_gpus_per_pool = {pool.name: pool.max_gpus for pool in spec.gpu_pools}
        self.exports = {
            "cloud": "aws",
            "region": spec.region,
            "bucketNames": buckets.bucket_names,
            "bucketsKmsKeyArn": buckets.kms_key_arn,
            "clusterName": cluster.cluster_name,
            "kubeconfig": pulumi.Output.secret(cluster.kubeconfig),
            "ecrRepositoryUrls": registry.repository_urls,
            "registryUrl": registry.registry_url,
            "imageRefs": images.refs if images is not None else {},
            "databaseEndpoint": tracking.address,
            "databaseSecretArn": tracking.secret_arn,
            "redisEndpoint": online.address if online is not None else None,
            "workloadRoleArns": identity.role_arns,
            "gpuAutoscaler": spec.autoscaler,
            "maxGpusPerPool": max_gpus_per_pool,
            "maxGpusPerStack": sum(max_gpus_per_pool.values()),
            "gpuCaps": {"perPool": spec.cost.max_gpus_per_pool, "perStack": spec.cost.max_gpus_per_stack},
        }
        if load_balancer is not None:
            self.exports["gatewayLoadBalancer"] = {
                "scheme": spec.ingress.scheme,
                "port": load_balancer.port,
                "certificateArn": load_balancer.certificate_arn,
                "hostname": load_balancer.hostname,
            }
        if network is not None:
            self.exports["vpcId"] = network.vpc_id
            self.exports["natGateways"] = network.nat_gateway_count
        if spec.ci is not None:
            ci = CiDeployer(
                f"{name}-ci",
                CiDeployerArgs(
                    ci=spec.ci,
                    name=spec.name,
                    stem=stem,
                    region=spec.region,
                    cluster_name=cluster.cluster_name,
                    audit_bucket_arn=buckets.bucket_arns["models"],
                    hosted_zone_ids=[spec.ingress.tls.hosted_zone_id]
                    if spec.ingress.tls is not None and spec.ingress.tls.hosted_zone_id
                    else [],
                    tags=tags,
                ),
                opts=child,
            )
            self.exports["ciDeployer"] = ci.exports
        self.register_outputs(self.exports)

    def _images(
        self, name: str, spec: PlatformSpec, registry: ContainerRegistry, provider: aws.Provider
    ) -> PlatformImages | None:
        """The images the spec leaves empty, built and pushed to the stack's ECR repositories (an ECR token of
        the repositories' registry, valid 12 hours, is the push credential)."""
        if not spec.built_images:
            return None
        token = aws.ecr.get_authorization_token_output(
            registry_id=registry.registry_id, opts=pulumi.InvokeOptions(parent=self, provider=provider)
        )
        return PlatformImages(
            f"{name}-images",
            PlatformImagesArgs(
                images=spec.built_images,
                repositories=registry.repository_urls,
                login=RegistryLogin(
                    address=registry.registry_url.apply(lambda url: url.split("/", 1)[0]),
                    username=token.user_name,
                    password=token.password,
                ),
                platforms=image_platforms(spec),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
