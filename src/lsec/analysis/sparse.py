"""Binary CSR adjacency and vectorised row-set operations used by the influence analysis.

Everything here works on batches of node pairs at once: a set intersection ``|N(a) ∩ N(b)|`` for K pairs
costs one ``np.searchsorted`` over the neighbours of the smaller side of each pair, never a Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from lsec.data.graph import EdgeTable


@dataclass(frozen=True)
class BinaryCSR:
    """A 0/1 adjacency (duplicates merged) with sorted neighbour lists and a sorted key index.

    Attributes:
        indptr: (num_rows + 1,) int64 row pointers.
        indices: (nnz,) int32 column of each entry, sorted within each row.
        num_rows, num_cols: shape.
        keys: (nnz,) int64 ``row * num_cols + col``, globally sorted (used for membership tests).
        degree: (num_rows,) int64 number of distinct neighbours of each row.
    """

    indptr: np.ndarray
    indices: np.ndarray
    num_rows: int
    num_cols: int
    keys: np.ndarray
    degree: np.ndarray

    @classmethod
    def from_keys(cls, keys: np.ndarray, num_rows: int, num_cols: int) -> BinaryCSR:
        """From sorted, distinct ``row * num_cols + col`` keys."""
        width = max(num_cols, 1)
        rows = keys // width
        cols = (keys - rows * width).astype(np.int32)
        indptr = np.zeros(num_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=num_rows), out=indptr[1:])
        return cls(indptr, cols, num_rows, num_cols, keys, np.diff(indptr))

    @classmethod
    def from_edges(cls, src: np.ndarray, dst: np.ndarray, num_rows: int, num_cols: int) -> BinaryCSR:
        keys = np.sort(src.astype(np.int64) * max(num_cols, 1) + dst.astype(np.int64))
        distinct = np.ones(keys.shape[0], dtype=bool)
        distinct[1:] = keys[1:] != keys[:-1]
        return cls.from_keys(keys[distinct], num_rows, num_cols)

    @classmethod
    def from_table(cls, table: EdgeTable, num_rows: int, num_cols: int, transpose: bool = False) -> BinaryCSR:
        if transpose:
            return cls.from_edges(table.dst, table.src, num_cols, num_rows)
        return cls.from_edges(table.src, table.dst, num_rows, num_cols)

    def transpose(self) -> BinaryCSR:
        csc = self.to_scipy().tocsc()  # O(nnz) counting sort in C++; rows stay sorted within each column
        rows = csc.indices.astype(np.int64)
        cols = np.repeat(np.arange(self.num_cols, dtype=np.int64), np.diff(csc.indptr))
        return BinaryCSR.from_keys(cols * max(self.num_rows, 1) + rows, self.num_cols, self.num_rows)

    def select(self, mask: np.ndarray) -> BinaryCSR:
        """The entries where ``mask`` (nnz,) holds."""
        return BinaryCSR.from_keys(self.keys[mask], self.num_rows, self.num_cols)

    @property
    def nnz(self) -> int:
        return int(self.indices.shape[0])

    def to_scipy(self) -> sp.csr_matrix:
        data = np.ones(self.nnz, dtype=np.float32)
        return sp.csr_matrix((data, self.indices, self.indptr), shape=(self.num_rows, self.num_cols))

    def contains(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """(K,) bool: is ``(rows[k], cols[k])`` an entry?"""
        query = rows.astype(np.int64) * max(self.num_cols, 1) + cols.astype(np.int64)
        if self.nnz == 0:
            return np.zeros(query.shape, dtype=bool)
        pos = np.minimum(np.searchsorted(self.keys, query), self.nnz - 1)
        return np.asarray(self.keys[pos] == query)

    def expand(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Neighbours of a batch of rows, flattened: ``(owner, col)`` with ``owner`` the position in ``rows``."""
        counts = self.degree[rows]
        owner = np.repeat(np.arange(rows.shape[0], dtype=np.int64), counts)
        starts = np.repeat(self.indptr[rows], counts)
        offsets = np.arange(owner.shape[0], dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        return owner, self.indices[starts + offsets]

    def sample_neighbour(self, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One uniformly drawn neighbour per row (rows must have degree >= 1)."""
        offset = np.floor(rng.random(rows.shape[0]) * self.degree[rows]).astype(np.int64)
        return self.indices[self.indptr[rows] + offset].astype(np.int64)

    def sample_other_neighbour(self, rows: np.ndarray, exclude: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One neighbour per row drawn uniformly among those different from ``exclude`` (which must be one).

        Rows need degree >= 2. Exact and loop-free: draw among ``degree - 1`` slots and skip the slot of
        ``exclude`` (its position is found in the globally sorted key index).
        """
        position = (
            np.searchsorted(self.keys, rows.astype(np.int64) * max(self.num_cols, 1) + exclude) - self.indptr[rows]
        )
        slot = np.floor(rng.random(rows.shape[0]) * (self.degree[rows] - 1)).astype(np.int64)
        slot += slot >= position
        return self.indices[self.indptr[rows] + slot].astype(np.int64)


def intersection_sizes(left: BinaryCSR, right: BinaryCSR, rows_left: np.ndarray, rows_right: np.ndarray) -> np.ndarray:
    """(K,) ``|N_left(rows_left[k]) ∩ N_right(rows_right[k])|`` for two adjacencies over the same columns.

    Expands the shorter neighbour list of each pair and looks its entries up in the other side's key
    index, so the cost is ``sum_k min(deg_left, deg_right) * log(nnz)``.
    """
    if left.num_cols != right.num_cols:
        raise ValueError(f"Both adjacencies must share their columns. Got {left.num_cols} and {right.num_cols}.")
    rows_left = np.asarray(rows_left, dtype=np.int64)
    rows_right = np.asarray(rows_right, dtype=np.int64)
    out = np.zeros(rows_left.shape[0], dtype=np.int64)
    left_shorter = left.degree[rows_left] <= right.degree[rows_right]
    for shorter, longer, mask in ((left, right, left_shorter), (right, left, ~left_shorter)):
        pick = np.flatnonzero(mask)
        if pick.size == 0:
            continue
        expand_rows = rows_left[pick] if shorter is left else rows_right[pick]
        lookup_rows = rows_right[pick] if shorter is left else rows_left[pick]
        owner, cols = shorter.expand(expand_rows)
        found = longer.contains(lookup_rows[owner], cols)
        out[pick] = np.bincount(owner[found], minlength=pick.size)
    return out


def jaccard(matrix: BinaryCSR, rows_a: np.ndarray, rows_b: np.ndarray) -> np.ndarray:
    """(K,) Jaccard similarity of the neighbour sets of row pairs (0 when both sets are empty)."""
    inter = intersection_sizes(matrix, matrix, rows_a, rows_b).astype(np.float64)
    union = matrix.degree[rows_a] + matrix.degree[rows_b] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def rewire(
    matrix: BinaryCSR, rng: np.random.Generator, max_rounds: int = 50, candidates: int = 8
) -> tuple[BinaryCSR, int]:
    """Degree-preserving random rewiring (configuration model without repeated pairs) of a bipartite adjacency.

    The column endpoints of all edges are shuffled, so every row and every column keeps its degree while who
    is linked to whom becomes random. Each pair that then occurs twice is repaired by a double-edge swap with
    a random other edge, ``(a, x), (b, y) -> (a, y), (b, x)``, allowed when neither new pair exists (degrees
    are unchanged). Swaps run in vectorised rounds (``candidates`` random partners tried per repeated pair,
    each edge and each new pair used once per round); pairs still repeated after ``max_rounds`` are dropped.
    Returns (rewired, pairs dropped).
    """
    rows = np.repeat(np.arange(matrix.num_rows, dtype=np.int64), matrix.degree)
    cols = rng.permutation(matrix.indices).astype(np.int64)
    width = max(matrix.num_cols, 1)
    n = cols.shape[0]
    keys = rows * width + cols
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    pending = order[1:][ordered[1:] == ordered[:-1]]  # later occurrences of a repeated pair
    for round_index in range(max_rounds):
        if pending.size == 0:
            break
        if round_index:
            ordered = np.sort(rows * width + cols)
        partner = rng.integers(0, n, (pending.size, candidates))  # (P, C) candidate edges
        row_a, col_a = rows[pending][:, None], cols[pending][:, None]
        new_a = row_a * width + cols[partner]
        new_b = rows[partner] * width + col_a
        exists_a = ordered[np.minimum(np.searchsorted(ordered, new_a), n - 1)] == new_a
        exists_b = ordered[np.minimum(np.searchsorted(ordered, new_b), n - 1)] == new_b
        valid = ~exists_a & ~exists_b & (rows[partner] != row_a) & (cols[partner] != col_a)
        chosen = valid.argmax(axis=1)
        pick = np.flatnonzero(valid.any(axis=1))
        a, b = pending[pick], partner[pick, chosen[pick]]
        key_a, key_b = new_a[pick, chosen[pick]], new_b[pick, chosen[pick]]
        accept = _used_once(np.concatenate([a, b])) & _used_once(np.concatenate([key_a, key_b]))
        accept = accept[: a.size] & accept[a.size :]
        a, b = a[accept], b[accept]
        cols[a], cols[b] = cols[b], cols[a].copy()
        pending = np.setdiff1d(pending, a, assume_unique=True)
    rewired = BinaryCSR.from_edges(rows, cols, matrix.num_rows, matrix.num_cols)
    return rewired, matrix.nnz - rewired.nnz


def _used_once(values: np.ndarray) -> np.ndarray:
    """(n,) bool: the value occurs exactly once in ``values``."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    return np.asarray(counts[inverse] == 1)
