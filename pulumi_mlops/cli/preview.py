"""``mlops preview``: run a stack's program offline under mocks and show what it would create."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import console, user_errors

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("preview")
    def preview(
        stack: str = typer.Option("dev", "--stack", "-s", help="Stack name (stacks/Pulumi.<stack>.yaml)."),
        json_out: Path | None = typer.Option(None, "--json", help="Write the whole resource graph as JSON here."),
        tree: bool = typer.Option(True, "--tree/--no-tree", help="Print the resource tree."),
        coverage: bool = typer.Option(
            True,
            "--coverage/--no-coverage",
            help="Print how each resource type is checked (mock test, policy, schema).",
        ),
        readiness: bool = typer.Option(
            True,
            "--readiness/--no-readiness",
            help="Run the deploy-readiness checks and show from where the API is reachable; exit 1 on a mandatory one.",
        ),
    ) -> None:
        """Preview a stack with no cloud credentials and no Pulumi CLI."""
        from pulumi_mlops.preview import preview_stack
        from pulumi_mlops.preview.render import render_graph
        from pulumi_mlops.spec import SpecError

        with user_errors(SpecError, FileNotFoundError):
            result = preview_stack(stack)
        console.print(render_graph(result.graph, tree=tree))
        if coverage:
            from pulumi_mlops.preview.coverage import coverage_report, coverage_table

            console.print(coverage_table(coverage_report(result.graph)))
        if json_out is not None:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(result.graph.to_json())
            console.print(f"wrote {json_out}")
        if readiness:
            from pulumi_mlops.preview.readiness import readiness_of, readiness_table

            found = readiness_of(result)
            console.print(readiness_table(found))
            if found.exit_code:
                raise typer.Exit(found.exit_code)
