"""``estimator: auto``: the search picks the family and its parameters for every task, logs each trial as an MLflow
child run, ranks them in the leaderboard (artifact and model card), prunes, and keeps to its trial cap and budget."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pulumi_mlops.runtime.config import AUTO_SEARCH_TRIALS, ModelRef, RuntimeSettings, TrainingSpec
from pulumi_mlops.runtime.registry import mlflow_client
from pulumi_mlops.runtime.training import fit_and_evaluate, search_hyperparameters, train
from pulumi_mlops.runtime.training.pipelines import split_feature_kinds
from pulumi_mlops.runtime.training.search_space import AUTO_FAMILIES
from pydantic import ValidationError
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

TRIALS = 6
DATASETS: dict[str, tuple[Any, str, str]] = {
    "breast-cancer": (load_breast_cancer, "binary", "auc"),
    "wine": (load_wine, "multiclass", "macro_f1"),
    "diabetes": (load_diabetes, "regression", "r2"),
}


def _spec(name: str, **extra: Any) -> TrainingSpec:
    return TrainingSpec(model=ModelRef(name=name), data=f"{name}.csv", label="target", explain=False, **extra)


@pytest.mark.parametrize("name", list(DATASETS))
def test_auto_picks_a_family_logs_child_runs_and_ranks_them(name: str, tmp_path: Path) -> None:
    loader, task, metric = DATASETS[name]
    settings = RuntimeSettings(home=str(tmp_path / "home"))
    result = train(_spec(name, search_trials=TRIALS), settings, frame=loader(as_frame=True).frame)

    search = result.search
    assert search is not None and result.task.task == task and search.metric == metric
    winner = search.leaderboard[0]
    assert winner.state == "complete" and winner.family in AUTO_FAMILIES
    assert (search.family, search.best_score, search.best_params) == (winner.family, winner.score, winner.params)
    assert result.estimator == winner.family
    assert type(result.pipeline.named_steps["estimator"]).__name__ == winner.estimator_class
    assert {k: result.params[k] for k in winner.params} == winner.params
    assert search.trials == TRIALS == len(search.leaderboard)
    assert len({e.family for e in search.leaderboard}) == 4, "the first trials measure every family"
    assert all(e.fit_s and e.fit_s > 0 and e.predict_ms and e.predict_ms > 0 for e in search.leaderboard)

    client = mlflow_client(settings)
    experiment = client.get_experiment_by_name(name).experiment_id
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{result.run_id}'")
    assert len(children) == TRIALS
    by_trial = {int(run.data.tags["mlops.search.trial"]): run for run in children}
    for entry in search.leaderboard:
        run = by_trial[entry.trial]
        assert run.data.params["family"] == entry.family == run.data.tags["mlops.search.family"]
        assert {k: run.data.params[k] for k in entry.params} == {k: str(v) for k, v in entry.params.items()}
        assert run.data.metrics[f"validation_{metric}"] == pytest.approx(entry.score)
        assert run.data.metrics["fit_s"] == pytest.approx(entry.fit_s)
        assert run.data.metrics["predict_latency_ms"] == pytest.approx(entry.predict_ms)
    parent = client.get_run(result.run_id)
    assert parent.data.params["estimator"] == "auto" and parent.data.params["estimator_family"] == winner.family
    assert client.get_model_version(name, result.version).run_id == result.run_id

    board = json.loads(Path(client.download_artifacts(result.run_id, "leaderboard.json", str(tmp_path))).read_text())
    assert board["family"] == winner.family and board["metric"] == metric
    assert [e["trial"] for e in board["leaderboard"]] == [e.trial for e in search.leaderboard]
    card = result.model_card
    assert f"- Estimator: `auto` → `{winner.family}`" in card
    assert "## Model search" in card and f"| 1 | {winner.trial} | {winner.family} ({winner.estimator_class}) |" in card


def test_without_an_estimator_the_spec_searches_within_the_default_cap() -> None:
    frame = load_diabetes(as_frame=True).frame
    spec = _spec("diabetes")
    assert spec.estimator == "auto" and spec.search_trials == 0
    result = fit_and_evaluate(spec, frame)
    assert result.search is not None and result.search.trials == AUTO_SEARCH_TRIALS
    assert f"Hyperparameter search trials: {AUTO_SEARCH_TRIALS}" in result.model_card


def test_the_time_budget_stops_the_search_before_its_trial_cap() -> None:
    frame = load_breast_cancer(as_frame=True).frame
    result = fit_and_evaluate(_spec("bc", search_trials=1000, search_timeout_s=2.0), frame)
    assert result.search is not None and 1 <= result.search.trials < 1000


def test_tree_families_are_pruned_on_their_first_rung(churn_frame: pd.DataFrame) -> None:
    features = [c for c in churn_frame.columns if c not in ("churned", "customer_id", "event_timestamp")]
    numeric, categorical = split_feature_kinds(churn_frame, features)
    result = search_hyperparameters(
        "auto", churn_frame[features], churn_frame["churned"].to_numpy(), numeric, categorical, base_params={},
        trials=12, timeout_s=300, seed=42, families=("gradient_boosting", "random_forest"),
    )  # fmt: skip
    pruned = [e for e in result.leaderboard if e.state == "pruned"]
    assert result.trials == 12 and result.pruned == len(pruned) > 0
    assert all(e.predict_ms is None and e.score is not None for e in pruned)
    complete = [e for e in result.leaderboard if e.state == "complete"]
    assert [e.state for e in result.leaderboard[: len(complete)]] == ["complete"] * len(complete)


def test_mlp_trials_are_pruned_per_epoch(churn_frame: pd.DataFrame) -> None:
    features = [c for c in churn_frame.columns if c not in ("churned", "customer_id", "event_timestamp")]
    numeric, categorical = split_feature_kinds(churn_frame, features)
    result = search_hyperparameters(
        "mlp", churn_frame[features], churn_frame["churned"].to_numpy(), numeric, categorical,
        base_params={"epochs": 6, "batch_size": 256}, trials=10, timeout_s=300, seed=42,
    )  # fmt: skip
    assert result.trials == 10 and result.pruned > 0 and result.family == "mlp"


def test_auto_refuses_params_and_a_shared_search_needs_one() -> None:
    with pytest.raises(ValidationError, match="estimator auto picks the family and its parameters"):
        _spec("m", params={"max_iter": 10})
    with pytest.raises(ValidationError, match="search_workers 2: there is no search to share"):
        _spec("m", estimator="gradient_boosting", search_workers=2)
    assert _spec("m", search_workers=2).search_workers == 2
