"""The coverage report: mock tests found by type token, policies by their declared types, schema by kind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pulumi_mlops.policies import ALL_MODULES, ALL_POLICIES
from rich.console import Console

from pulumi_mlops.preview import CapturedResource, PreviewResult, ResourceGraph
from pulumi_mlops.preview.coverage import coverage_report, coverage_table, is_builtin_kubernetes


def _graph(*types: str) -> ResourceGraph:
    resources = {
        f"urn:{i}": CapturedResource(urn=f"urn:{i}", type=t, name=f"r{i}", custom=True, parent=None, inputs={})
        for i, t in enumerate(types)
    }
    resources["urn:c"] = CapturedResource(
        urn="urn:c", type="pulumi-mlops:aws:X", name="c", custom=False, parent=None, inputs={}
    )
    return ResourceGraph(project="p", stack="s", resources=resources)


def test_coverage_is_computed_from_tests_and_declared_policy_types(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text('graph.of_type("aws:s3/bucket:Bucket")\nimport kubernetes_validate\n')
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "test_p.py").write_text('"aws:rds/instance:Instance"\n')  # policy tests do not count
    graph = _graph(
        "aws:s3/bucket:Bucket",
        "aws:s3/bucket:Bucket",
        "aws:rds/instance:Instance",
        "kubernetes:apps/v1:Deployment",
        "aws:ec2/route:Route",
    )
    report = coverage_report(graph, tests_dir=tmp_path)
    rows = {r.type: r for r in report.rows}
    assert set(rows) == {
        "aws:s3/bucket:Bucket",
        "aws:rds/instance:Instance",
        "kubernetes:apps/v1:Deployment",
        "aws:ec2/route:Route",
    }
    assert rows["aws:s3/bucket:Bucket"].count == 2 and rows["aws:s3/bucket:Bucket"].tested
    assert not rows["aws:rds/instance:Instance"].tested
    assert "rds-not-public" in rows["aws:rds/instance:Instance"].policies
    assert rows["kubernetes:apps/v1:Deployment"].schema is True
    assert rows["aws:s3/bucket:Bucket"].schema is None
    assert report.uncovered() == ["aws:ec2/route:Route"]
    assert (report.types, report.tested, report.with_policy, report.schema_validated) == (4, 1, 3, 1)
    console = Console(width=200, record=True)
    console.print(coverage_table(report))
    assert "aws:ec2/route:Route" in console.export_text()


def test_builtin_kubernetes_kinds() -> None:
    assert is_builtin_kubernetes("kubernetes:apps/v1:Deployment")
    assert is_builtin_kubernetes("kubernetes:core/v1:Service")
    assert not is_builtin_kubernetes("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
    assert not is_builtin_kubernetes("kubernetes:helm.sh/v3:Release")


def test_every_policy_declares_types_within_its_module() -> None:
    for module in ALL_MODULES:
        for policy in module.POLICIES:
            types = getattr(policy, "resource_types", ())
            assert types, policy.name
            assert set(types) <= set(module.RESOURCE_TYPES), (policy.name, set(types) - set(module.RESOURCE_TYPES))
    assert len(ALL_POLICIES) >= 35
    assert all(p.name == p.name.lower() and " " not in p.name for p in ALL_POLICIES)
    assert all(p.description.endswith(".") for p in ALL_POLICIES)


def test_real_stack_coverage(previews: Callable[[str], PreviewResult]) -> None:
    report = coverage_report(previews("dev").graph)
    rows = {r.type: r for r in report.rows}
    assert rows["aws:s3/bucket:Bucket"].tested and rows["aws:s3/bucket:Bucket"].policies
    assert report.with_policy >= 10
