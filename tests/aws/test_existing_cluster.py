"""Attaching to an existing EKS cluster: no VPC or cluster is created, only what is missing."""

from __future__ import annotations

from typing import Any

from aws_support import is_secret, one, props, run_platform, stack_raw


def test_existing_cluster_creates_only_what_is_missing() -> None:
    raw: dict[str, Any] = stack_raw("dev")
    raw["cluster"]["existing"] = {"name": "shared-eks", "kubeconfig_secret": "sharedKubeconfig"}
    _, graph, platform = run_platform(raw, config={"sharedKubeconfig": {"secure": "AAAB-ciphertext"}})

    for absent in (
        "aws:ec2/vpc:Vpc",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/natGateway:NatGateway",
        "aws:eks/cluster:Cluster",
        "aws:eks/addon:Addon",
        "aws:eks/accessEntry:AccessEntry",
    ):
        assert not graph.of_type(absent), absent
    assert [k.name for k in graph.of_type("aws:kms/key:Key")] == ["mlops-buckets-key"]

    provider = one(graph, "pulumi:providers:kubernetes")
    assert is_secret(provider.inputs["kubeconfig"])
    assert props(provider)["kubeconfig"] == "preview-secret-sharedKubeconfig"

    (group,) = graph.of_type("aws:eks/nodeGroup:NodeGroup")
    gp = props(group)
    assert gp["clusterName"] == "shared-eks"
    assert gp["subnetIds"] == ["subnet-shared-eks-a", "subnet-shared-eks-b"]
    assert gp["tags"]["k8s.io/cluster-autoscaler/shared-eks"] == "owned"

    db_subnets = props(graph.named("mlops-tracking-subnets"))["subnetIds"]
    assert db_subnets == ["subnet-shared-eks-a", "subnet-shared-eks-b"]
    (rule,) = props(graph.named("mlops-tracking-sg"))["ingress"]
    assert rule["securityGroups"] == ["sg-shared-eks-cluster"]
    assert props(graph.named("mlops-tracking-sg"))["vpcId"] == "vpc-shared-eks"
    for assoc in graph.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation"):
        assert props(assoc)["clusterName"] == "shared-eks"
    assert "vpcId" not in platform.exports
