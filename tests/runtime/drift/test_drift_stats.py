"""The vectorized statistics agree with SciPy on the same samples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi_mlops.runtime.drift.stats import (
    ReferenceECDF,
    binned_counts,
    chi2_goodness_of_fit,
    jensen_shannon,
    ks_pvalues,
    ks_statistic,
    psi,
    wasserstein,
    z_proportions,
)
from scipy import stats
from scipy.spatial.distance import jensenshannon

# Small integer grids produce many ties, wide floats many crossings of the two ECDFs, and values near 1.7e9
# (timestamps) a large offset against small spacings.
samples = st.one_of(
    st.lists(st.integers(-5, 5).map(float), min_size=1, max_size=120),
    st.lists(st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False), min_size=1, max_size=120),
    st.lists(st.floats(-50, 50, allow_nan=False).map(lambda v: 1.7e9 + v), min_size=1, max_size=120),
)


def _ours(ref: list[float], cur: list[float]) -> tuple[float, float, float]:
    ecdf = ReferenceECDF.from_sorted(np.sort(np.asarray(ref)))
    current = np.sort(np.asarray(cur))
    d, p = ks_pvalues(np.array([ks_statistic(ecdf, current)]), np.array([ecdf.size]), np.array([current.size]))
    return float(d[0]), float(p[0]), wasserstein(ecdf, current)


@pytest.mark.filterwarnings("ignore:ks_2samp:RuntimeWarning")
@settings(max_examples=80, deadline=None)
@given(samples, samples)
def test_ks_and_wasserstein_match_scipy(ref: list[float], cur: list[float]) -> None:
    d, p, w = _ours(ref, cur)
    expected = stats.ks_2samp(ref, cur)
    assert d == pytest.approx(float(expected.statistic), abs=1e-12)
    assert p == pytest.approx(float(expected.pvalue), rel=1e-9, abs=1e-12)
    assert w == pytest.approx(stats.wasserstein_distance(ref, cur), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize(("m", "n", "shift"), [(5000, 20_000, 0.0), (5000, 20_000, 0.05), (3000, 12_000, 0.3)])
def test_asymptotic_ks_and_wasserstein_on_large_windows(m: int, n: int, shift: float) -> None:
    rng = np.random.default_rng(7)
    ref = rng.normal(size=m)
    cur = rng.normal(shift, 1.0, size=n)
    d, p, w = _ours(ref.tolist(), cur.tolist())
    expected = stats.ks_2samp(ref, cur)
    assert d == pytest.approx(float(expected.statistic), abs=1e-12)
    assert p == pytest.approx(float(expected.pvalue), rel=1e-9, abs=1e-300)
    assert w == pytest.approx(stats.wasserstein_distance(ref, cur), rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 50), min_size=2, max_size=12).filter(lambda c: sum(c) > 0),
    st.lists(st.integers(0, 50), min_size=2, max_size=12).filter(lambda c: sum(c) > 0),
)
def test_jensen_shannon_and_chi2_match_scipy(ref: list[int], cur: list[int]) -> None:
    """Jensen-Shannon with the natural logarithm and the chi-square goodness of fit of the window to the reference's
    shares: what Evidently's ``jensenshannon`` and ``chisquare`` stattests compute with SciPy."""
    size = min(len(ref), len(cur))
    r, c = np.array(ref[:size]), np.array(cur[:size])
    if r.sum() == 0 or c.sum() == 0:
        return
    assert jensen_shannon(r, c) == pytest.approx(float(jensenshannon(r, c)), abs=1e-12)
    seen = (r + c) > 0
    r, c = r[seen], c[seen]
    statistic, p, dof = chi2_goodness_of_fit(r, c)
    assert dof == r.size - 1
    if r.size < 2:
        assert (statistic, p) == (0.0, 1.0)
    elif (r == 0).any():
        assert (statistic, p) == (math.inf, 0.0), "a category the reference lacks: infinite statistic, as SciPy"
    else:
        expected = stats.chisquare(c, r * c.sum() / r.sum())
        assert statistic == pytest.approx(float(expected.statistic), rel=1e-9, abs=1e-12)
        assert p == pytest.approx(float(expected.pvalue), rel=1e-9, abs=1e-12)


def test_the_z_test_is_the_two_proportion_test_with_a_pooled_share() -> None:
    ref, cur = np.array([300, 200]), np.array([240, 260])
    p1, p2 = 200 / 500, 260 / 500
    pooled = (200 + 260) / 1000
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / 500 + 1 / 500))
    assert z_proportions(ref, cur) == pytest.approx((z, 2 * stats.norm.sf(abs(z))), rel=1e-12)
    assert z_proportions(np.array([10, 0]), np.array([7, 0])) == (0.0, 1.0), "one category on both sides"


def test_psi_counts_empty_bins_as_one_in_ten_thousand() -> None:
    ref, cur = np.array([50, 50, 0]), np.array([25, 50, 25])
    r = np.array([0.5, 0.5, 1e-4])
    c = np.array([0.25, 0.5, 0.25])
    assert psi(ref, cur) == pytest.approx(float(np.sum((c - r) * np.log(c / r))))
    assert psi(ref, ref) == 0.0
    assert math.isfinite(psi(np.array([10, 0]), np.array([0, 10])))


def test_binned_counts_use_left_closed_bins_with_open_outer_bins() -> None:
    values = np.sort(np.array([-100.0, 0.0, 1.0, 1.0, 2.0, 5.0, 1e9]))
    counts = binned_counts(np.array([1.0, 2.0]), values)
    assert counts.tolist() == [2, 2, 3]
    assert counts.sum() == values.size
