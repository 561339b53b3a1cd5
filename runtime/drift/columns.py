"""The tests of one column against its reference profile: schema checks, the statistics, the deciding test.

A numeric column is summarised once (:mod:`.binned`: sorted where numpy sorts with SIMD, else in a few linear
passes); every statistic then comes from that summary and the profile's arrays. A categorical column's category
counts come from one hash-table count (:func:`~.profile.categorical_values`).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from ..config import DriftThresholds
from .binned import WindowSummary
from .profile import CategoricalProfile, FeatureProfile, NumericProfile
from .report import FeatureDrift, Finding, Histogram, StatResult, TestName
from .stats import chi2_contingency, jensen_shannon, ks_from_positions, psi

__all__ = [
    "MAX_CATEGORY_BARS",
    "NULL_RATE_WARNING",
    "SMALL_REFERENCE",
    "WASSERSTEIN_MIN_STD",
    "all_null",
    "categorical_tests",
    "check_column",
    "default_test",
    "finish",
    "finite_values",
    "is_numeric",
    "numeric_tests",
    "verdict",
]

SMALL_REFERENCE = 1000
"""References with at most this many values are judged by a significance test."""
MAX_CATEGORY_BARS = 14
WASSERSTEIN_MIN_STD = 0.001
"""The Wasserstein distance is divided by max(reference std, this), as in Evidently."""
NULL_RATE_WARNING = 0.1
"""A rise of the null rate by more than this (absolute) is reported as a warning finding."""


def default_test(profile: FeatureProfile) -> TestName:
    """The deciding test of a feature: see the table in the module documentation."""
    small = profile.count <= SMALL_REFERENCE
    if profile.kind == "numeric":
        return "ks" if small else "wasserstein"
    return "chi2" if small else "jensen_shannon"


def verdict(test: TestName, statistic: float, p_value: float | None, limits: DriftThresholds) -> StatResult:
    threshold = {
        "ks": limits.ks_pvalue,
        "chi2": limits.chi2_pvalue,
        "psi": limits.psi,
        "wasserstein": limits.wasserstein,
        "jensen_shannon": limits.jensen_shannon,
    }[test]
    drifted = (p_value < threshold) if p_value is not None else (statistic > threshold)
    return StatResult(test=test, statistic=statistic, p_value=p_value, threshold=threshold, drifted=drifted)


def _severity(result: StatResult) -> float:
    if result.p_value is not None:
        return math.log(max(result.p_value, 1e-300)) / math.log(result.threshold)
    return result.statistic / result.threshold


def _untested(name: str, prof: FeatureProfile, status: str, message: str, current_null_rate: float | None) -> dict:
    return {
        "name": name,
        "kind": prof.kind,
        "status": status,
        "drifted": status in ("missing", "all_null", "dtype_changed"),
        "reference_count": prof.count,
        "reference_null_rate": prof.null_rate,
        "current_null_rate": current_null_rate,
        "reference_mean": prof.mean if isinstance(prof, NumericProfile) else None,
        "message": message,
    }


def _bin_labels(edges: list[float]) -> list[str]:
    if not edges:
        return ["all"]
    shown = [f"{e:.4g}" for e in edges]
    return [f"< {shown[0]}", *(f"{a} to {b}" for a, b in itertools.pairwise(shown)), f">= {shown[-1]}"]


def _shares(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return (counts / total).tolist() if total else [0.0] * len(counts)


def finite_values(series: pd.Series) -> np.ndarray:
    """The column's finite values as float64, in row order (a view of the column when it has no others)."""
    plain = series.dtype == np.float64
    raw = series.to_numpy() if plain else series.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(raw)
    return raw if finite.all() else raw[finite]


def numeric_tests(
    name: str, summary: WindowSummary, rows: int, prof: NumericProfile, limits: DriftThresholds
) -> tuple[dict[str, object], float]:
    """The partial verdict of a numeric column (PSI, Wasserstein, Jensen-Shannon) and its KS statistic."""
    n = summary.n
    ecdf, _, ref_counts = prof.arrays()
    cur_counts = summary.bin_counts
    d = ks_from_positions(ecdf, n, summary.below, summary.at_or_below)
    std = max(prof.std or 0.0, WASSERSTEIN_MIN_STD)
    results = [
        verdict("psi", psi(ref_counts, cur_counts), None, limits),
        verdict("wasserstein", summary.wasserstein / std, None, limits),
        verdict("jensen_shannon", jensen_shannon(ref_counts, cur_counts), None, limits),
    ]
    partial: dict[str, object] = {
        "name": name,
        "kind": "numeric",
        "status": "tested",
        "tests": results,
        "reference_count": prof.count,
        "current_count": n,
        "reference_null_rate": prof.null_rate,
        "current_null_rate": 1.0 - n / rows if rows else 0.0,
        "reference_mean": prof.mean,
        "current_mean": summary.mean,
        "histogram": Histogram(
            labels=_bin_labels(prof.bin_edges), reference=_shares(ref_counts), current=_shares(cur_counts)
        ),
    }
    return partial, d


def categorical_tests(
    name: str, current: pd.Series, rows: int, prof: CategoricalProfile, limits: DriftThresholds
) -> dict[str, object]:
    """The partial verdict of a categorical column (chi-square, PSI, Jensen-Shannon) from its category counts."""
    seen = dict(zip(current.index, current.to_numpy().tolist(), strict=True))
    keys = list(prof.counts)
    keys += [k for k in seen if k not in prof.counts]
    ref_counts = np.array([prof.counts.get(k, 0) for k in keys], dtype=np.int64)
    cur_counts = np.array([seen.get(k, 0) for k in keys], dtype=np.int64)
    chi2, p, _ = chi2_contingency(ref_counts, cur_counts)
    results = [
        verdict("chi2", chi2, p, limits),
        verdict("psi", psi(ref_counts, cur_counts), None, limits),
        verdict("jensen_shannon", jensen_shannon(ref_counts, cur_counts), None, limits),
    ]
    n = int(cur_counts.sum())
    ref_share = ref_counts / max(int(ref_counts.sum()), 1)
    cur_share = cur_counts / max(n, 1)
    order = np.argsort(-np.maximum(ref_share, cur_share), kind="stable")
    top, rest = order[:MAX_CATEGORY_BARS], order[MAX_CATEGORY_BARS:]
    labels = [keys[i] for i in top]
    ref_bars, cur_bars = ref_share[top].tolist(), cur_share[top].tolist()
    if rest.size:
        labels.append(f"other ({rest.size})")
        ref_bars.append(float(ref_share[rest].sum()))
        cur_bars.append(float(cur_share[rest].sum()))
    return {
        "name": name,
        "kind": "categorical",
        "status": "tested",
        "tests": results,
        "reference_count": prof.count,
        "current_count": n,
        "reference_null_rate": prof.null_rate,
        "current_null_rate": 1.0 - n / rows if rows else 0.0,
        "histogram": Histogram(labels=labels, reference=ref_bars, current=cur_bars),
    }


def finish(partial: dict[str, object], prof: FeatureProfile) -> FeatureDrift:
    """Pick the deciding test and build the feature verdict."""
    tests: list[StatResult] = partial.get("tests", [])  # type: ignore[assignment]
    if partial["status"] != "tested":
        return FeatureDrift.model_validate(partial)
    chosen = default_test(prof)
    decide = next(t for t in tests if t.test == chosen)
    tests.sort(key=lambda t: t.test != chosen)
    return FeatureDrift.model_validate(
        {
            **partial,
            "drifted": decide.drifted,
            "test": decide.test,
            "statistic": decide.statistic,
            "p_value": decide.p_value,
            "threshold": decide.threshold,
            "severity": _severity(decide),
        }
    )


def is_numeric(series: pd.Series) -> bool:
    dtype = series.dtype
    return bool(pd.api.types.is_numeric_dtype(dtype)) and not isinstance(dtype, pd.CategoricalDtype)


def check_column(
    name: str, prof: FeatureProfile, current: pd.DataFrame, findings: list[Finding]
) -> dict[str, object] | None:
    """Schema checks of one column: a partial untested verdict, or None when the column can be tested."""
    if name not in current.columns:
        message = (
            f"column {name!r} is in the reference profile but not in the window: restore it in the "
            "prediction logs, or rebuild the reference profile without it"
        )
        findings.append(Finding(kind="missing_column", column=name, severity="drift", message=message))
        return _untested(name, prof, "missing", message, None)
    series = current[name]
    if prof.count == 0:
        message = f"column {name!r} has no non-missing values in the reference data, so it cannot be compared"
        findings.append(Finding(kind="no_reference", column=name, severity="warning", message=message))
        return _untested(name, prof, "no_reference", message, float(series.isna().mean()) if len(series) else None)
    if prof.kind == "numeric" and not is_numeric(series):
        coerced = pd.to_numeric(series, errors="coerce")
        if int(coerced.notna().sum()) < int(series.notna().sum()):
            message = (
                f"column {name!r} was {prof.dtype} in the reference but is {series.dtype} in the window: "
                "log it as a number again, or retrain and rebuild the reference profile"
            )
            findings.append(Finding(kind="dtype_changed", column=name, severity="drift", message=message))
            return _untested(name, prof, "dtype_changed", message, float(series.isna().mean()))
        findings.append(
            Finding(
                kind="dtype_changed",
                column=name,
                severity="info",
                message=f"column {name!r} is {series.dtype} in the window ({prof.dtype} in the reference); "
                "its values parse as numbers and were compared as such",
            )
        )
    return None


def all_null(name: str, prof: FeatureProfile, findings: list[Finding]) -> dict[str, object]:
    message = (
        f"column {name!r} has no usable values in the window (all null or non-finite): check the feature "
        "pipeline or the request payloads that feed it"
    )
    findings.append(Finding(kind="all_null", column=name, severity="drift", message=message))
    return _untested(name, prof, "all_null", message, 1.0)
