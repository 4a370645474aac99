"""Bounded metapath neighbourhoods of MMBee's Graph-guided Interest Expansion, and mean pooling over them.

Five metapaths over the gift graph (U2A, user -> streamer, weight = amount) and the Swing graph (A2A,
:mod:`lsec.graph.swing`); "a" is the paper's author, a streamer here:

========== ======================== ====================================================================
metapath   hops                     kept at the last hop
========== ======================== ====================================================================
u2a2u      user -> a -> user        users sharing streamers with the source user (the source excluded)
u2a2u2a    user -> a -> user -> a   streamers of those users, minus every streamer the source gifted
u2a2a      user -> a -> a           Swing neighbours of the source's streamers (nothing excluded)
a2a        a -> a                   the source streamer's Swing neighbours
a2u2a      a -> user -> a           streamers of the source's gifting users (the source excluded)
========== ======================== ====================================================================

A walk is bounded at every hop (Definition 2 of the paper: the neighbours are the nodes visited, here
along bounded walks):

- per node: a frontier node follows only its top ``fanouts[h]`` edges by weight (gift amount, or Swing
  score; equal weights by lower index);
- per hop: the nodes reached are aggregated, with ``visits(x) = sum_p visits(p) [x in top(p)]`` (the number
  of bounded walks reaching ``x``; the source has 1) and ``weight(x) = sum_p visits(p) w(p, x)``, ranked by
  visits, then weight (both descending), then index (ascending); an intermediate hop keeps its best
  ``max_frontier``, the last hop its best ``k``.

Everything is deterministic (no sampling, no seed). Sources are walked ``chunk_size`` at a time, one hop
after the other: with numba, a compiled kernel per hop (dense accumulators over the reached type and a heap
per source, rows in threads); without, flat numpy arrays (gather, sort, segment sums), which needs memory
``O(chunk_size * max_frontier * fanout)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lsec.graph import swing as _swing
from lsec.graph.swing import KERNELS, GiftGraph, SwingNeighbours

METAPATHS = ("u2a2u", "u2a2u2a", "u2a2a", "a2a", "a2u2a")
HOPS = {
    "u2a2u": ("u2a", "a2u"),
    "u2a2u2a": ("u2a", "a2u", "u2a"),
    "u2a2a": ("u2a", "a2a"),
    "a2a": ("a2a",),
    "a2u2a": ("a2u", "u2a"),
}
"""The graph each hop of a metapath walks: ``u2a`` and ``a2u`` the gift graph, ``a2a`` the Swing graph."""


@dataclass(frozen=True, kw_only=True)
class MetapathNeighbours:
    """Bounded metapath neighbours of source nodes, best first.

    Attributes:
        metapath: one of :data:`METAPATHS`.
        sources: the source node of each row (users for ``u2*``, streamers for ``a2*``).
        indices: neighbour nodes (users for ``u2a2u``, streamers otherwise), padded with -1.
        visits: number of bounded walks reaching each neighbour, 0 on padding.
        weights: summed last-hop edge weights of those walks, 0 on padding.

    Shapes:
        sources: (R,) int64; indices, visits: (R, k) int32; weights: (R, k) float32; mask: (R, k) bool
    """

    metapath: str
    sources: np.ndarray
    indices: np.ndarray
    visits: np.ndarray
    weights: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        return self.indices >= 0


def metapath_neighbours(
    *,
    metapath: str,
    graph: GiftGraph,
    k: int,
    fanouts: Sequence[int] | None = None,
    max_frontier: int = 64,
    swing: SwingNeighbours | None = None,
    sources: np.ndarray | None = None,
    chunk_size: int = 16384,
    kernel: str = "auto",
    num_threads: int | None = None,
) -> MetapathNeighbours:
    """The ``k`` best neighbours of each source along ``metapath`` (see the module docstring).

    Args:
        metapath: one of :data:`METAPATHS`.
        graph: the gift graph.
        k: neighbours kept per source.
        fanouts: edges followed per frontier node, one per hop (``len(HOPS[metapath])``); ``None``: ``k``
            at every hop. An ``a2a`` hop follows at most the Swing lists' width.
        max_frontier: nodes kept after each intermediate hop.
        swing: Swing neighbours of every streamer (rows ``0..num_streamers-1``); needed by ``u2a2a``, ``a2a``.
        sources: (R,) source nodes; ``None`` for all users (``u2*``) or all streamers (``a2*``).
        chunk_size: sources walked together.
        kernel: ``"numba"`` (a compiled kernel per hop, rows in ``num_threads`` threads), ``"scipy"``
            (numpy sorts and segment sums, one thread) or ``"auto"`` (numba when it can be imported).
        num_threads: threads of the numba kernel; ``None`` for the CPUs this process may use.

    Shapes:
        sources: (R,) -> indices (R, k)
    """
    owner = "metapath_neighbours"
    if metapath not in METAPATHS:
        raise ValueError(f"The 'metapath' parameter of {owner} must be one of {METAPATHS}. Got {metapath!r} instead.")
    hops = HOPS[metapath]
    _swing._check_count("k", k, owner, minimum=1)
    _swing._check_count("max_frontier", max_frontier, owner, minimum=1)
    _swing._check_count("chunk_size", chunk_size, owner, minimum=1)
    if kernel not in KERNELS:
        raise ValueError(f"The 'kernel' parameter of {owner} must be one of {KERNELS}. Got {kernel!r} instead.")
    if num_threads is not None:
        _swing._check_count("num_threads", num_threads, owner, minimum=1)
    widths = [k] * len(hops) if fanouts is None else list(fanouts)
    if len(widths) != len(hops):
        raise ValueError(
            f"The 'fanouts' parameter of {owner} must have one entry per hop of {metapath!r} ({len(hops)}). "
            f"Got {len(widths)}: {widths}."
        )
    for fanout in widths:
        _swing._check_count("fanouts", fanout, owner, minimum=1)
    if "a2a" in hops and (swing is None or not np.array_equal(swing.streamers, np.arange(graph.num_streamers))):
        raise ValueError(
            f"The 'swing' parameter of {owner} must hold the Swing neighbours of all {graph.num_streamers} "
            f"streamers, in order, for metapath {metapath!r}. Got "
            f"{'None' if swing is None else f'{swing.streamers.shape[0]} rows'}."
        )
    source_type_size = graph.num_users if metapath.startswith("u") else graph.num_streamers
    if sources is None:
        rows = np.arange(source_type_size, dtype=np.int64)
    else:
        rows = _swing._check_index("sources", sources, source_type_size, owner)
    tables = [_hop_table(graph, swing, hop, fanout) for hop, fanout in zip(hops, widths, strict=True)]
    compiled = _swing._compiled(_hop_kernel) if kernel in ("auto", "numba") else None
    if compiled is None and kernel == "numba":
        raise ValueError(f"The 'kernel' parameter of {owner} is 'numba', but numba cannot be imported: install it.")
    threads = num_threads or _swing._available_cpus()
    indices = np.full((rows.shape[0], k), -1, dtype=np.int32)
    visits = np.zeros((rows.shape[0], k), dtype=np.int32)
    weights = np.zeros((rows.shape[0], k), dtype=np.float32)
    for lo in range(0, rows.shape[0], chunk_size):
        chunk = rows[lo : lo + chunk_size]
        frontier = chunk[:, None]  # (c, 1)
        frontier_visits = np.ones((chunk.shape[0], 1), dtype=np.float64)
        for h, table in enumerate(tables):
            hop = _Hop(
                index=table[0],
                weight=table[1],
                size=graph.num_users if hops[h] == "a2u" else graph.num_streamers,
                exclude=_exclusion(metapath, h),
                width=k if h == len(hops) - 1 else max_frontier,
            )
            step = _hop_numpy if compiled is None else functools.partial(_hop_numba, compiled, threads)
            frontier, frontier_visits, frontier_weight = step(hop, graph, chunk, frontier, frontier_visits)
        indices[lo : lo + chunk.shape[0]] = frontier
        visits[lo : lo + chunk.shape[0]] = frontier_visits
        weights[lo : lo + chunk.shape[0]] = frontier_weight
    return MetapathNeighbours(metapath=metapath, sources=rows, indices=indices, visits=visits, weights=weights)


def mean_pool(*, table: np.ndarray, indices: np.ndarray, chunk_size: int = 8192) -> np.ndarray:
    """Mean of ``table`` rows over each row of ``indices``, negative entries (padding) excluded::

        out[r] = (1 / |N_r|) sum_{j in N_r} table[j],  N_r = {indices[r, c] : indices[r, c] >= 0}

    and ``out[r] = 0`` when ``N_r`` is empty. Rows are pooled ``chunk_size`` at a time.

    Shapes:
        table: (N, d); indices: (R, k) -> (R, d), float32 (float64 for a float64 table)
    """
    owner = "mean_pool"
    table = np.asarray(table)
    indices = np.asarray(indices)
    if table.ndim != 2:
        raise ValueError(f"The 'table' parameter of {owner} must be a 2-d array (N, d). Got shape {table.shape}.")
    if indices.ndim != 2 or not (indices.size == 0 or np.issubdtype(indices.dtype, np.integer)):
        raise ValueError(
            f"The 'indices' parameter of {owner} must be a 2-d integer array (R, k). "
            f"Got dtype {indices.dtype}, shape {indices.shape}."
        )
    if indices.size and indices.max() >= table.shape[0]:
        raise ValueError(
            f"The 'indices' parameter of {owner} must hold indices < {table.shape[0]} (rows of 'table') or "
            f"negative padding. Got {indices.max()}."
        )
    _swing._check_count("chunk_size", chunk_size, owner, minimum=1)
    dtype = np.float64 if table.dtype == np.float64 else np.float32
    out = np.zeros((indices.shape[0], table.shape[1]), dtype=dtype)
    if table.shape[0] == 0:  # only padding can point into an empty table
        return out
    for lo in range(0, indices.shape[0], chunk_size):
        block = indices[lo : lo + chunk_size]  # (c, k)
        mask = block >= 0
        gathered = table[np.where(mask, block, 0)].astype(np.float64)  # (c, k, d)
        total = np.einsum("ck,ckd->cd", mask.astype(np.float64), gathered)
        count = mask.sum(axis=1, keepdims=True)
        out[lo : lo + block.shape[0]] = total / np.maximum(count, 1)
    return out


def _hop_table(graph: GiftGraph, swing: SwingNeighbours | None, hop: str, fanout: int) -> tuple[np.ndarray, np.ndarray]:
    """The top ``fanout`` edges of every node for one hop: indices padded with -1, weights with 0.

    Shapes: -> (n, f) int32, (n, f) float64
    """
    if hop == "a2a":
        assert swing is not None
        width = min(fanout, swing.indices.shape[1])
        return swing.indices[:, :width], swing.scores[:, :width].astype(np.float64)
    if hop == "u2a":
        ptr, node, weight = graph.user_ptr, graph.user_streamers, graph.user_weights
    else:
        ptr, node, weight = graph.streamer_ptr, graph.streamer_users, graph.streamer_weights
    num_rows = ptr.shape[0] - 1
    row = np.repeat(np.arange(num_rows, dtype=np.int64), np.diff(ptr))
    order = np.lexsort((-weight, row))  # by row, heaviest first; stable, so ties keep the lower index first
    rank = np.arange(row.shape[0], dtype=np.int64) - ptr[row[order]]
    kept = order[rank < fanout]
    width = int(min(fanout, np.diff(ptr).max(initial=0)))
    index = np.full((num_rows, max(width, 1)), -1, dtype=np.int32)
    values = np.zeros((num_rows, max(width, 1)), dtype=np.float64)
    index[row[kept], rank[rank < fanout]] = node[kept]
    values[row[kept], rank[rank < fanout]] = weight[kept]
    return index, values


@dataclass(frozen=True, kw_only=True)
class _Hop:
    """One hop of a walk: each node's top edges ``index`` / ``weight`` (n, f), the reached type's ``size``,
    what is dropped (``EXCLUDE_*``) and how many reached nodes are kept (``width``)."""

    index: np.ndarray
    weight: np.ndarray
    size: int
    exclude: int
    width: int


EXCLUDE_NONE, EXCLUDE_SOURCE, EXCLUDE_GIFTED = 0, 1, 2


def _exclusion(metapath: str, hop: int) -> int:
    """What ``metapath`` drops at ``hop``: the source itself when the walk comes back to the source's type,
    every streamer the source user gifted at the last hop of ``u2a2u2a``, else nothing."""
    last = hop == len(HOPS[metapath]) - 1
    if (metapath in ("u2a2u", "a2u2a") and last) or (metapath == "u2a2u2a" and hop == 1):
        return EXCLUDE_SOURCE
    return EXCLUDE_GIFTED if metapath == "u2a2u2a" and last else EXCLUDE_NONE


def _hop_numpy(
    hop: _Hop, graph: GiftGraph, sources: np.ndarray, frontier: np.ndarray, frontier_visits: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One hop for a chunk of sources as flat arrays: gather, drop, then :func:`_aggregate_top`.

    Shapes: sources (c,), frontier and its visits (c, w) -> nodes, visits, weights (c, hop.width)
    """
    valid = frontier >= 0
    parent = np.where(valid, frontier, 0)
    reached = hop.index[parent]  # (c, w, f)
    keep = valid[:, :, None] & (reached >= 0)
    row = np.broadcast_to(np.arange(sources.shape[0])[:, None, None], reached.shape)[keep]
    node = reached[keep].astype(np.int64)
    walk_visits = np.broadcast_to(frontier_visits[:, :, None], reached.shape)[keep]
    walk_weight = (frontier_visits[:, :, None] * hop.weight[parent])[keep]
    if hop.exclude == EXCLUDE_SOURCE:
        drop = node == sources[row]
    elif hop.exclude == EXCLUDE_GIFTED:
        degree = graph.user_ptr[sources + 1] - graph.user_ptr[sources]
        positions = np.repeat(graph.user_ptr[sources] - np.cumsum(degree) + degree, degree) + np.arange(degree.sum())
        gifted = np.repeat(np.arange(sources.shape[0], dtype=np.int64), degree) * graph.num_streamers
        drop = np.isin(row * np.int64(graph.num_streamers) + node, gifted + graph.user_streamers[positions])
    else:
        drop = np.zeros(row.shape[0], dtype=bool)
    return _aggregate_top(
        row[~drop], node[~drop], walk_visits[~drop], walk_weight[~drop], num_rows=sources.shape[0], size=hop.size,
        width=hop.width,
    )  # fmt: skip


def _hop_numba(
    compiled: Callable[..., None],
    threads: int,
    hop: _Hop,
    graph: GiftGraph,
    sources: np.ndarray,
    frontier: np.ndarray,
    frontier_visits: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_hop_numpy` with the compiled :func:`_hop_kernel`, rows split over ``threads`` threads."""
    out_node = np.full((sources.shape[0], hop.width), -1, dtype=np.int64)
    out_visits = np.zeros((sources.shape[0], hop.width), dtype=np.float64)
    out_weight = np.zeros((sources.shape[0], hop.width), dtype=np.float64)

    def run(lo: int, hi: int) -> None:
        compiled(
            sources[lo:hi], frontier[lo:hi], frontier_visits[lo:hi], hop.index, hop.weight, hop.size, hop.exclude,
            graph.user_ptr, graph.user_streamers, out_node[lo:hi], out_visits[lo:hi], out_weight[lo:hi],
        )  # fmt: skip

    _swing._in_threads(run, num_rows=sources.shape[0], threads=threads, parts=4 * threads)
    return out_node, out_visits, out_weight


def _hop_kernel(sources, frontier, frontier_visits, table_index, table_weight, size, exclude, user_ptr, user_streamers, out_node, out_visits, out_weight):  # fmt: skip
    """The numba kernel of one hop (compiled by :func:`lsec.graph.swing._compiled`): dense accumulators over the reached
    type, reset through the list of touched nodes, and a ``width``-entry heap per row."""
    width = out_node.shape[1]
    visits = np.zeros(size, dtype=np.float64)
    weight = np.zeros(size, dtype=np.float64)
    blocked = np.zeros(size, dtype=np.bool_)
    touched = np.empty(max(frontier.shape[1] * table_index.shape[1], 1), dtype=np.int64)
    heap = np.empty(width, dtype=np.int64)  # the kept nodes, a min-heap: the root ranks last

    def worse(a, b):  # node a ranks below node b: fewer visits, then less weight, then a higher index
        return visits[a] < visits[b] or (
            visits[a] == visits[b] and (weight[a] < weight[b] or (weight[a] == weight[b] and a > b))
        )

    for r in range(frontier.shape[0]):
        source = sources[r]
        if exclude == 1:
            blocked[source] = True
        elif exclude == 2:
            for p in range(user_ptr[source], user_ptr[source + 1]):
                blocked[user_streamers[p]] = True
        count = 0
        for c in range(frontier.shape[1]):
            parent = frontier[r, c]
            if parent < 0:
                continue
            for e in range(table_index.shape[1]):
                node = table_index[parent, e]
                if node < 0:
                    break
                if blocked[node]:
                    continue
                if visits[node] == 0.0:
                    touched[count] = node
                    count += 1
                visits[node] += frontier_visits[r, c]
                weight[node] += frontier_visits[r, c] * table_weight[parent, e]
        kept = 0
        for t in range(count):
            node = touched[t]
            if kept < width:  # sift the new node up
                pos = kept
                kept += 1
                while pos > 0 and worse(node, heap[(pos - 1) // 2]):
                    heap[pos] = heap[(pos - 1) // 2]
                    pos = (pos - 1) // 2
                heap[pos] = node
            elif worse(heap[0], node):  # replace the last kept, sift down
                pos = 0
                while 2 * pos + 1 < width:
                    child = 2 * pos + 1
                    if child + 1 < width and worse(heap[child + 1], heap[child]):
                        child += 1
                    if not worse(heap[child], node):
                        break
                    heap[pos] = heap[child]
                    pos = child
                heap[pos] = node
        for a in range(1, kept):  # best first (insertion sort: width is small)
            node = heap[a]
            b = a - 1
            while b >= 0 and worse(heap[b], node):
                heap[b + 1] = heap[b]
                b -= 1
            heap[b + 1] = node
        for a in range(kept):
            out_node[r, a] = heap[a]
            out_visits[r, a] = visits[heap[a]]
            out_weight[r, a] = weight[heap[a]]
        for t in range(count):
            visits[touched[t]] = 0.0
            weight[touched[t]] = 0.0
        if exclude == 1:
            blocked[source] = False
        elif exclude == 2:
            for p in range(user_ptr[source], user_ptr[source + 1]):
                blocked[user_streamers[p]] = False


def _aggregate_top(
    row: np.ndarray, node: np.ndarray, visits: np.ndarray, weight: np.ndarray, *, num_rows: int, size: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum visits and weights per ``(row, node)`` and keep each row's best ``width`` nodes (visits desc,
    weight desc, node asc).

    Shapes: (n,) flat walks -> (num_rows, width) nodes (-1 padded), visits, weights
    """
    out_node = np.full((num_rows, width), -1, dtype=np.int64)
    out_visits = np.zeros((num_rows, width), dtype=np.float64)
    out_weight = np.zeros((num_rows, width), dtype=np.float64)
    if row.size == 0:
        return out_node, out_visits, out_weight
    key = row.astype(np.int64) * np.int64(size) + node
    order = np.argsort(key, kind="stable")
    key = key[order]
    first = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    total_visits = np.add.reduceat(visits[order], first)
    total_weight = np.add.reduceat(weight[order], first)
    key = key[first]
    group_row, group_node = key // size, key % size
    ranked = np.lexsort((group_node, -total_weight, -total_visits, group_row))
    group_row = group_row[ranked]
    rank = np.arange(group_row.shape[0]) - np.searchsorted(group_row, group_row, side="left")
    kept = ranked[rank < width]
    out_node[group_row[rank < width], rank[rank < width]] = group_node[kept]
    out_visits[group_row[rank < width], rank[rank < width]] = total_visits[kept]
    out_weight[group_row[rank < width], rank[rank < width]] = total_weight[kept]
    return out_node, out_visits, out_weight
