"""Whole AWS stacks: dev vs prod differences, network, EKS security settings, tags and exports."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from aws_support import is_secret, one, props, untagged, unwrap
from pulumi_mlops.components.aws.cluster import ADDON_VERSIONS, CONTROL_PLANE_LOGS
from pulumi_mlops.components.aws.mountpoint import MOUNTPOINT_ADDON, MOUNTPOINT_VERSIONS
from pulumi_mlops.components.aws.network import subnet_cidrs

from pulumi_mlops.preview import PreviewResult

Previews = Callable[[str], PreviewResult]
AWS_STACKS = ("dev", "staging", "prod")


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_taggable_resource_carries_the_spec_labels(stack: str, previews: Previews) -> None:
    result = previews(stack)
    assert untagged(result.graph, result.spec.labels) == []
    checked = {r.type for r in result.graph.resources.values() if "tags" in r.inputs}
    for type_ in ("aws:ec2/vpc:Vpc", "aws:eks/cluster:Cluster", "aws:rds/instance:Instance", "aws:iam/role:Role"):
        assert type_ in checked


def test_dev_and_prod_network_layout(previews: Previews) -> None:
    for stack, azs, nats in (("dev", 2, 1), ("prod", 3, 3)):
        graph = previews(stack).graph
        subnets = [props(s) for s in graph.of_type("aws:ec2/subnet:Subnet")]
        public = [s for s in subnets if s["tags"].get("kubernetes.io/role/elb") == "1"]
        private = [s for s in subnets if s["tags"].get("kubernetes.io/role/internal-elb") == "1"]
        assert len(public) == len(private) == azs, stack
        assert len({s["availabilityZone"] for s in private}) == azs, stack
        assert all(s["mapPublicIpOnLaunch"] is False for s in public)
        assert sorted(s["cidrBlock"] for s in private) == sorted(subnet_cidrs("10.0.0.0/16", azs)[0])
        assert len(graph.of_type("aws:ec2/natGateway:NatGateway")) == nats, stack
        assert len(graph.of_type("aws:ec2/eip:Eip")) == nats, stack
        private_rts = [props(r) for r in graph.of_type("aws:ec2/routeTable:RouteTable") if "private" in r.name]
        nat_ids = {rt["routes"][0]["natGatewayId"] for rt in private_rts}
        assert len(private_rts) == azs and len(nat_ids) == nats, stack
        assert graph.outputs["natGateways"] == nats


def test_vpc_endpoints_keep_image_pulls_private(previews: Previews) -> None:
    graph = previews("prod").graph
    endpoints = {props(e)["serviceName"]: props(e) for e in graph.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
    assert set(endpoints) == {f"com.amazonaws.us-east-1.{s}" for s in ("s3", "ecr.api", "ecr.dkr", "sts")}
    s3 = endpoints["com.amazonaws.us-east-1.s3"]
    assert s3["vpcEndpointType"] == "Gateway" and len(s3["routeTableIds"]) == 3
    for service in ("ecr.api", "ecr.dkr", "sts"):
        ep = endpoints[f"com.amazonaws.us-east-1.{service}"]
        assert ep["vpcEndpointType"] == "Interface" and ep["privateDnsEnabled"] is True
        assert len(ep["subnetIds"]) == 3 and all("private" in s for s in ep["subnetIds"])
    sg = props(graph.named("mlops-network-endpoints-sg"))
    assert [(r["fromPort"], r["toPort"], r["cidrBlocks"]) for r in sg["ingress"]] == [(443.0, 443.0, ["10.0.0.0/16"])]


def test_cluster_security_settings(previews: Previews) -> None:
    for stack in AWS_STACKS:
        result = previews(stack)
        graph = result.graph
        cluster = props(one(graph, "aws:eks/cluster:Cluster"))
        assert cluster["version"] == result.spec.cluster.kubernetes_version
        assert cluster["upgradePolicy"] == {"supportType": "STANDARD"}, stack
        assert cluster["enabledClusterLogTypes"] == list(CONTROL_PLANE_LOGS)
        assert cluster["encryptionConfig"]["resources"] == ["secrets"]
        key = props(graph.named("mlops-cluster-secrets-key"))
        assert key["enableKeyRotation"] is True
        assert cluster["encryptionConfig"]["provider"]["keyArn"].endswith("key/mlops-cluster-secrets-key-key-id")
        assert cluster["accessConfig"]["authenticationMode"] == "API"
        vpc = cluster["vpcConfig"]
        assert vpc["endpointPrivateAccess"] is True
        assert all("private" in s for s in vpc["subnetIds"])
        # Every AWS stack: a public endpoint restricted to the deployers' egress, private access for the nodes.
        assert vpc["endpointPublicAccess"] is True
        assert vpc["publicAccessCidrs"] == result.spec.cluster.api_allowed_cidrs
        if stack == "prod":
            assert vpc["publicAccessCidrs"] == ["18.211.42.16/28"]
            assert cluster["deletionProtection"] is True
        else:
            assert vpc["publicAccessCidrs"] == ["18.211.42.16/28", "3.225.14.200/32"]


def test_addons_are_pinned_and_ordered_around_the_system_nodes(previews: Previews) -> None:
    result = previews("prod")
    graph = result.graph
    addons = {props(a)["addonName"]: a for a in graph.of_type("aws:eks/addon:Addon")}
    version = result.spec.cluster.kubernetes_version
    assert result.spec.buckets.mount_datasets, "prod mounts the datasets bucket"
    expected = {**ADDON_VERSIONS[version], MOUNTPOINT_ADDON: MOUNTPOINT_VERSIONS[version]}
    assert {n: props(a)["addonVersion"] for n, a in addons.items()} == expected
    system = graph.named("mlops-cluster-system")
    assert props(system)["amiType"] == "AL2023_x86_64_STANDARD"
    assert props(system)["scalingConfig"]["minSize"] == 3.0
    assert props(system)["nodeRepairConfig"] == {"enabled": True, "maxParallelNodesRepairedCount": 1.0}
    for early in ("vpc-cni", "kube-proxy", "eks-pod-identity-agent"):
        assert addons[early].urn in system.dependencies
    for late in ("coredns", "aws-ebs-csi-driver", "eks-node-monitoring-agent", MOUNTPOINT_ADDON):
        assert system.urn in addons[late].dependencies
    ebs = props(addons["aws-ebs-csi-driver"])["podIdentityAssociations"]
    assert ebs[0]["serviceAccount"] == "ebs-csi-controller-sa"


def test_exports_keep_the_base_keys_and_add_cluster_and_stores(previews: Previews) -> None:
    result = previews("prod")
    out = result.graph.outputs
    for key in ("cloud", "region", "bucketNames", "bucketsKmsKeyArn"):
        assert key in out
    assert out["clusterName"] == "mlops-prod-eks"
    assert set(out["ecrRepositoryUrls"]) == {"runtime", "mlflow"}
    assert out["ecrRepositoryUrls"]["runtime"].endswith(".amazonaws.com/mlops-prod/runtime")
    assert set(out["imageRefs"]) == {"runtime", "runtime-cuda", "mlflow"}
    assert out["databaseEndpoint"].startswith("mlops-prod-mlflow-db.")
    assert out["redisEndpoint"].startswith("master.mlops-prod-feast-redis.")
    assert out["maxGpusPerPool"] == {"l4": 6, "a10g-train": 8}
    assert out["maxGpusPerStack"] == 14
    assert out["maxGpusPerStack"] <= result.spec.cost.max_gpus_per_stack
    assert all(v <= result.spec.cost.max_gpus_per_pool for v in out["maxGpusPerPool"].values())


def test_kubeconfig_is_a_secret_that_uses_aws_eks_get_token(previews: Previews) -> None:
    out = previews("dev").graph.outputs
    assert is_secret(out["kubeconfig"])
    config = json.loads(unwrap(out["kubeconfig"]))
    user = config["users"][0]["user"]
    assert set(user) == {"exec"}, "no static token or client certificate"
    assert user["exec"]["command"] == "aws"
    assert user["exec"]["args"][:4] == ["eks", "get-token", "--cluster-name", "mlops-dev-eks"]
    assert config["clusters"][0]["cluster"]["server"].startswith("https://")
    provider = one(previews("dev").graph, "pulumi:providers:kubernetes")
    assert is_secret(provider.inputs["kubeconfig"])


def test_buckets_and_registry_are_destroyable_only_in_dev(previews: Previews) -> None:
    for stack, destroyable in (("dev", True), ("prod", False)):
        graph = previews(stack).graph
        assert {props(b)["forceDestroy"] for b in graph.of_type("aws:s3/bucket:Bucket")} == {destroyable}
        assert {props(r)["forceDelete"] for r in graph.of_type("aws:ecr/repository:Repository")} == {destroyable}
