"""The window summary without sorting equals the statistics of the sorted window, on every kind of data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi_mlops.runtime.drift.binned import Scratch, summarize, summarize_columns
from pulumi_mlops.runtime.drift.stats import ReferenceECDF, binned_counts, positions, wasserstein


def _sorted_statistics(ref: np.ndarray, cur: np.ndarray, edges: np.ndarray) -> tuple[object, ...]:
    ecdf = ReferenceECDF.from_sorted(np.sort(ref))
    ordered = np.sort(cur)
    below, at_or_below = positions(ecdf, ordered)
    return below, at_or_below, binned_counts(edges, ordered), wasserstein(ecdf, ordered), float(np.mean(ordered))


def _check(ref: np.ndarray, cur: np.ndarray, scratch: Scratch | None = None) -> None:
    edges = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, 11)[1:-1]))
    ecdf = ReferenceECDF.from_sorted(np.sort(ref))
    summary = summarize(ecdf, edges, cur, scratch)
    below, at_or_below, counts, distance, mean = _sorted_statistics(ref, cur, edges)
    assert summary.n == cur.size
    np.testing.assert_array_equal(summary.below, below)
    np.testing.assert_array_equal(summary.at_or_below, at_or_below)
    np.testing.assert_array_equal(summary.bin_counts, counts)
    assert summary.wasserstein == pytest.approx(distance, rel=1e-9, abs=1e-12)
    assert summary.mean == pytest.approx(mean, rel=1e-12, abs=1e-9)


values = st.one_of(
    st.lists(st.integers(-6, 6).map(float), min_size=1, max_size=400),
    st.lists(st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False), min_size=1, max_size=400),
    st.lists(st.floats(-50, 50, allow_nan=False).map(lambda v: 1.7e9 + v), min_size=1, max_size=400),
)


@settings(max_examples=150, deadline=None)
@given(values, values)
def test_summary_equals_the_sorted_statistics(ref: list[float], cur: list[float]) -> None:
    _check(np.asarray(ref), np.asarray(cur))


@pytest.mark.parametrize(
    "shape", ["same", "shifted", "integers", "lognormal", "resampled", "outside", "constant reference"]
)
def test_summary_on_large_windows(shape: str) -> None:
    """Windows with thousands of values per cell, ties, ECDF crossings in many intervals, values off the range."""
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(size=5000), rng.normal(size=200_000)
    if shape == "shifted":
        cur = cur + 0.2
    elif shape == "integers":
        ref, cur = rng.integers(0, 60, 5000).astype(float), rng.integers(0, 64, 200_000).astype(float)
    elif shape == "lognormal":
        ref, cur = rng.lognormal(3.0, 1.2, 5000), rng.lognormal(3.1, 1.2, 200_000)
    elif shape == "resampled":
        cur = ref[rng.integers(0, ref.size, 200_000)]
    elif shape == "outside":
        cur = cur * 3.0
    elif shape == "constant reference":
        ref = np.full(5000, 2.5)
    _check(ref, cur, Scratch())


def test_columns_summarised_on_threads_come_back_in_order() -> None:
    rng = np.random.default_rng(5)
    ref = np.sort(rng.normal(size=2000))
    ecdf = ReferenceECDF.from_sorted(ref)
    edges = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, 11)[1:-1]))
    windows = [rng.normal(shift, 1.0, size=30_000) for shift in np.linspace(-1, 1, 7)]
    with summarize_columns([(ecdf, edges, w) for w in windows]) as summaries:
        results = summaries()
    for window, summary in zip(windows, results, strict=True):
        assert summary.mean == pytest.approx(float(window.mean()), rel=1e-12)
        assert summary.wasserstein == pytest.approx(wasserstein(ecdf, np.sort(window)), rel=1e-9)
