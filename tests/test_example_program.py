"""The example program reuses the components outside this project's stacks, in an existing cluster."""

from __future__ import annotations

import yaml
from pulumi_mlops.components.k8s.manifests import check_manifests

from pulumi_mlops.preview import repo_root, run_program
from pulumi_mlops.preview.coverage import is_builtin_kubernetes
from pulumi_mlops.spec import ClusterSpec

EXAMPLE = repo_root() / "examples" / "existing-cluster"


def preview_example():
    config = yaml.safe_load((EXAMPLE / "Pulumi.example.yaml").read_text())["config"]
    return run_program(EXAMPLE / "__main__.py", config, project="mlops-existing-cluster", stack="example")


def test_example_adds_a_gpu_pool_and_an_endpoint_and_nothing_else() -> None:
    graph = preview_example()
    types = set(graph.counts())
    assert not {t for t in types if t.startswith(("aws:ec2/vpc", "aws:eks/cluster", "aws:s3/"))}, "no new VPC/cluster"
    (group,) = graph.of_type("aws:eks/nodeGroup:NodeGroup")
    assert group.props["clusterName"] == "analytics-prod"
    assert group.props["nodeRoleArn"] == "arn:aws:iam::123456789012:role/analytics-prod-nodes"
    assert group.props["subnetIds"] == ["subnet-0a1b2c3d", "subnet-4e5f6a7b"]
    assert {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"} in group.props["taints"]
    assert graph.outputs["maxGpus"] == 4

    deployments = {d.props["metadata"]["name"]: d for d in graph.of_type("kubernetes:apps/v1:Deployment")}
    assert set(deployments) == {"churn-stable", "churn-canary"}
    (provider,) = graph.of_type("pulumi:providers:kubernetes")
    for dep in deployments.values():
        assert dep.props["metadata"]["namespace"] == "ml-serving"
        assert dep.provider and dep.provider.startswith(provider.urn)
        pod = dep.props["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "model-server"
        assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert pod["containers"][0]["image"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-runtime:0.1.0"

    (route,) = graph.of_type("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute")
    assert route.props["spec"]["parentRefs"][0]["name"] == "shared-gateway"
    assert route.props["spec"]["parentRefs"][0]["namespace"] == "gateway-system"


def test_example_objects_pass_schema_validation() -> None:
    graph = preview_example()
    assert any(is_builtin_kubernetes(r.type) for r in graph.resources.values())
    assert check_manifests(graph, ClusterSpec().kubernetes_version) == []
