"""``mlops demo``: the main job on the embedded local default, end to end, with no cloud."""

from __future__ import annotations

import typer

from ._common import console, user_errors

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(stack: str = typer.Option("dev", "--stack", "-s", help="Stack to preview offline.")) -> None:
        """Preview the platform offline and print what it would build."""
        from pulumi_mlops.preview import preview_stack
        from pulumi_mlops.preview.render import counts_table, outputs_table
        from pulumi_mlops.spec import SpecError

        console.rule(f"[bold]1. offline preview of stack {stack!r}")
        with user_errors(SpecError):
            result = preview_stack(stack)
        console.print(counts_table(result.graph))
        console.print(outputs_table(result.graph))
