"""``mlops train``: fit, evaluate and register a model from a TrainingSpec file or flags.

The spec, the settings and the data are checked (label column, task, promotion metric, data validation)
before torch or MLflow is imported, so a mistake there fails in seconds.
"""

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

_FIXES = {
    "model.name": "use lowercase letters, digits and '-', at most 50 characters, e.g. --model wine-quality",
    "model.alias": "use lowercase letters, digits, '_' and '-', starting with a letter, e.g. champion",
    "task": "use binary, multiclass or regression, or leave it out to detect the task from the label",
    "estimator": "use auto, a built-in (gradient_boosting, ...) or your own as package.module:Class",
}


def _problems(exc: Any, prefix: str = "") -> str:
    """A pydantic ValidationError as ``field: what is wrong (fix)`` items (fields below ``prefix``)."""
    items = []
    for error in exc.errors():
        where = prefix + ".".join(map(str, error["loc"])) or "<root>"
        message = str(error["msg"]).removeprefix("Value error, ")
        fix = _FIXES.get(where)
        items.append(f"{where}: {message}" + (f" ({fix})" if fix else ""))
    return "; ".join(items)


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
        try:
            data["model"] = ModelRef.parse(model).model_dump()
        except ValidationError as exc:
            raise UserError(f"--model {model!r}: {_problems(exc, 'model.')}") from None
    if "model" not in data:
        raise UserError(
            "no model name: pass --model NAME (with --data FILE --label COLUMN), or --config train.yaml / "
            "--spec spec.json"
        )
    data.update({k: v for k, v in overrides.items() if v is not None})
    if params:
        data["params"] = {**data.get("params", {}), **dict(parse_param(p) for p in params)}
    try:
        return TrainingSpec.model_validate(data)
    except ValidationError as exc:
        raise UserError(f"invalid training spec: {_problems(exc)}") from None


def _check_data(spec: Any, settings: Any, window: Any, schema: Any) -> tuple[Any, Any]:
    """Load ``spec.data`` (with the versions read) and run the trainer's checks on it; nothing here imports torch
    or MLflow."""
    from pulumi_mlops.runtime.data import read_frame
    from pulumi_mlops.runtime.training.preflight import prepare_training_data

    loaded = read_frame(spec.data, settings, window=window)
    return loaded, prepare_training_data(spec, loaded.frame, schema)


def _check_distributable(estimator: str, nproc: int) -> None:
    """Refuse ``--nproc`` > 1 before launch for an estimator that trains in one process."""
    from pulumi_mlops.runtime.training.estimators import resolve_estimator

    if not resolve_estimator(estimator).distributed:
        raise UserError(
            f"--nproc {nproc}: estimator {estimator!r} trains in one process; only mlp trains under torchrun "
            "(DistributedDataParallel): use --nproc 1, or --estimator mlp"
        )


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
        model: str | None = typer.Option(
            None, "--model", "-m", help="Registered model name, e.g. wine-quality (overrides the file)."
        ),
        estimator: str | None = typer.Option(
            None,
            "--estimator",
            "-e",
            help="auto (the default: the search picks the family and its parameters), logistic_regression, "
            "gradient_boosting, random_forest or mlp; or your own scikit-learn-compatible estimator, Pipeline or "
            "factory as package.module:Class (parameters with --param).",
        ),
        data: str | None = typer.Option(
            None,
            "--data",
            "-d",
            help="CSV or Parquet file or folder: a path, s3:// or gs:// URI; or generated://churn?rows=N "
            "(overrides the file).",
        ),
        label: str | None = typer.Option(
            None, "--label", "-l", help="Label column (overrides the file; default churned)."
        ),
        task: str | None = typer.Option(
            None,
            "--task",
            help="binary, multiclass or regression (overrides the file; default: detected from the label).",
        ),
        param: list[str] = typer.Option([], "--param", "-p", help="Estimator hyperparameter name=value (repeat)."),
        trials: int | None = typer.Option(
            None, "--trials", help="Optuna trials (0 disables the search of a named family; auto then runs 20)."
        ),
        search_workers: int | None = typer.Option(
            None,
            "--search-workers",
            min=1,
            help="Workers sharing the search's study (MLOPS_SEARCH_STORAGE, MLOPS_SEARCH_STUDY; this one is "
            "JOB_COMPLETION_INDEX, default 0); worker 0 registers.",
        ),
        seed: int | None = typer.Option(None, "--seed", help="Seed for splits, estimators and search."),
        schema: Path | None = typer.Option(
            None, "--schema", help="DatasetSchema (YAML/JSON) or a reference_profile.json to validate the data against."
        ),
        nproc: int = typer.Option(1, "--nproc", min=1, help="Processes for DistributedDataParallel (mlp only)."),
        explain: bool | None = typer.Option(
            None,
            "--explain/--no-explain",
            help="Compute the holdout explanations (overrides the file; default on, bounded by explain_budget_s).",
        ),
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
        """Train a model, evaluate it on the fixed holdout and register it as the challenger.

        Your own data needs no spec file: mlops train --data wine.csv --label target --model wine. The task
        (binary, multiclass or regression) is detected from the label unless --task or the spec sets it.
        """
        from pulumi_mlops.runtime.config import RuntimeSettings, SettingsError
        from pulumi_mlops.runtime.data import DataLoadError, DataValidationError
        from pulumi_mlops.runtime.registry import DigestMismatchError
        from pulumi_mlops.runtime.training.specs import SpecFileError

        errors = (SpecFileError, SettingsError, DataLoadError, DataValidationError, DigestMismatchError, ValueError)
        with user_errors(*errors):
            overrides = {
                "model": model, "estimator": estimator, "data": data, "label": label, "task": task,
                "search_trials": trials, "seed": seed, "explain": explain, "search_workers": search_workers,
            }  # fmt: skip
            training_spec = _build_spec(config, spec, overrides, param)
            if nproc > 1:
                _check_distributable(training_spec.estimator, nproc)
            from pulumi_mlops.runtime.data import parse_window
            from pulumi_mlops.runtime.training.specs import load_validation_schema

            settings = RuntimeSettings.from_env()
            window = parse_window(since, until)
            dataset_schema = load_validation_schema(schema, label=training_spec.label) if schema else None
            if nproc > 1 and dataset_schema is not None:
                raise UserError("--schema is not passed to torchrun workers; validate with --nproc 1 first")
            loaded, prepared = _check_data(training_spec, settings, window, dataset_schema)
            console.print(f"task {prepared.task.task}: {prepared.task.reason}", highlight=False, markup=False)
            if nproc > 1:
                _launch_torchrun(training_spec, nproc, register_model, promote_after, window)
                return
            from pulumi_mlops.runtime.training import train as run_training
            from pulumi_mlops.runtime.training.search_workers import run_search_worker, shared_search

            result = None
            if shared_search(training_spec, settings):
                worker = run_search_worker(
                    training_spec, None, settings, frame=loaded.frame, schema=dataset_schema, register=register_model,
                    window=window, data_versions=loaded.versions,
                )  # fmt: skip
                result = worker.training
                if result is None:
                    _show_worker(worker, json_out)
                    if worker.worker != 0:
                        return
            else:
                result = run_training(
                    training_spec, settings, schema=dataset_schema, register=register_model, window=window,
                    frame=loaded.frame, data_versions=loaded.versions,
                )  # fmt: skip
        if result is not None:
            _show(result, json_out)
        if promote_after and register_model:
            from pulumi_mlops.runtime.registry.promotion import gate_after_training

            with user_errors(*errors):
                decision = gate_after_training(training_spec.model.name, settings)
            colour = "green" if decision.promoted else "yellow"
            console.print(f"[{colour}]{decision.action}[/] {decision.reason}", highlight=False)


def _show_worker(worker: Any, json_out: Path | None) -> None:
    """What a search worker that trained no model did (a worker other than 0, or 0 finding its version)."""
    if worker.already_registered:
        console.print(f"study {worker.study} already registered version {worker.version}; nothing to train")
    else:
        console.print(
            f"search worker {worker.worker}: {worker.trials} trials of study {worker.study} "
            f"({worker.study_trials} finished in all); worker 0 registers the model"
        )
    if json_out is not None:
        payload = {"worker": worker.worker, "study": worker.study, "trials": worker.trials}
        payload.update(study_trials=worker.study_trials, version=worker.version, run_id=worker.run_id)
        json_out.write_text(json.dumps(payload, indent=2))


def _show(result: Any, json_out: Path | None) -> None:
    from rich.table import Table

    table = Table(title=f"{result.spec.model.name}: {result.estimator} on {result.dataset.rows} rows")
    table.add_column("metric")
    table.add_column("holdout", justify="right")
    for name, value in result.metrics.items():
        table.add_row(name, f"{value:.4f}" if name != "rows" else str(int(value)))
    console.print(table)
    console.print(f"dataset sha256 {result.dataset.sha256}")
    if result.search is not None:
        search = result.search
        console.print(
            f"search: {search.trials} trials ({search.pruned} pruned), best {search.family} with inner "
            f"{search.metric} {search.best_score:.4f}"
        )
    if result.version:
        console.print(f"registered [bold]{result.spec.model.name}[/] version {result.version} (alias challenger)")
    if json_out is not None:
        payload = {"version": result.version, "run_id": result.run_id, "metrics": result.metrics}
        payload["dataset_sha256"] = result.dataset.sha256
        payload["task"] = result.task.task
        payload["promotion_metric"] = result.promotion_metric
        payload["estimator"] = result.estimator
        json_out.write_text(json.dumps(payload, indent=2))
