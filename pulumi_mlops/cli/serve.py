"""``mlops serve``: run the model server for one registered model (what the serving Deployments run)."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import UserError, user_errors

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        model: str | None = typer.Option(None, "--model", "-m", help="Model to serve as name@alias (alias: champion)."),
        spec: Path | None = typer.Option(None, "--spec", help="ServingSpec JSON (e.g. /etc/mlops/spec.json)."),
        host: str = typer.Option("0.0.0.0", "--host", help="Address to listen on."),
        port: int | None = typer.Option(None, "--port", "-p", help="Port (overrides the spec; default 8080)."),
        model_format: str = typer.Option(
            "auto",
            "--format",
            help="auto (ONNX when the version's export passed its parity check, else native), native (the MLflow "
            "flavor) or onnx (the version's model.onnx under ONNX Runtime; refused when it has none).",
        ),
    ) -> None:
        """Serve a registered model over the Open Inference Protocol v2 until SIGTERM."""
        from pydantic import ValidationError

        from pulumi_mlops.runtime.config import ModelRef, ServingSpec, SettingsError

        with user_errors(ValidationError, SettingsError, OSError):
            if spec is not None:
                serving = ServingSpec.model_validate_json(spec.read_text())
            elif model is not None:
                serving = ServingSpec(model=ModelRef.parse(model))
            else:
                raise UserError("give --model name@alias or --spec spec.json")
            if model_format not in ("auto", "native", "onnx"):
                raise UserError(f"--format {model_format!r}: use auto, native or onnx")
            updates: dict[str, object] = {}
            if model is not None:
                updates["model"] = ModelRef.parse(model)
            if port is not None:
                updates["port"] = port
            if updates:
                serving = ServingSpec.model_validate({**serving.model_dump(), **updates})

        from pulumi_mlops.runtime.serving import MlflowModelSource
        from pulumi_mlops.runtime.serving import serve as run_server

        if model_format == "onnx":
            with user_errors(SettingsError):
                _check_onnx(serving.model.name, serving.model.alias)
        run_server(serving, host=host, source=MlflowModelSource(model_format=model_format))


def _check_onnx(name: str, alias: str) -> None:
    """Refuse ``--format onnx`` at start when the version the alias points at has no ONNX artifact.

    An alias that points at nothing yet (a new cluster) is served as usual: the server waits for a version.
    """
    from pulumi_mlops.runtime.config import RuntimeSettings
    from pulumi_mlops.runtime.registry.loading import ModelNotFoundError, resolve_version
    from pulumi_mlops.runtime.registry.onnx_export import ONNX_SHA_TAG, ONNX_STATUS_TAG
    from pulumi_mlops.runtime.registry.tracking import mlflow_client

    try:
        version = resolve_version(mlflow_client(RuntimeSettings.from_env()), name, alias)
    except ModelNotFoundError:
        return
    tags = dict(version.tags or {})
    if not tags.get(ONNX_SHA_TAG):
        status = " ".join(tags.get(ONNX_STATUS_TAG, "no ONNX export recorded").split())
        raise UserError(
            f"--format onnx: {name}@{alias} is version {version.version}, which has no ONNX artifact ({status}); "
            "serve it with --format native"
        )
