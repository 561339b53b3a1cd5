"""``mlops registry list|promote|rollback|audit|apply-champions`` and the ``mlops promote`` shortcut."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ._common import UserError, console, user_errors

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
    keys = ("challenger", "champion_before", "champion_after", "metric", "challenger_score", "champion_score", "margin")
    for key in keys:
        value = getattr(decision, key)
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value if value is not None else "-"))
    table.add_row("reason", decision.reason)
    console.print(table)


def champions_plan(file: Path, stack: str, stacks_dir: Path) -> dict[str, str] | None:
    """Model -> champion version the champions file names for ``stack``, checked against the stack's endpoints:
    each endpoint it names exists and serves that model, and it names every endpoint that serves ``champion``.
    None when the file has no section for the stack (nothing is pinned there)."""
    from pulumi_mlops.runtime.registry.champions import load_champions
    from pulumi_mlops.spec import CONFIG_KEY, load_stack_config, parse_spec, stack_file

    champions = load_champions(file)
    path = stack_file(stack, stacks_dir)
    spec = parse_spec(load_stack_config(path)[CONFIG_KEY], source=str(path))
    if stack not in champions.stacks:
        return None
    endpoints = {e.name: e for e in spec.endpoints}
    problems = []
    for name, champion in champions.stacks[stack].items():
        endpoint = endpoints.get(name)
        if endpoint is None:
            problems.append(
                f"stacks.{stack}.{name}: {path} has no endpoint {name!r}; endpoints are {sorted(endpoints)}"
            )
        elif endpoint.serving.model.name != champion.model:
            problems.append(
                f"stacks.{stack}.{name}.model: endpoint {name} serves {endpoint.serving.model.name}, not "
                f"{champion.model}"
            )
    for name, endpoint in endpoints.items():
        if endpoint.serving.model.alias == "champion" and name not in champions.stacks[stack]:
            problems.append(
                f"stacks.{stack}: endpoint {name} serves {endpoint.serving.model} but the file names no champion for "
                f"it: add {name}: {{model: {endpoint.serving.model.name}, version: <n>}}"
            )
    if problems:
        raise UserError(f"{file}: " + "; ".join(problems))
    return champions.champions(stack)


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
    margin_option = typer.Option(
        None, "--margin", help="Required gain of the gate metric (default: the run's promotion_margin)."
    )
    note_option = typer.Option("", "--note", help="Why, recorded in the audit log.")

    @app.command("promote")
    def promote_shortcut(
        model: str = model_option, margin: float | None = margin_option, note: str = note_option
    ) -> None:
        """Promote the challenger to champion if it beats the champion on the fixed holdout (AUC for binary models,
        the run's promotion_metric otherwise)."""
        _promote(model, margin, note)

    @registry_app.command("promote")
    def promote_command(
        model: str = model_option, margin: float | None = margin_option, note: str = note_option
    ) -> None:
        """Promote the challenger to champion if it beats the champion on the fixed holdout (AUC for binary models,
        the run's promotion_metric otherwise)."""
        _promote(model, margin, note)

    @registry_app.command("list")
    def list_command(model: str | None = typer.Option(None, "--model", "-m", help="Only this model.")) -> None:
        """Registered versions with aliases, task, holdout gate metric and digests."""
        from rich.table import Table

        from pulumi_mlops.runtime.config import RuntimeSettings
        from pulumi_mlops.runtime.registry import list_versions

        with user_errors(*_errors()):
            rows = list_versions(RuntimeSettings.from_env(), model)
        table = Table(title="registered model versions")
        for column in ("model", "version", "aliases", "created (UTC)", "task", "holdout", "dataset", "artifact"):
            table.add_column(column, no_wrap=column in ("model", "aliases"))
        for row in rows:
            score = f"{row.gate_metric} {row.gate_score:.4f}" if row.gate_score is not None else "-"
            table.add_row(
                row.name, row.version, ",".join(row.aliases), row.created, row.task, score,
                row.dataset_sha256[:8], row.artifact_sha256[:8],
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

    @registry_app.command("apply-champions")
    def apply_champions_command(
        file: Path = typer.Option(
            ..., "--file", "-f", help="Champions file: per stack, each endpoint's model and champion version."
        ),
        stack: str = typer.Option(..., "--stack", "-s", help="Stack whose champions to apply."),
        check: bool = typer.Option(
            False, "--check", help="Only check the file against the stack's endpoints; touch no registry."
        ),
        stacks_dir: Path = typer.Option(
            Path("stacks"), "--stacks-dir", help="Folder of the Pulumi.<stack>.yaml files."
        ),
        note: str = note_option,
    ) -> None:
        """Point each model's champion at the version the champions file names for the stack (audited as pin)."""
        from rich.table import Table

        from pulumi_mlops.runtime.config import RuntimeSettings
        from pulumi_mlops.runtime.registry.champions import ChampionsFileError, pin_champion
        from pulumi_mlops.spec import SpecError

        with user_errors(ChampionsFileError, SpecError):
            plan = champions_plan(file, stack, stacks_dir)
        if plan is None:
            console.print(f"{file} pins no champions for stack {stack}: nothing to apply")
            return
        table = Table(title=f"champions of {stack}" + (" (check only)" if check else ""))
        for column in ("model", "version", "champion before", "action"):
            table.add_column(column)
        if check:
            for model, version in sorted(plan.items()):
                table.add_row(model, version, "-", "checked")
            console.print(table)
            return
        settings_errors = _errors()
        with user_errors(*settings_errors):
            settings = RuntimeSettings.from_env()
            for model, version in sorted(plan.items()):
                decision = pin_champion(model, version, settings, note=note)
                table.add_row(model, version, decision.champion_before or "-", decision.action)
        console.print(table)
