"""LightGCN with the dot-product scorer (He et al., SIGIR 2020), the usual variant of the literature.

Each user and item has one free ``embedding_dim`` vector (the *ego* embedding ``E^(0)``). Propagation has
no weights and no nonlinearity::

    E^(l+1) = Â E^(l)            Â = D^-1/2 [[0, R], [R^T, 0]] D^-1/2  (no self loops)
    E       = sum_l alpha_l E^(l),   l = 0..L,   alpha_l = 1 / (L + 1)
    score(u, i) = <E_u, E_i>

Training (see :mod:`lsec.train.bpr`) uses the BPR loss with L2 regularisation on the ego embeddings of
the batch, as in the paper. The propagation is :func:`lsec.graph.adjacency.propagate` (symmetric sparse
product with a one-product backward).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from lsec.graph.adjacency import BipartiteAdjacency, propagate
from lsec.nn.models.base import BuyDotModel, Encoded


class LightGCN(BuyDotModel):
    """Dot-product LightGCN on the buy graph.

    Args:
        num_users, num_items: node counts of the buy graph.
        embedding_dim: size of the ego embeddings (the paper: 64).
        num_layers: propagation steps ``L`` (the paper: 3).
        init_std: standard deviation of the normal initialisation (the authors' code: 0.1).

    Shapes:
        encode: {"buy": adjacency over num_users + num_items nodes} -> {"buy.user": (num_users, d),
        "buy.item": (num_items, d)}
    """

    tasks = ("buy",)
    relations = ("buy",)

    def __init__(
        self, num_users: int, num_items: int, embedding_dim: int = 64, num_layers: int = 3, init_std: float = 0.1
    ) -> None:
        super().__init__()
        if num_layers < 0:
            raise ValueError(f"The 'num_layers' parameter of LightGCN must be a non-negative int. Got {num_layers}.")
        self.num_users = num_users
        self.num_items = num_items
        self.embedding_dim = embedding_dim
        self.num_layers = num_layers
        self.init_std = init_std
        # one table, users first (adjacency row order): no concatenation per step, one gather per batch
        self.embedding = nn.Parameter(torch.empty(num_users + num_items, embedding_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding, std=self.init_std)

    @property
    def user_embedding(self) -> torch.Tensor:
        """(num_users, d) ego embeddings of users (a view of :attr:`embedding`)."""
        return self.embedding[: self.num_users]

    @property
    def item_embedding(self) -> torch.Tensor:
        """(num_items, d) ego embeddings of items (a view of :attr:`embedding`)."""
        return self.embedding[self.num_users :]

    def ego(self) -> torch.Tensor:
        """(num_users + num_items, d): ego embeddings in adjacency row order (users first)."""
        return self.embedding

    def propagate(self, adjacency: BipartiteAdjacency) -> torch.Tensor:
        """(N, d) layer-combined embeddings ``sum_l E^(l) / (L + 1)``."""
        if adjacency.num_src != self.num_users or adjacency.num_dst != self.num_items:
            raise ValueError(
                f"LightGCN has {self.num_users} users and {self.num_items} items; the buy adjacency has "
                f"{adjacency.num_src} and {adjacency.num_dst}."
            )
        layer = self.ego()
        total = layer
        for _ in range(self.num_layers):
            layer = propagate(adjacency, layer)
            total = total + layer
        return total / (self.num_layers + 1)

    def encode(self, graphs: Mapping[str, BipartiteAdjacency]) -> Encoded:
        if "buy" not in graphs:
            raise ValueError(f"LightGCN reads the 'buy' graph; got graphs {sorted(graphs)}.")
        final = self.propagate(graphs["buy"])
        return {"buy.user": final[: self.num_users], "buy.item": final[self.num_users :]}

    def extra_repr(self) -> str:
        return (
            f"num_users={self.num_users}, num_items={self.num_items}, embedding_dim={self.embedding_dim}, "
            f"num_layers={self.num_layers}"
        )
