"""``AwsPlatform.cluster_context``: what the cloud-neutral Kubernetes components receive from AWS."""

from __future__ import annotations

import pulumi_kubernetes as k8s
import pytest
from aws_support import run_platform, stack_raw
from pulumi_mlops.components.aws import AwsPlatform
from pulumi_mlops.components.k8s.context import DatabaseRef, RedisRef

from pulumi_mlops.preview import ResourceGraph


@pytest.fixture(scope="module")
def dev() -> tuple[ResourceGraph, AwsPlatform]:
    _, graph, platform = run_platform(stack_raw("dev"))
    return graph, platform


def test_context_fields(dev: tuple[ResourceGraph, AwsPlatform]) -> None:
    _, platform = dev
    ctx = platform.cluster_context
    assert ctx.cloud == "aws"
    assert isinstance(ctx.provider, k8s.Provider)
    assert set(ctx.bucket_uris) == {"models", "datasets", "prediction-logs"}
    assert ctx.gateway_class == "amazon-vpc-lattice"
    assert (ctx.gpu.taint_key, ctx.gpu.taint_value, ctx.gpu.taint_effect) == ("nvidia.com/gpu", "true", "NoSchedule")
    assert ctx.gpu.pool_label == "pulumi-mlops.io/gpu-pool"
    assert isinstance(ctx.tracking_db, DatabaseRef) and ctx.tracking_db.port == 5432
    assert isinstance(ctx.redis, RedisRef) and ctx.redis.tls is True
    assert ctx.service_account_annotations == {}, "Pod Identity binds by namespace and name"


def test_context_waits_for_nodes_and_addons(dev: tuple[ResourceGraph, AwsPlatform]) -> None:
    graph, platform = dev
    waited = {r.urn for r in graph.resources.values() if r.type == "aws:eks/nodeGroup:NodeGroup"}
    waited |= {r.urn for r in graph.of_type("aws:eks/addon:Addon")}
    names = {res._name for res in platform.cluster_context.depends_on}
    assert {graph.resources[u].name for u in waited} <= names
    assert "mlops-nvidia-nvidia-device-plugin" in names


def test_gateway_class_follows_the_spec() -> None:
    raw = stack_raw("dev")
    raw["gateway_class"] = "alb"
    raw["gpu_pools"] = []
    raw["endpoints"] = [e for e in raw["endpoints"] if "gpu_pool" not in e]
    raw["training"] = [t for t in raw["training"] if "gpu_pool" not in t]
    raw["feature_store"] = {"enabled": False}
    _, graph, platform = run_platform(raw)
    assert platform.cluster_context.gateway_class == "alb"
    assert platform.cluster_context.redis is None
    assert not graph.of_type("aws:elasticache/replicationGroup:ReplicationGroup")
    assert not graph.of_type("kubernetes:helm.sh/v3:Release")
    assert platform.exports["redisEndpoint"] is None
    assert platform.exports["maxGpusPerStack"] == 0
