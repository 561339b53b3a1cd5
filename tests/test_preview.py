"""The offline preview: whole stacks under mocks, isolation between runs, stable JSON graphs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pulumi
import pytest

from pulumi_mlops.preview import DuplicateResourceError, PreviewResult, preview_stack, repo_root, run_program
from pulumi_mlops.spec import stack_names

ROOT = repo_root()
STACKS = stack_names(ROOT / "stacks")


@pytest.mark.parametrize("stack", STACKS)
def test_stack_previews_with_outputs(stack: str, previews: Callable[[str], PreviewResult]) -> None:
    result = previews(stack)
    graph = result.graph
    assert graph.stack == stack and graph.project == "pulumi-mlops"
    counts = graph.counts()
    platform_type = f"pulumi-mlops:{result.spec.cloud}:Platform"
    assert counts[platform_type] == 1
    assert counts[f"pulumi-mlops:{result.spec.cloud}:RegistryBuckets"] == 1
    assert counts["aws:s3/bucket:Bucket" if result.spec.cloud == "aws" else "gcp:storage/bucket:Bucket"] == 3
    for key in ("environment", "profile", "cloud", "region", "bucketNames"):
        assert key in graph.outputs, f"stack output {key} missing"
    assert graph.outputs["environment"] == result.spec.environment
    assert set(graph.outputs["bucketNames"]) == {"models", "datasets", "prediction-logs"}


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_hangs_under_the_platform_component(
    stack: str, previews: Callable[[str], PreviewResult]
) -> None:
    graph = previews(stack).graph
    roots = sorted(r.type for r in graph.resources.values() if r.parent is None)
    assert roots == [f"pulumi-mlops:{previews(stack).spec.cloud}:Platform", "pulumi-mlops:k8s:PlatformServices"]
    for res in graph.resources.values():
        if res.parent is not None:
            assert res.parent in graph.resources, f"{res.urn} has a parent outside the graph"


def test_urns_are_engine_style_for_nested_components(previews: Callable[[str], PreviewResult]) -> None:
    graph = previews("dev").graph
    versioning = graph.named("mlops-buckets-models-versioning")
    assert versioning.urn == (
        "urn:pulumi:dev::pulumi-mlops::pulumi-mlops:aws:Platform$pulumi-mlops:aws:RegistryBuckets"
        "$aws:s3/bucket:Bucket$aws:s3/bucketVersioning:BucketVersioning::mlops-buckets-models-versioning"
    )


def test_duplicate_names_are_rejected_like_the_engine_does() -> None:
    import pulumi_aws as aws

    def program() -> None:
        aws.s3.Bucket("same")
        aws.s3.Bucket("same")

    with pytest.raises(DuplicateResourceError, match="duplicate resource URN"):
        run_program(program, {})


def test_json_graph_is_stable_across_runs() -> None:
    first = preview_stack("dev", ROOT).graph.to_json()
    second = preview_stack("dev", ROOT).graph.to_json()
    assert first == second
    doc = json.loads(first)
    urns = [r["urn"] for r in doc["resources"]]
    assert urns == sorted(urns)
    assert doc["counts"]["aws:s3/bucket:Bucket"] == 3


def test_runs_are_isolated_in_one_process() -> None:
    """Previewing two stacks in one process gives the same graphs as one fresh process each."""
    in_process = {s: preview_stack(s, ROOT).graph.to_json() for s in ("gcp-dev", "dev", "gcp-dev")}
    code = (
        "import sys; from pulumi_mlops.preview import preview_stack; "
        "sys.stdout.write(preview_stack(sys.argv[1]).graph.to_json())"
    )
    for stack in ("dev", "gcp-dev"):
        fresh = subprocess.run(
            [sys.executable, "-c", code, stack], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        assert in_process[stack] == fresh, f"{stack} differs when previewed after another stack"


def test_secure_config_values_become_secret_placeholders() -> None:
    seen: dict[str, object] = {}

    def program() -> None:
        config = pulumi.Config("pulumi-mlops")
        seen["plain"] = config.get("plainKey")
        seen["secret"] = config.get_secret("token")
        seen["structured"] = config.require_object("platform")

    run_program(program, {"pulumi-mlops:plainKey": "v", "pulumi-mlops:token": {"secure": "AAA"}, "platform": {"a": 1}})
    assert seen["plain"] == "v"
    assert isinstance(seen["secret"], pulumi.Output)
    assert seen["structured"] == {"a": 1}


def test_a_failing_program_surfaces_its_error() -> None:
    def program() -> None:
        raise ValueError("boom in program")

    with pytest.raises(ValueError, match="boom in program"):
        run_program(program, {})
    # the next run still works (no leaked root stack or loop)
    import pulumi_aws as aws

    graph = run_program(lambda: aws.s3.Bucket("after-failure") and None, {})
    assert [r.name for r in graph.resources.values()] == ["after-failure"]


def test_unmocked_invoke_names_the_token() -> None:
    def program() -> None:
        pulumi.runtime.invoke("acme:index/getNothing:getNothing", {})

    with pytest.raises(Exception, match=r"no answer for invoke acme:index/getNothing:getNothing"):
        run_program(program, {})


def test_secret_inputs_are_unwrapped_for_checks_and_redacted_in_json() -> None:
    import pulumi_aws as aws

    def program() -> None:
        aws.secretsmanager.SecretVersion("pw", secret_id="db", secret_string=pulumi.Output.secret("hunter2"))

    graph = run_program(program, {})
    version = graph.named("pw")
    assert version.props["secretString"] == "hunter2"
    assert version.inputs["secretString"] != "hunter2", "wire inputs keep the secret wrapped"
    assert "hunter2" not in graph.to_json()
    assert json.loads(graph.to_json())["resources"][0]["inputs"]["secretString"] == "[secret]"


def test_a_single_cross_field_error_still_names_its_path() -> None:
    import copy

    import yaml

    from pulumi_mlops.spec import CONFIG_KEY, SpecError, parse_spec

    raw = copy.deepcopy(yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())["config"][CONFIG_KEY])
    raw["endpoints"][1]["gpu_pool"] = "missing"
    with pytest.raises(SpecError) as info:
        parse_spec(raw)
    assert info.value.problems == [
        "config.pulumi-mlops:platform.endpoints[1] (churn-gpu): gpu_pool 'missing' is not defined; pools are ['l4']"
    ]
