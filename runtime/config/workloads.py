"""Workload specs shared by the platform (which deploys them) and the runtime (which runs them).

Everything here depends on pydantic only: the runtime reads these classes from ``MLOPS_*``
environment variables and mounted JSON, the infrastructure components embed them in
``PlatformSpec`` and serialize them into ConfigMaps.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from .tasks import PROMOTION_METRICS, Task, promotion_metric_for

__all__ = [
    "AUTO_ESTIMATOR",
    "AUTO_SEARCH_TRIALS",
    "BUILTIN_ESTIMATORS",
    "ESTIMATOR_IMPORT_PATH",
    "BatchSpec",
    "DriftSpec",
    "DriftThresholds",
    "ModelRef",
    "PredictionLogSpec",
    "ResourceSpec",
    "ServingSpec",
    "StrictModel",
    "TrainingSpec",
    "check_estimator",
]

_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_CRON = re.compile(r"^(@(hourly|daily|weekly|monthly|yearly))$|^(\S+\s+){4}\S+$")
_CPU = re.compile(r"^([0-9]+m|[0-9]+(\.[0-9]+)?)$")
_MEMORY = re.compile(r"^[0-9]+(Ki|Mi|Gi|Ti)$")


class StrictModel(BaseModel):
    """Base for every spec class: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)


def check_cron(value: str) -> str:
    """Accept a five-field cron expression or one of the ``@daily``-style macros."""
    if not _CRON.match(value.strip()):
        raise ValueError(f"{value!r} is not a cron schedule: use five fields like '0 3 * * *' or '@daily'")
    return value.strip()


class ModelRef(StrictModel):
    """A registered model and the registry alias that selects its version."""

    name: str = Field(pattern=_NAME, max_length=50)
    """Registered model name in the model registry (lowercase letters, digits and '-')."""
    alias: str = Field(default="champion", pattern=r"^[a-z][a-z0-9_-]*$")
    """Registry alias to serve; the server follows the alias when it moves."""

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """Parse ``name@alias`` (alias defaults to ``champion``)."""
        name, _, alias = text.partition("@")
        return cls(name=name, alias=alias or "champion")

    def __str__(self) -> str:
        return f"{self.name}@{self.alias}"


class ResourceSpec(StrictModel):
    """Container resource requests; limits are derived (memory limit = request, CPU limit = 2x)."""

    cpu: str = "500m"
    """CPU request in Kubernetes quantity form ('500m', '2')."""
    memory: str = "1Gi"
    """Memory request in Kubernetes quantity form ('512Mi', '4Gi')."""
    gpus: int = Field(default=0, ge=0, le=16)
    """NVIDIA GPUs per pod; more than 0 schedules the pod onto a GPU pool."""

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, v: str) -> str:
        if not _CPU.match(v):
            raise ValueError(f"{v!r} is not a CPU quantity: use millicores like '500m' or cores like '2'")
        return v

    @field_validator("memory")
    @classmethod
    def _memory(cls, v: str) -> str:
        if not _MEMORY.match(v):
            raise ValueError(f"{v!r} is not a memory quantity: use '512Mi' or '4Gi'")
        return v


class PredictionLogSpec(StrictModel):
    """Where and how the server samples requests for drift detection."""

    enabled: bool = True
    """Write sampled inputs and outputs to parquet."""
    sample_rate: float = Field(default=1.0, gt=0.0, le=1.0)
    """Fraction of requests logged (0 < rate <= 1)."""
    flush_rows: int = Field(default=5000, ge=1)
    """Rows buffered before a parquet file is written."""
    flush_seconds: float = Field(default=30.0, gt=0)
    """Longest time a logged row waits before it is written."""
    max_buffered_rows: int = Field(default=100_000, ge=1)
    """Memory bound: rows beyond this are dropped (and counted) rather than blocking requests."""


class ServingSpec(StrictModel):
    """How one model server process serves one model."""

    model: ModelRef
    """The model and alias to serve."""
    port: int = Field(default=8080, ge=1024, le=65535)
    """HTTP port (Open Inference Protocol v2 REST)."""
    max_batch_size: int = Field(default=32, ge=1, le=4096)
    """Largest micro-batch of concurrent requests predicted together (1 disables batching)."""
    max_batch_wait_ms: float = Field(default=2.0, ge=0.0, le=1000.0)
    """Longest time the first request of a micro-batch waits for others."""
    max_payload_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    """Requests with larger bodies are rejected with 413."""
    body_timeout_seconds: float = Field(default=10.0, gt=0.0, le=300.0)
    """Longest wait for the next part of a request body; a body that stops short of its Content-Length is
    answered 408 after this long instead of holding the connection."""
    reload_poll_seconds: float = Field(default=30.0, ge=1.0)
    """How often the server checks the registry alias for a new version."""
    prediction_log: PredictionLogSpec = Field(default_factory=PredictionLogSpec)
    """Sampling of requests for drift detection."""

    @model_validator(mode="after")
    def _log_bounds(self) -> ServingSpec:
        log = self.prediction_log
        if log.enabled and log.flush_rows > log.max_buffered_rows:
            raise ValueError(
                "prediction_log.flush_rows must not exceed prediction_log.max_buffered_rows "
                f"({log.flush_rows} > {log.max_buffered_rows})"
            )
        return self


AUTO_ESTIMATOR = "auto"
"""``TrainingSpec.estimator`` that lets the search pick the family and its hyperparameters together."""
AUTO_SEARCH_TRIALS = 20
"""Trials of an ``auto`` search whose ``search_trials`` is 0 (within ``search_timeout_s``)."""
BUILTIN_ESTIMATORS: tuple[str, ...] = (
    AUTO_ESTIMATOR,
    "logistic_regression",
    "gradient_boosting",
    "random_forest",
    "mlp",
)
"""``auto`` and the built-in estimator families."""
ESTIMATOR_IMPORT_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
"""``package.module:Class`` (or ``:factory``), the form of an estimator given by import path."""
_REGISTERED_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_ESTIMATOR_SCHEMA: dict[str, JsonValue] = {
    "anyOf": [
        {"enum": list(BUILTIN_ESTIMATORS)},
        {"pattern": _REGISTERED_NAME.pattern},
        {"pattern": ESTIMATOR_IMPORT_PATH.pattern},
    ]
}


def check_estimator(value: str) -> str:
    """Accept a built-in family, a registered name or an import path (whether it resolves is checked at training)."""
    if value in BUILTIN_ESTIMATORS or _REGISTERED_NAME.match(value) or ESTIMATOR_IMPORT_PATH.match(value):
        return value
    raise ValueError(
        f"{value!r} is not an estimator: use a built-in family ({', '.join(BUILTIN_ESTIMATORS)}), an import path "
        "package.module:Class, or a name registered with register_estimator (lowercase letters, digits, '_', '-')"
    )


class TrainingSpec(StrictModel):
    """What one training run fits and registers."""

    model: ModelRef
    """Registered model the run produces; the new version gets the alias ``challenger``."""
    estimator: str = Field(default=AUTO_ESTIMATOR, json_schema_extra=_ESTIMATOR_SCHEMA)
    """Estimator: ``auto`` (the default) searches the built-in families and their hyperparameters together and
    refits the best on the training rows; a built-in family (scikit-learn pipelines or the PyTorch tabular MLP); a
    scikit-learn-compatible
    estimator class or factory by import path, ``package.module:Class`` (called with ``params``); or a name
    registered from Python with ``pulumi_mlops.runtime.training.register_estimator``. A bare estimator gets the
    built-in preprocessing (median imputation and scaling of numeric features, one-hot encoding of categorical
    ones); a ``Pipeline`` is fitted on the raw feature columns as it is."""
    data: str = "generated://churn?rows=20000"
    """Training data: a local path, an s3:// or gs:// URI (parquet/CSV), generated://churn, or feast://<entities>."""
    label: str = "churned"
    """Label column."""
    features: list[str] = Field(default_factory=list)
    """Feature columns; empty means every column except the label and ``exclude_columns``."""
    exclude_columns: list[str] = Field(default_factory=lambda: ["customer_id", "event_timestamp"])
    """Columns that are never features (entity id, event time); the first is the entity id of the holdout split."""
    params: dict[str, float | int | str | bool] = Field(default_factory=dict)
    """Estimator hyperparameters (validated by the trainer; keyword arguments of an estimator given by import
    path or registered)."""
    search_trials: int = Field(default=0, ge=0, le=1000)
    """Optuna trials of the hyperparameter search; 0 disables the search of a named family, and gives ``auto``
    its default cap of 20 trials (``AUTO_SEARCH_TRIALS``)."""
    search_timeout_s: float = Field(default=600.0, gt=0)
    """Wall-clock limit of the search, from each worker's start: no trial starts after it, and worker 0 waits for the
    other workers' running trials at most until then."""
    search_workers: int = Field(default=1, ge=1, le=64)
    """Processes (the pods of one Indexed Job) that share one Optuna study of ``search_trials`` trials; more than
    1 needs ``MLOPS_SEARCH_STORAGE`` and ``MLOPS_SEARCH_STUDY``. Worker 0 refits the best trial and registers it."""
    seed: int = 42
    """Seed for splits, estimators and the search."""
    holdout_fraction: float = Field(default=0.2, gt=0.0, lt=0.9)
    """Fraction of rows kept for the fixed evaluation holdout."""
    task: Task | None = None
    """binary, multiclass or regression; None detects it from the label column: booleans, strings and
    integers with two values are binary; strings with 3 to 50 values, and integers with 3 to 50 values
    that are at most 5% of the rows (at least 20 rows per class on average), are multiclass; other
    numbers are regression."""
    promotion_metric: str | None = None
    """Holdout metric of the promotion gate; None takes the task's default (binary ``auc``, multiclass
    ``macro_f1``, regression ``r2``). Binary also takes log_loss, brier, ece, f1, accuracy; multiclass
    log_loss, accuracy; regression rmse, mae."""
    promotion_margin: float = Field(default=0.005, ge=0.0)
    """Challenger must beat the champion on ``promotion_metric`` (AUC for binary models) by more than this, in the
    metric's units, to be promoted."""
    sensitive_columns: list[str] = Field(default_factory=list)
    """Columns whose values define fairness slices (e.g. ``region``, ``plan``): holdout metrics per value go to
    ``slices.json`` and the model card."""
    max_slice_degradation: float | None = Field(default=None, ge=0.0, le=1.0)
    """Promotion gate: refuse a challenger whose AUC on any slice is worse than the champion's by more than
    this; None disables the gate (needs ``sensitive_columns``)."""
    explain: bool = True
    """Compute global explanations on the holdout (permutation importance, mean |SHAP|); false skips them:
    no ``explanations.json`` and no explanations section in the model card."""
    explain_budget_s: float = Field(default=5.0, gt=0.0, le=3600.0)
    """Time the global explanations may take: the rows and repeats of the permutation importance are scaled
    to it from the measured cost of one scoring, and SHAP is skipped when its estimate exceeds what is left."""
    purpose: str | None = Field(default=None, max_length=2000)
    """What the model predicts and why, for the model card (e.g. 'Ranks customers by churn risk for
    retention outreach'); the card leaves the section out when empty."""
    owner: str | None = Field(default=None, max_length=200)
    """Team or person accountable for the model, for the model card and the ``mlops.owner`` run tag."""
    intended_use: str | None = Field(default=None, max_length=2000)
    """Who may use the predictions for what, and what they must not be used for, for the model card."""

    @field_validator("estimator")
    @classmethod
    def _estimator(cls, v: str) -> str:
        return check_estimator(v)

    @model_validator(mode="after")
    def _search(self) -> TrainingSpec:
        if self.estimator == AUTO_ESTIMATOR and self.params:
            raise ValueError(
                f"params {sorted(self.params)}: estimator auto picks the family and its parameters; remove params, "
                "or name an estimator (e.g. gradient_boosting) to set them"
            )
        if self.search_workers > 1 and self.estimator != AUTO_ESTIMATOR and self.search_trials == 0:
            raise ValueError(
                f"search_workers {self.search_workers}: there is no search to share with search_trials 0; set "
                "search_trials, estimator auto, or search_workers 1"
            )
        return self

    @model_validator(mode="after")
    def _slice_gate(self) -> TrainingSpec:
        if self.max_slice_degradation is not None and not self.sensitive_columns:
            raise ValueError("max_slice_degradation needs sensitive_columns: name the columns whose slices it guards")
        if self.promotion_metric is not None:
            if self.task is not None:
                promotion_metric_for(self.task, self.promotion_metric)
            elif not any(self.promotion_metric in metrics for metrics in PROMOTION_METRICS.values()):
                known = sorted({m for metrics in PROMOTION_METRICS.values() for m in metrics})
                raise ValueError(
                    f"promotion_metric {self.promotion_metric!r} is unknown: use one of {', '.join(known)}"
                )
        if self.sensitive_columns and self.task in ("multiclass", "regression"):
            raise ValueError(
                f"sensitive_columns: fairness slices are measured for binary models only, not {self.task}; "
                "remove sensitive_columns (and max_slice_degradation)"
            )
        return self


class BatchSpec(StrictModel):
    """One batch scoring run: which model scores which input into which output."""

    model: ModelRef
    """Registered model and alias (or version number) that scores the input."""
    input: str = Field(min_length=1)
    """Parquet/CSV file or folder: a local path, an s3:// or gs:// URI."""
    output: str = Field(min_length=1)
    """Output folder (path, s3:// or gs://); each run writes ``run_id=<id>/`` under it."""
    chunk_rows: int = Field(default=50_000, ge=1, le=10_000_000)
    """Rows read, checked and scored at a time (bounds the memory of the job)."""
    enrich: bool = False
    """Look up features missing from the input in the online feature store by ``customer_id``."""
    allow_nulls: bool = False
    """Score rows with null inputs (the model imputes them) instead of rejecting them."""
    allow_unknown_categories: bool = False
    """Score rows with categories unseen in training instead of rejecting them."""
    shards: int = Field(default=1, ge=1, le=256)
    """Processes the run is split into (one per pod of an Indexed Job); each scores a disjoint, deterministic part
    of the input: whole files when there are at least as many files as shards, else every ``shards``-th chunk.
    Every shard of a run must be given the same run id."""

    @field_validator("input", "output")
    @classmethod
    def _location(cls, v: str) -> str:
        scheme = v.split("://", 1)[0] if "://" in v else ""
        if scheme not in ("", "file", "s3", "gs"):
            raise ValueError(f"{v!r}: unsupported scheme {scheme!r}; use a path, s3:// or gs://")
        return v


class DriftThresholds(StrictModel):
    """Per-test thresholds at which a feature is drifted, compared as Evidently compares them."""

    ks_pvalue: float = Field(default=0.05, gt=0, lt=1)
    """Kolmogorov-Smirnov: drift when the p-value is at most this."""
    chi2_pvalue: float = Field(default=0.05, gt=0, lt=1)
    """Chi-square (categories, and numbers with at most 5 values): drift when the p-value is below this."""
    z_pvalue: float = Field(default=0.05, gt=0, lt=1)
    """Z-test of two categories (or two values): drift when the p-value is below this."""
    psi: float = Field(default=0.2, gt=0)
    """Population stability index: drift when at least this."""
    wasserstein: float = Field(default=0.1, gt=0)
    """Normalized Wasserstein distance: drift when at least this."""
    jensen_shannon: float = Field(default=0.1, gt=0, le=1)
    """Jensen-Shannon distance (natural logarithm, as Evidently): drift when at least this."""
    drift_share: float = Field(default=0.3, gt=0, le=1)
    """Dataset drift when at least this share of features drift."""
    performance_drop: float = Field(default=0.05, gt=0)
    """Performance drift when the primary metric (binary AUC, multiclass macro F1, regression RMSE) degrades by more
    than this (AUC, accuracy and macro F1 in absolute points, MAE and RMSE relative to the reference)."""


class DriftSpec(StrictModel):
    """Scheduled drift detection and the retraining it triggers."""

    schedule: str = "0 * * * *"
    """Cron schedule of the drift job."""
    window_hours: int = Field(default=24, ge=1, le=24 * 90)
    """Size of the current window of prediction logs."""
    min_rows: int = Field(default=500, ge=1)
    """Windows with fewer rows are reported as insufficient, not as drift."""
    thresholds: DriftThresholds = Field(default_factory=DriftThresholds)
    """Test thresholds."""
    feature_overrides: dict[str, DriftThresholds] = Field(default_factory=dict)
    """Per-feature thresholds that replace the defaults."""
    retrain: bool = True
    """Trigger retraining when the dataset drifts."""
    retrain_cooldown_hours: float = Field(default=6.0, ge=0)
    """Minimum time between two retrainings of one model."""
    max_retrains_per_day: int = Field(default=2, ge=0)
    """Cap on automatic retrainings per model per day."""

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        return check_cron(v)
