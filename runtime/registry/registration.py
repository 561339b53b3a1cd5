"""Logging a training run to MLflow and registering its model under the registry contract (:mod:`.contract`)."""

from __future__ import annotations

import json
import tempfile
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pulumi_mlops.runtime.config import RuntimeSettings, StrictModel
from pulumi_mlops.runtime.data.versions import DATA_VERSIONS_ARTIFACT, DATA_VERSIONS_TAG
from pulumi_mlops.runtime.environment import ENVIRONMENT_ARTIFACT, distribution_of, git_commit

from .artifacts import download_model_dir
from .audit import AuditEvent, append_audit
from .contract import (
    CHALLENGER,
    DATASET_TAG,
    FLAVOR,
    FLAVOR_TAG,
    HOLDOUT_ARTIFACT,
    METADATA_KEY,
    MODEL_ARTIFACT,
    MODEL_CARD_ARTIFACT,
    PROFILE_ARTIFACT,
    RUN_ID_TAG,
    TASK_TAG,
    TRAINING_SPEC_ARTIFACT,
    model_metadata,
)
from .digest import DIGEST_TAG, FILES_TAG, files_tag_value, scan_directory
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


def _pin(package: str, distribution: str | None = None) -> str:
    try:
        return f"{package}=={version(distribution or package)}"
    except PackageNotFoundError:
        return package


def pip_requirements(estimator: str) -> list[str]:
    """The short explicit list of packages the logged model needs (torch and this package for the MLP; the
    distribution of an estimator given by import path when one is installed)."""
    reqs = [_pin("scikit-learn"), _pin("pandas"), _pin("numpy"), _pin("cloudpickle")]
    if estimator == "mlp":
        reqs += [_pin("torch"), _pin("pulumi-mlops")]
    elif ":" in estimator:
        distribution = distribution_of(estimator)
        if distribution and distribution not in ("scikit-learn", "pandas", "numpy", "cloudpickle"):
            reqs.append(_pin(distribution))
    return reqs


def _flat_params(result: TrainingResult) -> dict[str, Any]:
    spec = result.spec
    params: dict[str, Any] = {f"estimator.{k}": v for k, v in sorted(result.params.items())}
    params.update(
        estimator=spec.estimator,
        estimator_family=result.estimator,
        data=spec.data,
        label=spec.label,
        seed=spec.seed,
        holdout_fraction=spec.holdout_fraction,
        promotion_margin=spec.promotion_margin,
        search_trials=spec.search_trials,
        features=",".join(result.features),
        world_size=result.context.world_size,
        task=result.task.task,
        promotion_metric=result.promotion_metric,
    )
    if result.task.classes:
        params["classes"] = json.dumps(list(result.task.classes))
    if result.window is not None:
        params["data_since"], params["data_until"] = (t.isoformat() for t in result.window)
    if spec.sensitive_columns:
        params["sensitive_columns"] = ",".join(spec.sensitive_columns)
    if spec.max_slice_degradation is not None:
        params["max_slice_degradation"] = spec.max_slice_degradation
    return params


def _stage_explanations(result: TrainingResult, folder: Path) -> None:
    import mlflow
    from pulumi_mlops.runtime.explain import (
        EXPLANATIONS_ARTIFACT,
        EXPLANATIONS_PLOT_ARTIFACT,
        SLICES_ARTIFACT,
        bar_chart_svg,
    )

    if result.explanations is not None:
        (folder / EXPLANATIONS_ARTIFACT).write_text(result.explanations.model_dump_json(indent=1))
        bars = [(f.feature, f.permutation_auc_drop) for f in result.explanations.features]
        score = {"roc_auc": "AUC", "f1_macro": "macro F1", "r2": "R2"}.get(result.explanations.scoring, "score")
        svg = bar_chart_svg(bars, title=f"{result.spec.model.name}: permutation importance (holdout {score} drop)")
        (folder / EXPLANATIONS_PLOT_ARTIFACT).write_text(svg)
    if result.slices is not None:
        (folder / SLICES_ARTIFACT).write_text(result.slices.model_dump_json(indent=1))
        worst = result.slices.worst()
        if worst is not None and worst.auc_gap is not None:
            mlflow.log_metric("holdout_worst_slice_auc_gap", worst.auc_gap)
            mlflow.set_tag("mlops.worst_slice", worst.name)


def _stage_onnx(result: TrainingResult, folder: Path) -> OnnxExport:
    """Export and check ``model.onnx`` and write it with its ``onnx.json`` report; never fails the registration."""
    try:
        report, payload = export_onnx(result.pipeline, result.holdout[result.features], task=result.task.task)
    except Exception as exc:  # the ONNX artifact is optional: any failure is recorded, not raised
        reason = f"{type(exc).__name__}: {exc}"[:400]
        report, payload = OnnxExport(status="unsupported", reason=reason, task=result.task.task), None
    if payload is not None:
        (folder / ONNX_ARTIFACT).write_bytes(payload)
    (folder / ONNX_REPORT_ARTIFACT).write_text(json.dumps(report.model_dump(mode="json"), indent=2))
    return report


def _stage_run_artifacts(result: TrainingResult, folder: Path) -> OnnxExport:
    """Write every run artifact beside the model into ``folder``, logged with one call."""
    (folder / "dataset.json").write_text(json.dumps(result.dataset.model_dump(), indent=2))
    (folder / "data_validation.json").write_text(json.dumps(result.validation.model_dump(), indent=2))
    if result.data_versions is not None:
        (folder / DATA_VERSIONS_ARTIFACT).write_text(result.data_versions.model_dump_json(indent=2))
    if result.environment is not None:
        (folder / ENVIRONMENT_ARTIFACT).write_text(result.environment.model_dump_json(indent=2))
    (folder / PROFILE_ARTIFACT).write_text(json.dumps(result.profile, indent=1))
    (folder / MODEL_CARD_ARTIFACT).write_text(result.model_card)
    resolved = result.spec.model_copy(update={"task": result.task.task, "features": list(result.features)})
    (folder / TRAINING_SPEC_ARTIFACT).write_text(resolved.model_dump_json(indent=2))
    if result.search is not None:
        from pulumi_mlops.runtime.training.leaderboard import LEADERBOARD_ARTIFACT

        summary = result.search.model_dump(mode="json", exclude={"leaderboard"})
        (folder / "search.json").write_text(json.dumps(summary, indent=2))
        (folder / LEADERBOARD_ARTIFACT).write_text(json.dumps(result.search.leaderboard_document(), indent=1))
    _stage_explanations(result, folder)
    result.holdout.to_parquet(folder / HOLDOUT_ARTIFACT, index=False)
    return _stage_onnx(result, folder)


def _metadata(result: TrainingResult) -> dict[str, Any]:
    """``metadata.mlops`` of the MLmodel file; a Pipeline of your own also records the occlusion reference (its
    holdout medians and most frequent values), since it has no imputer statistics to take it from."""
    from pulumi_mlops.runtime.explain.contributions import pipeline_reference, reference_values

    entry = model_metadata(result.task.task, result.spec.label, list(result.task.classes))
    if pipeline_reference(result.pipeline) is None:
        entry["reference"] = json.loads(json.dumps(reference_values(result.holdout[result.features]), default=str))
    return entry


def log_and_register(
    result: TrainingResult, settings: RuntimeSettings | None = None, *, run_id: str | None = None
) -> RegisteredVersion:
    """Log params, metrics, lineage, artifacts and the model; register it with alias ``challenger``.

    ``run_id`` is a run already started for this training (the parent of its search's trial runs) to log into."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    settings = settings or RuntimeSettings.from_env()
    spec = result.spec
    name = spec.model.name
    client = mlflow_client(settings)
    experiment_id = ensure_experiment(settings, name)
    example = result.holdout[result.features].head(5)
    task = result.task.task
    if task == "regression":
        outputs, predict_fn = result.pipeline.predict(example), "predict"
    else:
        proba = result.pipeline.predict_proba(example)
        outputs, predict_fn = (proba[:, 1] if task == "binary" else proba), "predict_proba"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ii]nteger column", category=UserWarning)
        signature = infer_signature(example, outputs)
    commit = result.environment.git_commit if result.environment is not None else git_commit()

    with mlflow.start_run(run_id=run_id, experiment_id=None if run_id else experiment_id) as run:
        run_id = run.info.run_id
        mlflow.log_params(_flat_params(result))
        metrics = {f"holdout_{k}": v for k, v in result.metrics.items()}
        if result.search is not None:
            metrics.update({f"search_best_{result.search.metric}": result.search.best_score})
            metrics["search_trials"] = result.search.trials
            metrics["search_pruned"] = result.search.pruned
        mlflow.log_metrics(metrics)
        tags = {
            DATASET_TAG: result.dataset.sha256,
            "mlops.dataset_rows": str(result.dataset.rows),
            "mlops.dataset_source": result.dataset.source,
            "mlops.model": name,
            TASK_TAG: task,
        }
        if spec.owner:
            tags["mlops.owner"] = spec.owner
        if commit:
            tags["mlops.git_commit"] = commit
        if result.environment is not None and result.environment.package_version:
            tags["mlops.package_version"] = result.environment.package_version
        if result.data_versions is not None:
            tags["mlops.data_pinned"] = "true"
            pinned = result.data_versions.tag_value()
            if pinned is not None:
                tags[DATA_VERSIONS_TAG] = pinned
        with tempfile.TemporaryDirectory() as tmp:
            onnx_report = _stage_run_artifacts(result, Path(tmp))
            mlflow.log_artifacts(tmp)
        tags[ONNX_STATUS_TAG] = onnx_report.tag()
        mlflow.set_tags(tags)
        info = mlflow.sklearn.log_model(
            result.pipeline,
            name=MODEL_ARTIFACT,
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
            signature=signature,
            input_example=example,
            pip_requirements=pip_requirements(result.estimator),
            pyfunc_predict_fn=predict_fn,
            metadata={METADATA_KEY: _metadata(result)},
        )

    registered = mlflow.register_model(info.model_uri, name, await_registration_for=60)
    model_version = str(registered.version)
    with tempfile.TemporaryDirectory() as tmp:
        digest, files = scan_directory(download_model_dir(client, name, model_version, Path(tmp)))
    version_tags = {
        DIGEST_TAG: digest,
        FLAVOR_TAG: FLAVOR,
        DATASET_TAG: result.dataset.sha256,
        RUN_ID_TAG: run_id,
        ONNX_STATUS_TAG: onnx_report.tag(),
        TASK_TAG: task,
    }
    manifest = files_tag_value(files)
    if manifest is not None:
        version_tags[FILES_TAG] = manifest
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
            details={
                "metrics": result.metrics,
                "estimator": result.estimator,
                "task": task,
                "promotion_metric": result.promotion_metric,
                "git_commit": commit,
            },
        ),
    )
    return RegisteredVersion(name=name, version=model_version, run_id=run_id, artifact_sha256=digest)
