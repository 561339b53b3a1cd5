"""Security details of the stores' networking and secrets, asserted on the previewed stacks."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pulumi_mlops.preview import PreviewResult

Previews = Callable[[str], PreviewResult]
CLUSTER_SG = "sg-mlops-{env}-eks-cluster"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_store_security_groups_admit_only_the_cluster(previews: Previews, stack: str) -> None:
    graph, spec = previews(stack).graph, previews(stack).spec
    groups = {g.name: g.props for g in graph.of_type("aws:ec2/securityGroup:SecurityGroup")}
    efa = {"mlops-karpenter-efa-sg"} if any(p.efa for p in spec.gpu_pools) else set()  # node-to-node EFA traffic
    assert set(groups) == {"mlops-network-endpoints-sg", "mlops-online-store-sg", "mlops-tracking-sg", *efa}
    for name, port in (("mlops-tracking-sg", 5432), ("mlops-online-store-sg", 6379)):
        (rule,) = groups[name]["ingress"]
        assert (rule["fromPort"], rule["toPort"], rule["protocol"]) == (port, port, "tcp")
        assert rule["securityGroups"] == [CLUSTER_SG.format(env=stack)]
        assert "cidrBlocks" not in rule, f"{name} must not open to address ranges"
    (endpoints,) = groups["mlops-network-endpoints-sg"]["ingress"]
    assert endpoints["cidrBlocks"] == [previews(stack).spec.network.cidr]
    assert (endpoints["fromPort"], endpoints["toPort"]) == (443, 443)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_database_and_cache_live_in_private_subnets_only(previews: Previews, stack: str) -> None:
    result = previews(stack)
    graph = result.graph
    private = {f"mlops-network-private-{i}-id" for i in range(result.spec.network.az_count)}
    for type_ in ("aws:rds/subnetGroup:SubnetGroup", "aws:elasticache/subnetGroup:SubnetGroup"):
        (group,) = graph.of_type(type_)
        assert set(group.props["subnetIds"]) == private, type_


def test_postgres_parameter_group_forces_tls(previews: Previews) -> None:
    (params,) = previews("prod").graph.of_type("aws:rds/parameterGroup:ParameterGroup")
    assert {"name": "rds.force_ssl", "value": "1", "applyMethod": "immediate"} in params.props["parameters"]
    assert params.props["family"] == "postgres16"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_generated_credentials_are_encrypted_with_the_platform_key(previews: Previews, stack: str) -> None:
    graph = previews(stack).graph
    secrets = graph.of_type("aws:secretsmanager/secret:Secret")
    assert {s.name for s in secrets} == {"mlops-online-store-auth", "mlops-tracking-credentials"}
    bucket_key = "arn:aws:kms:us-east-1:123456789012:key/mlops-buckets-key-key-id"
    assert graph.outputs["bucketsKmsKeyArn"] == bucket_key
    for secret in secrets:
        assert secret.props["kmsKeyId"] == bucket_key


@pytest.mark.parametrize("stack", ["gcp-dev", "gcp-prod"])
def test_gcp_key_rings_sit_in_the_platform_region_and_mlflow_gets_its_database(previews: Previews, stack: str) -> None:
    result = previews(stack)
    rings = result.graph.of_type("gcp:kms/keyRing:KeyRing")
    assert rings and all(r.props["location"] == result.spec.region for r in rings)
    (database,) = result.graph.of_type("gcp:sql/database:Database")
    (instance,) = result.graph.of_type("gcp:sql/databaseInstance:DatabaseInstance")
    assert database.props["name"] == "mlflow"
    assert database.props["instance"] == instance.props["name"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_control_plane_logs_are_kept_and_the_vpc_has_one_internet_gateway(previews: Previews, stack: str) -> None:
    graph = previews(stack).graph
    (logs,) = graph.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert logs.props["name"] == f"/aws/eks/mlops-{stack}-eks/cluster"
    assert logs.props["retentionInDays"] == 90
    (igw,) = graph.of_type("aws:ec2/internetGateway:InternetGateway")
    (vpc,) = graph.of_type("aws:ec2/vpc:Vpc")
    assert igw.property_dependencies["vpcId"] == [vpc.urn]
