"""``mlops drift`` end to end on partitioned parquet logs: reports, metrics and exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pulumi_mlops.runtime.drift import build_profile
from pulumi_mlops.runtime.drift.window import read_window
from typer.testing import CliRunner

from pulumi_mlops.cli import app

runner = CliRunner()


def _frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40 + 10 * shift, 10, rows),
            "tenure": rng.integers(0, 60, rows),
            "plan": rng.choice(["basic", "pro", "team"], rows),
        }
    )


def _write_logs(root: Path, frame: pd.DataFrame, start: str = "2026-11-20T00:00Z", version: int = 3) -> Path:
    rng = np.random.default_rng(0)
    stamps = pd.Timestamp(start) + pd.to_timedelta(rng.uniform(0, 2 * 86400, len(frame)), unit="s")
    logs = frame.assign(
        prediction=frame["age"] / 100,
        request_id=[f"r{i}" for i in range(len(frame))],
        timestamp=stamps,
        model_version=str(version),
    )
    for day, part in logs.groupby(logs["timestamp"].dt.strftime("%Y-%m-%d")):
        folder = root / f"date={day}" / f"version={version}"
        folder.mkdir(parents=True, exist_ok=True)
        part.to_parquet(folder / "part-00000.parquet", index=False)
    return root


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ref = _frame(5000, 1)
    path = tmp_path_factory.mktemp("ref") / "reference_profile.json"
    build_profile(ref, ref["age"].to_numpy() / 100, ["plan"]).save(path)
    return path


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["drift", "--model", "churn@champion", *args], env=env or {})
    return result.exit_code, " ".join(result.output.split())


def test_drifted_window_exits_3_and_writes_reports(tmp_path: Path, reference: Path, monkeypatch) -> None:
    monkeypatch.delenv("MLOPS_PUSHGATEWAY_URL", raising=False)
    logs = _write_logs(tmp_path / "logs", _frame(3000, 2, shift=0.8))
    out = tmp_path / "out"
    code, output = _run(
        "--window", str(logs), "--reference", str(reference), "--out", str(out),
        "--since", "2026-11-20", "--until", "2026-11-22",
    )  # fmt: skip
    assert code == 3, output
    report = json.loads((out / "drift_report.json").read_text())
    assert report["status"] == "drift" and report["window"]["rows"] == 3000 and report["window"]["files"] == 2
    assert report["features"][0]["name"] == "age" and report["features"][0]["drifted"]
    page = (out / "drift_report.html").read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page and "<style>" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # no external assets
    metrics = (out / "drift.prom").read_text()
    assert 'mlops_dataset_drift{model="churn@champion"} 1.0' in metrics
    assert 'mlops_feature_drift_score{feature="age",model="churn@champion",test="wasserstein"}' in metrics


def test_time_window_filters_rows_and_no_drift_exits_0(tmp_path: Path, reference: Path) -> None:
    logs = _write_logs(tmp_path / "logs", _frame(4000, 3))
    out = tmp_path / "out"
    code, output = _run(
        "--window", str(logs), "--reference", str(reference), "--out", str(out),
        "--since", "2026-11-20T00:00:00+00:00", "--until", "2026-11-21T00:00Z",
    )  # fmt: skip
    assert code == 0, output
    report = json.loads((out / "drift_report.json").read_text())
    assert report["status"] == "ok" and 1500 < report["window"]["rows"] < 2500


def test_empty_window_is_insufficient_data_and_exits_0(tmp_path: Path, reference: Path) -> None:
    logs = _write_logs(tmp_path / "logs", _frame(100, 4))
    code, output = _run(
        "--window", str(logs), "--reference", str(reference), "--out", str(tmp_path / "out"),
        "--since", "2025-01-01", "--until", "2025-01-02",
    )  # fmt: skip
    assert code == 0, output
    assert "INSUFFICIENT DATA" in output and "min_rows" in output


def test_usage_errors_exit_2(tmp_path: Path, reference: Path) -> None:
    logs = _write_logs(tmp_path / "logs", _frame(100, 5))
    code, output = _run("--window", str(logs), "--reference", str(tmp_path / "none.json"))
    assert code == 2 and "does not exist" in output
    code, output = _run("--window", str(tmp_path / "nowhere"), "--reference", str(reference))
    assert code == 2 and "nowhere" in output
    code, output = _run("--window", str(logs), "--reference", str(reference), "--since", "yesterday")
    assert code == 2 and "--since" in output
    code, output = _run("--window", str(logs), "--reference", "models:/churn")
    assert code == 2 and "models:/<name>@<alias>" in output


def test_pushgateway_receives_the_gauges(tmp_path: Path, reference: Path, monkeypatch) -> None:
    import prometheus_client

    pushed: dict[str, object] = {}

    def fake_push(url: str, job: str, registry: object, grouping_key: dict[str, str]) -> None:
        pushed.update(url=url, job=job, body=prometheus_client.generate_latest(registry).decode(), key=grouping_key)

    monkeypatch.setattr(prometheus_client, "push_to_gateway", fake_push)
    logs = _write_logs(tmp_path / "logs", _frame(1000, 6))
    code, output = _run(
        "--window", str(logs), "--reference", str(reference), "--out", str(tmp_path / "out"),
        "--since", "2026-11-19", "--until", "2026-11-23", env={"MLOPS_PUSHGATEWAY_URL": "http://gateway:9091"},
    )  # fmt: skip
    assert code == 0, output
    assert pushed["url"] == "http://gateway:9091" and pushed["key"] == {"model": "churn@champion"}
    assert 'mlops_drift_share{model="churn@champion"}' in str(pushed["body"])
    assert not (tmp_path / "out" / "drift.prom").exists()


def test_registry_reference_resolves_the_runs_profile(tmp_path: Path, reference: Path, monkeypatch) -> None:
    import mlflow.artifacts
    import mlflow.tracking

    class Version:
        version, run_id = "7", "run-123"

    class Client:
        def __init__(self, tracking_uri: str, registry_uri: str) -> None:
            assert tracking_uri == "sqlite:///somewhere.db"

        def get_model_version_by_alias(self, name: str, alias: str) -> Version:
            assert (name, alias) == ("churn", "champion")
            return Version()

    def download(run_id: str, artifact_path: str, dst_path: str, tracking_uri: str) -> str:
        assert (run_id, artifact_path) == ("run-123", "reference_profile.json")
        target = Path(dst_path) / artifact_path
        target.write_text(reference.read_text())
        return str(target)

    monkeypatch.setattr(mlflow.tracking, "MlflowClient", Client)
    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", download)
    logs = _write_logs(tmp_path / "logs", _frame(1000, 7))
    code, output = _run(
        "--window", str(logs), "--out", str(tmp_path / "out"), "--since", "2026-11-19", "--until", "2026-11-23",
        env={"MLOPS_TRACKING_URI": "sqlite:///somewhere.db"},
    )  # fmt: skip
    assert code == 0, output
    report = json.loads((tmp_path / "out" / "drift_report.json").read_text())
    assert report["reference"] == "models:/churn@champion (version 7, run run-123)"


def test_files_with_different_columns_are_read_together(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    _write_logs(root, _frame(200, 8), start="2026-11-20T00:00Z", version=1)
    _write_logs(root, _frame(200, 9).drop(columns=["tenure"]).assign(extra=1), start="2026-11-20T00:00Z", version=2)
    window = read_window(str(root), columns=["age", "tenure", "extra", "missing"])
    assert len(window.frame) == 400 and window.files == 4
    assert window.frame["tenure"].isna().sum() == 200
    assert set(window.frame.columns) == {"age", "tenure", "extra"}
    assert {"date", "version", "timestamp"} <= set(window.columns)
