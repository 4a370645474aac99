"""SIM, search-based user interest modelling (Pi et al. 2020), the backbone MMBee builds on (section 4).

Two cascaded units over the user's behaviour sequence (here: the user's earlier gifts, most recent first):

1. **General search unit (GSU)** keeps at most ``k`` behaviours relevant to the target:

   - *hard search* by ``streamer`` (behaviours with the target's streamer) or by ``category`` (behaviours with
     the target's category; SIM's deployed variant), the ``k`` most recent matches;
   - *soft search*: the ``k`` behaviours with the largest inner product ``<W_q e_target, e_b>``.

   Padding never takes part: a padded behaviour scores ``-inf`` and, when fewer than ``k`` behaviours are
   valid, the leftover slots come back marked invalid (:func:`top_k_behaviours`).
2. **Exact search unit (ESU)**: multi-head target attention (:class:`TargetAttention`) of the target over the
   selected behaviours; an invalid slot gets weight exactly 0, and a user without any gets the zero interest.

The interest vector, the user and target embeddings and any extra features (e.g. MMBee's GIE vectors ``h_u``,
``h_a``) are concatenated and fed to one MLP tower per task, which outputs a logit.
"""

from __future__ import annotations

import math

import torch
from torch import nn

SEARCHES = ("streamer", "category", "soft")


def top_k_behaviours(scores: torch.Tensor, valid: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` highest-scored valid positions per row, and which of the ``k`` slots hold a valid one.

    Invalid positions score ``-inf``; rows with fewer than ``k`` valid positions fill the rest with invalid
    slots (``False`` in the returned mask) whose index must be ignored. ``k`` larger than ``L`` is cut to ``L``.

    Shapes:
        scores: (B, L) float;  valid: (B, L) bool  ->  indices: (B, min(k, L)) long, selected: (B, min(k, L)) bool
    """
    k = min(int(k), scores.shape[1])
    masked = scores.masked_fill(~valid, -math.inf)  # (B, L)
    indices = masked.topk(k, dim=1).indices  # (B, k)
    return indices, valid.gather(1, indices)


def hard_search(
    keys: torch.Tensor, valid: torch.Tensor, target: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """GSU hard search: the ``k`` most recent behaviours whose key (streamer or category id) equals the target's.

    The sequence is most recent first, so position ``l`` scores ``L - l``.

    Shapes:
        keys: (B, L) long;  valid: (B, L) bool;  target: (B,) long  ->  (B, k') long, (B, k') bool
    """
    length = keys.shape[1]
    recency = torch.arange(length, 0, -1, device=keys.device, dtype=torch.float32).expand_as(keys)  # (B, L)
    return top_k_behaviours(recency, valid & (keys == target.unsqueeze(1)), k)


def soft_search(
    query: torch.Tensor, behaviours: torch.Tensor, valid: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """GSU soft search: the ``k`` valid behaviours with the largest inner product with ``query``.

    Shapes:
        query: (B, d);  behaviours: (B, L, d);  valid: (B, L) bool  ->  (B, k') long, (B, k') bool
    """
    scores = torch.einsum("bd,bld->bl", query, behaviours)  # (B, L)
    return top_k_behaviours(scores, valid, k)


class TargetAttention(nn.Module):
    """Multi-head target attention (SIM's exact search unit; DIN-style query = the target).

    ``out = W_o concat_h( sum_l a_hl W_v^h x_l )`` with ``a_h = softmax_l(<W_q^h t, W_k^h x_l> / sqrt(d_h))``
    over the valid positions only. Invalid positions get weight exactly 0 (so their content never changes the
    output); a row with no valid position returns ``W_o 0 = b_o``.

    Args:
        embedding_dim: width ``d`` of target and behaviours (divisible by ``num_heads``).
        num_heads: ``H``.

    Shapes:
        target: (B, d);  behaviours: (B, L, d);  valid: (B, L) bool  ->  (B, d)
    """

    def __init__(self, embedding_dim: int, num_heads: int = 2) -> None:
        super().__init__()
        if num_heads < 1 or embedding_dim % num_heads:
            raise ValueError(
                f"The 'num_heads' parameter of TargetAttention must be a positive divisor of embedding_dim "
                f"({embedding_dim}). Got {num_heads!r} instead."
            )
        self.embedding_dim = embedding_dim
        self.num_heads = num_heads
        self.query = nn.Linear(embedding_dim, embedding_dim)
        self.key = nn.Linear(embedding_dim, embedding_dim)
        self.value = nn.Linear(embedding_dim, embedding_dim)
        self.out = nn.Linear(embedding_dim, embedding_dim)

    def weights(self, target: torch.Tensor, behaviours: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Attention weights per head, 0 on invalid positions. Shapes: (B, d), (B, L, d), (B, L) -> (B, H, L)."""
        batch, length, _ = behaviours.shape
        h, dh = self.num_heads, self.embedding_dim // self.num_heads
        q = self.query(target).view(batch, h, dh)  # (B, H, dh)
        key = self.key(behaviours).view(batch, length, h, dh)  # (B, L, H, dh)
        scores = torch.einsum("bhd,blhd->bhl", q, key) / math.sqrt(dh)  # (B, H, L)
        mask = valid.unsqueeze(1)  # (B, 1, L)
        # A finite fill (not -inf): a row without any valid position gives a uniform softmax instead of NaN, and
        # the product with the mask then zeroes it. exp(min - max) underflows to exactly 0 on invalid positions.
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        return scores.softmax(dim=-1) * mask  # (B, H, L)

    def forward(self, target: torch.Tensor, behaviours: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        batch, length, _ = behaviours.shape
        h, dh = self.num_heads, self.embedding_dim // self.num_heads
        weights = self.weights(target, behaviours, valid)  # (B, H, L)
        values = self.value(behaviours).view(batch, length, h, dh)  # (B, L, H, dh)
        values = values.masked_fill(~valid.view(batch, length, 1, 1), 0.0)  # 0 * inf would still leak a NaN
        mixed = torch.einsum("bhl,blhd->bhd", weights, values).reshape(batch, self.embedding_dim)  # (B, d)
        return self.out(mixed)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.embedding_dim}, heads={self.num_heads})"


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class SIM(nn.Module):
    """SIM backbone: GSU (hard or soft search, ``k`` behaviours) -> multi-head target attention -> towers.

    Args:
        embedding_dim: width ``d`` of target and behaviour embeddings.
        context_dim: width of the extra features concatenated before the towers (user embedding, GIE vectors).
        tasks: one tower (and one output logit) per task.
        search: ``"streamer"`` or ``"category"`` (hard search) or ``"soft"`` (inner-product top-k).
        k: behaviours the GSU keeps.
        num_heads: heads of the target attention.
        hidden: hidden widths of each task tower.

    Shapes:
        target: (B, d);  behaviours: (B, L, d);  valid: (B, L) bool;  context: (B, context_dim);
        target_keys: (B,) long and behaviour_keys: (B, L) long (streamer or category ids; hard search only)
        -> {task: (B,) logits}
    """

    def __init__(
        self,
        *,
        embedding_dim: int,
        context_dim: int,
        tasks: tuple[str, ...] = ("gift",),
        search: str = "category",
        k: int = 20,
        num_heads: int = 2,
        hidden: tuple[int, ...] = (64, 32),
    ) -> None:
        super().__init__()
        if search not in SEARCHES:
            raise ValueError(f"The 'search' parameter of SIM must be one of {SEARCHES}. Got {search!r} instead.")
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"The 'k' parameter of SIM must be a positive int. Got {k!r} instead.")
        if not tasks:
            raise ValueError("The 'tasks' parameter of SIM must name at least one task. Got () instead.")
        self.embedding_dim = embedding_dim
        self.tasks = tuple(tasks)
        self.search = search
        self.k = k
        self.soft_query = nn.Linear(embedding_dim, embedding_dim, bias=False) if search == "soft" else None
        self.attention = TargetAttention(embedding_dim, num_heads)
        width = 2 * embedding_dim + context_dim  # [target, interest, context]
        self.towers = nn.ModuleDict({task: mlp([width, *hidden, 1]) for task in self.tasks})

    def select(
        self,
        target: torch.Tensor,
        behaviours: torch.Tensor,
        valid: torch.Tensor,
        target_keys: torch.Tensor | None = None,
        behaviour_keys: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The GSU: (B, k') positions into the sequence and (B, k') validity of each slot."""
        if self.soft_query is not None:
            return soft_search(self.soft_query(target), behaviours, valid, self.k)
        if target_keys is None or behaviour_keys is None:
            raise ValueError(f"SIM with search={self.search!r} needs target_keys and behaviour_keys. Got None.")
        return hard_search(behaviour_keys, valid, target_keys, self.k)

    def interest(
        self,
        target: torch.Tensor,
        behaviours: torch.Tensor,
        valid: torch.Tensor,
        target_keys: torch.Tensor | None = None,
        behaviour_keys: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """GSU then ESU: the (B, d) interest vector of each user in its target."""
        indices, selected = self.select(target, behaviours, valid, target_keys, behaviour_keys)  # (B, k')
        picked = behaviours.gather(1, indices.unsqueeze(-1).expand(-1, -1, behaviours.shape[-1]))  # (B, k', d)
        return self.attention(target, picked, selected)

    def forward(
        self,
        target: torch.Tensor,
        behaviours: torch.Tensor,
        valid: torch.Tensor,
        context: torch.Tensor,
        target_keys: torch.Tensor | None = None,
        behaviour_keys: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        interest = self.interest(target, behaviours, valid, target_keys, behaviour_keys)  # (B, d)
        features = torch.cat([target, interest, context], dim=-1)  # (B, 2d + c)
        return {task: tower(features).squeeze(-1) for task, tower in self.towers.items()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.embedding_dim}, search={self.search}, k={self.k}, tasks={self.tasks})"
