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
from .profile import LOW_CARDINALITY, CategoricalProfile, FeatureProfile, NumericProfile, value_key
from .report import FeatureDrift, Finding, Histogram, StatResult, TestName
from .stats import chi2_goodness_of_fit, jensen_shannon, ks_from_positions, psi, z_proportions

__all__ = [
    "MAX_CATEGORY_BARS",
    "NULL_RATE_WARNING",
    "SMALL_REFERENCE",
    "WASSERSTEIN_MIN_STD",
    "all_null",
    "categorical_tests",
    "check_column",
    "count_tests",
    "default_test",
    "finish",
    "finite_values",
    "is_numeric",
    "numeric_tests",
    "value_tests",
    "verdict",
]

SMALL_REFERENCE = 1000
"""References with at most this many values are judged by a significance test."""
MAX_CATEGORY_BARS = 14
WASSERSTEIN_MIN_STD = 0.001
"""The Wasserstein distance is divided by max(reference std, this), as in Evidently."""
NULL_RATE_WARNING = 0.1
"""A rise of the null rate by more than this (absolute) is reported as a warning finding."""


def default_test(profile: FeatureProfile, n_values: int | None = None) -> TestName:
    """The deciding test of a feature, as Evidently's DataDriftPreset chooses it: by kind, by the reference's size
    and by ``n_values``, the distinct values of reference and window together (None: more than
    :data:`LOW_CARDINALITY` for a numeric column). See the table in :mod:`.detector`."""
    small = profile.count <= SMALL_REFERENCE
    if profile.kind == "numeric" and (n_values is None or n_values > LOW_CARDINALITY):
        return "ks" if small else "wasserstein"
    if not small:
        return "jensen_shannon"
    return "chi2" if n_values is None or n_values > 2 else "z"


_AT_MOST = frozenset({"ks"})
"""p-value tests that drift at ``p <= threshold`` (Evidently's KS); the others drift at ``p < threshold``, and the
distances at ``statistic >= threshold``."""


def verdict(test: TestName, statistic: float, p_value: float | None, limits: DriftThresholds) -> StatResult:
    threshold = {
        "ks": limits.ks_pvalue,
        "chi2": limits.chi2_pvalue,
        "z": limits.z_pvalue,
        "psi": limits.psi,
        "wasserstein": limits.wasserstein,
        "jensen_shannon": limits.jensen_shannon,
    }[test]
    if p_value is None:
        drifted = statistic >= threshold
    else:
        drifted = p_value <= threshold if test in _AT_MOST else p_value < threshold
    return StatResult(test=test, statistic=statistic, p_value=p_value, threshold=threshold, drifted=drifted)


def count_tests(ref_counts: np.ndarray, cur_counts: np.ndarray, limits: DriftThresholds) -> list[StatResult]:
    """Chi-square (goodness of fit), the Z-test when there are at most two categories, and Jensen-Shannon, over the
    counts of the same categories (or values) in the reference and the window."""
    chi2, p, _ = chi2_goodness_of_fit(ref_counts, cur_counts)
    results = [verdict("chi2", chi2, p, limits)]
    if ref_counts.size <= 2:
        z, p_z = z_proportions(ref_counts, cur_counts) if ref_counts.size == 2 else (0.0, 1.0)
        results.append(verdict("z", z, p_z, limits))
    results.append(verdict("jensen_shannon", jensen_shannon(ref_counts, cur_counts), None, limits))
    return results


def value_tests(
    values: np.ndarray, prof: NumericProfile, limits: DriftThresholds
) -> tuple[list[StatResult], int] | None:
    """The tests of a numeric column over its values as categories, and how many distinct values reference and window
    hold together, when that is at most :data:`LOW_CARDINALITY`; None otherwise."""
    if prof.values is None:
        return None
    distinct, counts = np.unique(values, return_counts=True)
    if distinct.size > LOW_CARDINALITY:
        return None
    current = {value_key(v): int(c) for v, c in zip(distinct, counts, strict=True)}
    keys = sorted({*prof.values, *current}, key=float)
    if len(keys) > LOW_CARDINALITY:
        return None
    ref_counts = np.array([prof.values.get(k, 0) for k in keys], dtype=np.int64)
    cur_counts = np.array([current.get(k, 0) for k in keys], dtype=np.int64)
    return count_tests(ref_counts, cur_counts, limits), len(keys)


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
    results = count_tests(ref_counts, cur_counts, limits)
    results.insert(-1, verdict("psi", psi(ref_counts, cur_counts), None, limits))
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
        "n_values": len(keys),
    }


def finish(partial: dict[str, object], prof: FeatureProfile) -> FeatureDrift:
    """Pick the deciding test and build the feature verdict."""
    tests: list[StatResult] = partial.get("tests", [])  # type: ignore[assignment]
    n_values = partial.pop("n_values", None)
    if partial["status"] != "tested":
        return FeatureDrift.model_validate(partial)
    chosen = default_test(prof, n_values if isinstance(n_values, int) else None)
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


def _numeric_dtype(name: str) -> bool:
    """Whether a recorded pandas dtype name is numeric (a boolean reference column counts as one)."""
    try:
        return bool(pd.api.types.is_numeric_dtype(pd.api.types.pandas_dtype(name)))
    except TypeError:
        return False


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
    if prof.kind == "categorical" and is_numeric(series) and not _numeric_dtype(prof.dtype):
        findings.append(
            Finding(
                kind="dtype_changed",
                column=name,
                severity="info",
                message=f"column {name!r} is {series.dtype} in the window ({prof.dtype} in the reference); its "
                "values were compared with the reference's categories as text",
            )
        )
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
