"""``mlops registry list|promote|rollback|audit`` and the ``mlops promote`` shortcut."""

from __future__ import annotations

from typing import Any

import typer

from ._common import console, user_errors

__all__ = ["register"]


def _errors() -> tuple[type[BaseException], ...]:
    from pulumi_mlops.runtime.config import SettingsError
    from pulumi_mlops.runtime.registry import DigestMismatchError, ModelNotFoundError

    return (SettingsError, ModelNotFoundError, DigestMismatchError, ValueError)


def _print_decision(decision: Any) -> None:
    from rich.table import Table

    colour = "green" if decision.promoted else "yellow"
    table = Table(title=f"{decision.model}: [{colour}]{decision.action}[/]")
    table.add_column("field")
    table.add_column("value")
    for key in ("challenger", "champion_before", "champion_after", "challenger_auc", "champion_auc", "margin"):
        value = getattr(decision, key)
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value if value is not None else "-"))
    table.add_row("reason", decision.reason)
    console.print(table)


def _promote(model: str, margin: float | None, note: str) -> None:
    from pulumi_mlops.runtime.config import RuntimeSettings
    from pulumi_mlops.runtime.registry import promote

    with user_errors(*_errors()):
        decision = promote(model, RuntimeSettings.from_env(), margin=margin, note=note)
    _print_decision(decision)


def register(app: typer.Typer) -> None:
    registry_app = typer.Typer(help="Model registry: versions, champion/challenger promotion, rollback, audit log.")
    app.add_typer(registry_app, name="registry")

    model_option = typer.Option(..., "--model", "-m", help="Registered model name.")
    margin_option = typer.Option(None, "--margin", help="Required AUC gain (default: the run's promotion_margin).")
    note_option = typer.Option("", "--note", help="Why, recorded in the audit log.")

    @app.command("promote")
    def promote_shortcut(
        model: str = model_option, margin: float | None = margin_option, note: str = note_option
    ) -> None:
        """Promote the challenger to champion if it beats the champion's AUC on the fixed holdout."""
        _promote(model, margin, note)

    @registry_app.command("promote")
    def promote_command(
        model: str = model_option, margin: float | None = margin_option, note: str = note_option
    ) -> None:
        """Promote the challenger to champion if it beats the champion's AUC on the fixed holdout."""
        _promote(model, margin, note)

    @registry_app.command("list")
    def list_command(model: str | None = typer.Option(None, "--model", "-m", help="Only this model.")) -> None:
        """Registered versions with aliases, holdout AUC and digests."""
        from rich.table import Table

        from pulumi_mlops.runtime.config import RuntimeSettings
        from pulumi_mlops.runtime.registry import list_versions

        with user_errors(*_errors()):
            rows = list_versions(RuntimeSettings.from_env(), model)
        table = Table(title="registered model versions")
        for column in ("model", "version", "aliases", "created (UTC)", "AUC", "dataset", "artifact"):
            table.add_column(column, no_wrap=column in ("model", "aliases"))
        for row in rows:
            table.add_row(
                row.name, row.version, ",".join(row.aliases), row.created,
                f"{row.auc:.4f}" if row.auc is not None else "-", row.dataset_sha256[:8], row.artifact_sha256[:8],
            )  # fmt: skip
        console.print(table if rows else "no registered models")

    @registry_app.command("rollback")
    def rollback_command(
        model: str = model_option,
        to_version: str | None = typer.Option(None, "--to-version", help="Version to make champion."),
        note: str = note_option,
    ) -> None:
        """Point champion back at the previous champion (or --to-version)."""
        from pulumi_mlops.runtime.config import RuntimeSettings
        from pulumi_mlops.runtime.registry import rollback

        with user_errors(*_errors()):
            decision = rollback(model, RuntimeSettings.from_env(), to_version=to_version, note=note)
        _print_decision(decision)

    @registry_app.command("audit")
    def audit_command(model: str | None = typer.Option(None, "--model", "-m", help="Only this model.")) -> None:
        """The audit log of registry decisions."""
        from rich.table import Table

        from pulumi_mlops.runtime.config import RuntimeSettings
        from pulumi_mlops.runtime.registry import read_audit

        with user_errors(*_errors()):
            events = read_audit(RuntimeSettings.from_env(), model)
        table = Table(title="registry audit log")
        for column in ("when (UTC)", "who", "model", "action", "versions", "why"):
            table.add_column(column)
        for e in events:
            versions = ", ".join(f"{k}={v}" for k, v in e.versions.items() if v is not None)
            table.add_row(e.at, f"{e.user}@{e.host}", e.model, e.action, versions, e.reason)
        console.print(table if events else "no audit events")
