"""Labels join the prediction logs per row, and the logs of two models under one root stay apart."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pulumi_mlops.runtime.config import PredictionLogSpec
from pulumi_mlops.runtime.drift import build_profile
from pulumi_mlops.runtime.drift.performance import join_labels
from pulumi_mlops.runtime.drift.window import read_window
from pulumi_mlops.runtime.serving.prediction_log import PredictionLogger
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from pulumi_mlops.cli import app

REQUESTS, ROWS = 60, 8


def _traffic(seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Features, a well-ranking score and the true labels of REQUESTS x ROWS rows."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=REQUESTS * ROWS)
    truth = (rng.uniform(size=x.size) < 1 / (1 + np.exp(-4 * x))).astype(int)
    return pd.DataFrame({"x": x}), 1 / (1 + np.exp(-4 * x)), truth


def _log(root: Path, model: str, frame: pd.DataFrame, score: np.ndarray) -> None:
    logger = PredictionLogger(PredictionLogSpec(), str(root), model=model)
    for r in range(REQUESTS):
        rows = slice(r * ROWS, (r + 1) * ROWS)
        logger.record("1", ("x",), {"x": frame["x"].to_numpy()[rows]}, score[rows], [(f"{model}-{r}", ROWS)])
    assert logger.flush() == REQUESTS * ROWS


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    root = tmp_path_factory.mktemp("prediction-logs")
    frame, score, truth = _traffic(0)
    _log(root, "alpha", frame, score)
    other, other_score, _ = _traffic(1)
    _log(root, "beta", other.assign(extra=1.0), other_score[::-1].copy())
    return root, score, truth


def test_each_models_window_holds_only_its_rows(logs: tuple[Path, np.ndarray, np.ndarray]) -> None:
    root, score, _ = logs
    alpha = read_window(str(root), model="alpha")
    assert len(alpha.frame) == REQUESTS * ROWS and set(alpha.frame["model_name"]) == {"alpha"}, "the partition"
    np.testing.assert_allclose(np.sort(alpha.frame["prediction"]), np.sort(score))
    assert "extra" not in alpha.columns, "the other model's columns do not enter this model's window"
    assert len(read_window(str(root)).frame) == 2 * REQUESTS * ROWS


def test_multi_row_requests_report_their_real_auc(logs: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path) -> None:
    root, score, truth = logs
    labels = pd.DataFrame(
        {"request_id": [f"alpha-{i // ROWS}" for i in range(truth.size)], "row": np.arange(truth.size) % ROWS,
         "label": truth}
    )  # fmt: skip
    labels.sample(frac=1.0, random_state=3).to_parquet(tmp_path / "labels.parquet", index=False)
    reference = build_profile(pd.DataFrame({"x": _traffic(0)[0]["x"]}), score, [], labels=truth, task="binary")
    reference.save(tmp_path / "reference_profile.json")
    (tmp_path / "drift.yaml").write_text("min_rows: 10\n")
    result = CliRunner().invoke(
        app,
        ["drift", "--model", "alpha", "--window", str(root), "--reference", str(tmp_path / "reference_profile.json"),
         "--labels", str(tmp_path / "labels.parquet"), "--spec", str(tmp_path / "drift.yaml"),
         "--since", "2000-01-01", "--out", str(tmp_path / "out")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "drift_report.json").read_text())
    assert report["window"]["rows"] == REQUESTS * ROWS, "beta's rows are not counted"
    performance = report["performance"]
    assert performance["labelled_rows"] == truth.size
    assert performance["current"]["auc"] == pytest.approx(roc_auc_score(truth, score), abs=1e-9)
    assert performance["current"]["auc"] > 0.85 and not performance["drifted"]


def test_labels_without_a_row_column_match_by_position() -> None:
    current = pd.DataFrame(
        {"request_id": ["a", "a", "a", "b"], "row": [0, 1, 2, 0], "prediction": [0.9, 0.1, 0.8, 0.3]}
    )
    labels = pd.DataFrame({"request_id": ["a", "a", "b", "b"], "label": [1, 0, 0, 1]})
    joined, note = join_labels(current, labels)
    assert "matched to its rows in order" in note
    by_row = {(r.request_id, r.row): r.label for r in joined.itertuples()}
    assert by_row == {("a", 0): 1, ("a", 1): 0, ("b", 0): 1}, "row 2 of a has no label; b's last label wins"
    with_rows, note = join_labels(current, labels.assign(row=[2, 0, 0, 0]))
    assert note == "" and {(r.request_id, r.row): r.label for r in with_rows.itertuples()} == {
        ("a", 2): 1, ("a", 0): 0, ("b", 0): 1
    }  # fmt: skip
