"""``mlops policy``: run the CrossGuard pack offline on a stack's preview, like ``pulumi preview --policy-pack``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ._common import console, user_errors

if TYPE_CHECKING:
    from rich.console import RenderableType

    from pulumi_mlops.policies.offline import PolicyReport

__all__ = ["register", "render_report"]


def render_report(report: PolicyReport) -> RenderableType:
    """Violations grouped by policy, then by resource; a one-line summary last."""
    from rich.console import Group
    from rich.text import Text
    from rich.tree import Tree

    parts: list[RenderableType] = []
    for policy, violations in report.by_policy().items():
        first = violations[0]
        style = "bold red" if first.mandatory else "yellow"
        tree = Tree(Text.assemble((f"{first.level} ", style), (policy, "bold"), f"  {first.description}"))
        by_resource: dict[str, Tree] = {}
        for v in violations:
            if v.urn not in by_resource:
                by_resource[v.urn] = tree.add(Text.assemble((v.resource_name, "cyan"), f" {v.resource_type}"))
            label = Text(v.message, style="dim" if v.unknown else "")
            by_resource[v.urn].add(label)
        parts.append(tree)
    if report.up_only:
        tree = Tree(
            Text.assemble(
                ("up only ", "bold magenta"),
                f"{len(report.up_only)} mandatory policies read values unknown until pulumi up on some resources "
                "(the preview reports them as advisory; they are enforced at up):",
            )
        )
        for name, found in sorted(report.up_only.items()):
            shown = ", ".join(sorted({v.resource_name for v in found})[:3])
            more = f" and {len(found) - 3} more" if len(found) > 3 else ""
            tree.add(Text.assemble((name, "bold"), f" on {shown}{more}"))
        parts.append(tree)
    if report.remote_components:
        tree = Tree(
            Text.assemble(
                ("not checked ", "bold magenta"),
                f"{len(report.remote_components)} remote component(s) render their objects inside the engine, so "
                "offline nothing in them was checked: run pulumi preview --policy-pack for them",
            )
        )
        for urn in report.remote_components:
            tree.add(Text(urn.rsplit("::", 1)[-1], style="cyan"))
        parts.append(tree)
    mandatory, advisory = len(report.mandatory), len(report.advisory)
    verdict = "[bold red]FAILED[/]" if report.exit_code else "[bold green]passed[/]"
    parts.append(
        Text.from_markup(
            f"{verdict}: {report.stack}: {len(report.policies)} policies on {report.resources} resources, "
            f"{mandatory} mandatory and {advisory} advisory violation(s)"
        )
    )
    return Group(*parts)


def register(app: typer.Typer) -> None:
    @app.command("policy")
    def policy(
        stack: str = typer.Option("dev", "--stack", "-s", help="Stack name (stacks/Pulumi.<stack>.yaml)."),
        sarif: Path | None = typer.Option(None, "--sarif", help="Write SARIF 2.1.0 results here."),
        json_out: bool = typer.Option(False, "--json", help="Print the report as JSON instead of the tree."),
        config_out: Path | None = typer.Option(
            None, "--write-config", help="Write the stack's --policy-pack-config file (derived from its spec) here."
        ),
        config_in: Path | None = typer.Option(
            None, "--config", help="A --policy-pack-config JSON file applied on top (levels and properties)."
        ),
        list_policies: bool = typer.Option(False, "--list", help="List the pack's policies and exit."),
        faithful: bool = typer.Option(
            False,
            "--faithful",
            help="Preview as pulumi preview does before the first up: computed outputs (ids, ARNs, endpoints) stay "
            "unknown, checks on them are advisory, and the report lists the mandatory checks that run only at up.",
        ),
    ) -> None:
        """Check a stack against the policy pack offline; exits 1 on a mandatory violation."""
        from pulumi_mlops.policies import ALL_POLICIES, DEFAULT_ENFORCEMENT_LEVEL, policy_config_for, policy_types
        from pulumi_mlops.spec import SpecError

        if list_policies:
            from rich.table import Table

            table = Table(title=f"{len(ALL_POLICIES)} policies")
            for column in ("policy", "level", "resource types", "description"):
                table.add_column(column)
            for p in ALL_POLICIES:
                level = (p.enforcement_level or DEFAULT_ENFORCEMENT_LEVEL).value
                table.add_row(p.name, level, "\n".join(policy_types(p)), p.description)
            console.print(table)
            return

        from pulumi_policy import EnforcementLevel

        from pulumi_mlops.policies.offline import merge_pack_config, run_policies
        from pulumi_mlops.preview import preview_stack

        with user_errors(SpecError, FileNotFoundError, ValueError):
            result = preview_stack(stack, faithful=faithful)
            config = policy_config_for(result.spec)
            levels: dict[str, EnforcementLevel] = {}
            if config_in is not None:
                config, levels = merge_pack_config(config, json.loads(config_in.read_text()))
        report = run_policies(result.graph, config, levels=levels, source=f"stacks/Pulumi.{stack}.yaml")

        if config_out is not None:
            config_out.parent.mkdir(parents=True, exist_ok=True)
            config_out.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        if sarif is not None:
            sarif.parent.mkdir(parents=True, exist_ok=True)
            sarif.write_text(json.dumps(report.to_sarif(), indent=2) + "\n")
        if json_out:
            print(report.to_json(), end="")
        else:
            console.print(render_report(report))
            for path in (p for p in (sarif, config_out) if p is not None):
                console.print(f"wrote {path}")
        raise typer.Exit(report.exit_code)
