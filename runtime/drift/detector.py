"""Compare one window of prediction logs with the reference profile and decide whether it drifted.

Every numeric feature gets KS, PSI, normalized Wasserstein and Jensen-Shannon (and, with at most 5 distinct values,
chi-square, the Z-test for two values and Jensen-Shannon over its values); every categorical one gets chi-square,
the Z-test when it has two categories, PSI and Jensen-Shannon. One of them decides, chosen by kind, reference size
and distinct values the way Evidently's DataDriftPreset chooses:

=================================  ==================================  =====================================
kind                               reference values <= 1000            reference values > 1000
=================================  ==================================  =====================================
numeric, more than 5 values        ks (p-value <= ks_pvalue)           wasserstein (>= wasserstein)
numeric with at most 5 values,     chi2 (p-value < chi2_pvalue), or    jensen_shannon over the values or
or categorical                     z (p-value < z_pvalue) for 2 values categories (>= jensen_shannon)
=================================  ==================================  =====================================

"Values" counts the distinct values of reference and window together. A boolean column is profiled as categorical,
as Evidently infers it; integer columns are numeric, as when Evidently's column mapping names them numerical.
The chi-square test is Evidently's goodness of fit of the window's counts to the reference's shares; the
Jensen-Shannon distance takes the natural logarithm. Where Evidently differs: the Wasserstein distance of a
reference of more than ``sample_size`` (5,000) values is computed against the profile's evenly spaced order
statistics of it, not every value (measured within 1% of the exact value near the 0.1 threshold); and the dataset
share's default (``drift_share``) is 0.3, where Evidently's preset has 0.5.

Small references get a significance test; on large ones every shift is significant, so a distance
with an effect-size threshold decides instead. Thresholds come from ``DriftSpec.thresholds`` or,
for a feature listed in ``DriftSpec.feature_overrides``, from its override (which replaces them all).

The dataset drifts when drifted features / features >= ``drift_share``. A feature that is missing
from the window, entirely null, or whose type changed from numeric to non-numeric counts as drifted.
The prediction column is tested like a feature but reported separately, outside the share.

Each numeric column is summarised once against the profile's arrays (:mod:`.binned`: sorted where numpy sorts
with SIMD, else in a few linear passes over a grid) and tested, on worker threads (each with its own work arrays)
while this one counts the categorical columns; the per-column tests are in :mod:`.columns`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from ..config import DriftSpec, DriftThresholds
from .binned import Scratch, on_workers, summarize
from .columns import (
    NULL_RATE_WARNING,
    SMALL_REFERENCE,
    all_null,
    categorical_tests,
    check_column,
    default_test,
    finish,
    finite_values,
    is_numeric,
    numeric_tests,
    value_tests,
    verdict,
)
from .performance import HIGHER_IS_BETTER, join_labels, performance_metrics, primary_metric
from .profile import (
    PREDICTION,
    CategoricalProfile,
    FeatureProfile,
    NumericProfile,
    ReferenceProfile,
    categorical_values,
    repeated_names,
)
from .report import DriftReport, FeatureDrift, Finding, PerformanceDrift, WindowInfo
from .stats import ks_pvalues

__all__ = ["LOG_COLUMNS", "SMALL_REFERENCE", "default_test", "detect_drift"]

LOG_COLUMNS = frozenset({"request_id", "row", "timestamp", "model_version", "model_name", "date", "version", "label"})
"""Prediction-log columns that are not model inputs (``model_name``, ``date`` and ``version`` are partition keys)."""


def _test_all(
    items: list[tuple[str, FeatureProfile]],
    current: pd.DataFrame,
    spec: DriftSpec,
    findings: list[Finding],
    ks_for_all: bool,
) -> list[FeatureDrift]:
    partials: dict[str, dict[str, object]] = {}
    numeric: list[str] = []
    categorical: list[str] = []
    for name, prof in items:
        problem = check_column(name, prof, current, findings)
        if problem is not None:
            partials[name] = problem
        else:
            (numeric if prof.kind == "numeric" else categorical).append(name)

    profiles = dict(items)
    frame = current
    if numeric and any(not is_numeric(current[n]) for n in numeric):
        frame = current[numeric].apply(pd.to_numeric, errors="coerce")
    series = {name: frame[name] for name in numeric}  # taken here: the frame is not read from the workers
    rows = len(current)

    def numeric_job(name: str, scratch: Scratch) -> tuple[dict[str, object], float, int] | None:
        """On a worker thread: the column's finite values, their summary and its tests (None when none is finite)."""
        values = finite_values(series[name])
        if values.size == 0:
            return None
        prof = profiles[name]
        assert isinstance(prof, NumericProfile)
        ecdf, edges, _ = prof.arrays()
        summary = summarize(ecdf, edges, values, scratch)
        limits = spec.feature_overrides.get(name, spec.thresholds)
        partial, d = numeric_tests(name, summary, rows, prof, limits)
        few = value_tests(values, prof, limits)
        if few is not None:  # at most LOW_CARDINALITY values: tested as categories, Jensen-Shannon over the values
            tests, partial["n_values"] = few
            kept = [t for t in partial["tests"] if t.test != "jensen_shannon"]  # type: ignore[attr-defined]
            partial["tests"] = [*kept, *tests]
        return partial, d, int(values.size)

    late: list[Finding] = []  # the categorical columns' findings, reported after the numeric ones
    with on_workers(numeric, numeric_job) as numeric_results:
        for name in categorical:  # on this thread while the numeric columns are tested on others
            prof = profiles[name]
            assert isinstance(prof, CategoricalProfile)
            counts = categorical_values(current[name])
            if counts.empty:
                partials[name] = all_null(name, prof, late)
                continue
            limits = spec.feature_overrides.get(name, spec.thresholds)
            partials[name] = categorical_tests(name, counts, rows, prof, limits)
        pending: list[tuple[str, float, int, int]] = []
        for name, result in zip(numeric, numeric_results(), strict=True):
            prof = profiles[name]
            assert isinstance(prof, NumericProfile)
            if result is None:
                partials[name] = all_null(name, prof, findings)
                continue
            partials[name], d, size = result
            n_values = partials[name].get("n_values")
            if ks_for_all or default_test(prof, n_values if isinstance(n_values, int) else None) == "ks":
                pending.append((name, d, prof.arrays()[0].size, size))
        findings.extend(late)
        if pending:
            stats_d, pvalues = ks_pvalues(
                np.array([p[1] for p in pending]),
                np.array([p[2] for p in pending]),
                np.array([p[3] for p in pending]),
            )
            for (name, _, _, _), d, p in zip(pending, stats_d, pvalues, strict=True):
                limits = spec.feature_overrides.get(name, spec.thresholds)
                tests = partials[name]["tests"]
                assert isinstance(tests, list)
                tests.insert(0, verdict("ks", float(d), float(p), limits))

    out: list[FeatureDrift] = []
    for name, prof in items:
        decided = finish(partials[name], prof)
        if (
            decided.current_null_rate is not None
            and decided.status == "tested"
            and decided.current_null_rate - prof.null_rate > NULL_RATE_WARNING
        ):
            findings.append(
                Finding(
                    kind="null_rate",
                    column=name,
                    severity="warning",
                    message=f"column {name!r} is missing in {decided.current_null_rate:.1%} of the window "
                    f"({prof.null_rate:.1%} in the reference): check the feature pipeline",
                )
            )
        out.append(decided)
    return out


def _order(features: list[FeatureDrift]) -> list[FeatureDrift]:
    def key(f: FeatureDrift) -> tuple[int, int, float, str]:
        return (not f.drifted, f.status == "tested", -(f.severity or 0.0), f.name)

    return sorted(features, key=key)


def _performance(
    profile: ReferenceProfile, current: pd.DataFrame, labels: pd.DataFrame, limits: DriftThresholds
) -> tuple[PerformanceDrift, list[Finding]]:
    findings: list[Finding] = []
    missing = [c for c in ("request_id", "label") if c not in labels.columns]
    if missing or "request_id" not in current.columns or PREDICTION not in current.columns:
        where = f"labels lack {missing}" if missing else "the window lacks request_id or prediction"
        findings.append(
            Finding(
                kind="performance_unavailable",
                severity="warning",
                message=f"performance drift skipped: {where}; labels need request_id, row and label columns, "
                "joined to the prediction logs on request_id and row",
            )
        )
        return PerformanceDrift(
            labelled_rows=0,
            metric=None,
            reference=profile.metrics,
            current={},
            threshold=limits.performance_drop,
            degradation=None,
            drifted=False,
        ), findings
    joined, note = join_labels(current, labels)
    if note:
        findings.append(Finding(kind="labels_by_position", severity="info", message=note))
    now = performance_metrics(
        joined["label"].to_numpy(), joined[PREDICTION].to_numpy(), task=profile.task, classes=profile.classes
    )
    metric = primary_metric(profile.metrics, profile.task) if profile.metrics else None
    degradation: float | None = None
    drifted = False
    if metric is None:
        findings.append(
            Finding(
                kind="performance_unavailable",
                severity="info",
                message="the reference profile has no metrics: build it with labels= so performance drift "
                "has a baseline; current metrics are reported without a verdict",
            )
        )
    elif metric in now:
        before, after = profile.metrics[metric], now[metric]
        relative = (after - before) / before if before else after
        degradation = before - after if HIGHER_IS_BETTER[metric] else relative
        drifted = degradation > limits.performance_drop
    return PerformanceDrift(
        labelled_rows=len(joined),
        metric=metric,
        reference=profile.metrics,
        current=now,
        threshold=limits.performance_drop,
        degradation=degradation,
        drifted=drifted,
    ), findings


def _checked_inputs(profile: object, current: object, spec: object) -> pd.DataFrame:
    """``current`` with its column names as strings (as the profile keys them); a clear error for arguments of the
    wrong kind and for column names given twice."""
    if not isinstance(profile, ReferenceProfile):
        raise TypeError(
            "profile must be a ReferenceProfile (ReferenceProfile.load(path), or build_profile(reference_frame, ...)), "
            f"got {type(profile).__name__}"
        )
    if not isinstance(current, pd.DataFrame):
        raise TypeError(
            f"current must be a pandas DataFrame of the window, one column per feature, got {type(current).__name__}"
        )
    if spec is not None and not isinstance(spec, DriftSpec):
        raise TypeError(
            f"spec must be a DriftSpec (DriftSpec.model_validate(a_dict) reads one), got {type(spec).__name__}"
        )
    twice = repeated_names(current.columns)
    if twice:
        raise ValueError(f"the window has columns {twice} more than once: give each column once")
    if any(type(c) is not str for c in current.columns):
        current = current.set_axis([str(c) for c in current.columns], axis=1)
    return current


def detect_drift(
    profile: ReferenceProfile,
    current: pd.DataFrame,
    spec: DriftSpec | None = None,
    *,
    model: str = "",
    reference: str = "",
    window: WindowInfo | None = None,
    labels: pd.DataFrame | None = None,
    log_columns: list[str] | None = None,
    ks_for_all: bool = True,
    now: datetime | None = None,
) -> DriftReport:
    """Test every profiled feature of ``current`` (one row per logged prediction) against ``profile``.

    Problems with the window (missing or new columns, changed types, null columns, too few rows) are
    reported as findings in the result, never raised. ``log_columns`` lists every column of the logs
    when ``current`` holds only the profiled ones, so new columns are still reported.

    ``ks_for_all=False`` runs KS only where it decides (references of at most 1000 values): its
    p-value, SciPy's exact Kolmogorov distribution, costs about 5 ms per undrifted numeric feature with
    a 5,000-value reference sample whatever the window size, the largest cost on windows under ~1M rows.
    """
    current = _checked_inputs(profile, current, spec)
    spec = spec or DriftSpec()
    started = time.perf_counter()
    rows = len(current)
    info = window.model_copy(update={"rows": rows}) if window else WindowInfo(source="dataframe", rows=rows)
    findings: list[Finding] = []
    known = set(profile.features) | {PREDICTION} | LOG_COLUMNS
    for column in log_columns if log_columns is not None else current.columns:
        if str(column) not in known and not str(column).startswith("__index_level_"):
            findings.append(
                Finding(
                    kind="new_column",
                    column=str(column),
                    severity="info",
                    message=f"column {column!r} is in the window but not in the reference profile: it is not "
                    "tested; rebuild the profile from data that has it to monitor it",
                )
            )
    base = {
        "model": model,
        "generated_at": now or datetime.now(UTC),
        "reference": reference,
        "window": info,
        "drift_share_threshold": spec.thresholds.drift_share,
        "features_total": len(profile.features),
    }
    if rows < spec.min_rows:
        findings.insert(
            0,
            Finding(
                kind="insufficient_data",
                severity="warning",
                message=f"the window has {rows} rows, fewer than min_rows={spec.min_rows}: no drift verdict; "
                "widen the window (--since/--until) or lower DriftSpec.min_rows",
            ),
        )
        return DriftReport.model_validate(
            {
                **base,
                "status": "insufficient_data",
                "dataset_drift": False,
                "drift_share": 0.0,
                "drifted_features": 0,
                "features": [],
                "findings": findings,
                "compute_seconds": time.perf_counter() - started,
            }
        )

    if profile.schema_version == 1:
        findings.append(
            Finding(
                kind="old_profile",
                severity="info",
                message="the reference profile was written before numeric columns of at most 5 values and booleans "
                "were tested as categories, as Evidently tests them: its columns are tested as it recorded them; "
                "rebuild it (retrain, or build_profile) for Evidently's choice",
            )
        )
    unknown = sorted(set(spec.feature_overrides) - set(profile.features) - {PREDICTION})
    if unknown:
        findings.append(
            Finding(
                kind="unknown_override",
                severity="warning",
                message=f"DriftSpec.feature_overrides names {unknown}, which the reference profile does not have: "
                f"their thresholds apply to nothing; the profiled features are {sorted(profile.features)}",
            )
        )
    items: list[tuple[str, FeatureProfile]] = list(profile.features.items())
    if profile.prediction is not None:
        items.append((PREDICTION, profile.prediction))
    tested = _test_all(items, current, spec, findings, ks_for_all)
    prediction = tested.pop() if profile.prediction is not None else None
    counted = [f for f in tested if f.status != "no_reference"]
    drifted = sum(f.drifted for f in counted)
    share = drifted / len(counted) if counted else 0.0
    dataset_drift = bool(counted) and share >= spec.thresholds.drift_share

    performance = None
    if labels is not None:
        limits = spec.thresholds
        performance, extra = _performance(profile, current, labels, limits)
        findings.extend(extra)

    severity_rank = {"drift": 0, "warning": 1, "info": 2}
    findings.sort(key=lambda f: severity_rank[f.severity])
    base["features_total"] = len(counted)
    return DriftReport.model_validate(
        {
            **base,
            "status": "drift" if dataset_drift else "ok",
            "dataset_drift": dataset_drift,
            "drift_share": share,
            "drifted_features": drifted,
            "features": _order(tested),
            "prediction": prediction,
            "prediction_drift": bool(prediction and prediction.drifted),
            "performance": performance,
            "findings": findings,
            "compute_seconds": time.perf_counter() - started,
        }
    )
