"""``mlops batch-predict``: score a parquet/CSV input with a registered model into partitioned parquet, in one
process or as one shard of a run split across pods (``--shard-index``, from ``JOB_COMPLETION_INDEX``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ._common import UserError, console, user_errors

if TYPE_CHECKING:
    from pulumi_mlops.runtime.batch import BatchManifest

__all__ = ["register"]


def _model_ref(text: str) -> tuple[str, str]:
    name, _, alias = text.partition("@")
    if not name or "/" in name:
        raise UserError(f"--model {text!r}: use name@alias (churn@champion) or name@version (churn@3)")
    return name, alias or "champion"


def _batch_settings(path: Path | None, **flags: Any) -> dict[str, Any]:
    """The run's settings: the BatchSpec file (validated) with the given flags on top."""
    import yaml
    from pydantic import ValidationError

    from pulumi_mlops.runtime.config import BatchSpec

    values: dict[str, Any] = {
        "chunk_rows": 50_000, "enrich": False, "allow_nulls": False, "allow_unknown_categories": False, "shards": 1,
    }  # fmt: skip
    if path is not None:
        if not path.is_file():
            raise UserError(f"--spec {path}: file not found")
        try:
            parsed = BatchSpec.model_validate(yaml.safe_load(path.read_text()))
        except yaml.YAMLError as exc:
            raise UserError(f"--spec {path}: not valid JSON/YAML: {exc}") from None
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors())
            raise UserError(f"--spec {path}: invalid BatchSpec: {problems}") from None
        values.update(parsed.model_dump(exclude={"model"}))
        values["model"] = (parsed.model.name, parsed.model.alias)
    for key, value in flags.items():
        if value is not None:
            values[key] = _model_ref(value) if key == "model" else value
    missing = [f"--{k}" for k in ("model", "input", "output") if k not in values]
    if missing:
        raise UserError(f"missing {', '.join(missing)}: pass them as flags or in a --spec file")
    return values


def register(app: typer.Typer) -> None:
    @app.command("batch-predict")
    def batch_predict(
        model: str | None = typer.Option(None, "--model", "-m", help="Registered model as name@alias or name@version."),
        input_location: str | None = typer.Option(
            None, "--input", "-i", help="Parquet/CSV file or folder: path, s3:// or gs://."
        ),
        output: str | None = typer.Option(None, "--output", "-o", help="Output folder (path, s3:// or gs://)."),
        spec: Path | None = typer.Option(
            None, "--spec", help="BatchSpec as JSON/YAML (mounted by the platform); flags override its fields."
        ),
        run_id: str | None = typer.Option(
            None,
            "--run-id",
            help="Batch run id; re-running it resumes or skips. Default: model, version, input digest.",
        ),
        chunk_rows: int | None = typer.Option(
            None, "--chunk-rows", min=1, help="Rows read, checked and scored at a time (default 50000)."
        ),
        enrich: bool | None = typer.Option(
            None, "--enrich/--no-enrich", help="Look up missing features in the online feature store."
        ),
        allow_nulls: bool | None = typer.Option(
            None, "--allow-nulls/--reject-nulls", help="Score rows with nulls (the model imputes them)."
        ),
        allow_unknown_categories: bool | None = typer.Option(
            None,
            "--allow-unknown-categories/--reject-unknown-categories",
            help="Score rows with categories unseen in training.",
        ),
        shards: int | None = typer.Option(
            None, "--shards", min=1, max=256, help="Shards the run is split into (default: the spec's, else 1)."
        ),
        shard_index: int = typer.Option(
            0,
            "--shard-index",
            min=0,
            envvar="JOB_COMPLETION_INDEX",
            help="Shard this process scores (an Indexed Job's pod index; every shard needs the same --run-id).",
        ),
        finalize: bool = typer.Option(
            False, "--finalize", help="Score nothing: write the sharded run's manifest if every shard is complete."
        ),
        json_out: Path | None = typer.Option(None, "--json", help="Write the manifest here as well."),
    ) -> None:
        """Score --input in chunks into --output: run_id=<id>/part-*.parquet, rejected/ rows, _manifest.json."""
        from pydantic import ValidationError

        from pulumi_mlops.runtime.batch import BatchInputError, finalize_batch, run_batch_shard
        from pulumi_mlops.runtime.config import BatchSpec, RuntimeSettings, SettingsError
        from pulumi_mlops.runtime.data import DataLoadError
        from pulumi_mlops.runtime.registry import DigestMismatchError, ModelNotFoundError

        errors = (BatchInputError, SettingsError, DataLoadError, DigestMismatchError, ModelNotFoundError, OSError)
        with user_errors(*errors):
            batch = _batch_settings(
                spec,
                model=model,
                input=input_location,
                output=output,
                chunk_rows=chunk_rows,
                enrich=enrich,
                allow_nulls=allow_nulls,
                allow_unknown_categories=allow_unknown_categories,
                shards=shards,
            )
            model_name, alias = batch.pop("model")
            try:
                run = BatchSpec.model_validate({**batch, "model": {"name": model_name}})
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                raise UserError(f"invalid batch settings: {problems}") from None
            settings = RuntimeSettings.from_env()
            if finalize:
                if not run_id:
                    raise UserError("--finalize needs the --run-id of the sharded run")
                final = finalize_batch(run, run_id, settings=settings)
                if final.manifest is None:
                    raise UserError(
                        f"run {run_id}: shard(s) {', '.join(map(str, final.pending))} of {run.shards} are not "
                        "complete; rerun them (same --run-id and --shard-index), then --finalize again"
                    )
                _report(final.manifest, json_out)
                return
            result = run_batch_shard(run, shard_index, run_id=run_id, settings=settings, model_version=alias)
        manifest = result.manifest
        label = f"run {manifest.run_id}" + (
            f" shard {manifest.shard}/{manifest.shards}" if manifest.shard is not None else ""
        )
        if result.scored_chunks == 0 and result.skipped_chunks:
            console.print(f"{label} was already complete: nothing rescored")
        elif result.skipped_chunks:
            console.print(f"resumed {label}: skipped {result.skipped_chunks} completed chunk(s)")
        if manifest.shard is None:
            _report(manifest, json_out)
            return
        _report(manifest, json_out if result.run is None else None)
        if result.run is None:
            waiting = ", ".join(map(str, result.pending))
            console.print(f"{label} is complete; the run completes with shard(s) {waiting}", highlight=False)
            return
        console.print(f"every shard of run {manifest.run_id} is complete:", highlight=False)
        _report(result.run, json_out)


def _report(manifest: BatchManifest, json_out: Path | None) -> None:
    """Print a manifest's totals and rejection kinds (and write it to ``json_out``)."""
    console.print(
        f"{manifest.model} v{manifest.model_version}: {manifest.rows_in} rows in, {manifest.rows_out} scored, "
        f"{manifest.rows_rejected} rejected -> {manifest.output}",
        highlight=False,
    )
    for kind, count in manifest.rejection_reasons.items():
        console.print(f"  rejected {count}: {kind}", highlight=False)
    if json_out is not None:
        json_out.write_text(json.dumps(manifest.model_dump(mode="json"), indent=2))
