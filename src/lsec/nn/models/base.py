"""The contract every recommendation model follows (training, evaluation and serving rely on it).

A model is encoded once per step over the full graphs, then scored::

    enc = model.encode(graphs)               # dict "graph.node_type" -> (n, d) tensors, e.g. "buy.user"
    logits = model.score("buy", enc, users, items)       # (n,) one logit per pair
    table = model.score_all("buy", enc, users)          # (B, num_targets) exact, blocked

Scoring is ``scorer([target || query])`` where the query is the concatenation of ``enc[k]`` for
``k in query_keys(task)`` (user side) and the target the concatenation for ``target_keys(task)``
(item or streamer side). ``scorer(task)`` returns a :class:`~lsec.nn.heads.PairMLPScorer`, or ``None``
for the dot product ``<query, target>``. Models whose score does not decompose this way (NeuMF)
override :meth:`score` and :meth:`score_all` and return ``"custom"`` from :meth:`scoring_kind`.

``graphs`` maps a relation name (``"buy"``, ``"follow"``, ``"sell"``) to its normalised
:class:`~lsec.graph.adjacency.BipartiteAdjacency` over training-window edges; models never build graphs.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from lsec.graph.adjacency import BipartiteAdjacency
from lsec.nn.heads import PairMLPScorer, score_from_parts

TASK_TARGET = {"buy": "item", "follow": "streamer"}
"""Node type a task ranks for a user."""

Encoded = dict[str, torch.Tensor]


class RecommenderModel(nn.Module):
    """Base class: subclasses implement :meth:`encode`, :meth:`query_keys`, :meth:`target_keys`, :meth:`scorer`."""

    #: tasks this model is trained on and can score, e.g. ``("buy",)`` or ``("buy", "follow")``
    tasks: tuple[str, ...] = ("buy",)
    #: relations whose graphs :meth:`encode` reads, e.g. ``("buy", "follow", "sell")``
    relations: tuple[str, ...] = ("buy",)

    def encode(self, graphs: Mapping[str, BipartiteAdjacency]) -> Encoded:
        raise NotImplementedError

    def query_keys(self, task: str) -> tuple[str, ...]:
        raise NotImplementedError

    def target_keys(self, task: str) -> tuple[str, ...]:
        raise NotImplementedError

    def scorer(self, task: str) -> PairMLPScorer | None:
        raise NotImplementedError

    def scoring_kind(self, task: str) -> str:
        """``"mlp"``, ``"dot"`` or ``"custom"``: how serving may precompute this task's scores."""
        return "dot" if self.scorer(task) is None else "mlp"

    # ------------------------------------------------------------------ shared
    def _check_task(self, task: str) -> None:
        if task not in self.tasks:
            raise ValueError(f"{type(self).__name__} scores tasks {self.tasks}; got task {task!r}.")

    def query(self, task: str, enc: Encoded) -> torch.Tensor:
        """(num_users, d_query): concatenated user-side representations."""
        return torch.cat([enc[k] for k in self.query_keys(task)], dim=-1)

    def target(self, task: str, enc: Encoded) -> torch.Tensor:
        """(num_targets, d_target): concatenated target-side representations."""
        return torch.cat([enc[k] for k in self.target_keys(task)], dim=-1)

    def score(self, task: str, enc: Encoded, users: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Logits of (user, target) pairs. Shapes: users (n,), targets (n,) -> (n,)."""
        self._check_task(task)
        q = self.query(task, enc)[users]
        t = self.target(task, enc)[targets]
        head = self.scorer(task)
        if head is None:
            return (q * t).sum(-1)
        return head(q, t)

    @torch.no_grad()
    def score_all(self, task: str, enc: Encoded, users: torch.Tensor, *, block_size: int = 8192) -> torch.Tensor:
        """Logits of each user against every target. Shapes: users (B,) -> (B, num_targets)."""
        self._check_task(task)
        q = self.query(task, enc)[users]
        t = self.target(task, enc)
        head = self.scorer(task)
        if head is None:
            return q @ t.T
        return score_from_parts(head, head.query_part(q), head.target_part(t), block_size=block_size)


class BuyDotModel(RecommenderModel):
    """A buy-only dot-product model: ``encode`` gives ``buy.user`` and ``buy.item``, scored by their inner
    product (LightGCN, MF-BPR, MMBee-Rec). Full sort and serving use the dot-product fast paths."""

    def query_keys(self, task: str) -> tuple[str, ...]:
        self._check_task(task)
        return ("buy.user",)

    def target_keys(self, task: str) -> tuple[str, ...]:
        self._check_task(task)
        return ("buy.item",)

    def scorer(self, task: str) -> PairMLPScorer | None:
        self._check_task(task)
        return None
