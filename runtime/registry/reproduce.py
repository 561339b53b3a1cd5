"""Retraining a registered version from exactly its inputs, and checking that it is the same model again.

:func:`reproduce_version` reads the version's run: its ``training_spec.json`` (the spec with task and features
made explicit), its ``data_versions.json`` (every input at its version, :mod:`pulumi_mlops.runtime.data.versions`)
and its ``environment.json``. It reads the data again at those versions (an S3 object by ``VersionId``, a Cloud
Storage object by generation, a local file only if its sha256 is unchanged), trains with the same spec and seed,
and compares, on the version's own holdout (``holdout.parquet``), the outputs of the new pipeline with those of
the registered one: the class probabilities of a classifier, the value of a regressor.

The built-in scikit-learn families (:data:`DETERMINISTIC`) must give identical outputs. The MLP (torch; its
float reductions depend on the thread count) and estimators given by import path are compared within a
tolerance: every output must satisfy ``|reproduced - registered| <= tol + tol * |registered|``
(:data:`DEFAULT_TOLERANCE` = 1e-4 unless given).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pulumi_mlops.runtime.config import RuntimeSettings, StrictModel
from pulumi_mlops.runtime.data import DATA_VERSIONS_ARTIFACT, DataPinError, DataVersions, read_frame
from pulumi_mlops.runtime.environment import ENVIRONMENT_ARTIFACT, RunEnvironment
from pydantic import Field

from .contract import DATASET_TAG, HOLDOUT_ARTIFACT, RUN_ID_TAG
from .loading import ModelNotFoundError, load_model_version, resolve_version
from .tracking import mlflow_client
from .training_specs import training_spec_of

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = [
    "DEFAULT_TOLERANCE",
    "DETERMINISTIC",
    "REPRODUCES_TAG",
    "MetricDifference",
    "PredictionComparison",
    "ReproductionError",
    "ReproductionReport",
    "compare_outputs",
    "report_json",
    "reproduce_version",
]

DEFAULT_TOLERANCE = 1e-4
"""Relative and absolute tolerance of outputs that are not compared exactly."""
DETERMINISTIC = frozenset({"logistic_regression", "gradient_boosting", "random_forest"})
"""Estimators whose refit on the same data and seed gives bit-identical outputs."""
REPRODUCES_TAG = "mlops.reproduces"
"""Model-version tag of a version registered by ``mlops reproduce --register``: the version it reproduces."""


class ReproductionError(RuntimeError):
    """The version cannot be reproduced (it recorded no data versions, or its run is gone)."""


class MetricDifference(StrictModel):
    """One holdout metric of the registered run and of the reproduction."""

    metric: str
    """Metric name (``holdout_<metric>`` in the run)."""
    registered: float | None
    """The registered run's value (None when the run did not log it)."""
    reproduced: float
    """The reproduction's value."""
    difference: float | None
    """``reproduced - registered``."""


class PredictionComparison(StrictModel):
    """The reproduced pipeline's outputs against the registered one's, on the registered holdout."""

    mode: Literal["exact", "tolerance"]
    """exact: identical outputs required; tolerance: within ``tolerance``."""
    tolerance: float = Field(ge=0.0)
    """``|reproduced - registered| <= tolerance + tolerance * |registered|`` per output (0 when exact)."""
    why: str
    """Why this mode applies to the estimator."""
    rows: int
    """Holdout rows compared."""
    mismatched_rows: int
    """Rows with an output outside the comparison."""
    max_abs_difference: float
    """Largest ``|reproduced - registered|`` over every output."""
    match: bool
    """Whether every row matched."""

    def render(self) -> str:
        if self.mode == "exact":
            rule = f"exact comparison ({self.why})"
        else:
            bound = f"{self.tolerance:g} + {self.tolerance:g}*|registered|"
            rule = f"tolerance |reproduced - registered| <= {bound} ({self.why})"
        if self.match:
            verdict = "identical" if self.max_abs_difference == 0 else "match"
            return f"{verdict} on all {self.rows} holdout rows, {rule}; max difference {self.max_abs_difference:.3g}"
        return (
            f"DIFFER on {self.mismatched_rows} of {self.rows} holdout rows, {rule}; "
            f"max difference {self.max_abs_difference:.3g}"
        )


class ReproductionReport(StrictModel):
    """What ``mlops reproduce`` found."""

    model: str
    """Registered model name."""
    version: str
    """The version reproduced."""
    run_id: str
    """Its training run."""
    estimator: str
    """Estimator fitted (the family an ``auto`` search picked)."""
    inputs: list[str]
    """The pinned inputs read, one line each."""
    dataset_sha256: str
    """The registered run's training-frame digest."""
    reproduced_dataset_sha256: str
    """The digest of the frame read again."""
    metrics: list[MetricDifference]
    """Every holdout metric, registered and reproduced."""
    predictions: PredictionComparison
    """The output comparison on the registered holdout."""
    environment_changes: list[str] = Field(default_factory=list)
    """Package, Python and commit differences from the recorded environment."""
    registered_version: str | None = None
    """The version ``--register`` registered (None without it)."""

    @property
    def matches(self) -> bool:
        return self.predictions.match


def compare_outputs(
    registered: np.ndarray, reproduced: np.ndarray, *, exact: bool, tolerance: float
) -> tuple[int, float]:
    """``(mismatched rows, max |difference|)`` of two output arrays (rows first), exactly or within ``tolerance``."""
    a = np.asarray(registered, dtype=np.float64).reshape(len(registered), -1)
    b = np.asarray(reproduced, dtype=np.float64).reshape(len(reproduced), -1)
    if a.shape != b.shape:
        raise ValueError(f"the reproduced outputs have shape {b.shape}, the registered ones {a.shape}")
    difference = np.abs(b - a)
    bad = difference > 0 if exact else difference > tolerance + tolerance * np.abs(a)
    bad |= np.isnan(a) != np.isnan(b)
    finite = difference[np.isfinite(difference)]
    return int(bad.any(axis=1).sum()), float(finite.max()) if finite.size else 0.0


def _outputs(pipeline: Any, features: pd.DataFrame, task: str) -> np.ndarray:
    if task == "regression":
        return np.asarray(pipeline.predict(features), dtype=np.float64)
    return np.asarray(pipeline.predict_proba(features), dtype=np.float64)


def _artifact(client: MlflowClient, run_id: str, name: str, folder: str) -> Path | None:
    from mlflow.exceptions import MlflowException

    try:
        return Path(client.download_artifacts(run_id, name, folder))
    except (MlflowException, OSError):
        return None


def _require_model(client: MlflowClient, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        raise ModelNotFoundError(f"no registered model named {name!r}: mlops registry list shows the models") from None


def _recorded(client: MlflowClient, name: str, version: str, run_id: str) -> tuple[DataVersions, Any, Any]:
    """The run's data versions, environment (or None) and holdout (or None)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = _artifact(client, run_id, DATA_VERSIONS_ARTIFACT, tmp)
        if path is None:
            raise ReproductionError(
                f"model {name} version {version} has no {DATA_VERSIONS_ARTIFACT}: it was registered before training "
                "recorded its input versions (or from a frame handed to the trainer), so the data it was trained on "
                "cannot be read again; train a new version with mlops train, which records them"
            )
        versions = DataVersions.model_validate_json(path.read_text())
        env_path = _artifact(client, run_id, ENVIRONMENT_ARTIFACT, tmp)
        environment = RunEnvironment.model_validate_json(env_path.read_text()) if env_path else None
        holdout_path = _artifact(client, run_id, HOLDOUT_ARTIFACT, tmp)
        holdout = pd.read_parquet(holdout_path) if holdout_path else None
    return versions, environment, holdout


def _same_content(recorded: DataVersions, read: DataVersions) -> None:
    """Refuse data whose bytes are not the recorded ones although read at the recorded versions."""
    now = {o.uri: o for o in read.all_objects()}
    changed = [
        f"{o.uri} (sha256 {now[o.uri].sha256[:12]} read, {o.sha256[:12]} recorded)"
        for o in recorded.all_objects()
        if o.uri in now and now[o.uri].sha256 != o.sha256
    ]
    if changed:
        raise DataPinError(f"read at the recorded versions, but the content differs: {', '.join(changed)}")
    if recorded.generated != read.generated:
        raise DataPinError(f"{recorded.location}: the generated dataset's parameters differ from the recorded ones")


def reproduce_version(
    name: str,
    version: str,
    settings: RuntimeSettings | None = None,
    *,
    register: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
) -> ReproductionReport:
    """Retrain ``name`` version ``version`` from its recorded spec, pinned data and seed, and compare.

    Registers the reproduced model (alias ``challenger``, tag ``mlops.reproduces``) only with ``register``.
    Raises :class:`~.loading.ModelNotFoundError` for an unknown model or version, :class:`ReproductionError` for a
    version without recorded data versions, and :class:`~pulumi_mlops.runtime.data.DataPinError` when a recorded
    input version is gone or its content changed.
    """
    from pulumi_mlops.runtime.training import train

    settings = settings or RuntimeSettings.from_env()
    client = mlflow_client(settings)
    _require_model(client, name)
    mv = resolve_version(client, name, version)
    number = str(mv.version)
    run_id = str((mv.tags or {}).get(RUN_ID_TAG) or mv.run_id or "")
    if not run_id:
        raise ReproductionError(f"model {name} version {number} names no training run")
    versions, environment, holdout = _recorded(client, name, number, run_id)
    spec = training_spec_of(name, number, settings).model_copy(update={"data": versions.location})
    loaded = read_frame(versions.location, settings, window=versions.window, pin=versions.pin() or None)
    _same_content(versions, loaded.versions)
    registered = load_model_version(name, number, settings)

    result = train(
        spec, settings, register=register, window=versions.window, frame=loaded.frame, data_versions=loaded.versions
    )
    if register and result.version:
        client.set_model_version_tag(name, result.version, REPRODUCES_TAG, number)
    frame = holdout if holdout is not None else result.holdout
    task, estimator = result.task.task, result.estimator
    exact = estimator in DETERMINISTIC
    mismatched, largest = compare_outputs(
        _outputs(registered.model, frame[result.features], task),
        _outputs(result.pipeline, frame[result.features], task),
        exact=exact,
        tolerance=tolerance,
    )
    why = (
        f"{estimator} is deterministic"
        if exact
        else f"{estimator} may differ in the last bits across thread counts and machines"
    )
    comparison = PredictionComparison(
        mode="exact" if exact else "tolerance", tolerance=0.0 if exact else tolerance, why=why,
        rows=len(frame), mismatched_rows=mismatched, max_abs_difference=largest, match=mismatched == 0,
    )  # fmt: skip
    logged = client.get_run(run_id).data
    metrics = []
    for metric, value in result.metrics.items():
        before = logged.metrics.get(f"holdout_{metric}")
        difference = None if before is None else float(value) - float(before)
        metrics.append(MetricDifference(metric=metric, registered=before, reproduced=value, difference=difference))
    changes = environment.differences(result.environment) if environment and result.environment else []
    return ReproductionReport(
        model=name,
        version=number,
        run_id=run_id,
        estimator=estimator,
        inputs=loaded.versions.describe(),
        dataset_sha256=str(logged.tags.get(DATASET_TAG, "")),
        reproduced_dataset_sha256=result.dataset.sha256,
        metrics=metrics,
        predictions=comparison,
        environment_changes=changes,
        registered_version=result.version if register else None,
    )


def report_json(report: ReproductionReport) -> str:
    """The report as JSON, with ``matches``."""
    return json.dumps({**report.model_dump(mode="json"), "matches": report.matches}, indent=2)
