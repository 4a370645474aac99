"""Graph attention (Velickovic et al., 2018) on a bipartite graph made homogeneous.

For node ``i`` with neighbours ``N(i)`` (plus ``i`` itself, see below), per head::

    z_j     = W h_j
    e_ij    = LeakyReLU( a_dst . z_i + a_src . z_j )            (slope 0.2)
    alpha_ij = exp(e_ij) / sum_{k in N(i) + {i}} exp(e_ik)       (softmax per destination node i)
    h'_i    = sigma( mean_heads( sum_j alpha_ij z_j ) + b )

Self loops: a bipartite graph ``[[0, A], [A^T, 0]]`` has none, so without them a user's update would be
made of item vectors only and its own embedding would be lost after one layer. The layer therefore
attends over ``N(i) + {i}``: it drops any diagonal the adjacency already carries (one built with
``self_loops=True``) and inserts exactly one self loop per node, so both kinds of adjacency give the
same result. Only the sparsity pattern of the adjacency is used; its normalised values are ignored.

Everything is vectorised over the edges: scores and the softmax are per-edge vectors reduced with
``scatter_reduce`` / ``index_add``; the weighted sum is one sparse CSR product per head. That product
does not go through :func:`lsec.graph.adjacency.propagate` on purpose: its values are the attention
weights, which need gradients, while ``propagate`` treats its matrix as a constant. Autograd's own
backward for the values of a CSR product builds the dense ``(N, N)`` gradient (14 GB on the LSEC-Small
buy graph), so :class:`AttentionSpMM` supplies one: ``dL/dalpha`` is the sampled product
``(dL/dout @ z^T)`` at the edges (``torch.sparse.sampled_addmm``) and ``dL/dz = A_alpha^T @ dL/dout``,
whose values are ``alpha`` permuted (the pattern is symmetric).

The pattern with self loops (and that permutation) is computed once per adjacency and cached while the
adjacency's matrix is alive: training encodes the same graphs at every step.
"""

from __future__ import annotations

import warnings
import weakref
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lsec.graph.adjacency import BipartiteAdjacency


@dataclass(frozen=True)
class AttentionStructure:
    """The CSR pattern of ``A + I`` (one self loop per node) and the permutation giving its transpose.

    Attributes:
        crow: (N+1,) row pointers; col: (E',) column indices, sorted within each row; row: (E',) row index.
        transpose: (E',) entry ``transpose[k]`` is ``(col[k], row[k])``: ``values[transpose]`` are the values
            of ``A^T`` in this same pattern (the pattern of a homogeneous bipartite graph is symmetric).
    """

    crow: torch.Tensor
    col: torch.Tensor
    row: torch.Tensor
    transpose: torch.Tensor

    @property
    def num_nodes(self) -> int:
        return self.crow.numel() - 1

    def csr(self, values: torch.Tensor) -> torch.Tensor:
        """The ``(N, N)`` sparse CSR matrix with this pattern and ``values`` (E',)."""
        with warnings.catch_warnings():  # torch flags sparse CSR as beta at every construction
            warnings.simplefilter("ignore", UserWarning)
            n = self.num_nodes
            return torch.sparse_csr_tensor(self.crow, self.col, values, size=(n, n))


_CACHE: dict[int, tuple[weakref.ref, AttentionStructure]] = {}
_CACHE_SIZE = 16


def attention_structure(adjacency: BipartiteAdjacency) -> AttentionStructure:
    """Sparsity pattern of ``A`` with exactly one self loop per node (cached per adjacency matrix).

    Existing diagonal entries are dropped first, so adjacencies built with or without self loops agree.
    Column indices stay sorted within each row when they were sorted in the input (as
    :func:`~lsec.graph.adjacency.bipartite_adjacency` guarantees).
    """
    matrix = adjacency.matrix
    cached = _CACHE.get(id(matrix))
    if cached is not None and cached[0]() is matrix:
        return cached[1]
    structure = _build_structure(matrix, adjacency.num_nodes)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.clear()
    _CACHE[id(matrix)] = (weakref.ref(matrix), structure)
    return structure


def _build_structure(matrix: torch.Tensor, n: int) -> AttentionStructure:
    crow = matrix.crow_indices().long()  # the adjacency may store int32 indices
    col = matrix.col_indices().long()
    row = torch.repeat_interleave(torch.arange(n), crow.diff())  # (E,)
    keep = row != col  # drop existing diagonal entries
    row, col = row[keep], col[keep]
    counts = torch.bincount(row, minlength=n)  # (N,) off-diagonal entries per row
    left_of_diagonal = torch.bincount(row[col < row], minlength=n)  # (N,)
    new_crow = torch.zeros(n + 1, dtype=torch.long)
    new_crow[1:] = torch.cumsum(counts + 1, 0)
    # Entry k (row r) moves right by the r self loops of earlier rows, plus its own row's loop if col > r.
    position = torch.arange(row.numel()) + row + (col > row).long()  # (E,)
    loop_position = new_crow[:-1] + left_of_diagonal  # (N,)
    nodes = torch.arange(n)
    new_col = torch.empty(row.numel() + n, dtype=torch.long)
    new_row = torch.empty(row.numel() + n, dtype=torch.long)
    new_col[position] = col
    new_row[position] = row
    new_col[loop_position] = nodes
    new_row[loop_position] = nodes
    # Entries are sorted by (row, col); sorting the swapped keys (col, row) lists, for each position,
    # the entry holding its mirror image.
    transpose = torch.argsort(new_col * n + new_row)
    return AttentionStructure(crow=new_crow, col=new_col, row=new_row, transpose=transpose)


class AttentionSpMM(torch.autograd.Function):
    """``out = A_alpha @ z`` with gradients for both the edge values ``alpha`` and ``z``, never densely.

    ``forward(ctx, structure, values (E',), z (N, d)) -> (N, d)``.
    """

    @staticmethod
    def forward(ctx, structure: AttentionStructure, values: torch.Tensor, z: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.structure = structure
        ctx.save_for_backward(values, z)
        return structure.csr(values) @ z

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, torch.Tensor | None, torch.Tensor | None]:  # type: ignore[override]
        structure: AttentionStructure = ctx.structure
        values, z = ctx.saved_tensors
        grad = grad.contiguous()
        grad_values = grad_z = None
        if ctx.needs_input_grad[1]:  # dL/dalpha_ij = <grad_i, z_j>, only at the edges
            grad_values = torch.sparse.sampled_addmm(structure.csr(values), grad, z.T, beta=0.0).values()
        if ctx.needs_input_grad[2]:  # dL/dz = A_alpha^T @ grad
            grad_z = structure.csr(values[structure.transpose]) @ grad
        return None, grad_values, grad_z


def segment_softmax(scores: torch.Tensor, row: torch.Tensor, num_rows: int) -> torch.Tensor:
    """Softmax of per-edge scores within each destination row.

    Shapes:
        scores: (E, H), row: (E,) -> (E, H); every row index must occur at least once.
    """
    index = row[:, None].expand_as(scores)  # (E, H)
    row_max = torch.full((num_rows, scores.shape[1]), float("-inf"), dtype=scores.dtype)
    row_max = row_max.scatter_reduce(0, index, scores.detach(), reduce="amax", include_self=True)  # (N, H)
    exp = torch.exp(scores - row_max.index_select(0, row))  # (E, H), shift for stability (softmax is shift invariant)
    denominator = torch.zeros(num_rows, scores.shape[1], dtype=scores.dtype).index_add(0, row, exp)  # (N, H)
    return exp / denominator.index_select(0, row)


class GATConv(nn.Module):
    """Multi-head graph attention with explicit self loops; heads are averaged.

    Args:
        in_dim: input feature size.
        out_dim: output feature size (each head has this width; heads are averaged).
        heads: number of attention heads.
        negative_slope: LeakyReLU slope of the attention scores.
        attention_dropout: dropout on the attention weights (training only).
        bias: add a learnable bias.
        activation: apply ReLU to the output.

    Shapes:
        adjacency: (N, N) sparse, N = num_src + num_dst (only its pattern is used)
        x: (N, in_dim) -> (N, out_dim)
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        *,
        heads: int = 1,
        negative_slope: float = 0.2,
        attention_dropout: float = 0.0,
        bias: bool = True,
        activation: bool = True,
    ) -> None:
        super().__init__()
        if in_dim <= 0 or out_dim <= 0 or heads <= 0:
            raise ValueError(
                f"GATConv needs positive in_dim, out_dim and heads. Got {in_dim}, {out_dim} and {heads} instead."
            )
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.heads = heads
        self.negative_slope = negative_slope
        self.activation = activation
        self.weight = nn.Parameter(torch.empty(in_dim, heads * out_dim))
        self.att_src = nn.Parameter(torch.empty(heads, out_dim))
        self.att_dst = nn.Parameter(torch.empty(heads, out_dim))
        self.bias = nn.Parameter(torch.empty(out_dim)) if bias else None
        self.attention_dropout = nn.Dropout(attention_dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.weight)
        nn.init.xavier_uniform_(self.att_src)
        nn.init.xavier_uniform_(self.att_dst)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def _attend(
        self, adjacency: BipartiteAdjacency, x: torch.Tensor
    ) -> tuple[AttentionStructure, torch.Tensor, torch.Tensor]:
        n = adjacency.num_nodes
        structure = attention_structure(adjacency)
        z = (x @ self.weight).view(n, self.heads, self.out_dim)  # (N, H, d)
        score_src = (z * self.att_src).sum(-1)  # (N, H)
        score_dst = (z * self.att_dst).sum(-1)  # (N, H)
        # index_select, not [] indexing: its backward is an index_add, several times faster than index_put
        pair = score_dst.index_select(0, structure.row) + score_src.index_select(0, structure.col)  # (E', H)
        scores = F.leaky_relu(pair, self.negative_slope)  # (E', H)
        alpha = segment_softmax(scores, structure.row, n)  # (E', H)
        return structure, alpha, z

    def attention_weights(
        self, adjacency: BipartiteAdjacency, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(row (E',), col (E',), alpha (E', H))``: weight of source ``col`` in destination ``row``'s update."""
        structure, alpha, _ = self._attend(adjacency, x)
        return structure.row, structure.col, alpha

    def forward(self, adjacency: BipartiteAdjacency, x: torch.Tensor) -> torch.Tensor:
        structure, alpha, z = self._attend(adjacency, x)
        alpha = self.attention_dropout(alpha)
        heads = [
            AttentionSpMM.apply(structure, alpha[:, h].contiguous(), z[:, h, :].contiguous()) for h in range(self.heads)
        ]
        h = torch.stack(heads).mean(0)  # (N, d)
        if self.bias is not None:
            h = h + self.bias
        return torch.relu(h) if self.activation else h

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.in_dim}, {self.out_dim}, heads={self.heads})"
