"""The whole loop at small scale: train, serve, shift traffic, detect drift, retrain, promote, hot-swap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi_mlops.runtime.pipeline.demo import DemoConfig, run_demo

pytestmark = pytest.mark.slow


def test_demo_loop_end_to_end(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    (home / "stale").mkdir(parents=True)
    steps: list[str] = []
    summary = run_demo(DemoConfig(home=home, train_rows=3_000, requests=500, concurrency=3), steps.append)

    assert not (home / "stale").exists(), "every run starts from a fresh home"
    assert len(steps) == 6
    assert summary.champion_v1 == "1" and summary.champion_v2 == "2"
    assert summary.baseline_drift_share < 0.3 <= summary.shifted_drift_share
    assert {"monthly_charges", "plan"} <= set(summary.drifted_features)
    assert summary.retrain_action == "retrained-promoted"
    assert summary.v2_auc > summary.v1_auc
    assert summary.failed_requests == 0
    assert summary.versions_seen.get("1", 0) >= 1000 and summary.versions_seen.get("2", 0) >= 1
    assert summary.requests_sent == sum(summary.versions_seen.values())

    report = json.loads((home / "drift" / "drift_report.json").read_text())
    assert report["dataset_drift"] is True and report["window"]["rows"] >= 500
    html = Path(summary.drift_report_html).read_text()
    assert "<svg" in html and "monthly_charges" in html
    assert json.loads((home / "summary.json").read_text())["champion_v2"] == "2"
    audit = [json.loads(line) for line in (home / "audit.jsonl").read_text().splitlines()]
    retrain = [a for a in audit if a["action"] == "retrained-promoted"]
    assert retrain and retrain[0]["details"]["drift_share"] >= 0.3
    assert any(a["action"] == "promote" for a in audit)
