"""Deploy readiness, databases: Secrets pods read exist, and the pods using the tracking PostgreSQL reach it.

Each check starts from a real stack's graph (prod: MLflow and the parallel search workers on RDS behind
Karpenter nodes; gcp-prod: MLflow on Cloud SQL) and breaks one field.
"""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_mlops.policies.offline import PolicyReport

from pulumi_mlops.preview import CapturedResource, ResourceGraph
from pulumi_mlops.preview.graph import is_secret

from .readiness import Previews, baseline, cut_dependencies, drop, first, run

SECRETS = "secret-references-resolve"
REACHABLE = "database-reachable"
STACKS = ["dev", "staging", "prod", "gcp-dev", "gcp-prod"]
SECRET = "kubernetes:core/v1:Secret"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
CLOUD_SQL = "gcp:sql/databaseInstance:DatabaseInstance"
PSA = "gcp:servicenetworking/connection:Connection"


def only(report: PolicyReport, policy: str) -> list[tuple[str, str]]:
    found = [v for v in report.violations if v.policy == policy]
    assert all(v.mandatory for v in found), [v.message for v in found if not v.mandatory]
    return [(v.resource_name, v.message) for v in found]


def k8s_object(graph: ResourceGraph, type_: str, namespace: str, name: str) -> CapturedResource:
    return first(
        graph,
        type_,
        lambda r: r.inputs["metadata"].get("namespace") == namespace and r.inputs["metadata"]["name"] == name,
    )


def search_secret(graph: ResourceGraph) -> CapturedResource:
    return k8s_object(graph, SECRET, "mlops-training", "search-db")


def workloads(violations: list[tuple[str, str]]) -> set[str]:
    """The workload each message names (``CronJob mlops-training/train-churn``)."""
    return {" ".join(message.split(" ", 2)[:2]) for _, message in violations}


@pytest.mark.parametrize("stack", STACKS)
def test_the_stacks_pass(previews: Previews, stack: str) -> None:
    graph, spec = baseline(previews, stack)
    report = run(graph, spec, SECRETS, REACHABLE)
    assert report.violations == []


def test_a_secret_missing_from_the_jobs_namespace_is_reported(previews: Previews) -> None:
    graph, spec = baseline(previews, "prod")
    search_secret(graph).inputs["metadata"]["namespace"] = "mlops-platform"
    found = only(run(graph, spec, SECRETS), SECRETS)
    assert workloads(found) == {"CronJob mlops-training/train-churn", "Job mlops-training/train-churn-bootstrap"}
    assert all(
        "reads Secret 'search-db' (container trainer env MLOPS_SEARCH_STORAGE), which the stack does not create in "
        "namespace 'mlops-training' (the stack creates it in mlops-platform)" in message
        for _, message in found
    )


def test_a_secret_without_the_key_is_reported(previews: Previews) -> None:
    graph, spec = baseline(previews, "prod")
    data = search_secret(graph).inputs["stringData"]
    data = data["value"] if is_secret(data) else data  # the whole map is secret when a value is
    data["uri"] = data.pop("url")
    found = only(run(graph, spec, SECRETS), SECRETS)
    assert len(found) == 2 and all(
        "reads key 'url' of Secret mlops-training/search-db" in m and "holds only uri" in m for _, m in found
    )


def test_search_workers_need_egress_to_the_database_port(previews: Previews) -> None:
    graph, spec = baseline(previews, "prod")
    egress = k8s_object(graph, NETWORK_POLICY, "mlops-training", "allow-egress").inputs["spec"]["egress"]
    egress[:] = [rule for rule in egress if {"protocol": "TCP", "port": 5432.0} not in rule.get("ports", [])]
    found = only(run(graph, spec, REACHABLE), REACHABLE)
    assert workloads(found) == {"CronJob mlops-training/train-churn", "Job mlops-training/train-churn-bootstrap"}
    assert all(
        "uses database mlops-tracking-db (Secret search-db), but the NetworkPolicies selecting its pods in "
        "namespace 'mlops-training' (allow-dns, allow-egress, allow-within-namespace, default-deny) allow no egress "
        "to TCP 5432 at 10.0.0.0/16" in m
        for _, m in found
    )


def test_the_database_security_group_must_admit_the_nodes(previews: Previews) -> None:
    graph, spec = baseline(previews, "prod")
    group = first(graph, SECURITY_GROUP, lambda r: r.name == "mlops-tracking-sg")
    rule = group.inputs["ingress"][0]
    rule["fromPort"] = rule["toPort"] = 5433.0
    found = only(run(graph, spec, REACHABLE), REACHABLE)
    # Every client of the database: the MLflow server and the search workers.
    assert workloads(found) == {
        "Deployment mlops-platform/mlflow",
        "CronJob mlops-training/train-churn",
        "Job mlops-training/train-churn-bootstrap",
    }
    text = " ".join(m for _, m in found)
    assert "do not admit TCP 5432 from the EKS cluster security group, which the managed node groups' nodes" in text
    assert "from none of the security groups EC2NodeClass 'a10g-train' gives its nodes" in text


def test_every_karpenter_node_class_must_carry_an_admitted_group(previews: Previews) -> None:
    graph, spec = baseline(previews, "prod")
    node_class = first(graph, NODE_CLASS, lambda r: r.inputs["metadata"]["name"] == "a10g-train")
    terms: list[dict[str, Any]] = node_class.inputs["spec"]["securityGroupSelectorTerms"]
    terms[:] = [t for t in terms if t["id"] != "sg-mlops-prod-eks-cluster"]
    found = only(run(graph, spec, REACHABLE), REACHABLE)
    assert len(found) == 3 and all(
        "admit TCP 5432 from none of the security groups EC2NodeClass 'a10g-train' gives its nodes "
        "(mlops-karpenter-efa-sg-id): select the EKS cluster security group in the node class" in m
        for _, m in found
    )


def test_cloud_sql_must_be_on_the_clusters_network(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-prod")
    instance = first(graph, CLOUD_SQL)
    instance.inputs["settings"]["ipConfiguration"]["privateNetwork"] = "projects/acme-ml-prod/global/networks/other"
    found = only(run(graph, spec, REACHABLE), REACHABLE)
    assert workloads(found) == {"Deployment mlops-platform/mlflow"}
    text = " ".join(m for _, m in found)
    assert "its private IP is on network acme-ml-prod/other, and GKE cluster" in text
    assert "no private services access connection (servicenetworking) exists on network acme-ml-prod/other" in text


def test_cloud_sql_needs_private_services_access_first(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-prod")
    connection = first(graph, PSA)
    cut_dependencies(first(graph, CLOUD_SQL), [connection.urn])
    found = only(run(graph, spec, REACHABLE), REACHABLE)
    assert [m.split(": ", 1)[1] for _, m in found] == [
        "it does not wait for the private services access connection (mlops-psa-connection), and creating a "
        "private-IP instance before the peering exists fails: add the connection to its depends_on"
    ]
    drop(graph, connection)
    found = only(run(graph, spec, REACHABLE), REACHABLE)
    assert len(found) == 1 and "no private services access connection (servicenetworking) exists" in found[0][1]


def test_a_routes_based_cluster_cannot_reach_cloud_sql(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-prod")
    cluster = first(graph, "gcp:container/cluster:Cluster")
    cluster.inputs.pop("ipAllocationPolicy")
    cluster.inputs["networkingMode"] = "ROUTES"
    found = only(run(graph, spec, REACHABLE), REACHABLE)
    assert len(found) == 1 and "is routes-based" in found[0][1]
