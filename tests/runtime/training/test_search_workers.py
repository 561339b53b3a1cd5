"""Two search workers (``mlops train`` processes, as the pods of one Indexed Job run it) share one study on the
local PostgreSQL, which also holds MLflow: the study ends with ``search_trials`` trials, both workers ran some,
every trial is a child run of worker 0's run, and exactly one version is registered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from pulumi_mlops.runtime.config import ModelRef, RuntimeSettings, TrainingSpec
from pulumi_mlops.runtime.registry import mlflow_client
from pulumi_mlops.runtime.training.search_study import open_storage
from pulumi_mlops.runtime.training.search_workers import run_search_worker, worker_index

pytestmark = pytest.mark.integration
TRIALS = 10
STUDY = "train-churn-search"


def _worker(index: int, spec: Path, env: dict[str, str], out: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "pulumi_mlops", "train", "--spec", str(spec), "--json", str(out)]
    log = (out.parent / f"worker-{index}.log").open("wb")
    return subprocess.Popen(command, env={**env, "JOB_COMPLETION_INDEX": str(index)}, stdout=log, stderr=log)


def test_two_workers_share_one_study_and_register_once(postgres_database: str, tmp_path: Path) -> None:
    spec = TrainingSpec(
        model=ModelRef(name="churn-workers"), data="generated://churn?rows=2000", search_trials=TRIALS,
        search_workers=2, search_timeout_s=300, explain=False,
    )  # fmt: skip
    (tmp_path / "spec.json").write_text(spec.model_dump_json())
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env.update(
        MLOPS_HOME=str(tmp_path / "home"), MLOPS_TRACKING_URI=postgres_database,
        MLOPS_SEARCH_STORAGE=postgres_database, MLOPS_SEARCH_STUDY=STUDY, OMP_NUM_THREADS="1",
    )  # fmt: skip
    outputs = [tmp_path / f"worker-{i}.json" for i in range(2)]
    workers = [_worker(i, tmp_path / "spec.json", env, outputs[i]) for i in range(2)]
    for index, worker in enumerate(workers):
        assert worker.wait(timeout=540) == 0, (tmp_path / f"worker-{index}.log").read_text()[-3000:]

    first, second = (json.loads(path.read_text()) for path in outputs)
    assert first["version"] == "1" and second["version"] is None
    assert second["worker"] == 1 and second["trials"] > 0 and second["study"] == STUDY

    study = optuna.load_study(study_name=STUDY, storage=open_storage(postgres_database))
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == TRIALS
    assert {t.user_attrs["worker"] for t in finished} == {0, 1}
    assert sum(t.user_attrs["worker"] == 1 for t in finished) == second["trials"]
    assert study.user_attrs["mlops.registered_version"] == "1"

    settings = RuntimeSettings(home=str(tmp_path / "home"), tracking_uri=postgres_database)
    client = mlflow_client(settings)
    versions = client.search_model_versions("name = 'churn-workers'")
    assert [str(v.version) for v in versions] == ["1"]
    assert str(client.get_model_version_by_alias("churn-workers", "challenger").version) == "1"
    parent = versions[0].run_id
    assert parent == first["run_id"] == study.user_attrs["mlops.parent_run_id"]
    experiment = client.get_run(parent).info.experiment_id
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent}'")
    assert sorted(int(r.data.tags["mlops.search.trial"]) for r in children) == sorted(t.number for t in finished)
    assert {r.data.tags["mlops.search.worker"] for r in children} == {"0", "1"}

    again = run_search_worker(spec, 0, RuntimeSettings.from_env(env))
    assert again.already_registered and again.version == "1" and again.training is None
    assert [str(v.version) for v in client.search_model_versions("name = 'churn-workers'")] == ["1"]


def test_a_worker_needs_a_shared_storage_and_an_index_below_the_count() -> None:
    spec = TrainingSpec(model=ModelRef(name="m"), search_trials=4, search_workers=2, estimator="logistic_regression")
    with pytest.raises(ValueError, match="set it to a database URL"):
        run_search_worker(spec, 1, RuntimeSettings())
    with pytest.raises(ValueError, match=r"worker index 2 .* is not below search_workers 2"):
        run_search_worker(spec, 2, RuntimeSettings(search_storage="journal:/tmp/x.log"))
    with pytest.raises(ValueError, match="JOB_COMPLETION_INDEX='a' is not a worker index"):
        worker_index({"JOB_COMPLETION_INDEX": "a"})
    assert worker_index({}) == 0 and worker_index({"JOB_COMPLETION_INDEX": "3"}) == 3
