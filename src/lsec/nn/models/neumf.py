"""NeuMF (He et al., 2017): generalised matrix factorisation and an MLP tower, fused by a final linear layer.

Each user ``u`` and item ``i`` has two pairs of free embeddings, ``(p_u, q_i)`` for GMF and ``(p'_u, q'_i)``
for the MLP. NCF's fused output layer is linear over ``[p_u * q_i || MLP_L([q'_i || p'_u])]``, so it splits
into a sum::

    score(u, i) = h^T (p_u * q_i)  +  ( w^T MLP_L([q'_i || p'_u]) + b )
                  \\_____ GMF _____/    \\______ MLP tower with its 1-unit output ______/

The tower is a :class:`~lsec.nn.heads.PairMLPScorer`, whose first layer is decomposed; the GMF part is
``(p_u * h) . q_i``, one matrix product against all items. :meth:`score_all` is therefore exact and blocked
like every other model's, though the score is not a plain dot product or MLP: ``scoring_kind`` is ``"custom"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from lsec.graph.adjacency import BipartiteAdjacency
from lsec.nn.heads import PairMLPScorer, score_from_parts
from lsec.nn.models.base import Encoded, RecommenderModel

EMBEDDING_STD = 0.1


class NeuMF(RecommenderModel):
    """GMF + MLP neural collaborative filtering for the buy task (no graph is read).

    Args:
        num_users, num_items: node counts.
        embedding_dim: GMF factor width (``p_u``, ``q_i``).
        mlp_embedding_dim: width of each MLP-side embedding (the tower's input is twice this).
        mlp_dims: hidden widths of the MLP tower (its 1-unit output comes after these).
        dropout: dropout after each tower hidden layer (training only).

    Shapes:
        encode -> {"gmf.user": (U, embedding_dim), "gmf.item": (I, embedding_dim),
                   "mlp.user": (U, mlp_embedding_dim), "mlp.item": (I, mlp_embedding_dim)}
        score: users (B,), items (B,) -> (B,);  score_all: users (B,) -> (B, num_items)
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        *,
        embedding_dim: int = 64,
        mlp_embedding_dim: int = 64,
        mlp_dims: Sequence[int] = (128, 64),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if min(num_users, num_items, embedding_dim, mlp_embedding_dim) <= 0:
            raise ValueError(
                "NeuMF needs positive num_users, num_items, embedding_dim and mlp_embedding_dim. "
                f"Got {num_users}, {num_items}, {embedding_dim} and {mlp_embedding_dim} instead."
            )
        self.tasks = ("buy",)
        self.relations = ("buy",)  # no graph is read; the trainer takes positives from the buy edges
        self.self_loops = False
        self.embedding_dim = embedding_dim
        self.mlp_embedding_dim = mlp_embedding_dim
        self.gmf_user = nn.Embedding(num_users, embedding_dim)
        self.gmf_item = nn.Embedding(num_items, embedding_dim)
        self.mlp_user = nn.Embedding(num_users, mlp_embedding_dim)
        self.mlp_item = nn.Embedding(num_items, mlp_embedding_dim)
        self.gmf_out = nn.Linear(embedding_dim, 1, bias=False)  # h (the tower's output layer carries b)
        self.tower = PairMLPScorer(
            query_dim=mlp_embedding_dim,
            target_dim=mlp_embedding_dim,
            hidden_dims=tuple(int(d) for d in mlp_dims),
            dropout=dropout,
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for table in (self.gmf_user, self.gmf_item, self.mlp_user, self.mlp_item):
            nn.init.normal_(table.weight, std=EMBEDDING_STD)
        self.gmf_out.reset_parameters()
        self.tower.reset_parameters()

    def encode(self, graphs: Mapping[str, BipartiteAdjacency]) -> Encoded:
        return {
            "gmf.user": self.gmf_user.weight,
            "gmf.item": self.gmf_item.weight,
            "mlp.user": self.mlp_user.weight,
            "mlp.item": self.mlp_item.weight,
        }

    def query_keys(self, task: str) -> tuple[str, ...]:
        return ("gmf.user", "mlp.user")

    def target_keys(self, task: str) -> tuple[str, ...]:
        return ("gmf.item", "mlp.item")

    def scorer(self, task: str) -> PairMLPScorer | None:
        """``None``: NeuMF's score is neither a dot product nor a plain MLP (see :meth:`scoring_kind`)."""
        return None

    def scoring_kind(self, task: str) -> str:
        return "custom"

    def score(self, task: str, enc: Encoded, users: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        self._check_task(task)
        gmf = self.gmf_out(enc["gmf.user"][users] * enc["gmf.item"][targets]).squeeze(-1)  # (B,)
        mlp = self.tower(enc["mlp.user"][users], enc["mlp.item"][targets])  # (B,)
        return gmf + mlp

    @torch.no_grad()
    def score_all(self, task: str, enc: Encoded, users: torch.Tensor, *, block_size: int = 8192) -> torch.Tensor:
        self._check_task(task)
        gmf_query = enc["gmf.user"][users] * self.gmf_out.weight[0]  # (B, d): p_u * h
        gmf = gmf_query @ enc["gmf.item"].T  # (B, I)
        query_part = self.tower.query_part(enc["mlp.user"][users])  # (B, h1)
        target_part = self.tower.target_part(enc["mlp.item"])  # (I, h1)
        return gmf + score_from_parts(self.tower, query_part, target_part, block_size=block_size)

    def __repr__(self) -> str:
        tower = "->".join(str(d) for d in (2 * self.mlp_embedding_dim, *self.tower.hidden_dims, 1))
        return f"{type(self).__name__}(gmf_dim={self.embedding_dim}, tower={tower})"
