"""``mlops demo``: the stack previewed and checked offline, then its own workloads run on this machine."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import console, user_errors

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        stack: str = typer.Option(
            "dev", "--stack", "-s", help="Stack to preview, check offline and run locally (an AWS stack)."
        ),
        home: Path = typer.Option(Path(".mlops/demo"), "--home", help="Working folder (recreated on every run)."),
        rows: int = typer.Option(20_000, "--rows", min=2_000, help="Rows of each training set."),
        requests: int = typer.Option(1_500, "--requests", min=200, help="Requests per traffic phase."),
    ) -> None:
        """Preview the platform and run its policy pack offline, then run the stack's own workloads as local
        processes (the graph's commands, args, env and spec files, against a loopback S3 API and a local MLflow
        server): bootstrap training, serving, drift, retraining through the Kubernetes API, promotion with a
        hot swap, and batch scoring, with a report."""
        import logging
        import time

        from rich.table import Table

        from pulumi_mlops.local.demo import DemoConfig, run_stack_demo
        from pulumi_mlops.policies import policy_config_for
        from pulumi_mlops.policies.offline import run_policies
        from pulumi_mlops.preview import preview_stack
        from pulumi_mlops.spec import SpecError

        console.rule(f"[bold]1/2 platform: offline preview and policy pack of stack {stack!r}")
        with user_errors(SpecError):
            preview = preview_stack(stack)
        report = run_policies(preview.graph, policy_config_for(preview.spec), source=f"stacks/Pulumi.{stack}.yaml")
        counts = preview.graph.counts()
        top = ", ".join(f"{n} {t.rsplit(':', 1)[-1]}" for t, n in sorted(counts.items(), key=lambda kv: -kv[1])[:6])
        console.print(f"{len(preview.graph.resources)} resources of {len(counts)} types ({top}, ...)")
        verdict = "[green]passed[/]" if report.exit_code == 0 else "[red]FAILED[/]"
        console.print(
            f"policy pack {verdict}: {len(report.policies)} policies, {len(report.mandatory)} mandatory and "
            f"{len(report.advisory)} advisory violation(s)"
        )

        console.rule(f"[bold]2/2 the workloads of stack {stack!r} as local processes")
        logging.getLogger("mlflow").setLevel(logging.ERROR)
        with console.status("starting", spinner="dots") as status:
            count = [0]

            started = time.monotonic()

            def step(line: str) -> None:
                count[0] += 1
                console.print(
                    f"[bold cyan]{count[0]}.[/] [dim]{time.monotonic() - started:5.1f} s[/] {line}", highlight=False
                )
                status.update(line)

            with user_errors(LookupError, RuntimeError):
                summary = run_stack_demo(preview.graph, DemoConfig(home=home, train_rows=rows, requests=requests), step)

        table = Table(title="demo summary", show_header=False)
        table.add_column("what")
        table.add_column("value")
        table.add_row("champion v1 (holdout AUC)", f"v{summary.champion_v1} ({summary.v1_auc})")
        table.add_row(
            "drift share: normal → shifted traffic",
            f"{summary.baseline_drift_share:.0%} → {summary.shifted_drift_share:.0%}",
        )
        table.add_row("drifted features", ", ".join(summary.drifted_features) or "none")
        table.add_row(
            "retraining", f"Job {summary.retrain_job or '-'}: {summary.retrain_action}: {summary.retrain_reason}"
        )
        table.add_row(
            "champion v2 (holdout AUC)", f"v{summary.champion_v2} ({summary.v2_auc})" if summary.v2_auc else "-"
        )
        table.add_row(
            "gate on the fresh rows (AUC)",
            f"champion {summary.gate_champion_auc} → challenger {summary.gate_challenger_auc}",
        )
        table.add_row("requests / failed", f"{summary.requests_sent:,} / {summary.failed_requests}")
        table.add_row("request without the API key", f"HTTP {summary.anonymous_status}")
        table.add_row("answers by model version", ", ".join(f"v{v}: {n:,}" for v, n in summary.versions_seen.items()))
        table.add_row("swap to v2 seen after", f"{summary.swap_seconds} s")
        table.add_row("drift report", summary.drift_report_html)
        table.add_row(
            "batch scoring", f"{summary.batch_rows:,} rows to {summary.batch_output}" if summary.batch_output else "-"
        )
        table.add_row("run summary", str(home / "summary.json"))
        table.add_row("took", f"{summary.seconds} s")
        console.print(table)
        console.print("graph workloads run as local processes:")
        for workload in summary.workloads:
            console.print(f"  {workload}", highlight=False)
        if summary.failed_requests or summary.retrain_action != "promote":
            raise typer.Exit(1)
