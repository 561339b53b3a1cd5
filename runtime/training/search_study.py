"""Where a search's Optuna study lives, and the rules that let several workers share one.

``MLOPS_SEARCH_STORAGE`` (:attr:`RuntimeSettings.search_storage`) names the storage:

- a PostgreSQL URL (``postgresql+psycopg2://user:pass@host:5432/mlflow``, typically MLflow's own database): the
  study tables go to the schema ``optuna`` of that database, created on first use with the same credentials,
  and every connection sets ``search_path`` to it. MLflow and Optuna both keep their migration state in an
  ``alembic_version`` table; MLflow's stays in ``public``, Optuna's in ``optuna``, so neither reads the other's
  (a schema needs no CREATE DATABASE right, only CREATE on the database MLflow already owns). Workers create
  the schema and the tables one at a time under a PostgreSQL advisory lock. A URL without a driver
  (``postgresql://``) uses psycopg2, the driver the runtime image installs;
- any other SQLAlchemy URL (``sqlite:///search.db``, MySQL): used as is, so it must be a database of its own;
- ``journal:<path>``: Optuna's journal file storage on a volume every worker mounts (no database).

Database storages record a heartbeat of each running trial every :data:`HEARTBEAT_INTERVAL_S` seconds; a
trial whose worker died (a pod killed or retried) is failed after :data:`GRACE_PERIOD_S` seconds without one
and no longer counts, so the trial cap is refilled by the others. The journal storage has no heartbeat: a dead
worker's trial stays running and is ignored once the budget is spent.

The trial cap holds across workers: a trial is admitted when fewer than ``search_trials`` trials numbered
before it are running, waiting or finished (complete, pruned, or failed by the fit); a worker whose trial is
refused marks it failed with :data:`REJECTED_ATTR` and stops, and :class:`optuna.study.MaxTrialsCallback`
stops a worker once the study holds the cap, so the study ends with ``search_trials`` finished trials rather
than one extra per worker.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

__all__ = [
    "ERROR_ATTR",
    "EXPERIMENT_ATTR",
    "GRACE_PERIOD_S",
    "HEARTBEAT_INTERVAL_S",
    "JOURNAL_PREFIX",
    "OPTUNA_SCHEMA",
    "PARENT_RUN_ATTR",
    "REGISTERED_ATTR",
    "REJECTED_ATTR",
    "SEARCH_ATTR",
    "SearchStorageError",
    "admitted",
    "counts_toward_cap",
    "finished_trials",
    "open_storage",
    "wait_for_running",
]

OPTUNA_SCHEMA = "optuna"
"""PostgreSQL schema holding the study tables (beside MLflow's tables in ``public``)."""
JOURNAL_PREFIX = "journal:"
"""``MLOPS_SEARCH_STORAGE=journal:<path>`` selects Optuna's journal file storage."""
HEARTBEAT_INTERVAL_S = 10
"""Seconds between heartbeats of a running trial (database storages)."""
GRACE_PERIOD_S = 60
"""Seconds without a heartbeat after which a running trial is failed as stale."""
PARENT_RUN_ATTR = "mlops.parent_run_id"
"""Study user attribute: the MLflow run the trials are child runs of ('' when the search is not tracked)."""
EXPERIMENT_ATTR = "mlops.experiment_id"
"""Study user attribute: the MLflow experiment of that run."""
REGISTERED_ATTR = "mlops.registered_version"
"""Study user attribute: the model version worker 0 registered from the study."""
SEARCH_ATTR = "mlops.search"
"""Study user attribute: what the study searches (estimator, task, metric, cap), checked by every worker."""
REJECTED_ATTR = "mlops.rejected"
"""Trial user attribute of a trial refused because the study already held its cap."""
ERROR_ATTR = "error"
"""Trial user attribute: why the fit of a failed trial raised."""
_LOCK_KEY = 0x6D6C6F7073  # "mlops": the advisory lock serializing schema and table creation


class SearchStorageError(ValueError):
    """``MLOPS_SEARCH_STORAGE`` cannot be used; the message names the variable and the fix."""


def _postgres_storage(url: Any, heartbeat_interval: int, grace_period: int) -> Any:
    import sqlalchemy
    from optuna.storages import RDBStorage
    from sqlalchemy.pool import NullPool

    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg2")
    options = f"{url.query.get('options', '')} -csearch_path={OPTUNA_SCHEMA}".strip()
    scoped = url.update_query_dict({"options": options}).render_as_string(hide_password=False)
    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": _LOCK_KEY})
            try:
                connection.execute(sqlalchemy.text(f'CREATE SCHEMA IF NOT EXISTS "{OPTUNA_SCHEMA}"'))
                connection.commit()
                return RDBStorage(
                    scoped,
                    engine_kwargs={"pool_pre_ping": True},
                    heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period,
                )
            finally:
                connection.rollback()
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK_KEY})
                connection.commit()
    finally:
        engine.dispose()


def open_storage(
    url: str, *, heartbeat_interval: int = HEARTBEAT_INTERVAL_S, grace_period: int = GRACE_PERIOD_S
) -> Any:
    """The Optuna storage ``url`` (the value of ``MLOPS_SEARCH_STORAGE``) names; SearchStorageError naming the fix."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _open_storage(url, heartbeat_interval, grace_period)


def _open_storage(url: str, heartbeat_interval: int, grace_period: int) -> Any:
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    if url.startswith(JOURNAL_PREFIX):
        path = Path(url.removeprefix(JOURNAL_PREFIX))
        if not str(path) or str(path) == ".":
            raise SearchStorageError("MLOPS_SEARCH_STORAGE=journal: names no file; use journal:/shared/search.log")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return JournalStorage(JournalFileBackend(str(path)))
        except OSError as exc:
            raise SearchStorageError(f"MLOPS_SEARCH_STORAGE={url}: cannot open the journal file: {exc}") from None
    import sqlalchemy
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise SearchStorageError(
            f"MLOPS_SEARCH_STORAGE={url!r} is neither a SQLAlchemy URL nor journal:<path>: use e.g. "
            "postgresql+psycopg2://user:pass@host:5432/mlflow or journal:/shared/search.log"
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    try:
        if parsed.get_backend_name() == "postgresql":
            return _postgres_storage(parsed, heartbeat_interval, grace_period)
        return RDBStorage(url, heartbeat_interval=heartbeat_interval, grace_period=grace_period)
    except ImportError as exc:
        raise SearchStorageError(
            f"MLOPS_SEARCH_STORAGE={shown}: the database driver is not installed ({exc}); use "
            "postgresql+psycopg2:// (installed with the runtime extra) or install the driver"
        ) from None
    except sqlalchemy.exc.SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None)
        reason = (str(cause if cause is not None else exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SearchStorageError(
            f"MLOPS_SEARCH_STORAGE={shown}: cannot use the database ({reason}); check the host, the credentials and "
            f"that the user may create the schema {OPTUNA_SCHEMA!r}"
        ) from None


def counts_toward_cap(trial: Any) -> bool:
    """Whether ``trial`` takes one of the study's ``search_trials`` places: running, waiting, complete, pruned, or
    failed by its fit; not a refused trial, and not one failed as stale (its worker died)."""
    from optuna.trial import TrialState

    if trial.user_attrs.get(REJECTED_ATTR):
        return False
    if trial.state == TrialState.FAIL:
        return ERROR_ATTR in trial.user_attrs
    return True


def admitted(study: Any, trial: Any, cap: int) -> bool:
    """Whether fewer than ``cap`` trials numbered before ``trial`` count toward the cap."""
    ahead = sum(1 for t in study.get_trials(deepcopy=False) if t.number < trial.number and counts_toward_cap(t))
    return ahead < cap


def finished_trials(study: Any) -> int:
    """Complete and pruned trials of ``study``."""
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def wait_for_running(study: Any, deadline: float, poll_s: float = 0.5) -> int:
    """Wait until no admitted trial of ``study`` runs (failing stale ones) or ``time.monotonic()`` passes
    ``deadline``; return how many were still running."""
    import optuna
    from optuna.trial import TrialState

    while True:
        optuna.storages.fail_stale_trials(study)
        running = [
            t
            for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if not t.user_attrs.get(REJECTED_ATTR)
        ]
        if not running or time.monotonic() >= deadline:
            return len(running)
        time.sleep(poll_s)
