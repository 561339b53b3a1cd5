"""Stack policies, the offline runner (engine-style Analyze/AnalyzeStack), SARIF, the CLI and the real stacks."""

from __future__ import annotations

import copy
import json
import select
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pulumi.output import Unknown
from pulumi_mlops.policies import ALL_POLICIES, PACK_NAME, READINESS_POLICIES, policy_config_for
from pulumi_mlops.policies.offline import merge_pack_config, run_policies
from pulumi_policy import EnforcementLevel, StackValidationPolicy
from typer.testing import CliRunner

from pulumi_mlops.cli import app
from pulumi_mlops.preview import CapturedResource, PreviewResult, ResourceGraph

ROOT = Path(__file__).resolve().parents[2]
REAL_STACKS = ["dev", "staging", "prod", "gcp-dev", "gcp-prod"]
TAGS = {"environment": "prod", "owner": "ml-platform", "cost-center": "ml-1234"}
STACK_POLICIES = sorted(p.name for p in ALL_POLICIES if isinstance(p, StackValidationPolicy))


def res(
    type_: str, name: str, inputs: dict[str, Any], *, parent: str | None = None, **deps: list[str]
) -> CapturedResource:
    return CapturedResource(
        urn=f"urn:pulumi:test::pulumi-mlops::{type_}::{name}",
        type=type_,
        name=name,
        custom=True,
        parent=parent,
        inputs=inputs,
        dependencies=[u for urns in deps.values() for u in urns],
        property_dependencies=dict(deps),
    )


def graph_of(*resources: CapturedResource) -> ResourceGraph:
    return ResourceGraph(project="pulumi-mlops", stack="test", resources={r.urn: r for r in resources})


def only(*names: str) -> list[Any]:
    return [p for p in ALL_POLICIES if p.name in names]


# --- a serving endpoint as the Kubernetes components should build it --------------------------

POD_LABELS = {"app.kubernetes.io/name": "churn", "pulumi-mlops.io/endpoint": "churn"}


def serving_stack() -> dict[str, CapturedResource]:
    meta = {"namespace": "serving", "labels": {**TAGS, **POD_LABELS, "app.kubernetes.io/component": "serving"}}
    return {
        "deployment": res(
            "kubernetes:apps/v1:Deployment",
            "churn",
            {
                "metadata": {**meta, "name": "churn"},
                "spec": {
                    "selector": {"matchLabels": POD_LABELS},
                    "template": {
                        "metadata": {"labels": POD_LABELS},
                        "spec": {
                            "serviceAccountName": "server",
                            "automountServiceAccountToken": False,
                            "containers": [],
                        },
                    },
                },
            },
        ),
        "service": res(
            "kubernetes:core/v1:Service",
            "churn-svc",
            {"metadata": {**meta, "name": "churn"}, "spec": {"selector": POD_LABELS, "ports": [{"port": 80.0}]}},
        ),
        "monitor": res(
            "kubernetes:monitoring.coreos.com/v1:ServiceMonitor",
            "churn-monitor",
            {
                "metadata": {"namespace": "serving", "name": "churn"},
                "spec": {
                    "selector": {"matchLabels": {"pulumi-mlops.io/endpoint": "churn"}},
                    "endpoints": [{"port": "http"}],
                },
            },
        ),
        "rules": res(
            "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
            "serving-alerts",
            {
                "metadata": {"namespace": "serving", "name": "serving-alerts"},
                "spec": {
                    "groups": [
                        {
                            "name": "serving",
                            "rules": [
                                {
                                    "alert": "ServingHighLatency",
                                    "expr": 'histogram_quantile(0.99, rate(lat_bucket{endpoint="churn"}[5m])) > 0.25',
                                }
                            ],
                        }
                    ]
                },
            },
        ),
        "hpa": res(
            "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
            "churn-hpa",
            {
                "metadata": {"namespace": "serving", "name": "churn"},
                "spec": {
                    "scaleTargetRef": {"kind": "Deployment", "name": "churn"},
                    "minReplicas": 3.0,
                    "maxReplicas": 12.0,
                },
            },
        ),
        "pdb": res(
            "kubernetes:policy/v1:PodDisruptionBudget",
            "churn-pdb",
            {
                "metadata": {"namespace": "serving", "name": "churn"},
                "spec": {"minAvailable": 1.0, "selector": {"matchLabels": POD_LABELS}},
            },
        ),
    }


def bucket_stack() -> dict[str, CapturedResource]:
    bucket = res("aws:s3/bucket:Bucket", "models", {"tags": TAGS})
    on = {"bucket": [bucket.urn]}
    return {
        "bucket": bucket,
        "sse": res(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "models-sse",
            {},
            **on,
        ),
        "versioning": res("aws:s3/bucketVersioning:BucketVersioning", "models-versioning", {}, **on),
        "pab": res("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "models-pab", {}, **on),
        "policy": res("aws:s3/bucketPolicy:BucketPolicy", "models-policy", {}, parent=bucket.urn),
    }


def ecr_stack() -> dict[str, CapturedResource]:
    repo = res("aws:ecr/repository:Repository", "serving", {"tags": TAGS})
    lifecycle = res("aws:ecr/lifecyclePolicy:LifecyclePolicy", "serving-lifecycle", {}, repository=[repo.urn])
    return {"repo": repo, "lifecycle": lifecycle}


def gpu_pool(name: str, max_size: Any, instance: str = "g6.xlarge") -> CapturedResource:
    return res(
        "aws:eks/nodeGroup:NodeGroup", name, {"instanceTypes": [instance], "scalingConfig": {"maxSize": max_size}}
    )


def _without(stack: dict[str, CapturedResource], *keys: str) -> ResourceGraph:
    return graph_of(*(r for k, r in stack.items() if k not in keys))


PROD = {name: {"profile": "prod"} for name in ("prod-serving-replicas", "prod-serving-pdb")}


@pytest.mark.parametrize(
    ("policy", "graph", "config", "fragment"),
    [
        (
            "serving-has-servicemonitor",
            lambda: _without(serving_stack(), "monitor"),
            {},
            "not selected by any ServiceMonitor",
        ),
        ("serving-has-alert-rules", lambda: _without(serving_stack(), "rules"), {}, "no alert rule naming it"),
        ("prod-serving-replicas", lambda: _without(serving_stack(), "hpa"), PROD, "spec.replicas 1 in prod"),
        ("prod-serving-pdb", lambda: _without(serving_stack(), "pdb"), PROD, "no PodDisruptionBudget"),
        ("s3-bucket-complete", lambda: _without(bucket_stack(), "versioning"), {}, "has no BucketVersioning"),
        ("ecr-lifecycle-policy", lambda: _without(ecr_stack(), "lifecycle"), {}, "has no LifecyclePolicy"),
        (
            "gpu-stack-max-gpus",
            lambda: graph_of(gpu_pool("a", 8.0), gpu_pool("b", 4.0, "g6.12xlarge")),
            {"gpu-stack-max-gpus": {"maxGpusPerStack": 16}},
            "24 GPUs (a=8, b=16), over maxGpusPerStack (16)",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_stack_policy_fires(policy: str, graph: Callable[[], ResourceGraph], config: dict, fragment: str) -> None:
    report = run_policies(graph(), config, policies=only(policy))
    assert [v.policy for v in report.violations] == [policy]
    assert fragment in report.violations[0].message
    assert report.violations[0].mandatory


def test_stack_policies_are_silent_on_complete_stacks() -> None:
    config = {**PROD, "gpu-stack-max-gpus": {"maxGpusPerStack": 16}}
    whole = graph_of(
        *ecr_stack().values(),
        *serving_stack().values(),
        *bucket_stack().values(),
        gpu_pool("a", 8.0),
        gpu_pool("b", 2.0, "g6.12xlarge"),
    )
    # Readiness analyses need a whole platform (cluster, add-ons, CRD installers): their baselines are real stacks.
    readiness = {p.name for p in READINESS_POLICIES}
    report = run_policies(whole, config, policies=only(*(n for n in STACK_POLICIES if n not in readiness)))
    assert report.violations == []


def test_every_stack_policy_has_a_test() -> None:
    tested = {"serving-has-servicemonitor", "serving-has-alert-rules", "prod-serving-replicas", "prod-serving-pdb"}
    tested |= {"s3-bucket-complete", "gpu-stack-max-gpus", "ecr-lifecycle-policy"}
    tested |= {"images-wait-for-their-push"}  # from real stacks' graphs in test_readiness_images.py
    tested |= {"k8s-token-automount-needs-rbac"}  # in test_pod_specs_policies.py
    tested |= {"rds-require-tls"}  # in test_transit.py
    readiness = {p.name for p in READINESS_POLICIES}
    assert set(STACK_POLICIES) - readiness == tested
    # Each readiness analysis is exercised from a real stack's graph in a test_readiness_*.py module.
    texts = "\n".join(f.read_text() for f in Path(__file__).parent.glob("test_readiness_*.py"))
    assert sorted(name for name in readiness if f'"{name}"' not in texts) == []


def test_replicas_from_the_hpa_win_over_spec_replicas() -> None:
    stack = serving_stack()
    stack["hpa"].inputs["spec"]["minReplicas"] = 1.0
    report = run_policies(graph_of(*stack.values()), PROD, policies=only("prod-serving-replicas"))
    assert "HPA minReplicas 1" in report.violations[0].message
    dev = {"prod-serving-replicas": {"profile": "dev"}}
    assert run_policies(graph_of(*stack.values()), dev, policies=only("prod-serving-replicas")).violations == []


@pytest.mark.parametrize(("track", "fires"), [("shadow", False), ("canary", True), ("stable", True)])
def test_only_tracks_answering_live_traffic_need_two_replicas(track: str, fires: bool) -> None:
    stack = serving_stack()
    stack["hpa"].inputs["spec"]["minReplicas"] = 1.0
    stack["deployment"].inputs["metadata"]["labels"]["pulumi-mlops.io/track"] = track
    report = run_policies(graph_of(*stack.values()), PROD, policies=only("prod-serving-replicas"))
    assert bool(report.violations) is fires


# --- the runner -------------------------------------------------------------------------------


def public_rds() -> CapturedResource:
    return res(
        "aws:rds/instance:Instance",
        "db",
        {
            "publiclyAccessible": True,
            "storageEncrypted": True,
            "backupRetentionPeriod": 7.0,
            "skipFinalSnapshot": True,
            "tags": TAGS,
        },
    )


def test_mandatory_violation_fails_and_is_reported_with_its_urn() -> None:
    report = run_policies(graph_of(public_rds()), policies=only("rds-not-public"))
    (v,) = report.violations
    assert (v.policy, v.level, v.resource_name, v.resource_type) == (
        "rds-not-public",
        "mandatory",
        "db",
        "aws:rds/instance:Instance",
    )
    assert v.urn.endswith("::db") and "publiclyAccessible is true" in v.message
    assert report.exit_code == 1


def test_advisory_violation_passes() -> None:
    rds = res("aws:rds/instance:Instance", "db", {"multiAz": False})
    report = run_policies(graph_of(rds), {"rds-multi-az-prod": {"profile": "prod"}}, policies=only("rds-multi-az-prod"))
    assert [v.level for v in report.violations] == ["advisory"]
    assert report.exit_code == 0


def test_enforcement_level_can_be_overridden_like_policy_pack_config() -> None:
    report = run_policies(
        graph_of(public_rds()), policies=only("rds-not-public"), levels={"rds-not-public": EnforcementLevel.ADVISORY}
    )
    assert report.exit_code == 0 and report.violations[0].level == "advisory"
    disabled = run_policies(
        graph_of(public_rds()), policies=only("rds-not-public"), levels={"rds-not-public": EnforcementLevel.DISABLED}
    )
    assert disabled.violations == []


def test_policy_pack_config_files_set_levels_and_properties() -> None:
    config, levels = merge_pack_config(
        {"gpu-pool-max-gpus": {"maxGpusPerPool": 8}},
        {
            "all": "advisory",
            "rds-not-public": {"enforcementLevel": "mandatory"},
            "gpu-pool-max-gpus": {"maxGpusPerPool": 2},
        },
    )
    assert config["gpu-pool-max-gpus"] == {"maxGpusPerPool": 2}
    assert (
        levels["rds-not-public"] == EnforcementLevel.MANDATORY
        and levels["rds-multi-az-prod"] == EnforcementLevel.ADVISORY
    )
    with pytest.raises(ValueError, match="unknown policy 'nope'"):
        merge_pack_config({}, {"nope": "advisory"})


def test_unknown_values_downgrade_to_advisory_like_the_engine() -> None:
    rds = res("aws:rds/instance:Instance", "db", {"publiclyAccessible": Unknown(), "tags": TAGS})
    report = run_policies(graph_of(rds), policies=only("rds-not-public", "required-tags"))
    (v,) = report.violations
    assert v.policy == "rds-not-public" and v.level == "advisory" and v.unknown
    assert "can't run policy 'rds-not-public'" in v.message and "during preview" in v.message
    assert v.urn == rds.urn  # the SDK leaves the URN empty; the runner attributes it to the resource
    assert report.exit_code == 0


def test_unknown_values_downgrade_stack_policies_too() -> None:
    report = run_policies(graph_of(gpu_pool("a", Unknown())), policies=only("gpu-stack-max-gpus"))
    (v,) = report.violations
    assert v.level == "advisory" and v.unknown and "gpu-stack-max-gpus" in v.message
    assert v.resource_type == "pulumi:pulumi:Stack" and v.urn.endswith("pulumi:pulumi:Stack::pulumi-mlops-test")


def test_secrets_are_unwrapped_for_policies() -> None:
    secret = {"1b47061264138c4ac30d75fd1eb44270": "1b47061264138c4ac30d75fd1eb44270", "value": "token"}
    redis = res(
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "redis",
        {"authToken": secret, "atRestEncryptionEnabled": True, "transitEncryptionEnabled": True},
    )
    assert run_policies(graph_of(redis), policies=only("elasticache-auth", "elasticache-encryption")).violations == []


def test_sarif_has_rules_and_results() -> None:
    report = run_policies(
        graph_of(public_rds()), policies=only("rds-not-public", "rds-multi-az-prod"), source="stacks/Pulumi.x.yaml"
    )
    sarif = report.to_sarif()
    assert sarif["version"] == "2.1.0"
    (run,) = sarif["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["rds-not-public", "rds-multi-az-prod"]
    assert rules[0]["defaultConfiguration"]["level"] == "error"
    assert rules[1]["defaultConfiguration"]["level"] == "warning"
    assert rules[0]["shortDescription"]["text"] == "RDS instances are not publicly accessible."
    by_rule = {r["ruleId"]: r for r in run["results"]}
    result = by_rule["rds-not-public"]
    assert result["level"] == "error" and result["ruleIndex"] == 0
    location = result["locations"][0]
    assert location["logicalLocations"][0]["fullyQualifiedName"] == public_rds().urn
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "stacks/Pulumi.x.yaml"
    assert by_rule["rds-multi-az-prod"]["level"] == "warning"


# --- the real stacks --------------------------------------------------------------------------


@pytest.mark.parametrize("stack", REAL_STACKS)
def test_real_stack_has_no_mandatory_violations(stack: str, previews: Callable[[str], PreviewResult]) -> None:
    result = previews(stack)
    report = run_policies(result.graph, policy_config_for(result.spec))
    assert report.resources == len(result.graph.resources)
    problems = [f"{v.policy} {v.resource_type} {v.resource_name}: {v.message}" for v in report.mandatory]
    assert problems == []


def test_policy_config_follows_the_spec(previews: Callable[[str], PreviewResult]) -> None:
    dev, prod = policy_config_for(previews("dev").spec), policy_config_for(previews("gcp-prod").spec)
    assert dev["gpu-pool-spot-in-dev"] == {"profile": "dev"}
    assert dev["gpu-pool-max-gpus"] == {"maxGpusPerPool": 8}
    assert prod["gpu-stack-max-gpus"] == {"maxGpusPerStack": 128}
    # The images the stacks build come from their own repositories only; Feast's from its spec image.
    own_gcp = "europe-west4-docker.pkg.dev/acme-ml-prod/mlops-gcp-prod-images/"
    assert prod["k8s-allowed-registries"]["allowedRegistries"] == ["quay.io/feastdev/", own_gcp]
    assert prod["image-build-pushes-to-own-registry"] == {"imageRegistries": [own_gcp]}
    own_aws = "*.dkr.ecr.us-east-1.amazonaws.com/mlops-dev/"
    assert dev["k8s-allowed-registries"]["allowedRegistries"] == ["quay.io/feastdev/", own_aws]
    assert dev["image-build-pushes-to-own-registry"] == {"imageRegistries": [own_aws]}


# --- the CLI ----------------------------------------------------------------------------------


def _patched_preview(monkeypatch: pytest.MonkeyPatch, result: PreviewResult) -> None:
    import pulumi_mlops.preview as preview

    monkeypatch.setattr(preview, "preview_stack", lambda stack, root=None, faithful=False: result)


def test_cli_exits_1_on_mandatory_and_writes_sarif(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, previews: Callable[[str], PreviewResult]
) -> None:
    real = previews("dev")
    graph = copy.copy(real.graph)
    graph.resources = {**real.graph.resources, public_rds().urn: public_rds()}
    _patched_preview(monkeypatch, PreviewResult(spec=real.spec, graph=graph))
    sarif = tmp_path / "out.sarif"
    result = CliRunner().invoke(app, ["policy", "--stack", "dev", "--sarif", str(sarif)])
    assert result.exit_code == 1, result.output
    assert "rds-not-public" in result.output and "FAILED" in result.output
    advisory = tmp_path / "advisory.json"
    advisory.write_text(json.dumps({"rds-not-public": "advisory"}))
    relaxed = CliRunner().invoke(app, ["policy", "--stack", "dev", "--config", str(advisory)])
    assert relaxed.exit_code == 0, relaxed.output
    doc = json.loads(sarif.read_text())
    assert any(r["ruleId"] == "rds-not-public" and r["level"] == "error" for r in doc["runs"][0]["results"])
    assert any(r["id"] == "rds-not-public" for r in doc["runs"][0]["tool"]["driver"]["rules"])


def test_cli_exits_0_with_advisories_only_and_prints_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, previews: Callable[[str], PreviewResult]
) -> None:
    _patched_preview(monkeypatch, previews("gcp-dev"))
    config = tmp_path / "policy-config.json"
    result = CliRunner().invoke(app, ["policy", "--stack", "gcp-dev", "--json", "--write-config", str(config)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["mandatory"] == 0 and doc["exitCode"] == 0 and doc["stack"] == "gcp-dev"
    assert json.loads(config.read_text())["gpu-pool-spot-in-dev"] == {"profile": "dev"}


def test_cli_lists_policies() -> None:
    result = CliRunner().invoke(app, ["policy", "--list"], terminal_width=250)
    assert result.exit_code == 0
    assert f"{len(ALL_POLICIES)} policies" in result.output


# --- the pack as the Pulumi CLI runs it --------------------------------------------------------


def test_pack_files() -> None:
    assert "runtime: python" in (ROOT / "policies/PulumiPolicy.yaml").read_text()
    requirements = (ROOT / "policies/requirements.txt").read_text().split()
    assert "pulumi-policy==1.21.0" in requirements


def test_pack_serves_every_policy_over_grpc() -> None:
    """``python policies/__main__.py`` starts the analyzer and prints its port, as the engine expects."""
    import grpc
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import analyzer_pb2_grpc

    proc = subprocess.Popen([sys.executable, str(ROOT / "policies/__main__.py")], stdout=subprocess.PIPE, cwd=ROOT)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 120)
        assert ready, "the pack did not print its port within 120 s"
        port = int(proc.stdout.readline().strip())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            info = analyzer_pb2_grpc.AnalyzerStub(channel).GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert info.name == PACK_NAME
    assert sorted(p.name for p in info.policies) == sorted(p.name for p in ALL_POLICIES)
    assert len(info.policies) >= 35
