"""``mlops drift``: compare a window of prediction logs with the model's reference profile.

Exit codes: 0 no dataset drift (or too few rows for a verdict, with a warning), 3 dataset drift,
2 usage errors (bad arguments, unreadable logs or profile).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ._common import UserError, console, err_console, user_errors

if TYPE_CHECKING:
    from pulumi_mlops.runtime.config import DriftSpec
    from pulumi_mlops.runtime.drift.report import DriftReport

__all__ = ["EXIT_DRIFT", "register"]

EXIT_DRIFT = 3


def _when(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"{option} {text!r} is not an ISO date or time: use 2026-11-21 or 2026-11-21T06:00Z") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def load_drift_spec(path: Path | None) -> DriftSpec:
    """A ``DriftSpec`` from YAML/JSON (optionally under a ``drift:`` key); defaults when ``path`` is None."""
    from pulumi_mlops.runtime.config import DriftSpec

    if path is None:
        return DriftSpec()
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"cannot read the drift spec {path}: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("drift"), dict):
        data = data["drift"]
    return DriftSpec.model_validate(data)


def register(app: typer.Typer) -> None:
    @app.command("drift")
    def drift(
        model: str = typer.Option(..., "--model", "-m", help="Model as name@alias (alias defaults to champion)."),
        window: str = typer.Option(
            ..., "--window", "-w", help="Prediction logs: a directory, a parquet file, or an s3:// or gs:// prefix."
        ),
        reference: str | None = typer.Option(
            None,
            "--reference",
            "-r",
            help="reference_profile.json, or models:/name@alias (default: models:/<model>, resolved via MLflow).",
        ),
        out: str = typer.Option(
            ".mlops/drift", "--out", "-o", help="Directory, or s3:// or gs:// prefix, for the reports and metrics."
        ),
        run_folder: bool = typer.Option(
            False, "--run-folder", help="Write below <out>/<window end>/, keeping every run's reports."
        ),
        since: str | None = typer.Option(
            None, "--since", help="Window start, ISO (default: --until minus the spec's window_hours)."
        ),
        until: str | None = typer.Option(None, "--until", help="Window end (exclusive), ISO (default: now)."),
        labels: str | None = typer.Option(
            None,
            "--labels",
            help="Parquet with request_id, row (the row's index within its request) and label, for performance drift.",
        ),
        spec_file: Path | None = typer.Option(
            None, "--spec", help="DriftSpec as JSON or YAML (thresholds, min_rows, feature_overrides)."
        ),
    ) -> None:
        """Test a window of prediction logs for data, prediction and performance drift.

        Writes drift_report.json and drift_report.html under --out (a folder or a bucket prefix) and exports
        Prometheus gauges (to MLOPS_PUSHGATEWAY_URL when set, else to drift.prom under --out). Exits 3 on
        dataset drift.
        """
        from pydantic import ValidationError

        from pulumi_mlops.runtime.config import ModelRef, RuntimeSettings, SettingsError
        from pulumi_mlops.runtime.drift import ProfileError
        from pulumi_mlops.runtime.drift.check import run_drift_check
        from pulumi_mlops.runtime.drift.window import WindowError

        with user_errors(ValidationError, SettingsError, ProfileError, WindowError, ValueError):
            ref = ModelRef.parse(model)
            spec = load_drift_spec(spec_file)
            settings = RuntimeSettings.from_env()
            end = _when(until, "--until") or datetime.now(UTC)
            start = _when(since, "--since") or end - timedelta(hours=spec.window_hours)
            if start >= end:
                raise UserError(f"--since {start.isoformat()} is not before --until {end.isoformat()}")
            check = run_drift_check(
                ref,
                window,
                spec,
                settings,
                out,
                reference=reference,
                since=start,
                until=end,
                labels=labels,
                run_folder=run_folder,
            )
        report = check.report
        _print_summary(report)
        console.print(f"wrote {check.json_path}, {check.html_path}; metrics → {check.metrics}", highlight=False)
        if report.status == "insufficient_data":
            err_console.print(f"[yellow]warning:[/] {report.findings[0].message}", highlight=False)
        if report.dataset_drift:
            raise typer.Exit(EXIT_DRIFT)


def _print_summary(report: DriftReport) -> None:
    from rich.table import Table

    colour = {"drift": "red", "ok": "green", "insufficient_data": "yellow"}[report.status]
    console.print(
        f"[bold {colour}]{report.status.replace('_', ' ').upper()}[/] {report.model}: "
        f"{report.drifted_features}/{report.features_total} features drifted "
        f"(share {report.drift_share:.0%}, threshold {report.drift_share_threshold:.0%}), "
        f"{report.window.rows:,} rows",
        highlight=False,
    )
    if not report.features:
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("feature", "verdict", "test", "statistic", "p-value", "threshold"):
        table.add_column(column)
    shown = [*report.features[:15], *([report.prediction] if report.prediction else [])]
    for f in shown:
        verdict = "[red]drift[/]" if f.drifted else ("[green]ok[/]" if f.status == "tested" else f"[dim]{f.status}[/]")
        table.add_row(
            f.name,
            verdict,
            f.test or "-",
            "-" if f.statistic is None else f"{f.statistic:.4g}",
            "-" if f.p_value is None else f"{f.p_value:.3g}",
            "-" if f.threshold is None else f"{f.threshold:.3g}",
        )
    console.print(table)
    for finding in report.findings:
        if finding.severity != "info":
            console.print(f"[yellow]{finding.kind}[/]: {finding.message}", highlight=False)
