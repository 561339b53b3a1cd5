"""One trial of the search: admission under the shared cap, the sampled family and parameters, a fit with early
reports to the pruner, the validation score and the single-row predict latency.

Unpromising trials stop early (Optuna's median pruner, after two complete trials): the MLP reports its
validation score after every epoch (and may be stopped from the second on); the tree families (gradient
boosting, random forest), whose cost grows with the rows, first fit a quarter of the inner training rows (a
cheap first rung, when that is at least :data:`MIN_RUNG_ROWS` rows and holds every class) and are stopped there
when that score is below the median of the complete trials' first rungs. A quarter costs a quarter of a full
fit and saves the full fit of every trial it stops, so it pays as soon as one trial in four is stopped; the
median rule stops about half of those that reach it once the study has its bearings. Hyperband or successive
halving over the rows would spend more rungs on a budget of tens of trials for little more. Linear models fit in
one step and are never pruned. Each family reports at steps of its own (``family index * 10000 + epoch or
rung``), so a trial is only ever compared with trials of its own family at the same epoch or rung, never an
MLP after one epoch with a forest on a quarter of the rows.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from .evaluation import evaluate_model
from .pipelines import ESTIMATOR_STEP, build_pipeline, estimator_class
from .search_space import AUTO_FAMILIES, FAMILY_PARAM, family_prefix, suggest_params
from .search_study import ERROR_ATTR, REJECTED_ATTR, admitted

__all__ = ["MIN_RUNG_ROWS", "RUNG_FRACTION", "FitFailedError", "Objective", "RefusedError", "SearchData", "search_data"]

MIN_RUNG_ROWS = 200
"""Smallest first rung (a quarter of the inner training rows) a tree family is pruned on; smaller data fits whole."""
RUNG_FRACTION = 0.25
"""Share of the inner training rows the first rung of a tree family fits."""
_RUNG_FAMILIES = ("gradient_boosting", "random_forest")
_STEP_BLOCK = 10_000
_LATENCY_REPEATS = 7


@dataclass(frozen=True)
class SearchData:
    """The inner split of the training rows every trial fits and scores on."""

    inner_x: pd.DataFrame
    """Inner training features."""
    inner_y: np.ndarray
    """Inner training labels."""
    valid_x: pd.DataFrame
    """Inner validation features."""
    valid_y: np.ndarray
    """Inner validation labels."""
    rung_x: pd.DataFrame | None = None
    """The first rung of the tree families (a quarter of the inner training rows); None when too small."""
    rung_y: np.ndarray | None = None
    """Labels of the first rung."""


def _strata(labels: np.ndarray, task: str) -> np.ndarray | None:
    if task == "regression":
        return None
    _, counts = np.unique(labels, return_counts=True)
    return labels if counts.min() >= 2 else None


def search_data(train: pd.DataFrame, y: Sequence[Any] | np.ndarray, task: str, seed: int) -> SearchData:
    """Split the training rows 3:1 into inner training and validation rows (stratified for classifiers), and
    draw the first rung from the inner training rows when it has :data:`MIN_RUNG_ROWS` rows and every class."""
    labels = np.asarray(y)
    inner_x, valid_x, inner_y, valid_y = train_test_split(
        train, labels, test_size=0.25, random_state=seed, stratify=_strata(labels, task)
    )
    if len(inner_x) * RUNG_FRACTION < MIN_RUNG_ROWS:
        return SearchData(inner_x, inner_y, valid_x, valid_y)
    rung_x, _, rung_y, _ = train_test_split(
        inner_x, inner_y, train_size=RUNG_FRACTION, random_state=seed, stratify=_strata(inner_y, task)
    )
    if task != "regression" and len(np.unique(rung_y)) < len(np.unique(inner_y)):
        return SearchData(inner_x, inner_y, valid_x, valid_y)
    return SearchData(inner_x, inner_y, valid_x, valid_y, rung_x, rung_y)


class RefusedError(Exception):
    """The study already holds its trial cap."""


class FitFailedError(Exception):
    """The trial's fit raised; the reason is the trial's ``error`` attribute."""


def _latency_ms(pipeline: Any, row: pd.DataFrame, task: str) -> float:
    predict = pipeline.predict if task == "regression" else pipeline.predict_proba
    predict(row)
    times = []
    for _ in range(_LATENCY_REPEATS):
        start = time.perf_counter()
        predict(row)
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


@dataclass
class Objective:
    """One trial: admit it, sample a family and its parameters, fit with early reports, score, time a prediction."""

    data: SearchData
    numeric: list[str]
    categorical: list[str]
    families: tuple[str, ...]
    task: str
    metric: str
    base_params: Mapping[str, Any]
    seed: int
    cap: int
    worker: int

    def __call__(self, trial: Any) -> float:
        if not admitted(trial.study, trial, self.cap):
            trial.set_user_attr(REJECTED_ATTR, True)
            trial.study.stop()
            raise RefusedError()
        families = self.families
        family = trial.suggest_categorical(FAMILY_PARAM, list(families)) if len(families) > 1 else families[0]
        prefix = family_prefix(family, families)
        params = {**self.base_params, **suggest_params(trial, family, self.task, prefix=prefix)}
        trial.set_user_attr("family", family)
        trial.set_user_attr("worker", self.worker)
        import optuna

        try:
            trial.set_user_attr("estimator_class", estimator_class(family, self.task).__name__)
            pipeline, score = self._fit(trial, family, params)
            if not np.isfinite(score):
                raise ValueError(f"the validation {self.metric} is {score} (the fit diverged)")
            latency = _latency_ms(pipeline, self.data.valid_x.iloc[:1], self.task)
        except optuna.TrialPruned:
            raise
        except Exception as exc:
            trial.set_user_attr(ERROR_ATTR, f"{type(exc).__name__}: {exc}"[:500])
            raise FitFailedError() from exc
        trial.set_user_attr("predict_ms", latency)
        return score

    def _score(self, model: Any, x: Any) -> float:
        return float(evaluate_model(model, x, self.data.valid_y, self.task)[self.metric])

    def _fit(self, trial: Any, family: str, params: dict[str, Any]) -> tuple[Any, float]:
        import optuna

        data, base_step = self.data, AUTO_FAMILIES.index(family) * _STEP_BLOCK
        pipeline = build_pipeline(family, self.numeric, self.categorical, params, self.seed, self.task)
        fit_s = 0.0

        def timed(fn: Callable[[], Any]) -> None:
            nonlocal fit_s
            start = time.perf_counter()
            fn()
            fit_s += time.perf_counter() - start
            trial.set_user_attr("fit_s", fit_s)

        def report(score: float, step: int) -> None:
            trial.report(score, base_step + step)
            if trial.should_prune():
                raise optuna.TrialPruned()

        if family == "mlp":
            preprocess = clone(pipeline.named_steps["preprocess"]).fit(data.inner_x, data.inner_y)
            xt, xv = preprocess.transform(data.inner_x), preprocess.transform(data.valid_x)
            model = pipeline.named_steps[ESTIMATOR_STEP]
            score = float("nan")
            for epoch in range(int(model.epochs)):
                timed(lambda: model.partial_fit(xt, data.inner_y))
                score = self._score(model, xv)
                trial.report(score, base_step + epoch)
                if epoch >= 1 and trial.should_prune():
                    raise optuna.TrialPruned()
            return Pipeline([("preprocess", preprocess), (ESTIMATOR_STEP, model)]), score
        if family in _RUNG_FAMILIES and data.rung_x is not None:
            rung = clone(pipeline)
            timed(lambda: rung.fit(data.rung_x, data.rung_y))
            report(self._score(rung, data.valid_x), 0)
        timed(lambda: pipeline.fit(data.inner_x, data.inner_y))
        return pipeline, self._score(pipeline, data.valid_x)
