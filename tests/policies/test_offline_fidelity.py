"""How close the offline run stays to a real ``pulumi preview``: a preview-faithful mode with computed outputs
unknown, remote components named instead of passed silently, and YAML groups decoded the provider's way."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
from pulumi_mlops.policies import policy_config_for
from pulumi_mlops.policies.offline import PolicyReport, check_stack, run_policies
from typer.testing import CliRunner

from pulumi_mlops.cli import app
from pulumi_mlops.preview import run_program

ROOT = Path(__file__).resolve().parents[2]


@cache
def reports(stack: str) -> tuple[PolicyReport, PolicyReport]:
    return check_stack(stack, ROOT), check_stack(stack, ROOT, faithful=True)


def test_the_faithful_preview_registers_the_same_resources_with_computed_outputs_unknown() -> None:
    resolved, faithful = reports("gcp-dev")
    assert faithful.resources == resolved.resources > 100
    assert not [v for v in resolved.violations if v.unknown], "every value resolves in the default mode"
    unknown = [v for v in faithful.violations if v.unknown]
    assert unknown and all(not v.mandatory for v in unknown), "the engine downgrades checks on unknown values"
    assert faithful.exit_code == 0


def test_the_faithful_report_names_the_mandatory_checks_that_run_only_at_up() -> None:
    _, faithful = reports("gcp-dev")
    up_only = faithful.up_only
    # Images are built by the stack: their digests, and so the workloads' image references, exist only after up.
    assert {"k8s-image-pinned", "k8s-allowed-registries"} <= set(up_only)
    assert all(faithful.levels[name] == "mandatory" for name in up_only)
    assert "mlops-services-drift-churn-cronjob" in {v.resource_name for v in up_only["k8s-image-pinned"]}
    doc = json.loads(faithful.to_json())
    assert set(doc["upOnly"]) == set(up_only)


def test_the_cli_prints_the_up_only_checks() -> None:
    result = CliRunner().invoke(app, ["policy", "--stack", "gcp-dev", "--faithful"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "mandatory policies read values unknown until pulumi up" in result.output
    assert "k8s-image-pinned on " in result.output


def _program() -> None:
    provider = k8s.Provider("k8s", kubeconfig="{}")
    opts = pulumi.ResourceOptions(provider=provider)
    k8s.helm.v4.Chart("vendor", chart="oci://example.com/charts/vendor", version="1.2.3", opts=opts)
    k8s.yaml.v2.ConfigGroup("extras", yaml="apiVersion: v1\nkind: Namespace\nmetadata:\n  name: extras\n", opts=opts)
    k8s.yaml.ConfigGroup(
        "legacy",
        yaml=[
            """
apiVersion: apps/v1
kind: Deployment
metadata: {name: legacy, namespace: default}
spec:
  selector: {matchLabels: {app: legacy}}
  template:
    metadata: {labels: {app: legacy}}
    spec:
      containers:
        - name: app
          image: ghcr.io/pulumi-mlops/runtime:0.1.0
          securityContext: {privileged: true}
"""
        ],
        opts=opts,
    )


def test_remote_components_are_reported_as_not_checked_and_yaml_groups_are_decoded() -> None:
    graph = run_program(_program, {}, stack="dev")
    report = run_policies(graph, {})
    remote = {urn.rsplit("::", 1)[-1] for urn in report.remote_components}
    assert remote == {"vendor", "extras"}, "helm.v4.Chart and yaml.v2.ConfigGroup render inside the engine"
    [deployment] = graph.of_type("kubernetes:apps/v1:Deployment")
    assert deployment.name == "default/legacy", "yaml.ConfigGroup (v1) decodes its YAML through kubernetes:yaml:decode"
    flagged = {(v.policy, v.resource_name) for v in report.violations}
    assert ("k8s-no-privilege-escalation", "default/legacy") in flagged
    assert json.loads(report.to_json())["remoteComponents"] == report.remote_components


def test_a_config_for_the_faithful_stack_is_the_same_config() -> None:
    from pulumi_mlops.preview import preview_stack

    assert policy_config_for(preview_stack("gcp-dev", ROOT, faithful=True).spec) == policy_config_for(
        preview_stack("gcp-dev", ROOT).spec
    )
