"""The numba kernels of :mod:`lsec.serve.kernels` (imports numba at module level: import this lazily).

Module-level functions so that ``cache=True`` can store the compiled code next to this file (or under
``NUMBA_CACHE_DIR``). See :mod:`lsec.serve.kernels` for what they compute.
"""

# mypy: ignore-errors
# ruff: noqa: ANN001, ANN201

from __future__ import annotations

import types

import numba
import numpy as np
from numba import prange

_FAST = {"reassoc", "contract", "nsz", "arcp"}  # reassociate sums (SIMD); keep inf/nan semantics
_jit = numba.njit(cache=True, fastmath=_FAST, nogil=True)
_pjit = numba.njit(cache=True, fastmath=_FAST, nogil=True, parallel=True)

DOT, MLP1, MLP_DEEP = 0, 1, 2
"""Scorer modes of :func:`topk`."""
TILE = 256
"""Rows scored for every query of a batch before moving on: (256, 128) float32 = 128 KiB, stays in L2."""


@_jit
def _push(heap_s, heap_i, size, k, score, index):
    """Bounded min-heap of the k best (root = worst). Returns the new size."""
    if size < k:
        pos = size
        size += 1
        while pos > 0:  # sift up
            parent = (pos - 1) // 2
            if heap_s[parent] > score or (heap_s[parent] == score and heap_i[parent] < index):
                heap_s[pos] = heap_s[parent]
                heap_i[pos] = heap_i[parent]
                pos = parent
            else:
                break
        heap_s[pos] = score
        heap_i[pos] = index
        return size
    if score <= heap_s[0]:  # not better than the worst kept (equal: later index loses the tie)
        return size
    pos = 0
    while True:  # sift down from the root
        child = 2 * pos + 1
        if child >= size:
            break
        other = child + 1
        if other < size and (
            heap_s[other] < heap_s[child] or (heap_s[other] == heap_s[child] and heap_i[other] > heap_i[child])
        ):
            child = other
        if heap_s[child] < score or (heap_s[child] == score and heap_i[child] > index):
            heap_s[pos] = heap_s[child]
            heap_i[pos] = heap_i[child]
            pos = child
        else:
            break
    heap_s[pos] = score
    heap_i[pos] = index
    return size


@_jit
def _score_dot(table, i, p):
    acc = np.float32(0.0)
    for j in range(table.shape[1]):
        acc += table[i, j] * p[j]
    return acc


@_jit
def _score_mlp1(table, i, p, w, b):
    acc = np.float32(0.0)
    for j in range(table.shape[1]):
        acc += w[j] * max(table[i, j] + p[j], np.float32(0.0))
    return acc + b


@_jit
def _score_deep(table, i, p, weights, biases, w_ptr, b_ptr, dims, a, c):
    for j in range(table.shape[1]):
        a[j] = max(table[i, j] + p[j], np.float32(0.0))
    layers = dims.shape[0] - 1
    for layer in range(layers):
        d_in = dims[layer]
        w0 = w_ptr[layer]
        for o in range(dims[layer + 1]):
            acc = np.float32(0.0)
            for j in range(d_in):
                acc += weights[w0 + o * d_in + j] * a[j]
            acc += biases[b_ptr[layer] + o]
            c[o] = acc if layer + 1 == layers or acc > 0 else np.float32(0.0)
        for o in range(dims[layer + 1]):
            a[o] = c[o]
    return a[0]


@_pjit
def topk(mode, table, query, w, b, weights, biases, w_ptr, b_ptr, dims, seen, seen_ptr, k, num_blocks, out_s, out_i):
    """Per row block and query, the k best (score, row) of the rows not in the query's seen list.

    mode DOT: T_i . p; MLP1: b + sum_j w_j max(T_ij + p_j, 0); MLP_DEEP: relu(T_i + p) then the flattened
    layers (row-major (out, in) weights at w_ptr, biases at b_ptr, widths dims). seen: the queries' sorted
    rows concatenated (query q: seen[seen_ptr[q]:seen_ptr[q + 1]]). Writes out_s/out_i (B, num_blocks, k);
    unused slots get (-inf, -1).
    """
    n = table.shape[0]
    nq = query.shape[0]
    width = 1
    for d in dims:
        width = max(width, d)
    rows = (n + num_blocks - 1) // num_blocks
    for blk in prange(num_blocks):
        a = np.empty(width, dtype=np.float32)
        c = np.empty(width, dtype=np.float32)
        buf = np.empty(TILE, dtype=np.float32)
        start = blk * rows
        stop = min(n, start + rows)
        sizes = np.zeros(nq, dtype=np.int64)
        s_ptr = np.empty(nq, dtype=np.int64)
        for q in range(nq):
            s_ptr[q] = seen_ptr[q] + np.searchsorted(seen[seen_ptr[q] : seen_ptr[q + 1]], start)
        for tile in range(start, stop, TILE):
            tile_stop = min(stop, tile + TILE)
            for q in range(nq):  # the tile is read from memory once, then from cache for the other queries
                p = query[q]
                # 1) score the tile (a branch-free loop the compiler vectorises), 2) exclusion + heap
                if mode == MLP1:
                    for i in range(tile, tile_stop):
                        buf[i - tile] = _score_mlp1(table, i, p, w, b)
                elif mode == DOT:
                    for i in range(tile, tile_stop):
                        buf[i - tile] = _score_dot(table, i, p)
                else:
                    for i in range(tile, tile_stop):
                        buf[i - tile] = _score_deep(table, i, p, weights, biases, w_ptr, b_ptr, dims, a, c)
                hs = out_s[q, blk]
                hi = out_i[q, blk]
                size = sizes[q]
                ptr = s_ptr[q]
                end = seen_ptr[q + 1]
                for i in range(tile, tile_stop):
                    score = buf[i - tile]
                    if size == k and score <= hs[0]:  # the common case: not better than the worst kept
                        continue
                    while ptr < end and seen[ptr] < i:
                        ptr += 1
                    if ptr < end and seen[ptr] == i:
                        continue
                    size = _push(hs, hi, size, k, score, i)
                sizes[q] = size
                s_ptr[q] = ptr
        for q in range(nq):
            for r in range(sizes[q], k):
                out_s[q, blk, r] = -np.inf
                out_i[q, blk, r] = -1


def _serial_twin(dispatcher, name):
    """The same Python function compiled without ``parallel`` (``prange`` runs as ``range``), named ``name``.

    A process that scores on one thread needs no thread pool: its kernels can be compiled before ``fork`` and
    shared by the children (a parallel kernel starts numba's threading layer when it compiles, and a forked
    child inherits a pool without its threads). The own name keeps numba's cache files apart from the parallel
    version's (the cache index is keyed by the name and the bytecode, not by the ``parallel`` flag).
    """
    py = dispatcher.py_func
    twin = types.FunctionType(py.__code__, py.__globals__, name, py.__defaults__, py.__closure__)
    twin.__qualname__ = name
    twin.__doc__ = py.__doc__
    return _jit(twin)


topk_serial = _serial_twin(topk, "topk_serial")
