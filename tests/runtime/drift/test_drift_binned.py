"""The window summary, by either path (the sorted window or the cell passes), equals the statistics of the sorted
window, on every kind of data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi_mlops.runtime.drift import binned
from pulumi_mlops.runtime.drift.binned import Scratch, on_workers, summarize
from pulumi_mlops.runtime.drift.counted import COUNT_PREFIX, COUNT_SPAN_MAX
from pulumi_mlops.runtime.drift.stats import ReferenceECDF, binned_counts, positions, wasserstein

SORTED_SUMMARY = binned._sorted_summary
"""The sorted-window summary, kept before any test replaces it with a spy."""


@pytest.fixture(autouse=True, params=["cells", "sorted"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs on both paths of :func:`summarize`, whichever this CPU would take."""
    monkeypatch.setattr(binned, "SORTS_WITH_SIMD", request.param == "sorted")
    return str(request.param)


def _sorted_statistics(ref: np.ndarray, cur: np.ndarray, edges: np.ndarray) -> tuple[object, ...]:
    ecdf = ReferenceECDF.from_sorted(np.sort(ref))
    ordered = np.sort(cur)
    below, at_or_below = positions(ecdf, ordered)
    return below, at_or_below, binned_counts(edges, ordered), wasserstein(ecdf, ordered), float(np.mean(ordered))


def _check(ref: np.ndarray, cur: np.ndarray, scratch: Scratch | None = None) -> None:
    edges = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, 11)[1:-1]))
    ecdf = ReferenceECDF.from_sorted(np.sort(ref))
    given = cur.copy()
    summary = summarize(ecdf, edges, cur, scratch)
    np.testing.assert_array_equal(cur, given)  # the window is summarised, never reordered
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
    with on_workers(windows, lambda window, scratch: summarize(ecdf, edges, window, scratch)) as summaries:
        results = summaries()
    for window, summary in zip(windows, results, strict=True):
        assert summary.mean == pytest.approx(float(window.mean()), rel=1e-12)
        assert summary.wasserstein == pytest.approx(wasserstein(ecdf, np.sort(window)), rel=1e-9)


def _check_exact(ref: np.ndarray, cur: np.ndarray, edges: np.ndarray, scratch: Scratch | None = None) -> None:
    """``summarize`` equals the reference implementation on the sorted window: counts exactly, floats to 1e-12."""
    ecdf = ReferenceECDF.from_sorted(np.sort(ref))
    summary = summarize(ecdf, edges, cur, scratch)
    expected = SORTED_SUMMARY(ecdf, edges, np.asarray(cur, dtype=np.float64))
    assert summary.n == expected.n
    np.testing.assert_array_equal(summary.below, expected.below)
    np.testing.assert_array_equal(summary.at_or_below, expected.at_or_below)
    np.testing.assert_array_equal(summary.bin_counts, expected.bin_counts)
    assert summary.wasserstein == pytest.approx(expected.wasserstein, rel=1e-12, abs=1e-15)
    assert summary.mean == pytest.approx(expected.mean, rel=1e-12, abs=1e-12)


def _quantile_edges(ref: np.ndarray) -> np.ndarray:
    return np.unique(np.quantile(ref, np.linspace(0.0, 1.0, 11)[1:-1]))


def _integer_column(shape: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    ref, cur = rng.integers(0, 150, 5000).astype(float), rng.integers(0, 150, 300_000).astype(float)
    edges = _quantile_edges(ref)
    if shape == "poisson":
        ref, cur = rng.poisson(3.0, 5000).astype(float), rng.poisson(3.4, 300_000).astype(float)
        edges = _quantile_edges(ref)
    elif shape == "shifted":
        cur = cur + 7.0
    elif shape == "outside on both sides":
        cur = rng.integers(-40, 200, 300_000).astype(float)
    elif shape == "non-integer edges":
        edges = np.array([-3.5, 0.25, 10.5, 10.75, 74.999, 149.5, 151.2, 400.5])
    elif shape == "edges beyond the values":
        edges = np.array([-1e6, -200.0, -1.0, 0.0, 1.0, 75.0, 149.0, 150.0, 1e5, 1e300])
    elif shape == "negative":
        ref, cur = ref - 1000.0, rng.integers(-1100, -900, 300_000).astype(float)
        edges = _quantile_edges(ref)
    elif shape == "one reference value":
        ref = np.full(5000, 42.0)
        edges = np.array([41.5, 42.0, 43.0])
    elif shape == "large offset":
        ref, cur = ref + 1.7e9, cur + 1.7e9 + 3.0
        edges = _quantile_edges(ref)
    elif shape == "small window":
        cur = cur[:7]
    elif shape == "int64 window":
        cur = rng.integers(0, 160, 300_000)
    elif shape == "negative int64 window":
        cur = rng.integers(-30, 160, 300_000)
    elif shape == "int32 window":
        cur = rng.integers(0, 160, 300_000).astype(np.int32)
    return ref, cur, edges


COUNTED_SHAPES = [
    "uniform",
    "poisson",
    "shifted",
    "outside on both sides",
    "non-integer edges",
    "edges beyond the values",
    "negative",
    "one reference value",
    "large offset",
    "small window",
    "int64 window",
    "negative int64 window",
    "int32 window",
]


@pytest.fixture
def general_path_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail on any use of the general path (its Wasserstein step) or of the sorting fallback."""

    def forbidden(*args: object, **kwargs: object) -> object:
        raise AssertionError("the counting path was not taken")

    monkeypatch.setattr(binned, "_wasserstein", forbidden)
    monkeypatch.setattr(binned, "_sorted_summary", forbidden)


@pytest.mark.parametrize("shape", COUNTED_SHAPES)
def test_counting_path_equals_the_sorted_statistics(shape: str) -> None:
    ref, cur, edges = _integer_column(shape)
    _check_exact(ref, cur, edges, Scratch())


@pytest.mark.parametrize("shape", COUNTED_SHAPES)
@pytest.mark.usefixtures("general_path_forbidden")
def test_integer_columns_take_the_counting_path(shape: str) -> None:
    ref, cur, edges = _integer_column(shape)
    summary = summarize(ReferenceECDF.from_sorted(np.sort(ref)), edges, cur, Scratch())
    assert summary.n == cur.size


def test_counted_statistics_by_hand() -> None:
    """Window 0, 2, 2, 5 against reference 1, 2: every statistic worked out on paper."""
    ecdf = ReferenceECDF.from_sorted(np.array([1.0, 2.0]))
    summary = summarize(ecdf, np.array([1.5, 2.0, 4.0]), np.array([5.0, 2.0, 0.0, 2.0]))
    np.testing.assert_array_equal(summary.below, [1, 1])
    np.testing.assert_array_equal(summary.at_or_below, [1, 3])
    np.testing.assert_array_equal(summary.bin_counts, [1, 0, 2, 1])
    # |F_cur - F_ref| is 1/4 on [0, 1), 1/4 on [1, 2), 1/4 on [2, 5): 0.25 + 0.25 + 0.75
    assert summary.wasserstein == pytest.approx(1.25, rel=1e-15)
    assert summary.mean == 2.25


def _general_path_spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each use of the general path: the cell passes' Wasserstein step or the sorted-window summary."""
    calls: list[str] = []
    for name in ("_wasserstein", "_sorted_summary"):
        original = getattr(binned, name)

        def spy(*args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(binned, name, spy)
    return calls


@pytest.mark.parametrize("where", [COUNT_PREFIX, COUNT_PREFIX + 1, 150_000, -1])
def test_a_fraction_after_the_checked_prefix_falls_back(monkeypatch: pytest.MonkeyPatch, where: int) -> None:
    calls = _general_path_spy(monkeypatch)
    ref, cur, edges = _integer_column("uniform")
    cur = cur.copy()
    cur[where] = 0.5
    _check_exact(ref, cur, edges, Scratch())
    assert calls


@pytest.mark.parametrize("case", ["window span", "reference span", "reference fractions", "huge values"])
def test_columns_outside_the_counting_bounds_fall_back(monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    calls = _general_path_spy(monkeypatch)
    ref, cur, edges = _integer_column("uniform")
    cur = cur.copy()
    if case == "window span":
        cur[1000] = ref.min() + COUNT_SPAN_MAX + 1.0
    elif case == "reference span":
        ref = np.concatenate((ref, [ref.min() - COUNT_SPAN_MAX - 1.0]))
    elif case == "reference fractions":
        ref = ref + 0.5
    else:
        ref, cur = ref + 2.0**60, cur + 2.0**60
        edges = _quantile_edges(ref)
    _check_exact(ref, cur, edges, Scratch())
    assert calls


def test_the_widest_counted_span_is_counted(general_path_forbidden: None) -> None:
    ref, cur, edges = _integer_column("uniform")
    cur = cur.copy()
    cur[1000] = ref.min() + COUNT_SPAN_MAX
    summary = summarize(ReferenceECDF.from_sorted(np.sort(ref)), edges, cur)
    assert summary.bin_counts.sum() == cur.size


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(-300, 300).map(float), min_size=1, max_size=300),
    st.lists(st.integers(-400, 400).map(float), min_size=1, max_size=300),
    st.lists(st.floats(-500, 500, allow_nan=False), max_size=8),
)
def test_counting_path_on_any_integers(ref: list[float], cur: list[float], edges: list[float]) -> None:
    _check_exact(np.asarray(ref), np.asarray(cur), np.unique(np.asarray(edges, dtype=np.float64)))


@pytest.mark.parametrize(
    ("features", "version", "expected"),
    [
        ({"AVX2": True, "AVX512_SKX": True}, "2.4.6", True),
        ({"AVX2": True, "AVX512_SKX": False}, "2.0.0", True),
        ({"ASIMD": True}, "2.1.3", True),
        ({"AVX2": False, "AVX512_SKX": False, "SSE42": True}, "2.4.6", False),
        ({}, "2.4.6", False),
        ({"AVX2": True, "AVX512_SKX": False}, "1.26.4", False),  # numpy 1's SIMD sort is AVX-512 only
        ({"ASIMD": True}, "1.26.4", False),
        ({"AVX2": True, "AVX512_SKX": True}, "1.26.4", True),
    ],
)
def test_the_sorted_path_is_taken_where_numpy_sorts_with_simd(
    features: dict[str, bool], version: str, expected: bool
) -> None:
    assert binned.sorts_with_simd(features, version) is expected


def test_the_cpu_features_are_numpys_own(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from numpy._core._multiarray_umath import __cpu_features__

    assert binned.sorts_with_simd() is binned.sorts_with_simd(dict(__cpu_features__))
    monkeypatch.setitem(sys.modules, "numpy._core._multiarray_umath", None)  # a numpy without the table
    assert binned.sorts_with_simd() is False


@pytest.mark.parametrize(("sort", "flag"), [(True, False), (False, True), (None, True), (None, False)])
def test_the_path_follows_the_cpu_choice_unless_given(
    monkeypatch: pytest.MonkeyPatch, sort: bool | None, flag: bool
) -> None:
    monkeypatch.setattr(binned, "SORTS_WITH_SIMD", flag)
    calls = _general_path_spy(monkeypatch)
    rng = np.random.default_rng(8)
    ref, cur = rng.normal(size=3000), rng.normal(0.1, 1.0, size=50_000)
    ecdf = ReferenceECDF.from_sorted(np.sort(ref))
    summary = summarize(ecdf, _quantile_edges(ref), cur, Scratch(), sort=sort)
    sorted_path = flag if sort is None else sort
    assert calls == (["_sorted_summary"] if sorted_path else ["_wasserstein"])
    assert summary.wasserstein == pytest.approx(wasserstein(ecdf, np.sort(cur)), rel=1e-9)


def test_one_scratch_serves_windows_of_every_size_on_the_sorted_path() -> None:
    """The sorted copy lives in the scratch arrays, which grow and are reused: a smaller window after a larger one
    reads none of the larger one's values."""
    rng = np.random.default_rng(9)
    ref = rng.normal(size=2000)
    scratch = Scratch()
    for size in (40_000, 500, 40_001, 3):
        _check(ref, rng.normal(0.3, 2.0, size=size), scratch)


def test_each_worker_thread_has_work_arrays_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    monkeypatch.setattr(binned, "available_cpus", lambda: 3)
    seen: list[tuple[str, int]] = []

    def work(item: int, scratch: Scratch) -> int:
        seen.append((threading.current_thread().name, id(scratch)))
        time.sleep(0.01)  # every thread gets items of its own
        return item * item

    with on_workers(list(range(9)), work) as results:
        assert results() == [i * i for i in range(9)]
    threads = {thread for thread, _ in seen}
    assert len(threads) == 3 and all(thread.startswith("mlops-drift") for thread in threads)
    scratch_of = {thread: {scratch for t, scratch in seen if t == thread} for thread in threads}
    assert all(len(ids) == 1 for ids in scratch_of.values())
    assert len({next(iter(ids)) for ids in scratch_of.values()}) == 3
