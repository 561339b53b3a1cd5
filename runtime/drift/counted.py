"""The window statistics of a column of integers, by counting each integer of its span.

When the reference's distinct values and the window's values are all integers within a span of at most
:data:`COUNT_SPAN_MAX`, one ``bincount`` gives the count of every integer, and every statistic follows from the
cumulative counts: values ``<`` an integer ``t`` are the counts below it, values ``<`` an edge ``e`` those ``<
ceil(e)``, and both ECDFs are constant on each ``[t, t + 1)``, so the Wasserstein distance is the sum over the span
of ``|F_cur(t) - F_ref(t)|`` (both are 0 below the span and 1 from its top on). Everything is integer arithmetic
but the distance's final sum and division, so the counts are those of :func:`~.stats.positions` and
:func:`~.stats.binned_counts` on the sorted window and the distance and mean those of :func:`~.stats.wasserstein`
and ``np.mean`` up to rounding.

Whether a column qualifies is decided cheaply first: the reference values (a few thousand) once, then the first
:data:`COUNT_PREFIX` window values, so a continuous column costs two small vector operations; only then the full
passes (minimum, maximum, ``floor`` compared with the values, a cast to int64).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from .stats import ReferenceECDF

__all__ = ["COUNT_PREFIX", "COUNT_SPAN_MAX", "Counted", "counted"]

COUNT_SPAN_MAX = 1 << 16
"""Widest span (largest minus smallest integer, window and reference values) that is counted.

The counting path costs a few passes over the window plus ``O(span)`` for the ``bincount`` and the cumulative
sums over the span; at ``1 << 16`` those span arrays are 512 KiB each, fit the L2 cache and cost a fraction of a
millisecond, below what one pass over a window of a million values costs, and small against the general path
even for windows of a few thousand values. Integer columns of wider span (identifiers, timestamps) take the
general path, whose cells adapt to the window."""
COUNT_PREFIX = 256
"""Window values tested integer-valued before any pass over the whole window."""
EXACT_MAX = float(1 << 52)
"""Largest magnitude counted: every integer up to it is exact in float64, so the int64 cast is exact."""
PRODUCT_MAX = 1 << 62
"""Largest ``window size * reference size``: the distance's integer terms ``|C * m - R * n|`` stay in int64."""

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Work = Callable[[int], tuple[FloatArray, FloatArray, NDArray[np.intp], NDArray[np.bool_]]]
"""Lends work arrays of ``n`` elements (:meth:`~.binned.Scratch.take`): two float, an integer and a boolean one."""


class Counted(NamedTuple):
    """The statistics of :class:`~.binned.WindowSummary` but the size."""

    mean: float
    bin_counts: IntArray
    below: IntArray
    at_or_below: IntArray
    wasserstein: float


def _integers(x: NDArray[np.generic]) -> bool:
    """Whether every value of a small float array is an integer of magnitude at most :data:`EXACT_MAX`."""
    return bool(np.all(np.abs(x) <= EXACT_MAX) and np.array_equal(np.floor(x), x))


def counted(ref: ReferenceECDF, edges: FloatArray, values: NDArray[np.generic], work: Work) -> Counted | None:
    """The statistics of ``values`` (finite, any order, at least one) by counting, or None when the reference
    values or the window's values are not all integers, or their span exceeds :data:`COUNT_SPAN_MAX`."""
    u = ref.values
    n, m = int(values.size), ref.size
    kind = values.dtype.kind
    if kind not in "iuf" or n * m >= PRODUCT_MAX or not _integers(u):
        return None
    if kind == "f" and not _integers(values[:COUNT_PREFIX]):
        return None
    lowest, highest = values.min(), values.max()
    if kind == "f" and not (lowest >= -EXACT_MAX and highest <= EXACT_MAX):
        return None
    base, top = min(int(lowest), int(u[0])), max(int(highest), int(u[-1]))
    span = top - base
    if span > COUNT_SPAN_MAX:
        return None

    if kind == "i" and values.dtype.itemsize == np.dtype(np.intp).itemsize and 0 <= base <= COUNT_SPAN_MAX:
        counts = np.bincount(values, minlength=top + 1)[base:]  # no copy: a view of non-negative int64
    else:
        floors, _, ints, mask = work(n)
        if kind == "f" and not np.equal(np.floor(values, out=floors), values, out=mask).all():
            return None
        np.copyto(ints, values, casting="unsafe")
        if base:
            ints -= base
        counts = np.bincount(ints, minlength=span + 1)
    # under[j]: values < base + j, for j = 0 .. span + 1
    under = np.zeros(span + 2, dtype=np.int64)
    np.cumsum(counts, out=under[1:])
    at = (u - base).astype(np.int64)
    cuts = np.clip(np.ceil(edges) - base, 0, span + 1).astype(np.int64)
    bin_counts = np.diff(np.concatenate(([0], under[cuts], [n]))).astype(np.int64)

    # reference values <= base + j; on [base + j, base + j + 1) n * m * (F_cur - F_ref) = under[j + 1] * m - that * n
    ref_under = np.zeros(span + 1, dtype=np.int64)
    ref_under[at] = np.diff(ref.cumulative, prepend=0)
    np.cumsum(ref_under, out=ref_under)
    gaps = np.abs(under[1:-1] * m - ref_under[:-1] * n)
    distance = float(np.sum(gaps, dtype=np.float64)) / n / m
    mean = base + int(np.dot(counts, np.arange(span + 1, dtype=np.int64))) / n
    return Counted(mean, bin_counts, under[at], under[at + 1], distance)
