"""``mlops train``: fit, evaluate and register a model from a TrainingSpec file or flags."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import typer

from ._common import UserError, console, user_errors

__all__ = ["parse_param", "register"]


def parse_param(text: str) -> tuple[str, float | int | str | bool]:
    """``name=value`` with value parsed as int, float, bool or left a string."""
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise UserError(f"--param {text!r}: use name=value, e.g. --param max_iter=50")
    value: float | int | str | bool
    if raw.lower() in ("true", "false"):
        value = raw.lower() == "true"
    else:
        try:
            value = int(raw)
        except ValueError:
            try:
                value = float(raw)
            except ValueError:
                value = raw
    return name.strip(), value


def _build_spec(
    config: Path | None,
    spec_file: Path | None,
    overrides: dict[str, Any],
    params: list[str],
) -> Any:
    from pydantic import ValidationError

    from pulumi_mlops.runtime.config import ModelRef, TrainingSpec
    from pulumi_mlops.runtime.training import load_training_spec

    if config is not None and spec_file is not None:
        raise UserError("pass either --config or --spec, not both")
    source = config or spec_file
    data: dict[str, Any] = load_training_spec(source).model_dump() if source is not None else {}
    model = overrides.pop("model", None)
    if model is not None:
        data["model"] = ModelRef.parse(model).model_dump()
    if "model" not in data:
        raise UserError("no model name: pass --model churn, or --config train.yaml / --spec spec.json")
    data.update({k: v for k, v in overrides.items() if v is not None})
    if params:
        data["params"] = {**data.get("params", {}), **dict(parse_param(p) for p in params)}
    try:
        return TrainingSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise UserError(f"invalid training spec: {problems}") from None


def _launch_torchrun(spec: Any, nproc: int, register_model: bool, promote: bool, window: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.json"
        path.write_text(spec.model_dump_json())
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
            "-m", "pulumi_mlops.runtime.training", "--spec", str(path),
        ]  # fmt: skip
        if not register_model:
            command.append("--no-register")
        elif promote:
            command.append("--promote")
        if window is not None:
            command += ["--since", window[0].isoformat(), "--until", window[1].isoformat()]
        console.print(f"launching {nproc} processes: {' '.join(command)}")
        code = subprocess.run(command, env=os.environ.copy(), check=False).returncode
    if code != 0:
        raise UserError(f"torchrun exited with status {code}; see the rank logs above")


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train(
        config: Path | None = typer.Option(None, "--config", "-c", help="TrainingSpec as YAML or JSON."),
        spec: Path | None = typer.Option(None, "--spec", help="TrainingSpec JSON mounted by the platform."),
        model: str | None = typer.Option(None, "--model", "-m", help="Registered model name (overrides the file)."),
        estimator: str | None = typer.Option(
            None, "--estimator", "-e", help="logistic_regression, gradient_boosting, random_forest or mlp."
        ),
        data: str | None = typer.Option(None, "--data", "-d", help="Path, s3://, gs:// or generated://churn?rows=N."),
        param: list[str] = typer.Option([], "--param", "-p", help="Estimator hyperparameter name=value (repeat)."),
        trials: int | None = typer.Option(None, "--trials", help="Optuna trials (0 disables the search)."),
        seed: int | None = typer.Option(None, "--seed", help="Seed for splits, estimators and search."),
        schema: Path | None = typer.Option(
            None, "--schema", help="DatasetSchema (YAML/JSON) or a reference_profile.json to validate the data against."
        ),
        nproc: int = typer.Option(1, "--nproc", min=1, help="Processes for DistributedDataParallel (mlp only)."),
        register_model: bool = typer.Option(True, "--register/--no-register", help="Log and register the model."),
        json_out: Path | None = typer.Option(None, "--json", help="Write metrics and the version as JSON here."),
        promote_after: bool = typer.Option(
            False, "--promote", help="Then run the champion/challenger gate on the new version (as mlops promote)."
        ),
        since: str | None = typer.Option(
            None, "--since", help="Train only on the rows whose event_timestamp is at or after this (ISO 8601)."
        ),
        until: str | None = typer.Option(None, "--until", help="... and before this (ISO 8601; default: now)."),
    ) -> None:
        """Train a model, evaluate it on the fixed holdout and register it as the challenger."""
        from pulumi_mlops.runtime.config import SettingsError
        from pulumi_mlops.runtime.data import DataLoadError, DataValidationError
        from pulumi_mlops.runtime.registry import DigestMismatchError
        from pulumi_mlops.runtime.training.specs import SpecFileError

        errors = (SpecFileError, SettingsError, DataLoadError, DataValidationError, DigestMismatchError, ValueError)
        with user_errors(*errors):
            overrides = {"model": model, "estimator": estimator, "data": data, "search_trials": trials, "seed": seed}
            training_spec = _build_spec(config, spec, overrides, param)
            from pulumi_mlops.runtime.data import parse_window
            from pulumi_mlops.runtime.training.specs import load_validation_schema

            window = parse_window(since, until)
            dataset_schema = load_validation_schema(schema, label=training_spec.label) if schema else None
            if nproc > 1:
                if dataset_schema is not None:
                    raise UserError("--schema is not passed to torchrun workers; validate with --nproc 1 first")
                _launch_torchrun(training_spec, nproc, register_model, promote_after, window)
                return
            from pulumi_mlops.runtime.config import RuntimeSettings
            from pulumi_mlops.runtime.training import train as run_training

            settings = RuntimeSettings.from_env()
            result = run_training(
                training_spec, settings, schema=dataset_schema, register=register_model, window=window
            )
        _show(result, json_out)
        if promote_after and register_model:
            from pulumi_mlops.runtime.registry.promotion import gate_after_training

            with user_errors(*errors):
                decision = gate_after_training(training_spec.model.name, settings)
            colour = "green" if decision.promoted else "yellow"
            console.print(f"[{colour}]{decision.action}[/] {decision.reason}", highlight=False)


def _show(result: Any, json_out: Path | None) -> None:
    from rich.table import Table

    table = Table(title=f"{result.spec.model.name}: {result.spec.estimator} on {result.dataset.rows} rows")
    table.add_column("metric")
    table.add_column("holdout", justify="right")
    for name, value in result.metrics.items():
        table.add_row(name, f"{value:.4f}" if name != "rows" else str(int(value)))
    console.print(table)
    console.print(f"dataset sha256 {result.dataset.sha256}")
    if result.search is not None:
        console.print(f"search: {result.search.trials} trials, best inner AUC {result.search.best_auc:.4f}")
    if result.version:
        console.print(f"registered [bold]{result.spec.model.name}[/] version {result.version} (alias challenger)")
    if json_out is not None:
        payload = {"version": result.version, "run_id": result.run_id, "metrics": result.metrics}
        payload["dataset_sha256"] = result.dataset.sha256
        json_out.write_text(json.dumps(payload, indent=2))
