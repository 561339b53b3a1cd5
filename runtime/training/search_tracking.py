"""MLflow runs of a search: the training run is started before the search, and every trial (by any worker)
is logged as a child run under it with its family, parameters, validation score, fit time and single-row
predict latency (tags ``mlflow.parentRunId``, ``mlops.search.*``).

The training run's id and experiment reach the other workers through the study's user attributes
(:data:`.search_study.PARENT_RUN_ATTR`, :data:`.search_study.EXPERIMENT_ATTR`); a worker that finishes
trials before worker 0 has published them keeps those trials and logs them once it knows the parent.
A failed child-run log is reported and skipped: the tracking server is not worth a search.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pulumi_mlops.runtime.config import RuntimeSettings, TrainingSpec

from .leaderboard import entry_from_trial
from .search import SearchSetup, searches
from .search_study import ERROR_ATTR, EXPERIMENT_ATTR, PARENT_RUN_ATTR, REJECTED_ATTR, SEARCH_ATTR

__all__ = ["ChildRuns", "search_run"]

log = logging.getLogger(__name__)

_STATUS = {"complete": "FINISHED", "pruned": "KILLED", "failed": "FAILED"}
_STEP_BLOCK = 10_000


class ChildRuns:
    """Optuna callback logging each finished trial as a child run of the training run."""

    def __init__(
        self,
        settings: RuntimeSettings,
        *,
        parent_run_id: str | None = None,
        experiment_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.families: tuple[str, ...] = ()
        self.metric = ""
        self.parent_run_id = parent_run_id
        self.experiment_id = experiment_id
        self.logged: list[str] = []
        """Child run ids logged by this worker."""
        self._pending: list[Any] = []
        self._client: Any = None

    def __call__(self, study: Any, trial: Any) -> None:
        from optuna.trial import TrialState

        if trial.user_attrs.get(REJECTED_ATTR) or (
            trial.state == TrialState.FAIL and ERROR_ATTR not in trial.user_attrs
        ):
            return
        if not self.families:
            search = study.user_attrs.get(SEARCH_ATTR) or {}
            self.families = tuple(search.get("families") or ())
            self.metric = str(search.get("metric") or "score")
        self._pending.append(trial)
        if self._known(study):
            self._drain()

    def flush(self, study: Any, deadline: float, poll_s: float = 1.0) -> int:
        """Log the trials kept back, waiting (until ``time.monotonic()`` reaches ``deadline``) for worker 0 to
        publish the parent run; return how many are still unlogged."""
        while self._pending and not self._known(study) and time.monotonic() < deadline:
            time.sleep(poll_s)
        if self._known(study):
            self._drain()
        return len(self._pending)

    def _known(self, study: Any) -> bool:
        if self.parent_run_id is None:
            attrs = study.user_attrs
            if PARENT_RUN_ATTR in attrs:
                self.parent_run_id = str(attrs[PARENT_RUN_ATTR])
                self.experiment_id = str(attrs.get(EXPERIMENT_ATTR) or "") or None
        return self.parent_run_id is not None

    def _drain(self) -> None:
        pending, self._pending = self._pending, []
        if not self.parent_run_id:
            return
        for trial in pending:
            try:
                self.logged.append(self._log(trial))
            except Exception as exc:  # a tracking hiccup must not end the search
                log.warning("could not log trial %d as a child run: %s: %s", trial.number, type(exc).__name__, exc)

    def _log(self, trial: Any) -> str:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
        from pulumi_mlops.runtime.registry.tracking import mlflow_client

        if self._client is None:
            self._client = mlflow_client(self.settings)
        client = self._client
        if self.experiment_id is None:
            self.experiment_id = str(client.get_run(self.parent_run_id).info.experiment_id)
        entry = entry_from_trial(trial, self.families)
        run = client.create_run(
            self.experiment_id,
            run_name=f"trial-{entry.trial}-{entry.family}",
            tags={
                MLFLOW_PARENT_RUN_ID: str(self.parent_run_id),
                "mlops.search.trial": str(entry.trial),
                "mlops.search.family": entry.family,
                "mlops.search.state": entry.state,
                "mlops.search.worker": str(entry.worker),
            },
        )
        now = int(time.time() * 1000)
        key = f"validation_{self.metric}"
        metrics = [
            Metric(key, float(v), now, step % _STEP_BLOCK) for step, v in sorted(trial.intermediate_values.items())
        ]
        if entry.state == "complete" and entry.score is not None:
            metrics.append(Metric(key, float(entry.score), now, len(trial.intermediate_values)))
        if entry.fit_s is not None:
            metrics.append(Metric("fit_s", float(entry.fit_s), now, 0))
        if entry.predict_ms is not None:
            metrics.append(Metric("predict_latency_ms", float(entry.predict_ms), now, 0))
        params = [Param("family", entry.family), Param("estimator_class", entry.estimator_class)]
        params += [Param(k, str(v)) for k, v in sorted(entry.params.items())]
        tags = [RunTag("mlops.search.error", entry.error[:4000])] if entry.error else []
        client.log_batch(run.info.run_id, metrics=metrics, params=params, tags=tags)
        client.set_terminated(run.info.run_id, status=_STATUS[entry.state])
        return str(run.info.run_id)


@contextmanager
def search_run(
    spec: TrainingSpec,
    settings: RuntimeSettings,
    setup: SearchSetup | None,
    *,
    tracked: bool,
) -> Iterator[tuple[str | None, SearchSetup | None]]:
    """For a spec that searches, yield the training run's id (None when not ``tracked``) and the search setup
    with the child-run callback; the run is started here, or resumed when the study already names one (worker 0
    rejoining), and marked FAILED when the block raises. Specs without a search pass through."""
    if not searches(spec):
        yield None, setup
        return
    setup = setup or SearchSetup()
    if not tracked:
        setup.attrs[PARENT_RUN_ATTR] = ""
        yield None, setup
        return
    from pulumi_mlops.runtime.registry.tracking import ensure_experiment, mlflow_client

    client = mlflow_client(settings)
    run_id = str(setup.attrs.get(PARENT_RUN_ATTR) or "")
    if run_id:
        experiment_id = str(client.get_run(run_id).info.experiment_id)
    else:
        experiment_id = ensure_experiment(settings, spec.model.name)
        run_id = str(client.create_run(experiment_id, tags={"mlops.model": spec.model.name}).info.run_id)
    setup.attrs.update({PARENT_RUN_ATTR: run_id, EXPERIMENT_ATTR: experiment_id})
    setup.callbacks.append(ChildRuns(settings, parent_run_id=run_id, experiment_id=experiment_id))
    try:
        yield run_id, setup
    except BaseException:
        try:
            client.set_terminated(run_id, status="FAILED")
        except Exception as exc:  # the original error matters more
            log.warning("could not mark run %s failed: %s", run_id, exc)
        raise
