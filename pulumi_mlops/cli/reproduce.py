"""``mlops reproduce``: retrain a registered version from its pinned data and spec, and check it is the same model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ._common import console, user_errors

__all__ = ["register"]


def _show(report: Any) -> None:
    from rich.table import Table

    console.print(f"reproduced {report.model} version {report.version} (run {report.run_id}, {report.estimator})")
    console.print("inputs, read at their recorded versions:", highlight=False)
    for line in report.inputs:
        console.print(f"  {line}", highlight=False, markup=False)
    same = report.reproduced_dataset_sha256 == report.dataset_sha256
    digest = "matches the recorded one" if same else f"differs from the recorded {report.dataset_sha256 or '(none)'}"
    console.print(f"dataset sha256 {report.reproduced_dataset_sha256}: {digest}", highlight=False)
    table = Table(title="holdout metrics")
    for column in ("metric", "registered", "reproduced", "difference"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for m in report.metrics:
        shown = "{:.0f}" if m.metric == "rows" else "{:.6f}"
        registered = "-" if m.registered is None else shown.format(m.registered)
        difference = "-" if m.difference is None else f"{m.difference:+.3g}"
        table.add_row(m.metric, registered, shown.format(m.reproduced), difference)
    console.print(table)
    for line in report.environment_changes:
        console.print(f"environment: {line}", highlight=False, markup=False)
    colour = "green" if report.matches else "red"
    console.print(f"[{colour}]predictions:[/] {report.predictions.render()}", highlight=False)
    if report.registered_version:
        console.print(f"registered the reproduction as version {report.registered_version} (alias challenger)")
    else:
        console.print("not registered (--register registers the reproduced model as a new version)")


def register(app: typer.Typer) -> None:
    @app.command("reproduce")
    def reproduce(
        model: str = typer.Option(..., "--model", "-m", help="Registered model name."),
        version: str = typer.Option(..., "--version", "-v", help="Version number (or alias) to reproduce."),
        register_model: bool = typer.Option(
            False, "--register/--no-register", help="Register the reproduced model as a new version (challenger)."
        ),
        tolerance: float = typer.Option(
            1e-4,
            "--tolerance",
            min=0.0,
            help="For estimators that are not bit-reproducible (mlp, your own): each output must be within "
            "tol + tol*|registered| of the registered one. The scikit-learn families must match exactly.",
        ),
        json_out: Path | None = typer.Option(None, "--json", help="Write the report as JSON here."),
    ) -> None:
        """Retrain a registered version from exactly its inputs (the recorded training spec, the data at its recorded
        S3 VersionId / Cloud Storage generation / file sha256, the seed) and compare: the holdout metrics, and the
        outputs on the version's holdout (identical for the scikit-learn families, within --tolerance otherwise).
        Exit 1 when the outputs differ; nothing is registered unless --register."""
        from pulumi_mlops.runtime.config import SettingsError
        from pulumi_mlops.runtime.data import DataLoadError, DataValidationError
        from pulumi_mlops.runtime.registry import DigestMismatchError, ModelNotFoundError
        from pulumi_mlops.runtime.registry.reproduce import ReproductionError, report_json, reproduce_version

        errors = (
            ReproductionError, ModelNotFoundError, DataLoadError, DataValidationError, DigestMismatchError,
            SettingsError, ValueError,
        )  # fmt: skip
        with user_errors(*errors):
            report = reproduce_version(model, version, register=register_model, tolerance=tolerance)
        _show(report)
        if json_out is not None:
            json_out.write_text(report_json(report))
        if not report.matches:
            raise typer.Exit(1)
