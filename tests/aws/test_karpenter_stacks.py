"""Every AWS stack on Karpenter (dev and prod by default, staging switched from its node groups) runs whole
(``stacks/__main__.py``), passes the whole policy pack and the strict Kubernetes schemas; its training pods opt out
of voluntary disruption and its workloads wait for the NodePools they land on."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pulumi_mlops.components.k8s.manifests import check_manifests
from pulumi_mlops.components.k8s.training import DO_NOT_DISRUPT_ANNOTATION
from pulumi_mlops.policies import policy_config_for
from pulumi_mlops.policies.offline import run_policies

from pulumi_mlops.preview import ResourceGraph, run_program
from pulumi_mlops.preview.mocks import PlatformMocks
from pulumi_mlops.spec import CONFIG_KEY, PlatformSpec, load_stack_config, parse_spec, stack_file

ROOT = Path(__file__).resolve().parents[2]
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"


def _on_karpenter(stack: str) -> Callable[[dict[str, Any]], None]:
    def change(raw: dict[str, Any]) -> None:
        raw["autoscaler"] = "karpenter"  # dev and prod already are: the AWS default
        for pool in raw["gpu_pools"]:
            pool["min_nodes"] = 0  # Karpenter keeps no node minimum (staging states one for its node groups)

    return change


@cache
def program(stack: str) -> tuple[ResourceGraph, PlatformSpec]:
    config = load_stack_config(stack_file(stack, ROOT / "stacks"))
    _on_karpenter(stack)(config[CONFIG_KEY])
    spec = parse_spec(config[CONFIG_KEY])
    graph = run_program(ROOT / "stacks" / "__main__.py", config, stack=stack, mocks=PlatformMocks(region=spec.region))
    return graph, spec


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_stack_on_karpenter_has_no_mandatory_violation(stack: str) -> None:
    graph, spec = program(stack)
    assert not graph.of_type("aws:eks/nodeGroup:NodeGroup")[1:], "GPU pools are Karpenter NodePools"
    pools = {r.inputs["metadata"]["name"] for r in graph.of_type(NODE_POOL)}
    assert pools == {"general", *(p.name for p in spec.gpu_pools)}
    report = run_policies(graph, policy_config_for(spec))
    assert [f"{v.policy} {v.resource_name}: {v.message}" for v in report.mandatory] == []
    assert check_manifests(graph, spec.cluster.kubernetes_version) == []


def test_training_pods_opt_out_of_voluntary_disruption() -> None:
    graph, spec = program("prod")
    templates = {
        r.inputs["metadata"]["name"]: r.inputs["spec"]["jobTemplate"]["spec"]["template"]
        for r in graph.of_type("kubernetes:batch/v1:CronJob")
    }
    for job in spec.training:
        annotations = templates[f"train-{job.name}"]["metadata"]["annotations"]
        assert annotations[DO_NOT_DISRUPT_ANNOTATION] == "true", job.name
    for one_off in graph.of_type("kubernetes:batch/v1:Job"):
        assert one_off.inputs["spec"]["template"]["metadata"]["annotations"][DO_NOT_DISRUPT_ANNOTATION] == "true"
    for deployment in graph.of_type("kubernetes:apps/v1:Deployment"):
        annotations = deployment.inputs["spec"]["template"]["metadata"].get("annotations") or {}
        assert DO_NOT_DISRUPT_ANNOTATION not in annotations, "serving moves between nodes within its PDB"


def test_workloads_wait_for_the_node_pools() -> None:
    graph, _ = program("prod")
    pools = {r.urn for r in graph.of_type(NODE_POOL)}
    stable = graph.named("mlops-services-endpoint-churn-gpu-stable-deployment")
    assert pools <= set(stable.dependencies)
