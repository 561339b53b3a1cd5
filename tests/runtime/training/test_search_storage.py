"""The shared study's storage: Optuna's tables beside MLflow's in one PostgreSQL database (schema ``optuna``), the
journal file backend, clear errors for a bad ``MLOPS_SEARCH_STORAGE``, the cap across workers, stale trials."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from pulumi_mlops.runtime.config import RuntimeSettings
from pulumi_mlops.runtime.registry import mlflow_client
from pulumi_mlops.runtime.training import search_hyperparameters
from pulumi_mlops.runtime.training.pipelines import split_feature_kinds
from pulumi_mlops.runtime.training.search import SearchError, SearchResult, SearchSetup
from pulumi_mlops.runtime.training.search_study import OPTUNA_SCHEMA, SearchStorageError, open_storage
from sklearn.datasets import load_breast_cancer

FRAME = load_breast_cancer(as_frame=True).frame
FEATURES = [c for c in FRAME.columns if c != "target"]


def _search(setup: SearchSetup, trials: int, estimator: str = "logistic_regression") -> SearchResult:
    numeric, categorical = split_feature_kinds(FRAME, FEATURES)
    return search_hyperparameters(
        estimator, FRAME[FEATURES], FRAME["target"].to_numpy(), numeric, categorical, base_params={}, trials=trials,
        timeout_s=120, seed=0, setup=setup,
    )  # fmt: skip


def _tables(url: str) -> dict[str, set[str]]:
    import psycopg2

    database = url.rsplit("/", 1)[1]
    connection = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=database)
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT table_schema, table_name FROM information_schema.tables")
        found: dict[str, set[str]] = {}
        for schema, table in cursor.fetchall():
            found.setdefault(schema, set()).add(table)
        cursor.execute("SELECT version_num FROM public.alembic_version")
        found["mlflow_revision"] = {cursor.fetchone()[0]}
        cursor.execute(f"SELECT version_num FROM {OPTUNA_SCHEMA}.alembic_version")
        found["optuna_revision"] = {cursor.fetchone()[0]}
    finally:
        connection.close()
    return found


@pytest.mark.integration
def test_the_study_shares_mlflows_database_in_a_schema_of_its_own(postgres_database: str, tmp_path: Path) -> None:
    settings = RuntimeSettings(home=str(tmp_path), tracking_uri=postgres_database)
    mlflow_client(settings).create_experiment("before")
    first = _search(SearchSetup(storage=open_storage(postgres_database), study_name="shared"), trials=3)
    mlflow_client(settings).create_experiment("after")
    rejoined = optuna.load_study(study_name="shared", storage=open_storage(postgres_database))
    assert len(rejoined.trials) == 3 and first.trials == 3

    tables = _tables(postgres_database)
    assert {"studies", "trials", "alembic_version"} <= tables[OPTUNA_SCHEMA]
    assert {"experiments", "runs", "alembic_version"} <= tables["public"]
    assert not {"studies", "trials"} & tables["public"] and "experiments" not in tables[OPTUNA_SCHEMA]
    assert tables["mlflow_revision"] != tables["optuna_revision"]
    assert mlflow_client(settings).get_experiment_by_name("after") is not None


def test_a_journal_file_holds_a_study_every_process_can_join(tmp_path: Path) -> None:
    url = f"journal:{tmp_path / 'shared' / 'search.log'}"
    result = _search(SearchSetup(storage=open_storage(url), study_name="journal"), trials=3)
    assert result.trials == 3
    again = optuna.load_study(study_name="journal", storage=open_storage(url))
    assert [t.state for t in again.trials] == [TrialState.COMPLETE] * 3


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "neither a SQLAlchemy URL nor journal:<path>"),
        ("journal:", "names no file"),
        ("postgresql+psycopg2://postgres:secret@127.0.0.1:1/none", "cannot use the database"),
    ],
)
def test_a_bad_storage_is_refused_naming_the_variable(url: str, message: str) -> None:
    with pytest.raises(SearchStorageError, match=message) as caught:
        open_storage(url)
    assert "MLOPS_SEARCH_STORAGE" in str(caught.value) and "secret" not in str(caught.value)


def test_a_study_of_another_search_is_not_joined(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'search.db'}"
    _search(SearchSetup(storage=open_storage(url), study_name="one"), trials=2)
    with pytest.raises(SearchError, match="holds another search"):
        _search(SearchSetup(storage=open_storage(url), study_name="one"), trials=5)


def test_refused_and_stale_trials_do_not_count_toward_the_cap(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'search.db'}"
    storage = open_storage(url, heartbeat_interval=1, grace_period=1)
    study = optuna.create_study(storage=storage, study_name="stale", direction="maximize")
    dead = study.ask()  # a worker that died with this trial running: one heartbeat, then none
    storage.record_heartbeat(dead._trial_id)
    time.sleep(2.5)

    result = _search(SearchSetup(storage=storage, study_name="stale"), trials=4)
    trials = optuna.load_study(study_name="stale", storage=storage).trials
    assert result.trials == 4
    assert trials[0].state == TrialState.FAIL
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 4 and all(t.number > 0 for t in finished)

    again = _search(SearchSetup(storage=storage, study_name="stale"), trials=4)
    trials = optuna.load_study(study_name="stale", storage=storage).trials
    assert again.trials == 4
    assert trials[-1].state == TrialState.FAIL and trials[-1].user_attrs["mlops.rejected"] is True
