"""DM-GNN (``004_...txt``): one temporal encoder shared by social-link prediction and consumption tiers.

Users are the nodes; timestamped user-user social events (``social`` edges, ``kind`` = like / comment /
repost, ...) are the temporal neighbourhoods. A :class:`~lsec.nn.models.dmgnn.encoder.TemporalEncoder`
(TGAT layers with the exponential recency decay) gives ``z_u(t)``, the embedding of user ``u`` at time
``t`` from its events strictly before ``t``. Two heads read it:

- link (TGAT's affinity score, a MergeLayer): ``logit(u, v, t) = w_2 · ReLU(W_1 [z_u(t) || z_v(t)] + b_1) + b_2``;
- tier: ``logits(u, t) = W_2 ReLU(W_1 [z_u(t) || c_u(t)] + b_1) + b_2`` over ``num_tiers`` classes, where
  ``c_u(t)`` are the user's recent consumption features (browse / cart / pay counts and amounts in the window
  before ``t``: the paper's dynamic node attributes), computed by the caller; tiers come from the NEXT
  window's consumption (defined where the labels are built, in ``lsec.train``).

The heads share the encoder and are trained jointly with task weights (the objective, not this module).
The module is pure: it never samples by itself; each call takes a ``sampler`` callback or the precomputed
``hops`` of :func:`~lsec.nn.models.dmgnn.encoder.sample_hops` (for :meth:`DMGNN.link_logits`, sampled for
the concatenated queries ``[src || dst]`` at ``[t || t]``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from lsec.graph.temporal import TemporalNeighbors
from lsec.nn.models.dmgnn.encoder import Sampler, TemporalEncoder
from lsec.nn.models.dmgnn.static import StaticEncoder

TASKS = ("link", "tier")


def _mlp(in_dim: int, hidden_dim: int, out_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_dim, out_dim))


class DMGNN(nn.Module):
    """Shared TGAT encoder with a social-link head and a consumption-tier head (module docstring).

    Args:
        num_users: number of user nodes.
        embedding_dim, num_heads, num_layers, time_dim, num_edge_kinds, edge_dim, dropout: see
            :class:`~lsec.nn.models.dmgnn.encoder.TemporalEncoder`.
        decay: ``"learned"`` (``λ = softplus(ρ)``), ``"fixed"`` or ``None`` (plain TGAT).
        decay_rate: ``λ`` (fixed) or its initial value (learned), per ``time_unit``.
        time_unit: one unit of ``λ``'s time scale in timestamp units; 86400 = per day for unix seconds.
        tasks: the heads to build, a non-empty subset of ``("link", "tier")``.
        num_tiers: number of consumption tiers (>= 2 when ``"tier"`` is a task).
        consumption_dim: width of the consumption features ``c_u(t)`` given to the tier head (0: none).
        attribute_dim: width of the encoder's dynamic node attributes (0: none; their callback is set with
            ``model.encoder.set_node_attributes``), e.g. every user's recent consumption at each event time.
        hidden_dim: hidden width of both heads; default ``embedding_dim``.
        encoder: a :class:`~lsec.nn.models.dmgnn.static.StaticEncoder` in place of the temporal one (the static
            baseline); the encoder arguments above are then unused.

    Shapes:
        link_logits: src (B,), dst (B,), t (B,) -> (B,)
        tier_logits: users (B,), t (B,), consumption (B, consumption_dim) -> (B, num_tiers)
        embed: users (B,), t (B,) -> (B, embedding_dim)
    """

    def __init__(
        self,
        num_users: int,
        *,
        embedding_dim: int = 64,
        num_heads: int = 2,
        num_layers: int = 2,
        time_dim: int | None = None,
        num_edge_kinds: int = 0,
        edge_dim: int = 8,
        dropout: float = 0.1,
        decay: str | None = "learned",
        decay_rate: float = 1.0,
        time_unit: float = 86400.0,
        tasks: Sequence[str] = TASKS,
        num_tiers: int = 0,
        consumption_dim: int = 0,
        hidden_dim: int | None = None,
        encoder: StaticEncoder | None = None,
        attribute_dim: int = 0,
    ) -> None:
        super().__init__()
        tasks = tuple(tasks)
        if not tasks or len(set(tasks)) != len(tasks) or any(task not in TASKS for task in tasks):
            raise ValueError(
                f"The 'tasks' parameter of DMGNN must be a non-empty subset of {TASKS} without repeats. "
                f"Got {tasks!r} instead."
            )
        if "tier" in tasks and (isinstance(num_tiers, bool) or not isinstance(num_tiers, int) or num_tiers < 2):
            raise ValueError(
                f"The 'num_tiers' parameter of DMGNN must be an int >= 2 when 'tier' is a task. Got {num_tiers!r} instead."
            )
        if isinstance(consumption_dim, bool) or not isinstance(consumption_dim, int) or consumption_dim < 0:
            raise ValueError(
                f"The 'consumption_dim' parameter of DMGNN must be an int >= 0. Got {consumption_dim!r} instead."
            )
        hidden_dim = embedding_dim if hidden_dim is None else hidden_dim
        self.num_users = num_users
        self.tasks = tasks
        self.num_tiers = num_tiers if "tier" in tasks else 0
        self.consumption_dim = consumption_dim
        self.encoder: TemporalEncoder | StaticEncoder = encoder or TemporalEncoder(
            num_users,
            embedding_dim=embedding_dim,
            num_heads=num_heads,
            num_layers=num_layers,
            time_dim=time_dim,
            num_edge_kinds=num_edge_kinds,
            edge_dim=edge_dim,
            dropout=dropout,
            decay=decay,
            decay_rate=decay_rate,
            time_unit=time_unit,
            attribute_dim=attribute_dim,
        )
        embedding_dim = self.encoder.embedding_dim
        self.link_head = _mlp(2 * embedding_dim, hidden_dim, 1, dropout) if "link" in tasks else None
        self.tier_head = (
            _mlp(embedding_dim + consumption_dim, hidden_dim, num_tiers, dropout) if "tier" in tasks else None
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.encoder.reset_parameters()
        for head in (self.link_head, self.tier_head):
            if head is None:
                continue
            for module in head:
                if isinstance(module, nn.Linear):
                    nn.init.xavier_normal_(module.weight)  # as TGAT's MergeLayer
                    nn.init.zeros_(module.bias)

    @property
    def embedding_dim(self) -> int:
        return self.encoder.embedding_dim

    def embed(
        self,
        users: np.ndarray | torch.Tensor,
        t: np.ndarray | torch.Tensor,
        *,
        sampler: Sampler | None = None,
        hops: Sequence[TemporalNeighbors] | None = None,
    ) -> torch.Tensor:
        """(B, embedding_dim) ``z_u(t)`` from events strictly before ``t``."""
        return self.encoder(users, t, sampler=sampler, hops=hops)

    def link_logits(
        self,
        src: np.ndarray | torch.Tensor,
        dst: np.ndarray | torch.Tensor,
        t: np.ndarray | torch.Tensor,
        *,
        sampler: Sampler | None = None,
        hops: Sequence[TemporalNeighbors] | None = None,
    ) -> torch.Tensor:
        """(B,) logit that ``src`` and ``dst`` interact at ``t``; one encoder pass over ``[src || dst]``."""
        if self.link_head is None:
            raise ValueError(f"DMGNN.link_logits needs 'link' in the model's tasks. Got tasks={self.tasks!r} instead.")
        src_arr, dst_arr, t_arr = (
            np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v) for v in (src, dst, t)
        )
        if not (src_arr.shape == dst_arr.shape == t_arr.shape) or src_arr.ndim != 1:
            raise ValueError(
                f"The 'src', 'dst' and 't' parameters of DMGNN.link_logits must be (B,) arrays of one length. "
                f"Got shapes {src_arr.shape}, {dst_arr.shape} and {t_arr.shape} instead."
            )
        batch = len(src_arr)
        z = self.encoder(
            np.concatenate([src_arr, dst_arr]), np.concatenate([t_arr, t_arr]), sampler=sampler, hops=hops
        )  # (2B, d)
        return self.link_head(torch.cat([z[:batch], z[batch:]], dim=-1)).squeeze(-1)  # (B,)

    def tier_logits(
        self,
        users: np.ndarray | torch.Tensor,
        t: np.ndarray | torch.Tensor,
        consumption: torch.Tensor | None = None,
        *,
        sampler: Sampler | None = None,
        hops: Sequence[TemporalNeighbors] | None = None,
    ) -> torch.Tensor:
        """(B, num_tiers) tier logits of ``users`` at ``t`` from ``z_u(t)`` and their recent consumption features."""
        if self.tier_head is None:
            raise ValueError(f"DMGNN.tier_logits needs 'tier' in the model's tasks. Got tasks={self.tasks!r} instead.")
        z = self.encoder(users, t, sampler=sampler, hops=hops)  # (B, d)
        if self.consumption_dim:
            if consumption is None or tuple(consumption.shape) != (z.shape[0], self.consumption_dim):
                got = None if consumption is None else tuple(consumption.shape)
                raise ValueError(
                    f"The 'consumption' parameter of DMGNN.tier_logits must be a ({z.shape[0]}, "
                    f"{self.consumption_dim}) tensor. Got {got} instead."
                )
            z = torch.cat([z, consumption.to(device=z.device, dtype=z.dtype)], dim=-1)
        elif consumption is not None:
            raise ValueError(
                "The 'consumption' parameter of DMGNN.tier_logits must be None: the model has consumption_dim=0. "
                f"Got a tensor of shape {tuple(consumption.shape)} instead."
            )
        return self.tier_head(z)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.num_users}, embedding_dim={self.embedding_dim}, "
            f"num_layers={self.encoder.num_layers}, tasks={self.tasks!r}, num_tiers={self.num_tiers})"
        )
