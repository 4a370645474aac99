"""LightGCN propagation (He et al., 2020): no feature transform, no nonlinearity, mean layer combination.

With ``Â = D^-1/2 A D^-1/2`` (no self loops) and ``K`` layers::

    H^(k+1) = Â H^(k),          out = 1/(K+1) * sum_{k=0..K} H^(k)

The layer-0 term (the embeddings themselves) plays the role GCN's self loop plays, which is why the
adjacency must be built with ``self_loops=False``. There are no weights, so the output keeps the input width.
"""

from __future__ import annotations

import torch
from torch import nn

from lsec.graph.adjacency import BipartiteAdjacency, propagate


class LightGCNConv(nn.Module):
    """``K`` parameter-free propagation steps combined by their mean (layer 0 included).

    Args:
        num_layers: number of propagation steps ``K`` (0 returns the input unchanged).
        combine: ``"mean"`` of the ``K + 1`` layers (the paper) or ``"last"``: ``H^(K)`` alone (what the
            LSEC-GNN authors' code uses).

    Shapes:
        adjacency: (N, N) sparse, N = num_src + num_dst
        x: (N, d) -> (N, d)
    """

    def __init__(self, num_layers: int = 2, combine: str = "mean") -> None:
        super().__init__()
        if num_layers < 0:
            raise ValueError(f"The 'num_layers' parameter of LightGCNConv must be >= 0. Got {num_layers} instead.")
        if combine not in ("mean", "last"):
            raise ValueError(f"The 'combine' parameter of LightGCNConv must be 'mean' or 'last'. Got {combine!r}.")
        self.num_layers = num_layers
        self.combine = combine

    def reset_parameters(self) -> None:
        """Nothing to reset: the layer has no parameters (kept for a uniform interface)."""

    def forward(self, adjacency: BipartiteAdjacency, x: torch.Tensor) -> torch.Tensor:
        if adjacency.self_loops:
            raise ValueError(
                "LightGCNConv needs a BipartiteAdjacency built with self_loops=False (layer 0 already keeps "
                "each node's own embedding). Got one with self loops."
            )
        total = x
        h = x
        for _ in range(self.num_layers):
            h = propagate(adjacency, h)  # (N, d)
            if self.combine == "mean":
                total = total + h
        return h if self.combine == "last" else total / (self.num_layers + 1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_layers={self.num_layers}, combine={self.combine!r})"
