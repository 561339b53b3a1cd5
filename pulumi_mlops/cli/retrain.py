"""``mlops retrain``: the automated retraining loop, in this process or as a Job on the cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from ._common import UserError, console, user_errors
from .drift import load_drift_spec

__all__ = ["register"]


def _training_spec(path: Path | None, model: str, data: str | None, estimator: str | None, settings: Any) -> Any:
    """The challenger's spec: ``--training-spec``, else the served version's own (label, features, estimator, task,
    parameters), with ``--data`` and ``--estimator`` over either."""
    import yaml

    from pulumi_mlops.runtime.config import ModelRef, TrainingSpec
    from pulumi_mlops.runtime.registry.loading import ModelNotFoundError
    from pulumi_mlops.runtime.registry.training_specs import training_spec_of

    ref = ModelRef.parse(model)
    raw: dict[str, Any] = {}
    if path is not None:
        if not path.is_file():
            raise UserError(f"--training-spec {path}: no such file")
        raw = yaml.safe_load(path.read_text()) or {}
        raw.setdefault("model", {"name": ref.name})
    else:
        try:
            raw = training_spec_of(ref.name, ref.alias, settings).model_dump()
        except ModelNotFoundError as exc:
            raise UserError(
                f"{exc}: the challenger reuses the served version's training spec; give --training-spec"
            ) from None
    if data:
        raw["data"] = data
    if estimator:
        raw["estimator"] = estimator
    return TrainingSpec.model_validate(raw)


def register(app: typer.Typer) -> None:
    @app.command("retrain")
    def retrain(
        model: str = typer.Option(..., "--model", "-m", help="Served model as name@alias (alias default champion)."),
        endpoint: str | None = typer.Option(None, "--endpoint", help="Endpoint name (for the audit log)."),
        window: str | None = typer.Option(
            None, "--window", "-w", help="Prediction logs to check for drift (in-process mode)."
        ),
        data: str | None = typer.Option(
            None,
            "--data",
            "-d",
            help="Fresh training data for the challenger (default: the training data's rows of the drift window).",
        ),
        estimator: str | None = typer.Option(None, "--estimator", help="Estimator of the challenger."),
        training_spec: Path | None = typer.Option(None, "--training-spec", help="TrainingSpec YAML/JSON."),
        cron_job: str | None = typer.Option(
            None, "--cronjob", help="On the cluster: start a Job from this training CronJob instead of training here."
        ),
        spec_file: Path | None = typer.Option(None, "--spec", help="DriftSpec YAML/JSON (thresholds, guard)."),
        out: str = typer.Option(".mlops/drift", "--out", "-o", help="Where the drift reports go (path or bucket)."),
        force: bool = typer.Option(
            False, "--force", help="Retrain now, even without drift and despite the cooldown and daily cap (audited)."
        ),
    ) -> None:
        """Retrain after drift: check the window, respect the cooldown and daily cap, train a challenger on
        fresh data (--data, or the training data's rows of the drift window) with the served version's training
        spec (label, features, estimator, task; --training-spec or --estimator to change it), promote it only if
        it beats the champion on the fixed holdout. A failed retraining does not count against the cooldown.
        Every decision is audited."""
        from pydantic import ValidationError

        from pulumi_mlops.runtime.config import ModelRef, RuntimeSettings, SettingsError
        from pulumi_mlops.runtime.drift import ProfileError
        from pulumi_mlops.runtime.drift.window import WindowError
        from pulumi_mlops.runtime.pipeline import RegistryHistory, RetrainGuard
        from pulumi_mlops.runtime.pipeline.kube import KubeApiError
        from pulumi_mlops.runtime.registry.audit import AuditEvent, append_audit
        from pulumi_mlops.runtime.registry.loading import ModelNotFoundError
        from pulumi_mlops.runtime.registry.tracking import mlflow_client

        errors = (ValidationError, SettingsError, ProfileError, WindowError, KubeApiError, ModelNotFoundError)
        with user_errors(*errors):
            ref = ModelRef.parse(model)
            drift = load_drift_spec(spec_file)
            settings = RuntimeSettings.from_env()
            if (window is None) == (cron_job is None):
                raise UserError("give exactly one of --window (retrain here) or --cronjob (start a Job on the cluster)")
            guard = RetrainGuard(
                RegistryHistory(mlflow_client(settings), [ref.name]),
                drift.retrain_cooldown_hours,
                drift.max_retrains_per_day,
            )

            def audit(record: dict[str, Any]) -> None:
                versions = {"champion": record.get("champion_version"), "challenger": record.get("challenger_version")}
                details = {"endpoint": endpoint, "drift_share": record.get("drift_share"), "forced": force}
                append_audit(
                    settings,
                    AuditEvent(
                        action=record["action"],
                        model=ref.name,
                        reason=record["why"],
                        versions=versions,
                        details=details,
                    ),
                )

            until = datetime.now(UTC)
            since = until - timedelta(hours=drift.window_hours)
            if cron_job is not None:
                fresh = ["--data", data] if data else ["--since", since.isoformat(), "--until", until.isoformat()]
                _submit(ref.name, cron_job, guard, audit, fresh, until, force)
                return
            from pulumi_mlops.runtime.pipeline import run_retrain
            from pulumi_mlops.runtime.pipeline.steps import LocalRetrain, local_steps

            assert window is not None
            job = LocalRetrain(
                training=_training_spec(training_spec, model, data, estimator, settings),
                drift=drift,
                window=window,
                out=out,
                served_alias=ref.alias,
                since=since,
                train_window=None if data else (since, until),
            )
            decision = run_retrain(ref.name, local_steps(job, settings), guard, audit, force=force)
        colour = {"retrained-promoted": "green", "failed": "red"}.get(decision.action, "yellow")
        console.print(f"[bold {colour}]{decision.action}[/] {ref.name}: {decision.reason}", highlight=False)
        if decision.action == "failed":
            raise typer.Exit(1)


def _submit(
    model: str, cron_job: str, guard: Any, audit: Any, training_args: list[str], now: datetime, force: bool
) -> None:
    from pulumi_mlops.runtime.pipeline.kube import KubeApi, trigger_retraining

    job = trigger_retraining(model, cron_job, guard, audit, KubeApi.in_cluster(), now, training_args, force=force)
    if job is None:
        console.print(f"[yellow]skipped[/] {model}: the retraining guard says wait (see the audit log)")
    else:
        console.print(f"[green]started[/] Job {job} from CronJob {cron_job}", highlight=False)
