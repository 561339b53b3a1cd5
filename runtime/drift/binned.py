"""Every numeric statistic of one window column: on the sorted window, or in a few linear passes without sorting.

Where numpy sorts float64 with SIMD (x86-simd-sort on AVX2 and AVX-512, Highway's VQSort on ARM's ASIMD: about
1 ms per 100,000 values and 10 to 15 ms per million), the window is sorted and the statistics come from
:func:`~.stats.positions`, :func:`~.stats.binned_counts` and :func:`~.stats.wasserstein` on it, in a third to a half
of the time of the passes below. Where its sort is scalar (about ten times slower), the passes below take its place.

The window's values are cut into ``G`` equal cells over the reference range by arithmetic alone (one
subtract, multiply and truncate), counted and summed per cell with ``bincount``. A cell that holds no
reference value and no PSI bin edge lies inside one interval between consecutive reference values, so its
count and sum are all the statistics need of it. Only the values of the other cells (a few percent of the
window, those next to a reference value) are sorted, to place them exactly against the reference values;
and the values of the intervals where the window's ECDF crosses the reference one, which the Wasserstein
distance splits at a rank, are sorted within those intervals.

The results are those on the sorted window: the counts exactly, the distance and the mean up to the
order of floating-point summation. Cells are assigned by a monotone function, so the same function applied
to the reference values and edges orders every value exactly against them.

A column of integers within a narrow span (counts, codes, small ordinals) is counted instead, one ``bincount``
over its span (:mod:`.counted`), on either path: its values all sit on reference values, where cells are slowest.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from ..cpus import available_cpus
from .counted import counted
from .stats import ReferenceECDF, binned_counts, positions, wasserstein

__all__ = [
    "GRID_MAX",
    "GRID_MIN",
    "MAX_WORKERS",
    "SORTS_WITH_SIMD",
    "Scratch",
    "WindowSummary",
    "on_workers",
    "sorts_with_simd",
    "summarize",
]

GRID_MIN = 1 << 10
"""Fewest cells over the reference range."""
GRID_MAX = 1 << 17
"""Most cells over the reference range (more only cost ``bincount`` length)."""
GRID_ROWS_PER_CELL = 2
"""Cells grow with the window: about one per this many values, between the two bounds."""

MAX_WORKERS = 4
"""Most threads summarising columns at once (numpy releases the GIL in the array passes)."""

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Item = TypeVar("Item")
Result = TypeVar("Result")

_SIMD_SORT_FEATURES = ("AVX2", "AVX512_SKX", "ASIMD")
"""CPU features on which numpy 2 dispatches its float64 sort to SIMD code (x86-simd-sort, Highway's VQSort)."""
_SIMD_SORT_FEATURES_NUMPY_1 = ("AVX512_SKX",)
"""Those of numpy 1.26, whose SIMD sort is AVX-512 only (its AVX2 and ARM sorts came with numpy 2.0)."""


def sorts_with_simd(features: Mapping[str, bool] | None = None, numpy_version: str = np.__version__) -> bool:
    """Whether numpy sorts float64 with SIMD on this CPU (``features``: numpy's CPU feature table, read when None)."""
    if features is None:
        try:
            from numpy._core._multiarray_umath import __cpu_features__
        except ImportError:  # a numpy without the table: take the passes, which need no fast sort
            return False
        features = __cpu_features__
    wanted = _SIMD_SORT_FEATURES if np.lib.NumpyVersion(numpy_version) >= "2.0.0" else _SIMD_SORT_FEATURES_NUMPY_1
    return any(features.get(name, False) for name in wanted)


SORTS_WITH_SIMD = sorts_with_simd()
"""Whether :func:`summarize` sorts the window (else it takes the cell passes)."""


class Scratch:
    """Work arrays reused from column to column (fresh large arrays cost a page fault per page, every time)."""

    def __init__(self) -> None:
        self.size = 0
        self.offset = np.empty(0)
        self.clipped = np.empty(0)
        self.cell = np.empty(0, dtype=np.intp)
        self.mask = np.empty(0, dtype=bool)

    def take(self, n: int) -> tuple[FloatArray, FloatArray, NDArray[np.intp], NDArray[np.bool_]]:
        """Arrays of ``n`` elements."""
        if n > self.size:
            self.size = n
            self.offset, self.clipped = np.empty(n), np.empty(n)
            self.cell, self.mask = np.empty(n, dtype=np.intp), np.empty(n, dtype=bool)
        return self.offset[:n], self.clipped[:n], self.cell[:n], self.mask[:n]


@dataclass(frozen=True)
class WindowSummary:
    """What the numeric tests need of one window column (finite values only)."""

    n: int
    """Values."""
    mean: float
    """Their mean."""
    bin_counts: IntArray
    """Counts in the reference's PSI bins (:func:`~.stats.binned_counts`)."""
    below: IntArray
    """Values ``<`` each distinct reference value."""
    at_or_below: IntArray
    """Values ``<=`` each distinct reference value."""
    wasserstein: float
    """First Wasserstein distance to the reference sample (not yet divided by its standard deviation)."""


def _workers(columns: int) -> int:
    """Threads for ``columns`` columns: no more than the process's cores (its CPU limit, :mod:`..cpus`)."""
    return max(1, min(MAX_WORKERS, available_cpus(), columns))


@contextmanager
def on_workers(items: Sequence[Item], work: Callable[[Item, Scratch], Result]) -> Iterator[Callable[[], list[Result]]]:
    """Run ``work(item, scratch)`` for every item on worker threads while the caller does other work; the yielded
    function waits for the results, in item order. Each thread has its own work arrays."""
    workers = _workers(len(items))
    if workers == 1:
        scratch = Scratch()
        yield lambda: [work(item, scratch) for item in items]
        return

    def run(share: int) -> list[Result]:
        scratch = Scratch()
        return [work(item, scratch) for item in items[share::workers]]

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlops-drift") as pool:
        futures = [pool.submit(run, share) for share in range(workers)]

        def collect() -> list[Result]:
            shares = [future.result() for future in futures]
            return [shares[i % workers][i // workers] for i in range(len(items))]

        yield collect


def _sorted_summary(
    ref: ReferenceECDF, edges: FloatArray, values: FloatArray, scratch: Scratch | None = None
) -> WindowSummary:
    """The summary from the sorted window, sorted in a work array of ``scratch`` (the window is left as it is)."""
    ordered = (scratch or Scratch()).take(values.size)[1]
    np.copyto(ordered, values)
    ordered.sort()
    below, at_or_below = positions(ref, ordered)
    return WindowSummary(
        n=int(ordered.size),
        mean=float(np.mean(ordered)),
        bin_counts=binned_counts(edges, ordered),
        below=below,
        at_or_below=at_or_below,
        wasserstein=wasserstein(ref, ordered, below),
    )


def summarize(
    ref: ReferenceECDF,
    edges: FloatArray,
    values: FloatArray,
    scratch: Scratch | None = None,
    *,
    sort: bool | None = None,
) -> WindowSummary:
    """The summary of ``values`` (finite, in any order, at least one) against the reference ECDF and bin edges;
    ``scratch`` lends the work arrays (one per worker thread, shared by the columns it summarises). ``sort`` chooses
    the sorted window (True) or the cell passes (False); None takes :data:`SORTS_WITH_SIMD`."""
    work = scratch or Scratch()
    by_count = counted(ref, edges, values, work.take)
    if by_count is not None:
        return WindowSummary(int(values.size), *by_count)
    if SORTS_WITH_SIMD if sort is None else sort:
        return _sorted_summary(ref, edges, values, work)
    u = ref.values
    k, m, n = u.size, ref.size, int(values.size)
    low = min(u[0], edges[0]) if edges.size else u[0]
    high = max(u[-1], edges[-1]) if edges.size else u[-1]
    grid = int(min(GRID_MAX, max(GRID_MIN, 1 << max(n // GRID_ROWS_PER_CELL, 1).bit_length())))
    scale = (grid - 0.5) / (high - low) if high > low else math.inf
    if k < 2 or not math.isfinite(scale) or scale <= 0:
        return _sorted_summary(ref, edges, values, work)

    def cells(x: FloatArray, work: Scratch) -> tuple[FloatArray, NDArray[np.intp]]:
        """Offsets from ``low`` in cell widths, and cells: 0 below ``low``, 1..grid over the range, grid+1 above."""
        offset, clipped, cell, _ = work.take(x.size)
        np.subtract(x, low, out=offset)
        offset *= scale
        np.clip(offset, -1.0, float(grid), out=clipped)
        clipped += 1.0
        np.copyto(cell, clipped, casting="unsafe")
        return offset, cell

    ref_cells = cells(u, Scratch())[1].copy()
    edge_cells = cells(edges, Scratch())[1].copy()
    pivots = np.unique(np.concatenate((u, edges)))
    pivot_cells = cells(pivots, Scratch())[1].copy()
    pivot_count = np.bincount(pivot_cells, minlength=grid + 2)
    pivot_value = np.zeros(grid + 2)
    pivot_value[pivot_cells] = pivots
    flagged = pivot_count > 0
    has_ref = np.zeros(grid + 2, dtype=bool)
    has_ref[ref_cells] = True
    offset, cell = cells(values, work)
    counts = np.bincount(cell, minlength=grid + 2)
    offsets = np.bincount(cell, weights=offset, minlength=grid + 2)
    mask = work.take(n)[3]
    np.take(flagged, cell, out=mask)
    if 8 * np.count_nonzero(mask) < n:  # a few percent of the window: one scan, then two small gathers
        where = np.flatnonzero(mask)
        near, near_cells = values[where], cell[where]
    else:  # most of it (values on the reference values): masked copies beat gathers
        near, near_cells = values[mask], cell[mask]

    # Cell c lies after interval[c] reference values: a plain cell is all in interval interval[c] (u[i-1] <= x <
    # u[i] for interval i; 0 below u[0], k from u[k-1] on).
    interval = np.concatenate(([0], np.cumsum(np.bincount(ref_cells, minlength=grid + 2))[:-1]))
    plain = ~flagged
    used = np.flatnonzero(plain & (counts > 0))
    centre = u[k // 2]
    weights = counts[used] * (low - centre) + offsets[used] / scale
    in_interval = np.bincount(interval[used], weights=counts[used], minlength=k + 1).astype(np.int64)
    sums = np.bincount(interval[used], weights=weights, minlength=k + 1).astype(np.float64)

    # A value next to one pivot (a reference value or an edge) is placed by one comparison with it; the values
    # of cells holding several are placed by binary search.
    # Per cell: the one reference value it holds (+inf for none, NaN for several), so one gather and one
    # comparison place each value; the edge it holds, for the PSI counts.
    ref_pivot = np.where(has_ref, pivot_value, np.inf)
    ref_pivot[pivot_count > 1] = np.nan
    upper = ref_pivot[near_cells]
    near_interval = interval[near_cells]
    near_interval += near >= upper
    tie_index = near_interval[near == upper] - 1
    several = np.flatnonzero(np.isnan(upper))
    if several.size:
        found = np.searchsorted(u, near[several], side="right")
        near_interval[several] = found
        exact = found > 0
        exact[exact] = u[found[exact] - 1] == near[several][exact]
        tie_index = np.concatenate((tie_index, found[exact] - 1))
    in_interval += np.bincount(near_interval, minlength=k + 1)
    sums += np.bincount(near_interval, weights=near - centre, minlength=k + 1)
    below = np.cumsum(in_interval)[:k]
    at_or_below = below + np.bincount(tie_index, minlength=k)

    # Values under each edge: every value of the cells before its cell, and those of its cell below it.
    before = np.concatenate(([0], np.cumsum(counts)))
    lone_edge = edge_cells[pivot_count[edge_cells] == 1]
    at_edge = np.zeros(grid + 2, dtype=bool)
    at_edge[lone_edge] = True
    by_edge = at_edge[near_cells]
    edge_value = pivot_value[near_cells[by_edge]]
    single_under = np.bincount(near_cells[by_edge][near[by_edge] < edge_value], minlength=grid + 2)
    under_edges = before[edge_cells] + single_under[edge_cells]
    if several.size:
        crowded = np.sort(near[several])
        crowded_cells = cells(crowded, Scratch())[1].copy()
        start = np.searchsorted(crowded_cells, edge_cells, side="left")
        in_crowded = pivot_count[edge_cells] > 1
        under_edges[in_crowded] += (np.searchsorted(crowded, edges, side="left") - start)[in_crowded]
    bin_counts = np.diff(np.concatenate(([0], under_edges, [n]))).astype(np.int64)

    layout = _Grid(counts, counts * (low - centre) + offsets / scale, plain, interval, cell, mask)
    distance = _wasserstein(ref, u - centre, below, in_interval, sums, n, m, values, near, near_interval, near_cells,
                            layout, centre, at_or_below - below)  # fmt: skip
    return WindowSummary(
        n=n,
        mean=float(np.mean(values)),
        bin_counts=bin_counts,
        below=below.astype(np.int64),
        at_or_below=at_or_below.astype(np.int64),
        wasserstein=distance,
    )


def _wasserstein(
    ref: ReferenceECDF,
    u: FloatArray,
    below: IntArray,
    in_interval: IntArray,
    sums: FloatArray,
    n: int,
    m: int,
    values: FloatArray,
    near: FloatArray,
    near_interval: IntArray,
    near_cells: NDArray[np.intp],
    layout: _Grid,
    centre: float,
    ties: IntArray,
) -> float:
    """:func:`~.stats.wasserstein` from per-interval counts and sums (``u`` and ``sums`` relative to ``centre``);
    within the intervals where the two ECDFs cross, the value at the crossing rank is found by
    :func:`_crossing_splits`."""
    raw = ref.values
    k = u.size
    lo_j, hi_j = below[:-1], below[1:]
    inside = hi_j - lo_j
    cum = ref.cumulative[:-1]
    split = np.clip(-((lo_j * m - cum * n) // m), 0, inside + 1)
    crossing = (split >= 1) & (split <= inside)
    total = sums[1:k]
    before_sum = np.where(split == inside + 1, total, 0.0)
    after_sum = np.where(split == 0, total, 0.0)
    at_cut = np.zeros(k - 1)
    if crossing.any():
        rank = split[crossing] - 1
        cut, before = _crossing_splits(
            np.flatnonzero(crossing), rank, ties[:-1][crossing], u, raw, values, near, near_interval, near_cells,
            layout, centre,
        )  # fmt: skip
        at_cut[crossing] = cut
        before_sum[crossing] = before
        after_sum[crossing] = total[crossing] - before - cut

    def offset(t: IntArray | int) -> FloatArray:  # n * (F_cur - F_ref) on piece t
        return ((lo_j + t) * m - cum * n) / m

    z_split = np.where(split == 0, u[:-1], np.where(crossing, at_cut, u[1:]))
    below_part = np.where(split > 0, offset(split - 1) * z_split - offset(0) * u[:-1] - before_sum, 0.0)
    above_part = np.where(split < inside + 1, offset(inside) * u[1:] - offset(split) * z_split - after_sum, 0.0)
    left = int(in_interval[0]) * u[0] - sums[0]
    right = sums[k] - int(in_interval[k]) * u[-1]
    return float(left + right + np.sum(above_part - below_part)) / n


@dataclass(frozen=True)
class _Grid:
    """The window on the cell grid: per cell its count and its values' sum (relative to the centre), which cells
    hold no pivot (``plain``) and the reference interval of each; per value its cell; a work mask of ``n``."""

    counts: IntArray
    sums: FloatArray
    plain: NDArray[np.bool_]
    interval: IntArray
    cell: NDArray[np.intp]
    mask: NDArray[np.bool_]


def _crossing_splits(
    crossing: IntArray,
    rank: IntArray,
    tied: IntArray,
    u: FloatArray,
    raw: FloatArray,
    values: FloatArray,
    near: FloatArray,
    near_interval: IntArray,
    near_cells: NDArray[np.intp],
    layout: _Grid,
    centre: float,
) -> tuple[FloatArray, FloatArray]:
    """For inner intervals ``crossing`` (between ``raw[j]`` and ``raw[j + 1]``): the value at 0-based ``rank`` in the
    interval and the sum of the ``rank`` values below it (both relative to ``centre``), without sorting the interval.

    The ``tied`` values equal to ``raw[j]`` come first. Past them, the interval's values are segments in value order:
    its plain cells of the grid (count and sum known) and, per cell holding a pivot, its near values in the interval.
    Only the segment holding the rank is gathered and sorted."""
    cut = u[crossing].copy()
    before = rank * u[crossing]
    rest = rank >= tied
    if not rest.any():
        return cut, before
    chosen = crossing[rest]
    cells = layout.counts.size
    slot = np.full(raw.size + 1, -1, dtype=np.intp)
    slot[chosen + 1] = np.arange(chosen.size)
    # near values of the chosen intervals, past the ties at the interval's lower reference value
    pick = (slot[near_interval] >= 0) & (near > raw[np.maximum(near_interval - 1, 0)])
    near_owner = slot[near_interval[pick]]
    near_key = near_owner * cells + near_cells[pick]
    near_keys, near_inverse = np.unique(near_key, return_inverse=True)
    near_count = np.bincount(near_inverse, minlength=near_keys.size)
    near_sum = np.bincount(near_inverse, weights=near[pick] - centre, minlength=near_keys.size)
    # plain cells of the chosen intervals that hold values
    owner_of_cell = np.where(layout.plain, slot[layout.interval], -1)
    plain_cells = np.flatnonzero((owner_of_cell >= 0) & (layout.counts > 0))
    plain_keys = owner_of_cell[plain_cells] * cells + plain_cells
    # every segment, in value order: by interval, then by cell (a plain cell and a near segment never share a cell)
    keys = np.concatenate((plain_keys, near_keys))
    seg_count = np.concatenate((layout.counts[plain_cells], near_count))
    seg_sum = np.concatenate((layout.sums[plain_cells], near_sum))
    order = np.argsort(keys, kind="stable")
    keys, seg_count, seg_sum = keys[order], seg_count[order], seg_sum[order]
    seg_owner = keys // cells
    running = np.cumsum(seg_count)
    summed = np.cumsum(seg_sum)
    first = np.searchsorted(seg_owner, np.arange(chosen.size), side="left")
    base_count = np.where(first > 0, running[np.maximum(first - 1, 0)], 0)
    base_sum = np.where(first > 0, summed[np.maximum(first - 1, 0)], 0.0)
    wanted_rank = rank[rest] - tied[rest]
    # the segment holding the rank: the first of the interval whose running count passes it
    target = np.searchsorted(running, base_count + wanted_rank, side="right")
    earlier = running[target] - seg_count[target] - base_count
    before_target = summed[target] - seg_sum[target] - base_sum
    target_cells = keys[target] % cells
    is_near = np.isin(keys[target], near_keys)
    # gather the target segments' values: plain cells from the window, near segments from the near values
    parts = []
    plain_targets = target_cells[~is_near]
    if plain_targets.size:
        wanted = np.zeros(cells, dtype=bool)
        wanted[plain_targets] = True
        parts.append(values[np.take(wanted, layout.cell, out=layout.mask)])
    near_targets = keys[target][is_near]
    if near_targets.size:
        parts.append(near[pick][np.isin(near_key, near_targets)])
    # the segments lie in different intervals, so sorting by value alone groups them in interval order
    ordered = np.sort(np.concatenate(parts) - centre)
    offsets = np.concatenate(([0], np.cumsum(seg_count[target])[:-1]))
    within = offsets + wanted_rank - earlier
    prefix = np.concatenate(([0.0], np.cumsum(ordered)))
    cut[rest] = ordered[within]
    before[rest] = tied[rest] * u[crossing][rest] + before_target + prefix[within] - prefix[offsets]
    return cut, before
