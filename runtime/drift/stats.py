"""Two-sample drift statistics computed from a reference profile and a sorted current window.

The reference side of every numeric test is the profile's sorted sample, summarised once as its
distinct values and their cumulative counts (:class:`ReferenceECDF`). The current side is one sorted
column, so each test costs a few ``searchsorted`` calls over the reference grid plus, for the
Wasserstein distance, one segmented sum over the current column: no merge of the two samples.

Each function matches its SciPy counterpart on the same inputs to 1e-9 or better:

* :func:`ks_statistic` and :func:`ks_pvalues` — ``scipy.stats.ks_2samp(reference, current)``,
  two-sided, ``method="auto"``: the exact distribution when both samples have at most 10,000 values,
  else ``kstwo.sf(d, round(n1 * n2 / (n1 + n2)))``; the statistic is rounded to the lattice of the exact
  test the way SciPy rounds it.
* :func:`wasserstein` — ``scipy.stats.wasserstein_distance(reference, current)``.
* :func:`jensen_shannon` — ``scipy.spatial.distance.jensenshannon(p, q)`` (natural logarithm), as Evidently.
* :func:`chi2_goodness_of_fit` — ``scipy.stats.chisquare(current, reference * n_current / n_reference)``, the
  test Evidently's ``chisquare`` stattest runs.
* :func:`z_proportions` — Evidently's ``z`` stattest, the two-proportion Z-test of a two-category column.
* :func:`psi` — the population stability index with empty bins counted as 0.0001 (the convention of
  Evidently and most PSI tables), so a category absent on one side gives a large finite value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats as _stats
from scipy.special import chdtrc, ndtr

__all__ = [
    "JS_BASE",
    "KS_EXACT_MAX_N",
    "PSI_EMPTY_BIN",
    "ReferenceECDF",
    "binned_counts",
    "chi2_goodness_of_fit",
    "jensen_shannon",
    "ks_from_positions",
    "ks_pvalues",
    "ks_statistic",
    "positions",
    "psi",
    "wasserstein",
    "z_proportions",
]

JS_BASE = math.e
"""Logarithm base of the Jensen-Shannon distance: natural, as Evidently computes it (so its 0.1 threshold reads the
same here); the distance lies in [0, sqrt(ln 2)]."""
KS_EXACT_MAX_N = 10_000
"""SciPy's ``ks_2samp(method="auto")`` uses the exact distribution up to this many values per sample."""
PSI_EMPTY_BIN = 1e-4
"""Share that replaces an empty bin in the PSI so the logarithm stays finite."""

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class ReferenceECDF:
    """The empirical CDF of a reference sample: distinct values and cumulative counts."""

    values: FloatArray
    """Distinct reference values, ascending."""
    cumulative: IntArray
    """Number of reference values less than or equal to each of ``values``."""

    @classmethod
    def from_sorted(cls, sample: FloatArray) -> ReferenceECDF:
        values, counts = np.unique(sample, return_counts=True)
        return cls(values.astype(np.float64), np.cumsum(counts, dtype=np.int64))

    @property
    def size(self) -> int:
        return int(self.cumulative[-1]) if self.cumulative.size else 0


def positions(ref: ReferenceECDF, current: FloatArray) -> tuple[IntArray, IntArray]:
    """``(below, at_or_below)``: current values ``<`` and ``<=`` each distinct reference value.

    One ``searchsorted`` over the reference grid; the second side is searched only for the reference
    values that also occur in the current sample (ties), which continuous data rarely has.
    """
    n = current.size
    below = np.searchsorted(current, ref.values, side="left")
    at_or_below = below.copy()
    tied = np.flatnonzero(current[np.minimum(below, n - 1)] == ref.values)
    tied = tied[below[tied] < n]
    if tied.size:
        at_or_below[tied] = np.searchsorted(current, ref.values[tied], side="right")
    return below, at_or_below


def ks_statistic(ref: ReferenceECDF, current: FloatArray, grid: tuple[IntArray, IntArray] | None = None) -> float:
    """Two-sided KS statistic between the reference sample and a sorted, NaN-free current sample.

    The two ECDFs are step functions, so the supremum of ``F_ref - F_cur`` is reached at a reference
    value and the supremum of ``F_cur - F_ref`` just below one (or after the last current value below
    the first reference value); both come from :func:`positions` (pass ``grid`` to reuse it).
    """
    below, at_or_below = grid if grid is not None else positions(ref, current)
    return ks_from_positions(ref, current.size, below, at_or_below)


def ks_from_positions(ref: ReferenceECDF, n: int, below: IntArray, at_or_below: IntArray) -> float:
    """The KS statistic of :func:`ks_statistic` from a window's size and :func:`positions` alone."""
    m = ref.size
    ref_cdf = ref.cumulative / m
    d_plus = float(np.max(ref_cdf - at_or_below / n))
    ref_before = np.concatenate(([0.0], ref_cdf[:-1]))
    d_minus = float(np.max(below / n - ref_before))
    d_minus = min(max(d_minus, 0.0), 1.0)
    return d_minus if d_minus > d_plus else d_plus


def ks_pvalues(statistics: FloatArray, n_ref: IntArray, n_cur: IntArray) -> tuple[FloatArray, FloatArray]:
    """P-values of two-sided KS statistics the way ``ks_2samp(method="auto")`` computes them.

    Returns ``(statistics, pvalues)``: statistics of exact tests are rounded to the test's lattice
    (``h / lcm(n1, n2)``), as SciPy reports them. Asymptotic p-values are one vectorized call.
    """
    d = np.asarray(statistics, dtype=np.float64).copy()
    n1 = np.asarray(n_ref, dtype=np.int64)
    n2 = np.asarray(n_cur, dtype=np.int64)
    p = np.empty_like(d)
    exact = np.maximum(n1, n2) <= KS_EXACT_MAX_N
    for i in np.flatnonzero(exact):
        ok, d_i, p_i = _exact_2samp(int(n1[i]), int(n2[i]), float(d[i]))
        if ok:
            d[i], p[i] = d_i, p_i
        else:
            exact[i] = False
    asymp = ~exact
    if asymp.any():
        big = np.maximum(n1[asymp], n2[asymp]).astype(np.float64)
        small = np.minimum(n1[asymp], n2[asymp]).astype(np.float64)
        en = np.round(big * small / (big + small))
        p[asymp] = _stats.kstwo.sf(d[asymp], en)
    return d, np.clip(p, 0.0, 1.0)


def _exact_2samp(n1: int, n2: int, d: float) -> tuple[bool, float, float]:
    """SciPy's exact two-sided two-sample KS p-value (``ks_2samp`` with ``method="exact"``)."""
    from scipy.stats import _stats_py

    attempt = getattr(_stats_py, "_attempt_exact_2kssamp", None)
    if attempt is None:
        return False, d, math.nan
    ok, d_rounded, prob = attempt(n1, n2, math.gcd(n1, n2), d, "two-sided")
    return bool(ok), float(d_rounded), float(prob)


def wasserstein(ref: ReferenceECDF, current: FloatArray, below: IntArray | None = None) -> float:
    """First Wasserstein distance ``integral |F_ref - F_cur| dx`` for a sorted, NaN-free current sample.

    ``F_ref`` is constant between consecutive reference values, and ``F_cur`` steps up by 1/n at each
    current value, so over one such interval the integrand changes sign at most once, at a current
    value found by integer arithmetic. Summation by parts turns each side of that split into two end
    terms and a sum of current values; all these sums come from one segmented sum over the current
    sample, taken relative to its median reference value so that large offsets cost no precision.
    ``below`` is the first array of :func:`positions`, when already computed.
    """
    m, n = ref.size, current.size
    k = ref.values.size
    centre = ref.values[k // 2]
    u = ref.values - centre
    y = current - centre
    lo = np.searchsorted(current, ref.values, side="left") if below is None else below
    left_n, right_start = int(lo[0]), int(lo[-1])
    if k == 1:
        return float(left_n * u[0] - y[:left_n].sum() + y[right_start:].sum() - (n - right_start) * u[0]) / n

    # Inner interval j is [u[j], u[j+1]) holding y[lo[j]:hi[j]]; F_ref = cum[j] / m there and the
    # pieces t = 0..inside between consecutive points have F_cur = (lo + t) / n. The first `split`
    # pieces lie below F_ref.
    lo_j, hi_j = lo[:-1], lo[1:]
    inside = hi_j - lo_j
    cum = ref.cumulative[:-1]
    split = np.clip(-((lo_j * m - cum * n) // m), 0, inside + 1)
    crossing = (split >= 1) & (split <= inside)
    cut = np.where(split == 0, lo_j, np.where(split == inside + 1, hi_j, lo_j + split - 1))
    after_cut = np.where(crossing, cut + 1, cut)

    # Segments: left tail, then per interval [lo, cut), [cut, after_cut), [after_cut, hi), then right tail.
    starts = np.concatenate(([0], np.column_stack([lo_j, cut, after_cut]).ravel(), [right_start]))
    lengths = np.diff(np.concatenate((starts, [n])))
    sums = np.zeros(starts.size)
    filled = lengths > 0
    if filled.any():
        sums[filled] = np.add.reduceat(y, starts[filled])
    inner = sums[1:-1].reshape(-1, 3)
    before_sum, at_cut, after_sum = inner[:, 0], inner[:, 1], inner[:, 2]

    def offset(t: IntArray | int) -> FloatArray:  # n * (F_cur - F_ref) on piece t
        return ((lo_j + t) * m - cum * n) / m

    z_split = np.where(split == 0, u[:-1], np.where(crossing, at_cut, u[1:]))
    below_part = np.where(split > 0, offset(split - 1) * z_split - offset(0) * u[:-1] - before_sum, 0.0)
    above_part = np.where(split < inside + 1, offset(inside) * u[1:] - offset(split) * z_split - after_sum, 0.0)
    left = left_n * u[0] - sums[0]
    right = sums[-1] - (n - right_start) * u[-1]
    return float(left + right + np.sum(above_part - below_part)) / n


def binned_counts(inner_edges: FloatArray, current: FloatArray) -> IntArray:
    """Counts of a sorted, NaN-free sample in the bins ``(-inf, e0), [e0, e1), ..., [e_last, +inf)``."""
    cuts = np.searchsorted(current, inner_edges, side="left")
    return np.diff(np.concatenate(([0], cuts, [current.size]))).astype(np.int64)


def psi(ref_counts: NDArray[np.integer], cur_counts: NDArray[np.integer]) -> float:
    """Population stability index ``sum((c - r) * ln(c / r))`` over shares, empty bins as 0.0001."""
    r = ref_counts / ref_counts.sum()
    c = cur_counts / cur_counts.sum()
    r = np.where(r == 0, PSI_EMPTY_BIN, r)
    c = np.where(c == 0, PSI_EMPTY_BIN, c)
    return float(np.sum((c - r) * np.log(c / r)))


def jensen_shannon(ref_counts: NDArray[np.integer], cur_counts: NDArray[np.integer]) -> float:
    """Jensen-Shannon distance (natural logarithm, in [0, sqrt(ln 2)]) between two count vectors over the same bins."""
    p = ref_counts / ref_counts.sum()
    q = cur_counts / cur_counts.sum()
    mid = (p + q) / 2.0
    from scipy.special import rel_entr

    js = float(np.sum(rel_entr(p, mid)) + np.sum(rel_entr(q, mid))) / math.log(JS_BASE)
    return math.sqrt(max(js, 0.0) / 2.0)


def chi2_goodness_of_fit(ref_counts: NDArray[np.integer], cur_counts: NDArray[np.integer]) -> tuple[float, float, int]:
    """Evidently's chi-square test: the current counts against the reference shares scaled to the current size,
    ``scipy.stats.chisquare(f_obs=current, f_exp=reference * n_current / n_reference)``: ``(statistic, p-value,
    dof)``. A category the reference lacks has an expected count of zero, which makes the statistic infinite
    (p-value 0) as in SciPy; a single category gives ``(0, 1, 0)``.
    """
    current = cur_counts.astype(np.float64)
    expected = ref_counts * (current.sum() / ref_counts.sum())
    dof = current.size - 1
    if dof <= 0:
        return 0.0, 1.0, 0
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(expected > 0, (current - expected) ** 2 / expected, np.where(current > 0, np.inf, 0.0))
    statistic = float(terms.sum())
    return statistic, float(chdtrc(dof, statistic)), dof  # what chi2.sf calls, without its argument checks


def z_proportions(ref_counts: NDArray[np.integer], cur_counts: NDArray[np.integer]) -> tuple[float, float]:
    """Evidently's Z-test of two categories: ``(z, two-sided p-value)`` of the difference between the shares of the
    second category in the reference and in the current window, with the pooled share's standard error; the same
    single category on both sides gives ``(0, 1)``."""
    n1, n2 = float(ref_counts.sum()), float(cur_counts.sum())
    p1 = 1.0 - float(ref_counts[0]) / n1
    p2 = 1.0 - float(cur_counts[0]) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    if pooled in (0.0, 1.0):
        return 0.0, 1.0
    z = (p1 - p2) / math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    return z, float(2.0 * ndtr(-abs(z)))
