"""Logging a training run to MLflow and registering its model under the registry contract (:mod:`.contract`)."""

from __future__ import annotations

import json
import subprocess
import tempfile
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pulumi_mlops.runtime.config import RuntimeSettings, StrictModel

from .artifacts import download_model_dir
from .audit import AuditEvent, append_audit
from .contract import (
    CHALLENGER,
    DATASET_TAG,
    FLAVOR,
    FLAVOR_TAG,
    HOLDOUT_ARTIFACT,
    MODEL_ARTIFACT,
    MODEL_CARD_ARTIFACT,
    PROFILE_ARTIFACT,
    RUN_ID_TAG,
)
from .digest import DIGEST_TAG, directory_digest
from .onnx_export import ONNX_ARTIFACT, ONNX_REPORT_ARTIFACT, ONNX_SHA_TAG, ONNX_STATUS_TAG, OnnxExport, export_onnx
from .tracking import ensure_experiment, mlflow_client

if TYPE_CHECKING:
    from pulumi_mlops.runtime.training import TrainingResult

__all__ = ["RegisteredVersion", "git_commit", "log_and_register", "pip_requirements"]


class RegisteredVersion(StrictModel):
    """The run and model version a training run produced."""

    name: str
    """Registered model name."""
    version: str
    """New model version (alias ``challenger``)."""
    run_id: str
    """MLflow run id."""
    artifact_sha256: str
    """Digest of the logged model directory."""


def git_commit(cwd: str | Path | None = None) -> str | None:
    """The current git commit, or None outside a repository or without git."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _pin(package: str, distribution: str | None = None) -> str:
    try:
        return f"{package}=={version(distribution or package)}"
    except PackageNotFoundError:
        return package


def pip_requirements(estimator: str) -> list[str]:
    """The short explicit list of packages the logged model needs (torch and this package for the MLP)."""
    reqs = [_pin("scikit-learn"), _pin("pandas"), _pin("numpy"), _pin("cloudpickle")]
    if estimator == "mlp":
        reqs += [_pin("torch"), _pin("pulumi-mlops")]
    return reqs


def _flat_params(result: TrainingResult) -> dict[str, Any]:
    spec = result.spec
    params: dict[str, Any] = {f"estimator.{k}": v for k, v in sorted(result.params.items())}
    params.update(
        estimator=spec.estimator,
        data=spec.data,
        label=spec.label,
        seed=spec.seed,
        holdout_fraction=spec.holdout_fraction,
        promotion_margin=spec.promotion_margin,
        search_trials=spec.search_trials,
        features=",".join(result.features),
        world_size=result.context.world_size,
    )
    if result.window is not None:
        params["data_since"], params["data_until"] = (t.isoformat() for t in result.window)
    if spec.sensitive_columns:
        params["sensitive_columns"] = ",".join(spec.sensitive_columns)
    if spec.max_slice_degradation is not None:
        params["max_slice_degradation"] = spec.max_slice_degradation
    return params


def _log_explanations(result: TrainingResult) -> None:
    import mlflow
    from pulumi_mlops.runtime.explain import (
        EXPLANATIONS_ARTIFACT,
        EXPLANATIONS_PLOT_ARTIFACT,
        SLICES_ARTIFACT,
        bar_chart_svg,
    )

    if result.explanations is not None:
        mlflow.log_text(result.explanations.model_dump_json(indent=1), EXPLANATIONS_ARTIFACT)
        bars = [(f.feature, f.permutation_auc_drop) for f in result.explanations.features]
        svg = bar_chart_svg(bars, title=f"{result.spec.model.name}: permutation importance (holdout AUC drop)")
        mlflow.log_text(svg, EXPLANATIONS_PLOT_ARTIFACT)
    if result.slices is not None:
        mlflow.log_text(result.slices.model_dump_json(indent=1), SLICES_ARTIFACT)
        worst = result.slices.worst()
        if worst is not None and worst.auc_gap is not None:
            mlflow.log_metric("holdout_worst_slice_auc_gap", worst.auc_gap)
            mlflow.set_tag("mlops.worst_slice", worst.name)


def _log_onnx(result: TrainingResult) -> OnnxExport:
    """Export, check and log ``model.onnx`` with its ``onnx.json`` report; never fails the registration."""
    import mlflow

    try:
        report, payload = export_onnx(result.pipeline, result.holdout[result.features])
    except Exception as exc:  # the ONNX artifact is optional: any failure is recorded, not raised
        report, payload = OnnxExport(status="unsupported", reason=f"{type(exc).__name__}: {exc}"[:400]), None
    if payload is not None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / ONNX_ARTIFACT
            path.write_bytes(payload)
            mlflow.log_artifact(str(path))
    mlflow.log_dict(report.model_dump(mode="json"), ONNX_REPORT_ARTIFACT)
    mlflow.set_tag(ONNX_STATUS_TAG, report.tag())
    return report


def log_and_register(result: TrainingResult, settings: RuntimeSettings | None = None) -> RegisteredVersion:
    """Log params, metrics, lineage, artifacts and the model; register it with alias ``challenger``."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    settings = settings or RuntimeSettings.from_env()
    spec = result.spec
    name = spec.model.name
    client = mlflow_client(settings)
    experiment_id = ensure_experiment(settings, name)
    example = result.holdout[result.features].head(5)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ii]nteger column", category=UserWarning)
        signature = infer_signature(example, result.pipeline.predict_proba(example)[:, 1])
    commit = git_commit()

    with mlflow.start_run(experiment_id=experiment_id) as run:
        run_id = run.info.run_id
        mlflow.log_params(_flat_params(result))
        mlflow.log_metrics({f"holdout_{k}": v for k, v in result.metrics.items()})
        if result.search is not None:
            mlflow.log_metrics({"search_best_auc": result.search.best_auc, "search_trials": result.search.trials})
            mlflow.log_dict(result.search.model_dump(), "search.json")
        tags = {
            DATASET_TAG: result.dataset.sha256,
            "mlops.dataset_rows": str(result.dataset.rows),
            "mlops.dataset_source": result.dataset.source,
            "mlops.model": name,
        }
        if commit:
            tags["mlops.git_commit"] = commit
        mlflow.set_tags(tags)
        mlflow.log_dict(result.dataset.model_dump(), "dataset.json")
        mlflow.log_dict(result.validation.model_dump(), "data_validation.json")
        mlflow.log_text(json.dumps(result.profile, indent=1), PROFILE_ARTIFACT)
        mlflow.log_text(result.model_card, MODEL_CARD_ARTIFACT)
        _log_explanations(result)
        with tempfile.TemporaryDirectory() as tmp:
            holdout_path = Path(tmp) / HOLDOUT_ARTIFACT
            result.holdout.to_parquet(holdout_path, index=False)
            mlflow.log_artifact(str(holdout_path))
        info = mlflow.sklearn.log_model(
            result.pipeline,
            name=MODEL_ARTIFACT,
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
            signature=signature,
            input_example=example,
            pip_requirements=pip_requirements(spec.estimator),
            pyfunc_predict_fn="predict_proba",
        )
        onnx_report = _log_onnx(result)

    registered = mlflow.register_model(info.model_uri, name, await_registration_for=60)
    model_version = str(registered.version)
    with tempfile.TemporaryDirectory() as tmp:
        digest = directory_digest(download_model_dir(client, name, model_version, Path(tmp)))
    version_tags = {
        DIGEST_TAG: digest,
        FLAVOR_TAG: FLAVOR,
        DATASET_TAG: result.dataset.sha256,
        RUN_ID_TAG: run_id,
        ONNX_STATUS_TAG: onnx_report.tag(),
    }
    if onnx_report.sha256:
        version_tags[ONNX_SHA_TAG] = onnx_report.sha256
    for key, value in version_tags.items():
        client.set_model_version_tag(name, model_version, key, value)
    client.set_registered_model_alias(name, CHALLENGER, model_version)
    append_audit(
        settings,
        AuditEvent(
            action="register",
            model=name,
            reason=f"training run {run_id} on dataset {result.dataset.sha256[:12]} ({result.dataset.rows} rows)",
            versions={"challenger": model_version},
            details={"metrics": result.metrics, "estimator": spec.estimator, "git_commit": commit},
        ),
    )
    return RegisteredVersion(name=name, version=model_version, run_id=run_id, artifact_sha256=digest)
