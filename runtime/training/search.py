"""Hyperparameter search with Optuna (the AutoML step): one family's parameters, or the family and its
parameters together (``estimator: auto``, see :mod:`.search_space`).

Each trial fits on an inner training split and is scored on an inner validation split (both carved from the
training rows; the holdout is never seen) by the run's promotion metric: AUC for binary models unless the spec
names another. The search stops after ``search_trials`` finished trials or when ``search_timeout_s`` is spent
(no trial starts after it), whichever comes first; several workers may share one study (:mod:`.search_study`).

Unpromising trials stop early (a median pruner over per-epoch reports of the MLP and a cheap first rung of the
tree families, :mod:`.search_objective`).

Every trial records its family, fit time (the fits of all its rungs or epochs, scoring excluded) and the
single-row predict latency of its fitted pipeline; :attr:`SearchResult.leaderboard` ranks them.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pulumi_mlops.runtime.config import AUTO_ESTIMATOR, AUTO_SEARCH_TRIALS, StrictModel, TrainingSpec
from pulumi_mlops.runtime.config.tasks import higher_is_better, promotion_metric_for
from pydantic import Field

from .leaderboard import LeaderboardEntry, entry_from_trial, ranked
from .pipelines import build_pipeline
from .search_objective import FitFailedError, Objective, RefusedError, SearchData, search_data
from .search_space import family_params, first_guesses, search_families, suggest_params
from .search_study import ERROR_ATTR, SEARCH_ATTR, wait_for_running

__all__ = [
    "SearchData",
    "SearchError",
    "SearchResult",
    "SearchSetup",
    "TrialCallback",
    "open_search_study",
    "quiet_optuna",
    "run_trials",
    "search_hyperparameters",
    "search_trial_cap",
    "searches",
    "suggest_params",
    "summarize_study",
]

log = logging.getLogger(__name__)

TrialCallback = Callable[[Any, Any], None]
"""``callback(study, frozen_trial)``, called by the worker that ran each trial once it has finished."""


class SearchError(ValueError):
    """The search finished no trial; the message says why and what to change."""


class SearchResult(StrictModel):
    """Outcome of the search."""

    best_params: dict[str, float | int | str | bool]
    """Estimator parameters of the best trial (plain names, without the family)."""
    family: str = ""
    """Estimator family of the best trial: the one refit on the training rows."""
    families: list[str] = Field(default_factory=list)
    """Families the search chose from."""
    metric: str = "auc"
    """Inner-validation metric the trials were compared on."""
    best_score: float
    """Inner-validation ``metric`` of the best trial."""
    best_auc: float | None = None
    """Inner-validation AUC of the best trial (when the metric is AUC)."""
    trials: int
    """Trials finished (complete and pruned), by every worker."""
    pruned: int = Field(default=0)
    """Trials stopped early by the pruner."""
    failed: int = 0
    """Trials whose fit raised (listed with the error in the leaderboard)."""
    workers: int = 1
    """Search workers that finished trials."""
    study: str | None = None
    """Name of the Optuna study (a shared study's ``MLOPS_SEARCH_STUDY``)."""
    leaderboard: list[LeaderboardEntry] = Field(default_factory=list)
    """Every finished or failed trial, best first."""

    def leaderboard_document(self) -> dict[str, Any]:
        """What ``leaderboard.json`` holds: the metric, the winner, the counts and every trial, best first."""
        summary = self.model_dump(mode="json", exclude={"leaderboard", "best_auc"})
        return {**summary, "leaderboard": [entry.model_dump(mode="json") for entry in self.leaderboard]}


@dataclass
class SearchSetup:
    """Where a search's study lives and who hears of its trials (runtime objects, not part of the spec)."""

    storage: Any = None
    """Optuna storage shared by the workers (:func:`.search_study.open_storage`); None keeps the study in memory."""
    study_name: str | None = None
    """Study name in ``storage``."""
    worker: int = 0
    """This worker's index; worker 0 coordinates (sets ``attrs``, starts the first guesses, waits, refits)."""
    workers: int = 1
    """Workers sharing the study."""
    attrs: dict[str, Any] = field(default_factory=dict)
    """Study user attributes worker 0 sets (the MLflow parent run)."""
    callbacks: list[TrialCallback] = field(default_factory=list)
    """Called after each trial this worker finishes (MLflow child runs)."""


def searches(spec: TrainingSpec) -> bool:
    """Whether ``spec`` runs a search: ``estimator: auto``, or ``search_trials`` above 0."""
    return spec.estimator == AUTO_ESTIMATOR or spec.search_trials > 0


def search_trial_cap(spec: TrainingSpec) -> int:
    """The trial cap of ``spec``'s search: ``search_trials``, or :data:`AUTO_SEARCH_TRIALS` for auto with 0."""
    if spec.estimator == AUTO_ESTIMATOR and spec.search_trials == 0:
        return AUTO_SEARCH_TRIALS
    return spec.search_trials


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's own per-trial log lines (a refused trial reads as a failure there) give way to this module's."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            yield
        finally:
            optuna.logging.set_verbosity(level)


def open_search_study(
    *,
    estimator: str,
    families: Sequence[str],
    task: str,
    metric: str,
    trials: int,
    seed: int,
    setup: SearchSetup,
) -> Any:
    """Create or join the study (TPE seeded with ``seed`` + worker, median pruner); worker 0 sets the setup's
    attributes and, for a new ``auto`` study, enqueues the first guesses. SearchError when the study was
    started for another search."""
    import optuna

    families = tuple(families)
    if len(families) > 1:
        sampler = optuna.samplers.TPESampler(
            seed=seed + setup.worker,
            multivariate=True,
            group=True,
            n_startup_trials=max(len(families), min(10, trials // 3)),
        )
    else:
        sampler = optuna.samplers.TPESampler(seed=seed + setup.worker)
    study = optuna.create_study(
        storage=setup.storage,
        study_name=setup.study_name,
        direction="maximize" if higher_is_better(task, metric) else "minimize",
        sampler=sampler,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0, n_min_trials=2),
        load_if_exists=True,
    )
    expected = {"estimator": estimator, "families": list(families), "task": task, "metric": metric, "trials": trials}
    found = study.user_attrs.get(SEARCH_ATTR)
    if found is None:
        study.set_user_attr(SEARCH_ATTR, expected)
    elif found != expected:
        raise SearchError(
            f"study {study.study_name!r} holds another search ({found}, not {expected}): give this training its own "
            "study name (MLOPS_SEARCH_STUDY), e.g. the Job name"
        )
    if setup.worker == 0:
        for key, value in setup.attrs.items():
            study.set_user_attr(key, value)
        if len(families) > 1 and not study.get_trials(deepcopy=False):
            for guess in first_guesses(families, task, trials):
                study.enqueue_trial(guess, skip_if_exists=True)
    return study


def run_trials(
    study: Any,
    data: SearchData,
    numeric: list[str],
    categorical: list[str],
    *,
    families: Sequence[str],
    task: str,
    metric: str,
    base_params: Mapping[str, Any],
    seed: int,
    trials: int,
    timeout_s: float,
    setup: SearchSetup,
) -> int:
    """Run trials of ``study`` in this worker until the study holds ``trials`` finished ones or ``timeout_s``
    has passed; return how many this worker finished."""
    import optuna
    from optuna.trial import TrialState

    finished = (TrialState.COMPLETE, TrialState.PRUNED)
    objective = Objective(
        data, list(numeric), list(categorical), tuple(families), task, metric, base_params, seed, trials, setup.worker
    )
    mine: list[int] = []

    def count(_study: Any, trial: Any) -> None:
        if trial.state in finished:
            mine.append(trial.number)
        elif trial.state == TrialState.FAIL and ERROR_ATTR in trial.user_attrs:
            family = trial.user_attrs.get("family")
            log.warning("trial %d (%s) failed: %s", trial.number, family, trial.user_attrs[ERROR_ATTR])

    study.optimize(
        objective,
        n_trials=trials,
        timeout=timeout_s,
        catch=(RefusedError, FitFailedError),
        callbacks=[count, optuna.study.MaxTrialsCallback(trials, states=finished), *setup.callbacks],
        gc_after_trial=False,
    )
    return len(mine)


def summarize_study(study: Any, *, families: Sequence[str], task: str, metric: str, timeout_s: float) -> SearchResult:
    """The search's result from its study; SearchError when no trial completed."""
    from optuna.trial import TrialState

    shown = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        or (t.state == TrialState.FAIL and ERROR_ATTR in t.user_attrs)
    ]
    entries = ranked([entry_from_trial(t, families) for t in shown], higher_is_better(task, metric))
    complete = [e for e in entries if e.state == "complete"]
    if not complete:
        errors = sorted({e.error for e in entries if e.error})
        why = (
            f"; the fits raised: {'; '.join(errors)[:600]}" if errors else f"; raise search_timeout_s ({timeout_s:g} s)"
        )
        raise SearchError(f"hyperparameter search finished no trial{why}")
    best = study.best_trial
    family = str(best.user_attrs.get("family", families[0]))
    score = float(study.best_value)
    return SearchResult(
        best_params=family_params(best.params, family, families),
        family=family,
        families=list(families),
        metric=metric,
        best_score=score,
        best_auc=score if metric == "auc" else None,
        trials=sum(e.state in ("complete", "pruned") for e in entries),
        pruned=sum(e.state == "pruned" for e in entries),
        failed=sum(e.state == "failed" for e in entries),
        workers=len({e.worker for e in entries}) or 1,
        study=study.study_name,
        leaderboard=entries,
    )


def search_hyperparameters(
    estimator: str,
    train: pd.DataFrame,
    y: Sequence[Any] | np.ndarray,
    numeric: list[str],
    categorical: list[str],
    *,
    base_params: dict[str, Any],
    trials: int,
    timeout_s: float,
    seed: int,
    task: str = "binary",
    metric: str | None = None,
    families: Sequence[str] | None = None,
    setup: SearchSetup | None = None,
) -> SearchResult:
    """Run up to ``trials`` trials within ``timeout_s`` seconds and return the ranked result.

    ``estimator`` is one built-in family, or ``auto`` (``families`` narrows what it chooses from);
    ``base_params`` apply to every trial of a named family. Trials are compared on ``metric`` (default: the
    task's promotion metric) of the inner validation split. With a shared ``setup`` this is worker 0: after
    its own trials it waits (within ``timeout_s`` of its start) for the trials other workers are running.
    """
    start = time.monotonic()
    metric = promotion_metric_for(task, metric)
    chosen = tuple(families or search_families(estimator))
    if len(chosen) == 1:
        build_pipeline(chosen[0], numeric, categorical, base_params, seed, task)
    setup = setup or SearchSetup()
    data = search_data(train, y, task, seed)
    with quiet_optuna():
        study = open_search_study(
            estimator=estimator, families=chosen, task=task, metric=metric, trials=trials, seed=seed, setup=setup
        )
        run_trials(
            study, data, numeric, categorical, families=chosen, task=task, metric=metric, base_params=base_params,
            seed=seed, trials=trials, timeout_s=timeout_s, setup=setup,
        )  # fmt: skip
        if setup.storage is not None:
            left = wait_for_running(study, start + timeout_s)
            if left:
                log.warning("search budget spent with %d trial(s) of other workers still running; ignoring them", left)
        return summarize_study(study, families=chosen, task=task, metric=metric, timeout_s=timeout_s)
