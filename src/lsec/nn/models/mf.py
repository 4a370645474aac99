"""Matrix factorisation scored by the inner product (the MF-BPR sanity floor).

``score(u, i) = <p_u, q_i>`` with free embeddings ``P`` (users) and ``Q`` (items); no graph is read. Trained
with the BPR loss ``-log sigmoid(score(u, i+) - score(u, i-))`` by the trainer; any model that does not beat
it on a dataset is not learning anything from the graph.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from lsec.graph.adjacency import BipartiteAdjacency
from lsec.nn.models.base import BuyDotModel, Encoded

EMBEDDING_STD = 0.1


class MatrixFactorization(BuyDotModel):
    """Dot-product matrix factorisation for the buy task.

    Args:
        num_users, num_items: node counts.
        embedding_dim: factor width.

    Shapes:
        encode -> {"buy.user": (num_users, embedding_dim), "buy.item": (num_items, embedding_dim)}
        score: users (B,), items (B,) -> (B,)
    """

    def __init__(self, num_users: int, num_items: int, *, embedding_dim: int = 64) -> None:
        super().__init__()
        if num_users <= 0 or num_items <= 0 or embedding_dim <= 0:
            raise ValueError(
                "MatrixFactorization needs positive num_users, num_items and embedding_dim. "
                f"Got {num_users}, {num_items} and {embedding_dim} instead."
            )
        self.tasks = ("buy",)
        self.relations = ("buy",)  # no graph is read; the trainer takes positives from the buy edges
        self.self_loops = False
        self.embedding_dim = embedding_dim
        self.num_users, self.num_items = num_users, num_items
        self.num_layers = 0  # for the BPR engine: no propagation, the ego table is the final one
        self.user = nn.Embedding(num_users, embedding_dim)
        self.item = nn.Embedding(num_items, embedding_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.user.weight, std=EMBEDDING_STD)
        nn.init.normal_(self.item.weight, std=EMBEDDING_STD)

    def ego(self) -> torch.Tensor:
        """(num_users + num_items, d): both tables, users first (the BPR engine's ego-table order)."""
        return torch.cat([self.user.weight, self.item.weight])

    def encode(self, graphs: Mapping[str, BipartiteAdjacency]) -> Encoded:
        return {"buy.user": self.user.weight, "buy.item": self.item.weight}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.user.num_embeddings} users, {self.item.num_embeddings} items, dim={self.embedding_dim})"
