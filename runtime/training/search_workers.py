"""Search workers: processes (the pods of one Kubernetes Indexed Job, Ray or Spark tasks) sharing one Optuna study.

Every worker runs ``mlops train`` on the same spec with the same environment: ``MLOPS_SEARCH_STORAGE`` (the
shared storage, :mod:`.search_study`), ``MLOPS_SEARCH_STUDY`` (the study, e.g. the Job name) and its index in
``JOB_COMPLETION_INDEX`` (set by Kubernetes for an Indexed Job; 0 when unset), below ``search_workers``. Each
loads the data, draws the same split and runs trials until the study holds ``search_trials`` finished trials
or ``search_timeout_s`` is spent. Worker 0 coordinates: it starts the training's MLflow run (published as the
study's user attribute :data:`.search_study.PARENT_RUN_ATTR`, so every worker logs its trials as child runs of
it), waits for the trials the others are still running (within the budget), refits the best trial on the
training rows and registers the challenger, then records the version in the study
(:data:`.search_study.REGISTERED_ATTR`). Workers other than 0 never register. A worker that restarts rejoins the
study; a restarted worker 0 reuses the MLflow run, and one that finds the version recorded returns it without
training again, so a pod retry registers no second version.

:func:`run_search_worker` is the same entry point as a plain function, for other schedulers.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from pulumi_mlops.runtime.config import AUTO_ESTIMATOR, RuntimeSettings, TrainingSpec
from pulumi_mlops.runtime.data import DatasetSchema, DataVersions

from .search import SearchSetup, open_search_study, quiet_optuna, run_trials, search_trial_cap, searches
from .search_objective import search_data
from .search_space import search_families
from .search_study import PARENT_RUN_ATTR, REGISTERED_ATTR, finished_trials, open_storage
from .trainer import TrainingResult

__all__ = ["WORKER_INDEX_ENV", "SearchWorkerResult", "run_search_worker", "shared_search", "worker_index"]

WORKER_INDEX_ENV = "JOB_COMPLETION_INDEX"
"""Environment variable holding the worker's index (Kubernetes sets it in the pods of an Indexed Job)."""


@dataclass
class SearchWorkerResult:
    """What one search worker did."""

    worker: int
    """The worker's index."""
    study: str
    """The shared study's name."""
    trials: int
    """Finished trials this worker ran."""
    study_trials: int
    """Finished trials the study held when this worker stopped."""
    training: TrainingResult | None = None
    """Worker 0's training run (None for the other workers, and for a worker 0 that found its version recorded)."""
    version: str | None = None
    """The version worker 0 registered."""
    run_id: str | None = None
    """The training's MLflow run."""
    already_registered: bool = False
    """Worker 0 found the version recorded in the study by an earlier attempt and trained nothing."""


def worker_index(environ: Mapping[str, str] | None = None) -> int:
    """This process's worker index from ``JOB_COMPLETION_INDEX`` (0 when unset); ValueError when not a number."""
    raw = (os.environ if environ is None else environ).get(WORKER_INDEX_ENV, "").strip()
    if not raw:
        return 0
    if not raw.isdigit():
        raise ValueError(f"{WORKER_INDEX_ENV}={raw!r} is not a worker index: use 0, 1, ... below search_workers")
    return int(raw)


def shared_search(spec: TrainingSpec, settings: RuntimeSettings) -> bool:
    """Whether ``spec`` runs as a search worker: it searches, and ``MLOPS_SEARCH_STORAGE`` is set or
    ``search_workers`` is above 1."""
    return searches(spec) and (bool(settings.search_storage) or spec.search_workers > 1)


def _study_name(spec: TrainingSpec, settings: RuntimeSettings) -> str:
    if settings.search_study:
        return settings.search_study
    if spec.search_workers > 1:
        raise ValueError(
            f"search_workers {spec.search_workers}: the workers need one study name; set MLOPS_SEARCH_STUDY (the "
            "platform sets it to the Job name)"
        )
    return f"{spec.model.name}-{uuid.uuid4().hex[:12]}"


def _existing(storage: Any, name: str) -> Any:
    import optuna

    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None


def run_search_worker(
    spec: TrainingSpec,
    index: int | None = None,
    settings: RuntimeSettings | None = None,
    *,
    frame: pd.DataFrame | None = None,
    schema: DatasetSchema | None = None,
    register: bool = True,
    window: tuple[datetime, datetime] | None = None,
    data_versions: DataVersions | None = None,
) -> SearchWorkerResult:
    """Run search worker ``index`` (default: ``JOB_COMPLETION_INDEX``) of ``spec`` on the study that
    ``settings.search_storage`` and ``settings.search_study`` name; worker 0 also refits and registers.

    ``frame`` is ``spec.data`` already loaded (within ``window``, read at ``data_versions``). ValueError names
    what is missing or wrong.
    """
    settings = settings or RuntimeSettings.from_env()
    index = worker_index() if index is None else index
    if not searches(spec):
        raise ValueError("a search worker needs a search: set search_trials above 0, or estimator auto")
    if not 0 <= index < spec.search_workers:
        raise ValueError(
            f"worker index {index} ({WORKER_INDEX_ENV}) is not below search_workers {spec.search_workers}: "
            "start one worker per index 0 ... search_workers - 1"
        )
    if not settings.search_storage:
        raise ValueError(
            f"search_workers {spec.search_workers}: the workers share their study through MLOPS_SEARCH_STORAGE; set "
            "it to a database URL (postgresql+psycopg2://user:pass@host:5432/mlflow) or journal:<shared path>"
        )
    storage = open_storage(settings.search_storage)
    name = _study_name(spec, settings)
    if index == 0:
        return _coordinate(spec, settings, storage, name, frame, schema, register, window, data_versions)
    return _assist(spec, settings, storage, name, index, frame, schema, window)


def _coordinate(
    spec: TrainingSpec,
    settings: RuntimeSettings,
    storage: Any,
    name: str,
    frame: pd.DataFrame | None,
    schema: DatasetSchema | None,
    register: bool,
    window: tuple[datetime, datetime] | None,
    data_versions: DataVersions | None,
) -> SearchWorkerResult:
    from .trainer import train

    existing = _existing(storage, name)
    attrs: dict[str, Any] = {}
    if existing is not None:
        if REGISTERED_ATTR in existing.user_attrs:
            return SearchWorkerResult(
                worker=0, study=name, trials=0, study_trials=finished_trials(existing),
                version=str(existing.user_attrs[REGISTERED_ATTR]),
                run_id=str(existing.user_attrs.get(PARENT_RUN_ATTR) or "") or None, already_registered=True,
            )  # fmt: skip
        if existing.user_attrs.get(PARENT_RUN_ATTR):
            attrs[PARENT_RUN_ATTR] = existing.user_attrs[PARENT_RUN_ATTR]
    setup = SearchSetup(storage=storage, study_name=name, worker=0, workers=spec.search_workers, attrs=attrs)
    result = train(
        spec, settings, schema=schema, register=register, window=window, frame=frame, data_versions=data_versions,
        search=setup,
    )  # fmt: skip
    if result.version is not None:
        _existing(storage, name).set_user_attr(REGISTERED_ATTR, result.version)
    search = result.search
    mine = sum(e.worker == 0 and e.state != "failed" for e in search.leaderboard) if search is not None else 0
    return SearchWorkerResult(
        worker=0, study=name, trials=mine, study_trials=search.trials if search is not None else 0,
        training=result, version=result.version, run_id=result.run_id,
    )  # fmt: skip


def _assist(
    spec: TrainingSpec,
    settings: RuntimeSettings,
    storage: Any,
    name: str,
    index: int,
    frame: pd.DataFrame | None,
    schema: DatasetSchema | None,
    window: tuple[datetime, datetime] | None,
) -> SearchWorkerResult:
    from pulumi_mlops.runtime.data import load_frame

    from .preflight import prepare_training_data
    from .search_tracking import ChildRuns
    from .seeding import seed_everything
    from .trainer import training_split

    start = time.monotonic()
    if frame is None:
        frame = load_frame(spec.data, settings, window=window)
    prepared = prepare_training_data(spec, frame, schema)
    seed_everything(spec.seed)
    train_df, _ = training_split(spec, frame, prepared)
    task, entry = prepared.task.task, prepared.estimator
    params = {} if spec.estimator == AUTO_ESTIMATOR else {**entry.defaults_for(task), **spec.params}
    families = search_families(spec.estimator)
    trials = search_trial_cap(spec)
    children = ChildRuns(settings)
    setup = SearchSetup(storage=storage, study_name=name, worker=index, workers=spec.search_workers)
    setup.callbacks.append(children)
    data = search_data(train_df[prepared.features], train_df[spec.label].to_numpy(), task, spec.seed)
    with quiet_optuna():
        study = open_search_study(
            estimator=spec.estimator, families=families, task=task, metric=prepared.promotion_metric,
            trials=trials, seed=spec.seed, setup=setup,
        )  # fmt: skip
        done = run_trials(
            study, data, prepared.numeric, prepared.categorical, families=families, task=task,
            metric=prepared.promotion_metric, base_params=params, seed=spec.seed, trials=trials,
            timeout_s=max(spec.search_timeout_s - (time.monotonic() - start), 1e-3), setup=setup,
        )  # fmt: skip
    children.flush(study, deadline=start + spec.search_timeout_s)
    return SearchWorkerResult(worker=index, study=name, trials=done, study_trials=finished_trials(study))
