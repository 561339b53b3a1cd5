"""``mlops demo``'s loop on the dev stack's own workloads: bootstrap, serve, drift, retrain, promote, batch.

Every process runs the command, args, environment and spec file of a container of the dev preview graph
(rewired to local services), so a change on the Kubernetes side that the runtime does not follow fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pulumi_mlops.local.demo import DemoConfig, StackWorkloads, run_stack_demo

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _graph_argv(graph: Any, kind: str, name: str, container: str) -> list[str]:
    from pulumi_mlops.local import GraphPod

    pod = GraphPod.of(graph, kind, name)
    spec = pod.container(container)
    return pod.argv(spec, pod.env(spec))


def test_the_demo_runs_the_dev_graphs_workloads_end_to_end(previews: Any, tmp_path: Path) -> None:
    graph = previews("dev").graph
    home = tmp_path / "demo"
    (home / "stale").mkdir(parents=True)
    steps: list[str] = []
    summary = run_stack_demo(graph, DemoConfig(home=home, train_rows=3_000, requests=600, concurrency=3), steps.append)

    assert not (home / "stale").exists(), "every run starts from a fresh home"
    assert len(steps) == 8, steps
    for workload in ("train-churn-bootstrap", "churn-stable", "drift-churn", "train-churn-retrain-", "batch-churn"):
        assert any(workload in line for line in steps), f"no progress line names {workload}"
    # The processes ran the graph's containers' argv (the serving one with a loopback address added).
    ran = {name.split("/")[-1]: argv for name, argv in summary.workloads.items()}
    for kind, name, container in [
        ("Job", "train-churn-bootstrap", "trainer"),
        ("Deployment", "churn-stable", "server"),
        ("CronJob", "drift-churn", "drift"),
        ("CronJob", "batch-churn-nightly", "scorer"),
    ]:
        assert ran.pop(name) == _graph_argv(graph, kind, name, container), name
    [(retrain_job, argv)] = ran.items()
    assert retrain_job.startswith("train-churn-retrain-")
    scheduled = _graph_argv(graph, "CronJob", "train-churn", "trainer")
    assert argv[: len(scheduled)] == scheduled and argv[len(scheduled) :: 2] == ["--since", "--until"], (
        "the retraining Job is the training CronJob's, on the drift window"
    )

    assert summary.champion_v1 == "1" and summary.champion_v2 == "2"
    assert summary.baseline_drift_share < 0.3 <= summary.shifted_drift_share
    assert {"monthly_charges", "plan"} <= set(summary.drifted_features)
    assert summary.retrain_action == "promote"
    assert summary.gate_challenger_auc > summary.gate_champion_auc + 0.005, "v2 beats v1 on the fresh rows"
    assert summary.failed_requests == 0
    assert summary.versions_seen.get("1", 0) >= 1_200 and summary.versions_seen.get("2", 0) >= 1
    assert summary.requests_sent == sum(summary.versions_seen.values())
    assert summary.batch_rows == 2_000 and summary.batch_output.startswith("s3://mlops-dev-datasets-")

    html = Path(summary.drift_report_html).read_text()
    assert "<svg" in html and "monthly_charges" in html
    assert json.loads((home / "summary.json").read_text())["champion_v2"] == "2"
    # Nothing the loop needs stayed in a pod's own folders: every pod found it through MLflow or the bucket.
    leftovers = [p for p in (home / "pods").rglob("*") if p.name in ("MLmodel", "audit.jsonl", "drift_report.json")]
    assert leftovers == []


def test_the_demo_finds_each_workload_of_a_model_by_what_it_runs(previews: Any) -> None:
    found = StackWorkloads.of(previews("dev").graph, "churn")
    assert (found.bootstrap.kind, found.bootstrap.name) == ("Job", "train-churn-bootstrap")
    assert (found.training.kind, found.training.name) == ("CronJob", "train-churn")
    assert (found.serving.kind, found.serving.name) == ("Deployment", "churn-stable")
    assert (found.drift.kind, found.drift.name) == ("CronJob", "drift-churn")
    assert found.batch is not None and found.batch.name == "batch-churn-nightly"
    with pytest.raises(LookupError, match="no bootstrap training Job for model 'nope'"):
        StackWorkloads.of(previews("dev").graph, "nope")
