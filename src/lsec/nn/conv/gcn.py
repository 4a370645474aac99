"""Graph convolution (Kipf & Welling) on a bipartite graph made homogeneous.

One layer computes::

    H' = sigma( Â H W + b ),     Â = D~^-1/2 (A + I) D~^-1/2,   D~_ii = sum_j (A + I)_ij

where ``A = [[0, A_rel], [A_rel^T, 0]]`` is the homogeneous form of a bipartite relation and ``Â`` comes
precomputed in a :class:`~lsec.graph.adjacency.BipartiteAdjacency` built with ``self_loops=True``
(the self loop keeps a node's own embedding in its update). Â (H W) = (Â H) W, so the layer multiplies by
``W`` first when that makes the sparse product narrower.
"""

from __future__ import annotations

import torch
from torch import nn

from lsec.graph.adjacency import BipartiteAdjacency, propagate


class GCNConv(nn.Module):
    """``sigma(Â H W + b)`` over a normalised adjacency with self loops.

    Args:
        in_dim: input feature size.
        out_dim: output feature size.
        bias: add a learnable bias ``b``.
        activation: apply ReLU (``sigma``); ``False`` leaves the layer linear.

    Shapes:
        adjacency: (N, N) sparse, N = num_src + num_dst
        x: (N, in_dim) -> (N, out_dim)
    """

    def __init__(self, in_dim: int, out_dim: int, *, bias: bool = True, activation: bool = True) -> None:
        super().__init__()
        if in_dim <= 0 or out_dim <= 0:
            raise ValueError(f"The dims of GCNConv must be positive ints. Got in_dim={in_dim}, out_dim={out_dim}.")
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.activation = activation
        self.weight = nn.Parameter(torch.empty(in_dim, out_dim))
        self.bias = nn.Parameter(torch.empty(out_dim)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, adjacency: BipartiteAdjacency, x: torch.Tensor) -> torch.Tensor:
        if not adjacency.self_loops:
            raise ValueError(
                "GCNConv needs a BipartiteAdjacency built with self_loops=True (Â = D^-1/2 (A + I) D^-1/2). "
                "Got one without self loops."
            )
        if self.out_dim < self.in_dim:
            h = propagate(adjacency, x @ self.weight)  # (N, out_dim): narrower sparse product
        else:
            h = propagate(adjacency, x) @ self.weight  # (N, out_dim)
        if self.bias is not None:
            h = h + self.bias
        return torch.relu(h) if self.activation else h

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.in_dim}, {self.out_dim})"
