"""Concat + MLP pair scorer whose first layer is split for fast full-catalogue scoring.

For a query (user) vector ``q`` and a target (item or streamer) vector ``t`` the scorer computes::

    h1 = act(W1 [t || q] + b1) = act(W_t t + W_q q + b1)
    s  = MLP_rest(h1)                      (a logit; sigmoid gives the probability)

Because the first layer is linear in the concatenation, ``W_t t`` can be precomputed once per target
and ``W_q q + b1`` once per query; scoring a query against the whole catalogue is then one pass over
the ``(num_targets, hidden)`` table. :meth:`PairMLPScorer.score_all` does exactly that, in blocks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class PairMLPScorer(nn.Module):
    """MLP over ``[target || query]`` with a decomposed first layer.

    Args:
        query_dim: size of the query vector (e.g. ``E_u^buy || E_u^follow``).
        target_dim: size of the target vector (e.g. ``E_i^sell || E_i^buy``).
        hidden_dims: hidden layer sizes; the slides use ``(128,)`` then a 1-unit output.
        dropout: dropout after each hidden activation (training only).

    Shapes:
        forward: query (B, query_dim), target (B, target_dim) -> (B,) logits
        score_all: query (B, query_dim), target (T, target_dim) -> (B, T) logits
    """

    def __init__(
        self,
        query_dim: int,
        target_dim: int,
        hidden_dims: Sequence[int] = (128,),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not hidden_dims:
            raise ValueError("The 'hidden_dims' parameter of PairMLPScorer must name at least one layer.")
        self.query_dim = query_dim
        self.target_dim = target_dim
        self.hidden_dims = tuple(int(h) for h in hidden_dims)
        first = self.hidden_dims[0]
        self.target_proj = nn.Linear(target_dim, first, bias=False)
        self.query_proj = nn.Linear(query_dim, first, bias=True)  # carries b1
        layers: list[nn.Module] = []
        widths = [*self.hidden_dims, 1]
        for i in range(len(widths) - 1):
            layers.append(nn.Linear(widths[i], widths[i + 1]))
        self.rest = nn.ModuleList(layers)
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.target_proj.reset_parameters()
        self.query_proj.reset_parameters()
        for layer in self.rest:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()

    def query_part(self, query: torch.Tensor) -> torch.Tensor:
        """``W_q q + b1``: (B, query_dim) -> (B, hidden)."""
        return self.query_proj(query)

    def target_part(self, target: torch.Tensor) -> torch.Tensor:
        """``W_t t``: (T, target_dim) -> (T, hidden)."""
        return self.target_proj(target)

    def head(self, first_pre: torch.Tensor) -> torch.Tensor:
        """Everything after the first linear map: (..., hidden) -> (...,) logits."""
        h = self.dropout(torch.relu(first_pre))
        for i, layer in enumerate(self.rest):
            h = layer(h)
            if i < len(self.rest) - 1:
                h = self.dropout(torch.relu(h))
        return h.squeeze(-1)

    def forward(self, query: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.head(self.query_part(query) + self.target_part(target))

    @torch.no_grad()
    def score_all(self, query: torch.Tensor, target: torch.Tensor, *, block_size: int = 8192) -> torch.Tensor:
        """Exact scores of every query against every target, in target blocks (bounded memory)."""
        q = self.query_part(query)  # (B, h)
        t = self.target_part(target)  # (T, h)
        return score_from_parts(self, q, t, block_size=block_size)

    def __repr__(self) -> str:
        dims = " -> ".join(str(d) for d in (self.query_dim + self.target_dim, *self.hidden_dims, 1))
        return f"{type(self).__name__}({dims})"


@torch.no_grad()
def score_from_parts(
    scorer: PairMLPScorer, query_part: torch.Tensor, target_part: torch.Tensor, *, block_size: int = 8192
) -> torch.Tensor:
    """Scores from precomputed first-layer parts: (B, h), (T, h) -> (B, T)."""
    num_targets = target_part.shape[0]
    out = torch.empty(query_part.shape[0], num_targets, dtype=query_part.dtype)
    for start in range(0, num_targets, block_size):
        block = target_part[start : start + block_size]  # (b, h)
        out[:, start : start + block.shape[0]] = scorer.head(query_part[:, None, :] + block[None, :, :])
    return out
