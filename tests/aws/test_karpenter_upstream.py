"""The Karpenter layer against upstream's own text at the pinned release (read where ``KARPENTER_SOURCE`` says,
see ``karpenter_upstream``): the controller policies, node role and interruption rules of the getting-started
template, the CRD schemas of the pinned release, and the instance-type reference the NodePools' requirements are
evaluated over."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from aws_support import props, run_platform, stack_raw, statements
from karpenter_upstream import (
    admitted,
    controller_policies,
    crd_schema,
    instance_types,
    normalized_statements,
    upstream_template,
)
from pulumi_mlops.components.aws.karpenter import INTERRUPTION_EVENTS
from pulumi_mlops.components.aws.karpenter_iam import CONTROLLER_POLICIES
from pulumi_mlops.components.aws.karpenter_pools import gpu_name, gpu_node_pool
from pulumi_mlops.components.k8s.context import GpuScheduling
from pulumi_mlops.policies._iam import Document, Request, evaluate

from pulumi_mlops.preview import ResourceGraph
from pulumi_mlops.spec import ACCELERATORS, GpuPoolSpec
from pulumi_mlops.spec.accelerators import EFA_INSTANCE_TYPES
from pulumi_mlops.spec.instances import INSTANCE_TYPES

ACCOUNT = "123456789012"
CLUSTER = "mlops-prod-eks"
VALUES = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": ACCOUNT,
    "ClusterName": CLUSTER,
    "KarpenterInterruptionQueue.Arn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{CLUSTER}-karpenter",
    "KarpenterNodeRole.Arn": f"arn:aws:iam::{ACCOUNT}:role/mlops-karpenter-node-role",
}
GPU_FAMILIES = sorted({f for a in ACCELERATORS["aws"].values() for f in a.families})


@pytest.fixture(scope="module")
def prod_karpenter() -> ResourceGraph:
    """prod as it is: on Karpenter, its training pool single-zone with EFA."""
    raw: dict[str, Any] = stack_raw("prod")
    assert raw.get("autoscaler", "karpenter") == "karpenter"
    assert [p["name"] for p in raw["gpu_pools"] if p.get("efa") and p.get("single_zone")] == ["a10g-train"]
    _, graph, _ = run_platform(raw)
    return graph


def controller_documents(graph: ResourceGraph) -> dict[str, dict[str, Any]]:
    """The controller role's inline policies, by the name of upstream's policy each one is."""
    return {
        policy: json.loads(props(graph.named(f"mlops-karpenter-controller-{suffix}"))["policy"])
        for policy, suffix in CONTROLLER_POLICIES.items()
    }


def kinds(graph: ResourceGraph, kind: str) -> dict[str, dict[str, Any]]:
    found = [props(r) for r in graph.resources.values() if r.type.startswith("kubernetes:karpenter")]
    return {r["metadata"]["name"]: r["spec"] for r in found if r["kind"] == kind}


# --- IAM and interruption handling: the getting-started CloudFormation template --------------------------------


def test_controller_policies_are_upstreams_statement_for_statement(prod_karpenter: ResourceGraph) -> None:
    ours, upstream = controller_documents(prod_karpenter), controller_policies(VALUES)
    assert set(ours) == set(upstream), "one inline policy per managed policy of the template"
    for policy, document in upstream.items():
        assert normalized_statements(ours[policy]) == normalized_statements(document), policy
    controller = prod_karpenter.named("mlops-karpenter-controller")
    inline = [r for r in prod_karpenter.of_type("aws:iam/rolePolicy:RolePolicy") if r.parent == controller.urn]
    assert len(inline) == len(CONTROLLER_POLICIES), "no other policy on the controller role"


def test_the_controller_may_launch_into_the_stacks_placement_group(prod_karpenter: ResourceGraph) -> None:
    """What ``placementGroupSelector`` needs (upstream's 1.11 upgrade notes): find the group, launch into it; in
    the stack's region only."""
    docs = [Document(name, doc) for name, doc in controller_documents(prod_karpenter).items()]
    group = props(prod_karpenter.named("mlops-karpenter-a10g-train-pg"))["name"]
    arn = f"arn:aws:ec2:us-east-1:{ACCOUNT}:placement-group/{group}"

    def allowed(action: str, resource: str, region: str = "us-east-1") -> bool:
        return evaluate(Request(action, resource, context={"aws:RequestedRegion": region}), docs).allowed

    assert allowed("ec2:DescribePlacementGroups", "*")
    assert not allowed("ec2:DescribePlacementGroups", "*", region="eu-west-1")
    for action in ("ec2:RunInstances", "ec2:CreateFleet"):
        assert allowed(action, arn), action
        assert not allowed(action, arn.replace("us-east-1", "eu-west-1")), action
    assert not allowed("ec2:CreatePlacementGroup", arn), "the stack creates the group, not Karpenter"


def test_node_role_has_upstreams_managed_policies(prod_karpenter: ResourceGraph) -> None:
    role = prod_karpenter.named("mlops-karpenter-node-role")
    attached = sorted(
        props(r)["policyArn"]
        for r in prod_karpenter.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r.parent == role.urn
    )
    upstream = upstream_template(VALUES)["Resources"]["KarpenterNodeRole"]["Properties"]["ManagedPolicyArns"]
    assert attached == sorted(upstream)


def test_interruption_handling_is_upstreams(prod_karpenter: ResourceGraph) -> None:
    resources = upstream_template(VALUES)["Resources"]
    rules = [r["Properties"]["EventPattern"] for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    assert sorted(rules, key=json.dumps) == sorted(INTERRUPTION_EVENTS.values(), key=json.dumps)
    queue = props(prod_karpenter.named("mlops-karpenter-interruptions"))
    upstream_queue = resources["KarpenterInterruptionQueue"]["Properties"]
    assert queue["messageRetentionSeconds"] == upstream_queue["MessageRetentionPeriod"]
    assert queue["sqsManagedSseEnabled"] is upstream_queue["SqsManagedSseEnabled"] is True
    ours = statements(props(prod_karpenter.named("mlops-karpenter-interruptions-policy"))["policy"])
    theirs = resources["KarpenterInterruptionQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert [(s["Effect"], s["Action"]) for s in ours] == [(s["Effect"], [s["Action"]]) for s in theirs]
    assert sorted(ours[0]["Principal"]["Service"]) == sorted(theirs[0]["Principal"]["Service"])
    assert ours[1]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert theirs[1]["Condition"] == {"Bool": {"aws:SecureTransport": False}}


# --- NodePool and EC2NodeClass: the CRDs of the pinned release ---------------------------------------------------


CRDS = {"NodePool": "karpenter.sh_nodepools.yaml", "EC2NodeClass": "karpenter.k8s.aws_ec2nodeclasses.yaml"}


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_specs_validate_against_the_pinned_crds(prod_karpenter: ResourceGraph, kind: str) -> None:
    validator = jsonschema.Draft7Validator(crd_schema(CRDS[kind]))
    specs = kinds(prod_karpenter, kind)
    assert set(specs) == {"general", "l4", "a10g-train"}
    for name, spec in specs.items():
        # The mocks' subnet IDs stand in for EC2's, whose form the schema checks.
        for i, term in enumerate(spec.get("subnetSelectorTerms", [])):
            assert term["id"] == f"mlops-network-private-{i}-id"
            term["id"] = f"subnet-0{i}"
        assert [e.message for e in validator.iter_errors(spec)] == [], f"{kind} {name}"


def test_the_crd_schema_rejects_what_karpenter_rejects(prod_karpenter: ResourceGraph) -> None:
    """The vendored schema has teeth: a budget duration in seconds and an unknown field fail it."""
    validator = jsonschema.Draft7Validator(crd_schema(CRDS["NodePool"]))
    spec = json.loads(json.dumps(kinds(prod_karpenter, "NodePool")["a10g-train"]))
    spec["disruption"]["budgets"][1]["duration"] = "5400s"
    assert any("does not match" in e.message for e in validator.iter_errors(spec))
    node_class = json.loads(json.dumps(kinds(prod_karpenter, "EC2NodeClass")["a10g-train"]))
    node_class["instanceStorePolicy"] = "RAID1"
    assert list(jsonschema.Draft7Validator(crd_schema(CRDS["EC2NodeClass"])).iter_errors(node_class))


def test_the_efa_pool_selects_its_placement_group_as_the_crd_defines_it(prod_karpenter: ResourceGraph) -> None:
    """``placementGroupSelector`` (1.11+) takes a name or a ``pg-`` ID; a malformed ID fails the schema."""
    schema = crd_schema(CRDS["EC2NodeClass"])
    selector = kinds(prod_karpenter, "EC2NodeClass")["a10g-train"]["placementGroupSelector"]
    assert selector == {"name": "mlops-prod-eks-a10g-train"}
    validator = jsonschema.Draft7Validator(schema["properties"]["placementGroupSelector"])
    assert [e.message for e in validator.iter_errors(selector)] == []
    assert list(validator.iter_errors({"id": "mlops-prod-eks-a10g-train"})), "an ID is pg-..."
    assert [e.message for e in validator.iter_errors({"id": "pg-0123456789abcdef0"})] == []


# --- the instance-type reference --------------------------------------------------------------------------------


def test_the_reference_lists_every_gpu_family() -> None:
    families = {labels["karpenter.k8s.aws/instance-family"] for labels in instance_types().values()}
    assert set(GPU_FAMILIES) <= families


def test_efa_table_is_the_references() -> None:
    with_efa = {
        name
        for name, labels in instance_types().items()
        if labels["karpenter.k8s.aws/instance-family"] in GPU_FAMILIES and int(labels.get("vpc.amazonaws.com/efa", 0))
    }
    assert with_efa == EFA_INSTANCE_TYPES


def test_accelerator_and_instance_tables_agree_with_the_reference() -> None:
    reference = instance_types()
    for accelerator in ACCELERATORS["aws"].values():
        for name, gpus in accelerator.gpus_by_type.items():
            labels = reference[name]
            assert labels["karpenter.k8s.aws/instance-gpu-name"] == gpu_name(accelerator.name), name
            assert int(labels["karpenter.k8s.aws/instance-gpu-count"]) == gpus, name
    for name, row in INSTANCE_TYPES["aws"].items():
        if row.family not in GPU_FAMILIES:
            continue
        labels = reference[name]
        assert (row.vcpus, row.memory_mib, row.gpus, row.max_pods) == (
            int(labels["karpenter.k8s.aws/instance-cpu"]),
            int(labels["karpenter.k8s.aws/instance-memory"]),
            int(labels["nvidia.com/gpu"]),
            int(labels["pods"]),
        ), name


def test_gpu_node_pools_admit_several_sizes_with_nvme(prod_karpenter: ResourceGraph) -> None:
    reference = instance_types()
    pools = kinds(prod_karpenter, "NodePool")
    admitted_l4, admitted_a10g = admitted(pools["l4"]), admitted(pools["a10g-train"])
    assert admitted_l4 == [
        "g6.16xlarge",
        "g6.2xlarge",
        "g6.4xlarge",
        "g6.8xlarge",
        "g6.xlarge",
        "gr6.4xlarge",
        "gr6.8xlarge",
    ], "every 1-GPU L4 type from g6.xlarge up, over two families"
    assert admitted_a10g == ["g5.12xlarge", "g5.24xlarge"], "every 4-GPU A10G type"
    for name in admitted_l4 + admitted_a10g:
        assert int(reference[name]["karpenter.k8s.aws/instance-local-nvme"]) > 0, f"{name}: RAID0 has disks"


def test_efa_pools_admit_only_types_with_efa() -> None:
    """For every EFA type the accelerator table knows, a pool built on it launches EFA types only."""
    for accelerator in ACCELERATORS["aws"].values():
        for name, gpus in accelerator.gpus_by_type.items():
            if name not in EFA_INSTANCE_TYPES or name not in INSTANCE_TYPES["aws"]:
                continue
            pool = GpuPoolSpec(
                name="train",
                accelerator=accelerator.name,
                instance_type=name,
                gpus_per_node=gpus,
                single_zone=True,
                efa=True,
            )
            launched = admitted(gpu_node_pool(pool, GpuScheduling(), zone="us-east-1a"))
            assert name in launched, name
            assert set(launched) <= EFA_INSTANCE_TYPES, f"{name}: {sorted(set(launched) - EFA_INSTANCE_TYPES)}"
