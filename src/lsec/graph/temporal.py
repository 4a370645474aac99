"""Temporal neighbourhoods on arrays: a time-sorted CSR of events, leakage-free sampling, decay weights.

This is the array layer under DM-GNN (DESIGN.md section 6). An *event* is a timestamped edge
``(src, dst, ts)`` with an optional edge id and ``kind`` (like / comment / repost, ...). The events are
grouped per node and sorted by time inside each node's slice (:class:`TemporalCSR`); a batch of
``(node, query_time)`` pairs then finds, per pair, the events of that node that happened STRICTLY
before the query time with one binary search per pair, vectorised over the batch.

Leakage rule: an event at or after the query time is never returned, so an event with the same
timestamp as the query (for example the positive edge of the batch being predicted) is excluded.
:func:`most_recent` returns the ``k`` latest such events (TGAT's original sampler returned the
earliest ones, a known bug); :func:`uniform_before` draws ``k`` of them uniformly, seeded.

Ties: events with equal timestamps in one node's slice keep their input order, and "latest" among
them means the one given later in the input. Outputs are ``(B, k)`` arrays, column 0 the most recent
event, padded on the right with ``-1`` and described by a boolean mask.

Timestamps are compared as given (``int64`` unix seconds in the canonical format, or floats): the
sampler never rounds a query time. :func:`decay_weights` turns time differences into
``exp(-lam * dt / time_unit)`` message weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_DIRECTIONS = ("both", "out", "in")


@dataclass(frozen=True)
class TemporalCSR:
    """Events grouped by node, time-sorted inside each node's slice.

    The events of node ``v`` are positions ``indptr[v]:indptr[v + 1]``, in non-decreasing
    ``timestamps`` order (ties in input order).

    Attributes:
        indptr: (N + 1,) int64 slice boundaries.
        neighbors: (M,) int64, the other end of each event.
        timestamps: (M,) int64 or float64 event times, sorted within each slice.
        edge_ids: (M,) int64 id of the event (its input position unless ids were given), shared by
            both copies of an event when the CSR holds both directions.
        kinds: (M,) int64 event kind, or ``None`` when none was given.

    ``M = E`` for one direction, ``M = 2E - (number of self-loops)`` for both.
    """

    indptr: np.ndarray
    neighbors: np.ndarray
    timestamps: np.ndarray
    edge_ids: np.ndarray
    kinds: np.ndarray | None = None

    @property
    def num_nodes(self) -> int:
        return len(self.indptr) - 1

    @property
    def num_entries(self) -> int:
        return len(self.neighbors)

    def degree(self) -> np.ndarray:
        """(N,) int64 number of events of each node (all times)."""
        return np.diff(self.indptr)


@dataclass(frozen=True)
class TemporalNeighbors:
    """Fixed-width neighbourhoods of a batch of ``(node, query_time)`` pairs.

    Row ``b`` holds events of ``nodes[b]`` with time ``< query_times[b]``, the most recent in column 0;
    padded entries are ``-1`` in every array and ``False`` in ``mask``.

    Shapes:
        neighbors, timestamps, edge_ids, kinds, mask: (B, k)
        query_times: (B,)
    """

    neighbors: np.ndarray
    timestamps: np.ndarray
    edge_ids: np.ndarray
    mask: np.ndarray
    query_times: np.ndarray
    kinds: np.ndarray | None = None

    @property
    def dt(self) -> np.ndarray:
        """(B, k) float64 ``query_time - event_time`` (always > 0 where ``mask``), 0 at padding."""
        delta = self.query_times[:, None].astype(np.float64) - self.timestamps.astype(np.float64)
        return np.where(self.mask, delta, 0.0)


def build_temporal_csr(
    *,
    src: np.ndarray,
    dst: np.ndarray,
    timestamps: np.ndarray,
    num_nodes: int | None = None,
    edge_ids: np.ndarray | None = None,
    kinds: np.ndarray | None = None,
    direction: str = "both",
) -> TemporalCSR:
    """Group events by node and sort each node's events by time, in ``O(E log E)``.

    Args:
        src, dst: (E,) node indices in ``[0, num_nodes)``.
        timestamps: (E,) event times, integers (unix seconds) or finite floats.
        num_nodes: number of nodes; default ``max(src, dst) + 1``.
        edge_ids: (E,) ids carried with each event; default its input position ``0..E-1``.
        kinds: (E,) integer event kinds, carried along; optional.
        direction: ``"both"`` (an event is a neighbour of both ends; a self-loop is stored once),
            ``"out"`` (``src``'s neighbour is ``dst``) or ``"in"`` (``dst``'s neighbour is ``src``).

    Shapes:
        src, dst, timestamps, edge_ids, kinds: (E,) -> TemporalCSR with indptr (N + 1,) and (M,) arrays.
    """
    if direction not in _DIRECTIONS:
        raise ValueError(
            f"The 'direction' parameter of build_temporal_csr must be one of {_DIRECTIONS}. Got {direction!r} instead."
        )
    src_arr = _int_vector(src, "src")
    dst_arr = _int_vector(dst, "dst")
    times = _time_vector(timestamps, "timestamps")
    num_events = len(src_arr)
    for name, arr in (("dst", dst_arr), ("timestamps", times)):
        if len(arr) != num_events:
            raise ValueError(
                f"The {name!r} parameter of build_temporal_csr must have the length of 'src' ({num_events}). "
                f"Got {len(arr)} instead."
            )
    ids = np.arange(num_events, dtype=np.int64) if edge_ids is None else _int_vector(edge_ids, "edge_ids")
    kind_arr = None if kinds is None else _int_vector(kinds, "kinds")
    for name, opt in (("edge_ids", ids), ("kinds", kind_arr)):
        if opt is not None and len(opt) != num_events:
            raise ValueError(
                f"The {name!r} parameter of build_temporal_csr must have the length of 'src' ({num_events}). "
                f"Got {len(opt)} instead."
            )
    largest = int(max(src_arr.max(initial=-1), dst_arr.max(initial=-1)))
    if num_nodes is None:
        num_nodes = largest + 1
    if num_nodes < 0 or largest >= num_nodes:
        raise ValueError(
            f"The 'num_nodes' parameter of build_temporal_csr must be > every node index (max {largest}). "
            f"Got {num_nodes} instead."
        )
    if min(src_arr.min(initial=0), dst_arr.min(initial=0)) < 0:
        raise ValueError("The 'src' and 'dst' parameters of build_temporal_csr must be >= 0. Got a negative index.")

    if direction == "out":
        owner, other, order_ids = src_arr, dst_arr, np.arange(num_events)
    elif direction == "in":
        owner, other, order_ids = dst_arr, src_arr, np.arange(num_events)
    else:
        # Interleave the two copies of every event so that input order is preserved as the tie-breaker,
        # and keep one copy of a self-loop.
        owner = np.stack([src_arr, dst_arr], axis=1).ravel()
        other = np.stack([dst_arr, src_arr], axis=1).ravel()
        order_ids = np.repeat(np.arange(num_events), 2)
        keep = np.ones(2 * num_events, dtype=bool)
        keep[1::2] = src_arr != dst_arr
        owner, other, order_ids = owner[keep], other[keep], order_ids[keep]
    order = _owner_time_order(owner, times[order_ids], num_nodes)
    counts = np.bincount(owner, minlength=num_nodes)
    indptr = np.zeros(num_nodes + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    event = order_ids[order]
    return TemporalCSR(
        indptr=indptr,
        neighbors=other[order].astype(np.int64, copy=False),
        timestamps=times[event],
        edge_ids=ids[event],
        kinds=None if kind_arr is None else kind_arr[event],
    )


def count_before(csr: TemporalCSR, *, nodes: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Number of events of each ``nodes[b]`` with time strictly before ``times[b]``.

    One binary search per pair over the node's time-sorted slice, all pairs at once
    (``O(B log max_degree)`` vectorised).

    Shapes:
        nodes, times: (B,) -> (B,) int64
    """
    node_arr, time_arr = _check_queries(csr, nodes, times, "count_before")
    return _search_before(csr, node_arr, time_arr) - csr.indptr[node_arr]


def most_recent(csr: TemporalCSR, *, nodes: np.ndarray, times: np.ndarray, k: int) -> TemporalNeighbors:
    """The ``k`` latest events of each node strictly before its query time.

    An event at exactly the query time is excluded, so the edges of the batch being predicted (at
    time ``t``) are never their own context. Nodes with fewer than ``k`` earlier events are padded.

    Shapes:
        nodes, times: (B,) -> TemporalNeighbors with (B, k) arrays, column 0 the most recent event.
    """
    _check_k(k, "most_recent")
    node_arr, time_arr = _check_queries(csr, nodes, times, "most_recent")
    lo = csr.indptr[node_arr]  # (B,)
    count = _search_before(csr, node_arr, time_arr) - lo  # (B,)
    offsets = count[:, None] - 1 - np.arange(k)[None, :]  # (B, k), -1 and below are padding
    return _gather(csr, lo, np.where(offsets >= 0, offsets, -1), time_arr)


def uniform_before(
    csr: TemporalCSR,
    *,
    nodes: np.ndarray,
    times: np.ndarray,
    k: int,
    seed: int | np.random.Generator,
    replace: bool = False,
) -> TemporalNeighbors:
    """``k`` events drawn uniformly from each node's events strictly before its query time.

    Without replacement (default) a node with ``c > k`` earlier events gets a uniform ``k``-subset of
    them (Floyd's algorithm, vectorised over the batch); one with ``c <= k`` gets all ``c`` and padding.
    With replacement every node with ``c > 0`` gets ``k`` independent draws (TGAT's ``uniform`` mode)
    and no padding. The same ``seed`` and inputs give the same output. Rows are sorted most recent first.

    Shapes:
        nodes, times: (B,) -> TemporalNeighbors with (B, k) arrays.
    """
    _check_k(k, "uniform_before")
    node_arr, time_arr = _check_queries(csr, nodes, times, "uniform_before")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    lo = csr.indptr[node_arr]  # (B,)
    count = _search_before(csr, node_arr, time_arr) - lo  # (B,)
    offsets = count[:, None] - 1 - np.arange(k)[None, :]  # (B, k): all earlier events when c <= k
    offsets = np.where(offsets >= 0, offsets, -1)
    if replace:
        rows = np.flatnonzero(count > 0)
        draws = rng.integers(0, count[rows, None], size=(len(rows), k))  # (R, k)
        offsets[rows] = draws
    else:
        rows = np.flatnonzero(count > k)
        offsets[rows] = _floyd_subsets(count[rows], k, rng)
    offsets = -np.sort(-offsets, axis=1)  # slices are time-sorted: larger offset = later; padding last
    return _gather(csr, lo, offsets, time_arr)


def decay_weights(dt: np.ndarray, lam: float, *, mask: np.ndarray | None = None, time_unit: float = 1.0) -> np.ndarray:
    """Exponential recency weights ``exp(-lam * dt / time_unit)``, zero at padding.

    ``dt`` is in the units of the timestamps the caller used (unix seconds in the canonical format);
    ``time_unit`` rescales it, so ``time_unit=3600`` makes ``lam`` a rate per hour. ``lam = 0`` gives
    weight 1 to every unmasked entry.

    Args:
        dt: time since each event, ``>= 0`` where ``mask`` (e.g. :attr:`TemporalNeighbors.dt`).
        lam: decay rate, finite and ``>= 0``.
        mask: entries that are real events; default all.
        time_unit: length of one unit of ``lam``'s time scale, in ``dt``'s units; ``> 0``.

    Shapes:
        dt, mask: (...) -> (...) float32
    """
    if not np.isfinite(lam) or lam < 0:
        raise ValueError(f"The 'lam' parameter of decay_weights must be a finite float >= 0. Got {lam} instead.")
    if not np.isfinite(time_unit) or time_unit <= 0:
        raise ValueError(
            f"The 'time_unit' parameter of decay_weights must be a finite float > 0. Got {time_unit} instead."
        )
    dt_arr = np.asarray(dt, dtype=np.float64)
    valid = np.ones(dt_arr.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if valid.shape != dt_arr.shape:
        raise ValueError(
            f"The 'mask' parameter of decay_weights must have the shape of 'dt' {dt_arr.shape}. "
            f"Got {valid.shape} instead."
        )
    bad = valid & ~(dt_arr >= 0)  # also catches NaN
    if bad.any():
        raise ValueError(
            f"The 'dt' parameter of decay_weights must be >= 0 where masked (an event before its query). "
            f"Got {dt_arr[bad][0]} instead."
        )
    weights = np.exp(-lam * np.where(valid, dt_arr, 0.0) / time_unit)
    return np.where(valid, weights, 0.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------------


def _search_before(csr: TemporalCSR, nodes: np.ndarray, times: np.ndarray) -> np.ndarray:
    """(B,) absolute position of the first event of ``nodes[b]`` at or after ``times[b]``.

    A lower-bound bisection run on all queries at once: each step halves every query's window.
    """
    lo = csr.indptr[nodes].copy()
    hi = csr.indptr[nodes + 1].copy()
    stamps = csr.timestamps
    active = np.flatnonzero(lo < hi)
    while len(active):
        mid = (lo[active] + hi[active]) >> 1
        before = stamps[mid] < times[active]
        lo[active] = np.where(before, mid + 1, lo[active])
        hi[active] = np.where(before, hi[active], mid)
        active = active[lo[active] < hi[active]]
    return lo


def _owner_time_order(owner: np.ndarray, times: np.ndarray, num_nodes: int) -> np.ndarray:
    """(M,) stable order by ``(owner, time)``: equal pairs keep input order. Same result as ``np.lexsort``.

    Event logs usually come time-ordered: then one stable sort by owner suffices. Otherwise integer
    times are packed with the owner into one int64 key when it fits, one stable sort instead of two.
    """
    if len(times) < 2 or (times[1:] >= times[:-1]).all():
        return np.argsort(owner, kind="stable")
    if np.issubdtype(times.dtype, np.integer):
        t_min = int(times.min())
        span = int(times.max()) - t_min + 1
        if num_nodes * span < 2**62:
            return np.argsort(owner * span + (times - t_min), kind="stable")
    by_time = np.argsort(times, kind="stable")
    return by_time[np.argsort(owner[by_time], kind="stable")]


def _floyd_subsets(count: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """(R, k) uniform ``k``-subsets of ``range(count[r])`` per row (Floyd), needs ``count > k``."""
    chosen = np.empty((len(count), k), dtype=np.int64)
    for i in range(k):
        top = count - k + i  # (R,) this step draws from 0..top
        draw = rng.integers(0, top + 1)  # (R,)
        taken = (chosen[:, :i] == draw[:, None]).any(axis=1)
        chosen[:, i] = np.where(taken, top, draw)
    return chosen


def _gather(csr: TemporalCSR, lo: np.ndarray, offsets: np.ndarray, times: np.ndarray) -> TemporalNeighbors:
    mask = offsets >= 0  # (B, k)
    index = np.where(mask, lo[:, None] + offsets, 0)  # (B, k), 0 is a safe dummy

    def take(values: np.ndarray) -> np.ndarray:
        if len(values) == 0:
            return np.full(mask.shape, -1, dtype=values.dtype)
        return np.where(mask, values[index], -1).astype(values.dtype, copy=False)

    return TemporalNeighbors(
        neighbors=take(csr.neighbors),
        timestamps=take(csr.timestamps),
        edge_ids=take(csr.edge_ids),
        mask=mask,
        query_times=times,
        kinds=None if csr.kinds is None else take(csr.kinds),
    )


def _check_k(k: int, owner: str) -> None:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"The 'k' parameter of {owner} must be a positive int. Got {k!r} instead.")


def _check_queries(csr: TemporalCSR, nodes: np.ndarray, times: np.ndarray, owner: str) -> tuple[np.ndarray, np.ndarray]:
    node_arr = _int_vector(nodes, "nodes", owner)
    time_arr = _time_vector(times, "times", owner)
    if len(time_arr) != len(node_arr):
        raise ValueError(
            f"The 'times' parameter of {owner} must have the length of 'nodes' ({len(node_arr)}). "
            f"Got {len(time_arr)} instead."
        )
    if len(node_arr) and (node_arr.min() < 0 or node_arr.max() >= csr.num_nodes):
        raise ValueError(
            f"The 'nodes' parameter of {owner} must hold indices in [0, {csr.num_nodes}). "
            f"Got values in [{node_arr.min()}, {node_arr.max()}] instead."
        )
    return node_arr, time_arr


def _int_vector(values: np.ndarray, name: str, owner: str = "build_temporal_csr") -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
        raise ValueError(
            f"The {name!r} parameter of {owner} must be a 1-D integer array. "
            f"Got shape {arr.shape} and dtype {arr.dtype} instead."
        )
    return arr.astype(np.int64, copy=False)


def _time_vector(values: np.ndarray, name: str, owner: str = "build_temporal_csr") -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(
            f"The {name!r} parameter of {owner} must be a 1-D integer or float array. "
            f"Got shape {arr.shape} and dtype {arr.dtype} instead."
        )
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ValueError(f"The {name!r} parameter of {owner} must be finite. Got NaN or inf instead.")
        return arr.astype(np.float64, copy=False)
    return arr.astype(np.int64, copy=False)
