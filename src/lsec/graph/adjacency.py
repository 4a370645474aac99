"""Normalised adjacency of a bipartite graph made homogeneous, and propagation over it.

A bipartite graph with ``A`` of shape ``(n_src, n_dst)`` becomes the ``(N, N)`` matrix, ``N = n_src + n_dst``::

    [[0,   A],
     [A^T, 0]]     (+ I with self loops)

normalised symmetrically, ``D^-1/2 A D^-1/2`` (GCN, LightGCN). Source nodes take rows ``0..n_src-1``,
destination nodes rows ``n_src..N-1``.

This is the one propagation path of the project: LSEC-GNN, LightGCN, GCN-RS and later MMBee / DM-GNN
all call :func:`propagate`.
"""

from __future__ import annotations

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
    """

    matrix: torch.Tensor
    num_src: int
    num_dst: int
    self_loops: bool = False

    @property
    def num_nodes(self) -> int:
        return self.num_src + self.num_dst

    @property
    def num_edges(self) -> int:
        return int(self.matrix._nnz())


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
    full.sort_indices()
    matrix = torch.sparse_csr_tensor(
        torch.from_numpy(full.indptr.astype(np.int64)),
        torch.from_numpy(full.indices.astype(np.int64)),
        torch.from_numpy(full.data),
        size=(n, n),
    )
    return BipartiteAdjacency(matrix=matrix, num_src=num_src, num_dst=num_dst, self_loops=self_loops)


def propagate(adjacency: BipartiteAdjacency, x: torch.Tensor) -> torch.Tensor:
    """One propagation step ``Â @ x``.

    Shapes:
        x: (N, d) -> (N, d)
    """
    return adjacency.matrix @ x
