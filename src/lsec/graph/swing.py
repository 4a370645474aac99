"""Swing similarity between streamers over the user -> streamer gift graph (MMBee, eq. 8).

With ``U_i`` the users who gifted streamer ``i`` and ``I_u`` the streamers user ``u`` gifted::

    s(i, j) = sum_{u in U_i ∩ U_j} sum_{v in U_i ∩ U_j} 1 / (alpha + |I_u ∩ I_v|)

exactly as eq. 8 writes it: both sums run over the same set, so ordered pairs are counted twice
(``(u, v)`` and ``(v, u)``) and the diagonal ``u = v`` contributes ``1 / (alpha + |I_u|)``. One shared
user is therefore enough for a positive score (which matters on a gift graph, where most users gift once).
No user-activity weighting is added. The graph is a set of edges: duplicates count once, amounts are ignored.

How it is computed, per source streamer ``i`` (so ``O(num_streamers)`` memory, and rows run in parallel):
take its users ``S`` (all of ``U_i`` in ``"exact"`` mode, at most ``max_users_per_streamer`` of them drawn
uniformly with ``seed`` in ``"bounded"`` mode), invert their streamer lists into buckets
``B_j = S ∩ U_j``, count ``|I_u ∩ I_v|`` for all pairs of ``S`` from the buckets (cost ``sum_j |B_j|^2``),
then ``s(i, j) = sum_{u, v in B_j} 1 / (alpha + |I_u ∩ I_v|)`` (same cost again). The overlaps
``|I_u ∩ I_v|`` always use the users' full streamer lists. In bounded mode a row's scores come from a
sample of its users only (about ``(cap / |U_i|)^2`` of the pairs), so scores are comparable within a row,
not across rows; :func:`swing_recall` measures what the cap costs. Memory per row: ``|S|^2`` float64 pair
terms, so ``"exact"`` mode on a streamer with 50k users needs 20 GB: use it on small graphs or on a sample of
rows (``streamers``).

Ranking: neighbours sorted by float32 score, descending; equal scores by streamer index, ascending. The
streamer itself is never its own neighbour; streamers sharing no (sampled) user are not neighbours.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

MODES = ("exact", "bounded")
KERNELS = ("auto", "numba", "scipy")


@dataclass(frozen=True, kw_only=True)
class GiftGraph:
    """The user -> streamer gift graph as CSR in both directions (built by :func:`gift_graph`).

    Attributes:
        num_users, num_streamers: node counts.
        user_ptr, user_streamers, user_weights: CSR of users -> streamers, streamers ascending per user.
        streamer_ptr, streamer_users, streamer_weights: CSR of streamers -> users, users ascending.

    Shapes:
        user_ptr: (num_users + 1,) int64; user_streamers, user_weights: (E,) int32, float32
        streamer_ptr: (num_streamers + 1,) int64; streamer_users, streamer_weights: (E,) int32, float32
    """

    num_users: int
    num_streamers: int
    user_ptr: np.ndarray
    user_streamers: np.ndarray
    user_weights: np.ndarray
    streamer_ptr: np.ndarray
    streamer_users: np.ndarray
    streamer_weights: np.ndarray

    @property
    def num_edges(self) -> int:
        return int(self.user_streamers.shape[0])


def gift_graph(
    *, src: np.ndarray, dst: np.ndarray, num_users: int, num_streamers: int, weight: np.ndarray | None = None
) -> GiftGraph:
    """Merge gift edges into a :class:`GiftGraph`.

    Duplicate ``(user, streamer)`` pairs become one edge whose weight is the sum of theirs (the total amount;
    with ``weight=None`` every gift weighs 1, so the weight is the number of gifts).

    Args:
        src: (E,) user indices in ``[0, num_users)``.
        dst: (E,) streamer indices in ``[0, num_streamers)``.
        num_users, num_streamers: node counts.
        weight: optional (E,) non-negative finite amounts.
    """
    _check_count("num_users", num_users, "gift_graph")
    _check_count("num_streamers", num_streamers, "gift_graph")
    src = _check_index("src", src, num_users, "gift_graph")
    dst = _check_index("dst", dst, num_streamers, "gift_graph")
    if src.shape != dst.shape:
        raise ValueError(
            f"The 'dst' parameter of gift_graph must have the length of 'src' ({src.shape[0]}). Got {dst.shape[0]}."
        )
    if weight is None:
        values = np.ones(src.shape[0], dtype=np.float64)
    else:
        values = np.asarray(weight, dtype=np.float64)
        if values.shape != src.shape or not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError(
                f"The 'weight' parameter of gift_graph must be {src.shape[0]} finite values >= 0. "
                f"Got shape {values.shape} with min {values.min(initial=0.0)}."
            )
    by_user = sp.csr_matrix((values, (src, dst)), shape=(num_users, num_streamers))
    by_user.sum_duplicates()
    by_user.sort_indices()
    by_streamer = by_user.tocsc()
    by_streamer.sort_indices()
    return GiftGraph(
        num_users=num_users,
        num_streamers=num_streamers,
        user_ptr=by_user.indptr.astype(np.int64),
        user_streamers=by_user.indices.astype(np.int32),
        user_weights=by_user.data.astype(np.float32),
        streamer_ptr=by_streamer.indptr.astype(np.int64),
        streamer_users=by_streamer.indices.astype(np.int32),
        streamer_weights=by_streamer.data.astype(np.float32),
    )


@dataclass(frozen=True, kw_only=True)
class SwingNeighbours:
    """Top-k Swing neighbours of streamers, best first.

    Attributes:
        streamers: the streamer of each row (``arange(num_streamers)`` unless a subset was asked for).
        indices: neighbour streamers, padded with -1.
        scores: their Swing scores, padded with 0.
        num_streamers: number of streamers of the graph.

    Shapes:
        streamers: (R,) int64; indices: (R, k) int32; scores: (R, k) float32; mask: (R, k) bool
    """

    streamers: np.ndarray
    indices: np.ndarray
    scores: np.ndarray
    num_streamers: int

    @property
    def mask(self) -> np.ndarray:
        return self.indices >= 0

    def to_csr(self) -> sp.csr_matrix:
        """The kept scores as a (num_streamers, num_streamers) sparse matrix, row ``streamers[r]`` = row ``r``."""
        rows = np.broadcast_to(self.streamers[:, None], self.indices.shape)[self.mask]
        shape = (self.num_streamers, self.num_streamers)
        return sp.csr_matrix((self.scores[self.mask], (rows, self.indices[self.mask])), shape=shape)


def swing(
    *,
    graph: GiftGraph,
    k: int,
    alpha: float = 1.0,
    mode: str = "bounded",
    max_users_per_streamer: int = 100,
    seed: int = 0,
    streamers: np.ndarray | None = None,
    kernel: str = "auto",
    num_threads: int | None = None,
) -> SwingNeighbours:
    """Top-``k`` Swing neighbours (eq. 8, see the module docstring) of every streamer, or of ``streamers``.

    Args:
        graph: the gift graph.
        k: neighbours kept per streamer.
        alpha: smoothing term of eq. 8, ``>= 0``.
        mode: ``"exact"`` (every user of a streamer; ``max_users_per_streamer`` unused) or ``"bounded"``.
        max_users_per_streamer: bounded mode: users drawn (uniformly, without replacement) per streamer.
        seed: seed of the bounded mode's draw. The draw covers all streamers whatever ``streamers`` is, so a
            row is the same whether computed alone or with all the others.
        streamers: (R,) source streamers; ``None`` for all.
        kernel: ``"numba"`` (compiled, rows in ``num_threads`` threads), ``"scipy"`` (a sparse product per
            row, one thread) or ``"auto"`` (numba when it can be imported).
        num_threads: threads of the numba kernel; ``None`` for the CPUs this process may use.

    Shapes:
        streamers: (R,) -> indices (R, k) int32, scores (R, k) float32
    """
    _check_count("k", k, "swing", minimum=1)
    if not (np.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"The 'alpha' parameter of swing must be a finite float >= 0. Got {alpha!r} instead.")
    if mode not in MODES:
        raise ValueError(f"The 'mode' parameter of swing must be one of {MODES}. Got {mode!r} instead.")
    if kernel not in KERNELS:
        raise ValueError(f"The 'kernel' parameter of swing must be one of {KERNELS}. Got {kernel!r} instead.")
    _check_count("max_users_per_streamer", max_users_per_streamer, "swing", minimum=1)
    if num_threads is not None:
        _check_count("num_threads", num_threads, "swing", minimum=1)
    if streamers is None:
        rows = np.arange(graph.num_streamers, dtype=np.int64)
    else:
        rows = _check_index("streamers", streamers, graph.num_streamers, "swing")
    if mode == "exact":
        sample_ptr, sample_users = graph.streamer_ptr, graph.streamer_users
    else:
        sample_ptr, sample_users = _sample_users(graph, max_users_per_streamer, seed)
    out_index = np.full((rows.shape[0], k), -1, dtype=np.int32)
    out_score = np.zeros((rows.shape[0], k), dtype=np.float32)
    compiled = _compiled(_kernel_rows) if kernel in ("auto", "numba") else None
    if compiled is None and kernel == "numba":
        raise ValueError("The 'kernel' parameter of swing is 'numba', but numba cannot be imported: install it.")
    if compiled is None:
        _scipy_rows(rows, sample_ptr, sample_users, graph, float(alpha), out_index, out_score)
    else:

        def run(lo: int, hi: int) -> None:
            compiled(
                rows[lo:hi], sample_ptr, sample_users, graph.user_ptr, graph.user_streamers, graph.num_streamers,
                float(alpha), out_index[lo:hi], out_score[lo:hi],
            )  # fmt: skip

        threads = num_threads or _available_cpus()
        _in_threads(run, num_rows=rows.shape[0], threads=threads, parts=16 * threads)
    return SwingNeighbours(streamers=rows, indices=out_index, scores=out_score, num_streamers=graph.num_streamers)


def swing_recall(*, exact: SwingNeighbours, bounded: SwingNeighbours) -> float:
    """Recall of the exact top-k by the bounded lists, pooled over rows (micro average)::

        recall = sum_i |E_i ∩ B_i| / sum_i |E_i|

    ``E_i`` and ``B_i`` are the exact and bounded neighbour sets of row ``i``; a neighbour tied with the
    exact k-th one but left out by the exact tie-break counts as a miss. ``nan`` when no exact list has an
    entry. To measure on a sample, compute both with the same ``streamers``.

    Shapes:
        exact.indices: (R, k); bounded.indices: (R, k')
    """
    if not np.array_equal(exact.streamers, bounded.streamers):
        raise ValueError(
            "The 'bounded' parameter of swing_recall must cover the rows of 'exact' (same streamers, same "
            f"order). Got {bounded.streamers.shape[0]} rows for {exact.streamers.shape[0]}."
        )
    n = np.int64(exact.num_streamers)
    truth = (np.arange(exact.indices.shape[0], dtype=np.int64)[:, None] * n + exact.indices)[exact.mask]
    found = (np.arange(bounded.indices.shape[0], dtype=np.int64)[:, None] * n + bounded.indices)[bounded.mask]
    if truth.size == 0:
        return float("nan")
    return float(np.isin(truth, found).sum() / truth.size)


def _sample_users(graph: GiftGraph, cap: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``cap`` users per streamer, uniformly without replacement (one seeded key per edge, the ``cap``
    smallest keys of each streamer kept), users ascending per streamer. Shapes: ptr (S + 1,), users (E',)."""
    degree = np.diff(graph.streamer_ptr)
    if degree.size == 0 or degree.max() <= cap:
        return graph.streamer_ptr, graph.streamer_users
    row = np.repeat(np.arange(graph.num_streamers, dtype=np.int64), degree)
    key = np.random.default_rng(seed).random(row.shape[0])
    order = np.lexsort((key, row))  # by streamer, then random key
    rank = np.arange(row.shape[0], dtype=np.int64) - graph.streamer_ptr[row[order]]
    kept = np.sort(order[rank < cap])  # edges are stored by (streamer, user): sorting positions restores it
    ptr = np.zeros(graph.num_streamers + 1, dtype=np.int64)
    np.cumsum(np.minimum(degree, cap), out=ptr[1:])
    return ptr, graph.streamer_users[kept]


def _scipy_rows(
    rows: np.ndarray,
    sample_ptr: np.ndarray,
    sample_users: np.ndarray,
    graph: GiftGraph,
    alpha: float,
    out_index: np.ndarray,
    out_score: np.ndarray,
) -> None:
    """The kernel without numba: per row, ``C = A_S A_S^T``, ``s = colsum((1 / (alpha + C)) A_S ∘ A_S)``."""
    ones = np.ones(graph.num_edges, dtype=np.float64)
    by_user = sp.csr_matrix((ones, graph.user_streamers, graph.user_ptr), shape=(graph.num_users, graph.num_streamers))
    k = out_index.shape[1]
    for r, i in enumerate(rows):
        users = sample_users[sample_ptr[i] : sample_ptr[i + 1]]
        if users.size == 0:
            continue
        block = by_user[users]  # (m, S)
        weight = 1.0 / (alpha + (block @ block.T).toarray())  # (m, m)
        columns = np.unique(block.indices)
        columns = columns[columns != i]
        if columns.size == 0:
            continue
        dense = block[:, columns].toarray()  # (m, T)
        scores = ((weight @ dense) * dense).sum(axis=0).astype(np.float32)  # (T,)
        order = np.lexsort((columns, -scores))[:k]
        out_index[r, : order.size] = columns[order]
        out_score[r, : order.size] = scores[order]


def _kernel_rows(rows, sample_ptr, sample_users, user_ptr, user_streamers, num_streamers, alpha, out_index, out_score):
    """The numba kernel (compiled by :func:`_compiled`): rows ``rows`` into ``out_index`` / ``out_score``."""
    k = out_index.shape[1]
    count = np.zeros(num_streamers, dtype=np.int64)  # bucket sizes, then fill pointers; zero between rows
    heap = np.empty(k, dtype=np.int64)  # bucket numbers of the k best, a min-heap: the root ranks last
    touched = np.empty(num_streamers, dtype=np.int64)  # streamers of the sample; bucket t is S ∩ U_touched[t]
    score = np.zeros(num_streamers, dtype=np.float32)  # score of bucket t

    def worse(s, t):  # bucket s ranks below bucket t: a lower score, or the same and a higher streamer
        return score[s] < score[t] or (score[s] == score[t] and touched[s] > touched[t])

    for r in range(rows.shape[0]):
        i = rows[r]
        start = sample_ptr[i]
        m = sample_ptr[i + 1] - start
        total = 0
        for a in range(m):
            u = sample_users[start + a]
            total += user_ptr[u + 1] - user_ptr[u]
        num_touched = 0
        for a in range(m):
            u = sample_users[start + a]
            for p in range(user_ptr[u], user_ptr[u + 1]):
                j = user_streamers[p]
                if count[j] == 0:
                    touched[num_touched] = j
                    num_touched += 1
                count[j] += 1
        offsets = np.empty(num_touched + 1, dtype=np.int64)
        offsets[0] = 0
        for t in range(num_touched):
            offsets[t + 1] = offsets[t] + count[touched[t]]
            count[touched[t]] = offsets[t]
        bucket = np.empty(total, dtype=np.int64)  # sample positions, ascending within each bucket
        for a in range(m):
            u = sample_users[start + a]
            for p in range(user_ptr[u], user_ptr[u + 1]):
                bucket[count[user_streamers[p]]] = a
                count[user_streamers[p]] += 1
        for t in range(num_touched):
            count[touched[t]] = 0
        pair = np.zeros((m, m), dtype=np.float64)  # |I_u ∩ I_v| for positions a <= b, then the pair's term
        for t in range(num_touched):
            for x in range(offsets[t], offsets[t + 1]):
                for y in range(x, offsets[t + 1]):
                    pair[bucket[x], bucket[y]] += 1.0
        for a in range(m):  # u = v once, (u, v) and (v, u) together
            pair[a, a] = 1.0 / (alpha + pair[a, a])
            for b in range(a + 1, m):
                pair[a, b] = 2.0 / (alpha + pair[a, b])
        size = 0
        for t in range(num_touched):
            if touched[t] == i:
                continue
            total_score = 0.0
            for x in range(offsets[t], offsets[t + 1]):
                for y in range(x, offsets[t + 1]):
                    total_score += pair[bucket[x], bucket[y]]
            score[t] = np.float32(total_score)
            if size < k:  # sift the new entry up
                pos = size
                size += 1
                while pos > 0 and worse(t, heap[(pos - 1) // 2]):
                    heap[pos] = heap[(pos - 1) // 2]
                    pos = (pos - 1) // 2
                heap[pos] = t
            elif worse(heap[0], t):  # replace the last kept, sift down
                pos = 0
                while 2 * pos + 1 < k:
                    child = 2 * pos + 1
                    if child + 1 < k and worse(heap[child + 1], heap[child]):
                        child += 1
                    if not worse(heap[child], t):
                        break
                    heap[pos] = heap[child]
                    pos = child
                heap[pos] = t
        for a in range(1, size):  # best first (insertion sort: k is small)
            t = heap[a]
            b = a - 1
            while b >= 0 and worse(heap[b], t):
                heap[b + 1] = heap[b]
                b -= 1
            heap[b + 1] = t
        for a in range(size):
            out_index[r, a] = touched[heap[a]]
            out_score[r, a] = score[heap[a]]


@functools.cache
def _compiled(function: Callable[..., None]) -> Callable[..., None] | None:
    """``function`` compiled by numba (cached on disk, releasing the GIL), or ``None`` without numba."""
    try:
        import numba
    except ImportError:
        return None
    return numba.njit(cache=True, nogil=True)(function)  # type: ignore[no-any-return]


def _in_threads(run: Callable[[int, int], None], *, num_rows: int, threads: int, parts: int) -> None:
    """``run(lo, hi)`` over ``parts`` contiguous ranges of ``num_rows`` rows, ``threads`` ranges at a time."""
    bounds = np.linspace(0, num_rows, min(num_rows, parts) + 1).astype(np.int64)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda part: run(int(bounds[part]), int(bounds[part + 1])), range(len(bounds) - 1)))


def _available_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _check_count(name: str, value: object, owner: str, minimum: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"The '{name}' parameter of {owner} must be an int >= {minimum}. Got {value!r} instead.")


def _check_index(name: str, values: np.ndarray, size: int, owner: str) -> np.ndarray:
    """``values`` as a 1-d int64 array of indices in ``[0, size)``, or a ValueError naming ``name``."""
    array = np.asarray(values)
    if array.ndim != 1 or not (array.size == 0 or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(
            f"The '{name}' parameter of {owner} must be a 1-d integer array. Got dtype {array.dtype}, shape {array.shape}."
        )
    array = array.astype(np.int64)
    if array.size and (array.min() < 0 or array.max() >= size):
        raise ValueError(
            f"The '{name}' parameter of {owner} must hold indices in [0, {size}). "
            f"Got values in [{array.min()}, {array.max()}]."
        )
    return array
