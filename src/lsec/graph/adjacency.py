"""Normalised adjacency of a bipartite graph made homogeneous, and propagation over it.

A bipartite graph with ``A`` of shape ``(n_src, n_dst)`` becomes the ``(N, N)`` matrix, ``N = n_src + n_dst``::

    [[0,   A],
     [A^T, 0]]     (+ I with self loops)

normalised symmetrically, ``D^-1/2 A D^-1/2`` (GCN, LightGCN). Source nodes take rows ``0..n_src-1``,
destination nodes rows ``n_src..N-1``.

This is the one propagation path of the project: LSEC-GNN, LightGCN, GCN-RS and later MMBee / DM-GNN
all call :func:`propagate`.

Speed: autograd's generic backward of a sparse CSR product builds ``A^T`` at every call, which costs
several times the product itself. The symmetric normalisations (``"sym"``, ``"none"``) give
``A^T = A``, so :func:`propagate` routes them through :class:`AdjacencySpMM`, whose backward is one more
``A @ grad``. The ``"left"`` normalisation is not symmetric: its transpose is built once, at construction,
and the backward multiplies by it. Both paths are float32 CSR products (MKL, multi-threaded).
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch


@dataclass(frozen=True)
class BipartiteAdjacency:
    """A normalised homogeneous adjacency of a bipartite graph.

    Attributes:
        matrix: ``(N, N)`` torch sparse CSR tensor, float32.
        num_src: number of source-type nodes (rows ``0..num_src-1``).
        num_dst: number of destination-type nodes.
        self_loops: whether ``I`` was added before normalising.
        transpose: ``matrix^T`` as a CSR tensor when ``matrix`` is not symmetric (``"left"``
            normalisation), ``None`` when it is (then the backward of :func:`propagate` reuses ``matrix``).
    """

    matrix: torch.Tensor
    num_src: int
    num_dst: int
    self_loops: bool = False
    transpose: torch.Tensor | None = None

    @property
    def symmetric(self) -> bool:
        return self.transpose is None

    @property
    def num_nodes(self) -> int:
        return self.num_src + self.num_dst

    @property
    def num_edges(self) -> int:
        return int(self.matrix._nnz())

    def to(self, device: torch.device | str) -> BipartiteAdjacency:
        """The same adjacency with its matrices on ``device`` (``self`` when they are there already)."""
        device = torch.device(device)
        if self.matrix.device == device:
            return self
        transpose = None if self.transpose is None else self.transpose.to(device)
        return dataclasses.replace(self, matrix=self.matrix.to(device), transpose=transpose)


def bipartite_adjacency(
    src: np.ndarray,
    dst: np.ndarray,
    num_src: int,
    num_dst: int,
    *,
    weight: np.ndarray | None = None,
    self_loops: bool = False,
    normalization: str = "sym",
) -> BipartiteAdjacency:
    """Build the normalised ``[[0, A], [A^T, 0]]`` adjacency.

    Duplicate ``(src, dst)`` pairs are merged (weights summed; unweighted graphs count a pair once).

    Args:
        src, dst: (E,) integer node indices.
        num_src, num_dst: node counts of the two sides.
        weight: optional (E,) edge weights; ``None`` means 1.
        self_loops: add ``I`` before normalising (GCN); LightGCN uses none.
        normalization: ``"sym"`` (``D^-1/2 A D^-1/2``), ``"left"`` (``D^-1 A``, mean) or ``"none"``.
    """
    if normalization not in ("sym", "left", "none"):
        raise ValueError(
            f"The 'normalization' parameter of bipartite_adjacency must be 'sym', 'left' or 'none'. "
            f"Got {normalization!r} instead."
        )
    n = num_src + num_dst
    values = np.ones(len(src), dtype=np.float32) if weight is None else np.asarray(weight, np.float32)
    a = sp.coo_matrix((values, (np.asarray(src), np.asarray(dst))), shape=(num_src, num_dst)).tocsr()
    a.sum_duplicates()
    if weight is None:
        a.data[:] = 1.0
    full = sp.bmat([[None, a], [a.T, None]], format="csr", dtype=np.float32)
    if full.shape != (n, n):  # bmat drops empty blocks' sizes when a side has no nodes
        full = sp.csr_matrix(full, shape=(n, n))
    if self_loops:
        full = (full + sp.identity(n, dtype=np.float32, format="csr")).tocsr()
    degree = np.asarray(full.sum(axis=1)).ravel()
    if normalization == "sym":
        inv = np.zeros_like(degree)
        np.power(degree, -0.5, out=inv, where=degree > 0)
        full = sp.diags(inv) @ full @ sp.diags(inv)
    elif normalization == "left":
        inv = np.zeros_like(degree)
        np.divide(1.0, degree, out=inv, where=degree > 0)
        full = sp.diags(inv) @ full
    full = full.tocsr().astype(np.float32)
    transpose = to_torch_csr(full.T.tocsr()) if normalization == "left" else None
    return BipartiteAdjacency(
        matrix=to_torch_csr(full), num_src=num_src, num_dst=num_dst, self_loops=self_loops, transpose=transpose
    )


def to_torch_csr(matrix: sp.spmatrix) -> torch.Tensor:
    """A scipy sparse matrix as a float32 torch sparse CSR tensor (sorted column indices).

    Indices are int32 when they fit: the MKL product converts int64 indices at every call otherwise.
    """
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    matrix.sort_indices()
    index_dtype = np.int32 if matrix.nnz < 2**31 - 1 and max(matrix.shape) < 2**31 - 1 else np.int64
    with warnings.catch_warnings():  # torch flags sparse CSR as beta at every construction
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(matrix.indptr.astype(index_dtype)),
            torch.from_numpy(matrix.indices.astype(index_dtype)),
            torch.from_numpy(matrix.data.astype(np.float32)),
            size=matrix.shape,
        )


class AdjacencySpMM(torch.autograd.Function):
    """``y = A @ x`` for a constant sparse ``A`` whose transpose is known: ``dL/dx = A^T @ dL/dy``.

    ``forward(ctx, matrix, transpose, x)``: pass ``transpose=None`` when ``matrix`` is symmetric.
    No gradient flows to the matrix (the adjacency is a constant of the model).
    """

    @staticmethod
    def forward(ctx, matrix: torch.Tensor, transpose: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.matrix = matrix if transpose is None else transpose
        return _spmm(matrix, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, None, torch.Tensor]:  # type: ignore[override]
        return None, None, _spmm(ctx.matrix, grad.contiguous())


def _spmm(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``matrix @ x`` into a fresh output; ``beta=0`` skips zero-filling it (2-d float ``x`` only)."""
    if x.dim() != 2 or x.dtype != matrix.dtype:
        return matrix @ x
    out = x.new_empty((matrix.shape[0], x.shape[1]))
    return torch.addmm(out, matrix, x, beta=0.0, out=out)


class RowGather(torch.autograd.Function):
    """``table.index_select(0, index)`` whose backward is one sparse product instead of ``index_add_``.

    The gradient of the table is ``S @ grad`` with ``S`` the ``(num_rows, len(index))`` 0/1 CSR matrix that has
    a one at ``(index[j], j)``. Each output row adds its contributions in ascending ``j``, the order
    ``index_add_`` (autograd's backward of ``index_select``) uses, so the gradient is the same bits; on 2 CPU
    threads it is several times faster (``index_add_`` scatters element by element).
    """

    @staticmethod
    def forward(ctx, table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.num_rows = table.shape[0]
        ctx.save_for_backward(index)
        return table.index_select(0, index)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (index,) = ctx.saved_tensors
        return _scatter_rows(index, grad.contiguous(), ctx.num_rows), None


def _scatter_rows(index: torch.Tensor, values: torch.Tensor, num_rows: int) -> torch.Tensor:
    """``zeros(num_rows, d).index_add_(0, index, values)`` as a CSR product on CPU (same order of sums, same bits)."""
    if index.device.type != "cpu" or values.dim() != 2 or values.dtype != torch.float32 or index.numel() >= 2**31 - 1:
        return values.new_zeros((num_rows, *values.shape[1:])).index_add_(0, index, values)
    keys = index.numpy()
    indptr = np.zeros(num_rows + 1, np.int32)
    np.cumsum(np.bincount(keys, minlength=num_rows), out=indptr[1:])
    # each row's columns in ascending order; numpy's stable argsort is a radix sort on 16-bit keys
    order = np.argsort(keys.astype(np.uint16) if num_rows <= 2**16 else keys, kind="stable").astype(np.int32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        matrix = torch.sparse_csr_tensor(
            torch.from_numpy(indptr),
            torch.from_numpy(order),
            torch.ones(len(order), dtype=values.dtype),
            size=(num_rows, len(order)),
        )
    return _spmm(matrix, values)


def gather_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table.index_select(0, index)`` with the fast backward of :class:`RowGather` (same values and gradients).

    Shapes:
        table (n, d), index (m,) int64 -> (m, d)
    """
    if not (table.requires_grad and torch.is_grad_enabled()):
        return table.index_select(0, index)
    return RowGather.apply(table, index)


def propagate(adjacency: BipartiteAdjacency, x: torch.Tensor) -> torch.Tensor:
    """One propagation step ``Â @ x`` (differentiable in ``x``; the backward is one more sparse product).

    Shapes:
        x: (N, d) -> (N, d)
    """
    if not (x.requires_grad and torch.is_grad_enabled()):
        return _spmm(adjacency.matrix, x)
    return AdjacencySpMM.apply(adjacency.matrix, adjacency.transpose, x)


class EdgeExclusion:
    """The normalised adjacency of a fixed bipartite graph with a few of its edges removed, rebuilt fast.

    Training with *seed-edge exclusion* propagates each batch over the training graph without the batch's own
    positive edges (and their reverses), so a model never learns "the pair is already linked", a fact that
    holds for every training positive and for no test pair. :meth:`without` returns exactly
    ``bipartite_adjacency(src, dst, ...)`` of the edges that remain (degrees, self loops and the symmetric
    normalisation recomputed), in ``O(nnz)`` vector operations: the unnormalised CSR is built once, and each
    call masks the removed entries, subtracts their degrees and recomputes ``1 / sqrt(d_r d_c)``.

    Args:
        src, dst: (E,) the graph's edges (duplicates merged, unweighted).
        num_src, num_dst: node counts of the two sides.
        self_loops: add ``I`` before normalising (GCN); never removed.

    Shapes:
        without(src (B,), dst (B,)) -> adjacency over num_src + num_dst nodes
    """

    def __init__(self, src: np.ndarray, dst: np.ndarray, num_src: int, num_dst: int, *, self_loops: bool) -> None:
        self.num_src, self.num_dst, self.self_loops = int(num_src), int(num_dst), self_loops
        n = self.num_src + self.num_dst
        keys = np.unique(np.asarray(src, np.int64) * self.num_dst + np.asarray(dst, np.int64))
        pair_src, pair_dst = keys // self.num_dst, keys % self.num_dst
        pair_id = np.arange(len(keys), dtype=np.int64)
        loops = np.arange(n if self_loops else 0, dtype=np.int64)
        rows = np.concatenate([pair_src, pair_dst + self.num_src, loops])
        cols = np.concatenate([pair_dst + self.num_src, pair_src, loops])
        ids = np.concatenate([pair_id, pair_id, np.full(len(loops), -1, np.int64)])  # -1: a self loop
        order = np.lexsort((cols, rows))  # CSR order with sorted column indices
        self.rows, self.cols, self.entry_pair = rows[order], cols[order], ids[order]
        self.keys = keys
        self.degree = np.bincount(self.rows, minlength=n).astype(np.float64)

    @property
    def num_nodes(self) -> int:
        return self.num_src + self.num_dst

    def without(self, src: np.ndarray, dst: np.ndarray) -> BipartiteAdjacency:
        """Symmetric-normalised adjacency of the graph minus the edges ``(src, dst)`` (absent ones are ignored)."""
        batch = np.unique(np.asarray(src, np.int64) * self.num_dst + np.asarray(dst, np.int64))
        where = np.searchsorted(self.keys, batch)
        found = where < len(self.keys)
        found[found] = self.keys[where[found]] == batch[found]
        removed_pairs = np.zeros(len(self.keys), bool)
        removed_pairs[where[found]] = True
        keep = self.entry_pair < 0
        keep |= ~removed_pairs[np.maximum(self.entry_pair, 0)]
        rows, cols = self.rows[keep], self.cols[keep]
        degree = np.bincount(rows, minlength=self.num_nodes).astype(np.float64)
        inv = np.zeros_like(degree)
        np.power(degree, -0.5, out=inv, where=degree > 0)
        values = (inv[rows] * inv[cols]).astype(np.float32)
        indptr = np.zeros(self.num_nodes + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=self.num_nodes), out=indptr[1:])
        index_dtype = np.int32 if len(rows) < 2**31 - 1 and self.num_nodes < 2**31 - 1 else np.int64
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            matrix = torch.sparse_csr_tensor(
                torch.from_numpy(indptr.astype(index_dtype)),
                torch.from_numpy(cols.astype(index_dtype)),
                torch.from_numpy(values),
                size=(self.num_nodes, self.num_nodes),
            )
        return BipartiteAdjacency(matrix=matrix, num_src=self.num_src, num_dst=self.num_dst, self_loops=self.self_loops)
