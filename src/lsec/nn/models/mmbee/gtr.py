"""The GTR (gift-through-rate) model: a behaviour backbone (SIM or MMoE) with MMBee's optional GIE inputs.

One impression is ``(user u, target streamer a with category c)`` and the user's behaviour sequence: the
user's earlier gifts, most recent first, each ``(streamer s_l, category c_l, time gap bucket g_l)``. Embeddings::

    e_target = E_s[a] + E_c[c]          e_l = E_s[s_l] + E_c[c_l] + E_g[g_l]          e_u = E_u[u]

**GIE** (MMBee eqs. 10-12). With ``gie=True`` the model holds the expansion store's pre-trained node tables
``Θ_user``, ``Θ_streamer`` as parameters and each user's / streamer's metapath neighbours as buffers (``-1``
padded), and computes per metapath the mean of ``Θ`` over the neighbours (zeros for none), concatenated::

    h_u = [mean Θ(N_u2a2u(u)), mean Θ(N_u2a2u2a(u)), mean Θ(N_u2a2a(u))]     h_a = [mean Θ(N_a2a(a)), mean Θ(N_a2u2a(a))]

so at initialisation ``h_u``, ``h_a`` equal the store's ``pooled`` rows, and the GTR loss fine-tunes ``Θ`` end
to end (the paper's "optimize them with GTR prediction objective"). :meth:`GtrModel.load_expansions` copies a
store in (the model never reads files).

With ``gie_pooled=True`` the model holds no tables: ``h_u`` and ``h_a`` come in the batch (``gie_user``,
``gie_streamer``), read from an expansion store of the fine-tuned tables. That is how the service runs it
(:mod:`lsec.serve.gifts`): one row read per id instead of pooling over neighbours.

**MFQ** (MMBee eqs. 3-7, :class:`~lsec.nn.models.mmbee.mfq.MFQ`). With ``mfq_inputs`` (feature width per
modality) the impression's segment content, the current segment and the ones before it in the room
(``content_<m>`` (B, S, F, d_m), ``content_valid_<m>`` (B, S, F)), is fused with the target streamer's
learnable queries into ``h_m`` (B, N d_mfq), flattened.

**Backbones.** SIM: ``towers([e_target, ESU(GSU(e_1..L)), e_u, h_u, h_a, h_m])``. MMoE:
``MMoE([e_u, e_target, masked mean(e_1..L), h_u, h_a, h_m])``. Both output one logit per task.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lsec.nn.models.mmbee.mfq import MFQ
from lsec.nn.models.mmbee.mmoe import MMoE
from lsec.nn.models.mmbee.sim import SIM

BACKBONES = ("sim", "mmoe")
NODE_TYPES = ("user", "streamer")
EMBEDDING_STD = 0.05


class GieExpansion(nn.Module):
    """Mean-pooled metapath expansions over fine-tuned node tables (module docstring).

    Args:
        num_users, num_streamers: node counts.
        embedding_dim: width ``g`` of the tables ``Θ``.
        k: neighbours per metapath.
        user_targets: node type each user metapath reaches (store order: u2a2u, u2a2u2a, u2a2a).
        streamer_targets: node type each streamer metapath reaches (a2a, a2u2a).

    Shapes:
        users: (B,), streamers: (B,)  ->  h_u: (B, len(user_targets) g), h_a: (B, len(streamer_targets) g)
    """

    def __init__(
        self,
        num_users: int,
        num_streamers: int,
        *,
        embedding_dim: int,
        k: int,
        user_targets: tuple[str, ...] = ("user", "streamer", "streamer"),
        streamer_targets: tuple[str, ...] = ("streamer", "streamer"),
    ) -> None:
        super().__init__()
        for name, targets in (("user_targets", user_targets), ("streamer_targets", streamer_targets)):
            if not targets or any(t not in NODE_TYPES for t in targets):
                raise ValueError(
                    f"The '{name}' parameter of GieExpansion must list node types of {NODE_TYPES}. Got {targets!r}."
                )
        self.embedding_dim = embedding_dim
        self.k = k
        self.user_targets = tuple(user_targets)
        self.streamer_targets = tuple(streamer_targets)
        self.theta_user = nn.Parameter(torch.empty(num_users, embedding_dim))
        self.theta_streamer = nn.Parameter(torch.empty(num_streamers, embedding_dim))
        self.register_buffer("user_indices", torch.full((num_users, len(user_targets), k), -1, dtype=torch.long))
        self.register_buffer(
            "streamer_indices", torch.full((num_streamers, len(streamer_targets), k), -1, dtype=torch.long)
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.theta_user, std=EMBEDDING_STD)
        nn.init.normal_(self.theta_streamer, std=EMBEDDING_STD)

    @property
    def user_dim(self) -> int:
        return len(self.user_targets) * self.embedding_dim

    @property
    def streamer_dim(self) -> int:
        return len(self.streamer_targets) * self.embedding_dim

    @torch.no_grad()
    def load_expansions(
        self,
        user_indices: torch.Tensor,
        streamer_indices: torch.Tensor,
        user_table: torch.Tensor,
        streamer_table: torch.Tensor,
    ) -> None:
        """Copy an expansion store in: neighbours (n_u, m_u, k) / (n_a, m_a, k), -1 padded; tables (n, g)."""
        for name, given in (
            ("user_indices", user_indices),
            ("streamer_indices", streamer_indices),
            ("theta_user", user_table),
            ("theta_streamer", streamer_table),
        ):
            have = getattr(self, name)
            if tuple(given.shape) != tuple(have.shape):
                raise ValueError(
                    f"GieExpansion.load_expansions: {name} must have shape {tuple(have.shape)} (the model's sizes). "
                    f"Got {tuple(given.shape)} instead."
                )
            have.copy_(given)

    def _pool(self, indices: torch.Tensor, targets: tuple[str, ...]) -> torch.Tensor:
        """(B, m, k) neighbour ids -> (B, m g): per metapath the mean of its target table over valid ids."""
        parts = []
        for m, target in enumerate(targets):
            table = self.theta_user if target == "user" else self.theta_streamer
            ids = indices[:, m]  # (B, k)
            valid = (ids >= 0).to(table.dtype)  # (B, k)
            rows = F.embedding(ids.clamp(min=0), table) * valid.unsqueeze(-1)  # (B, k, g)
            parts.append(rows.sum(1) / valid.sum(1, keepdim=True).clamp(min=1))  # (B, g)
        return torch.cat(parts, dim=-1)

    def forward(self, users: torch.Tensor, streamers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        user_indices: torch.Tensor = self.user_indices  # type: ignore[assignment]  # buffers (mypy sees Module)
        streamer_indices: torch.Tensor = self.streamer_indices  # type: ignore[assignment]
        h_u = self._pool(user_indices[users], self.user_targets)
        h_a = self._pool(streamer_indices[streamers], self.streamer_targets)
        return h_u, h_a


class GtrModel(nn.Module):
    """Gift-through-rate model: SIM or MMoE over id embeddings and gift history, optionally with GIE.

    Args:
        num_users, num_streamers, num_categories: embedding table sizes.
        backbone: ``"sim"`` or ``"mmoe"``.
        tasks: output logits, e.g. ``("gift",)`` or ``("gift", "big_gift")``.
        embedding_dim: width ``d`` of the id embeddings.
        num_gap_buckets: time-gap buckets of behaviours (the objective computes the bucket ids).
        gie: add ``h_u``, ``h_a`` (:class:`GieExpansion`); then ``gie_dim`` and ``gie_k`` give the store's sizes.
        gie_pooled: with ``gie``, take ``h_u`` / ``h_a`` from the batch (``gie_user`` (B, 3 gie_dim),
            ``gie_streamer`` (B, 2 gie_dim)) instead of pooling tables held by the model (serving).
        mfq_inputs: feature width per modality; adds MFQ's ``h_m`` (module docstring). ``None``: no MFQ.
        mfq_dim, mfq_queries, mfq_heads, mfq_segments: MFQ's ``d``, ``N``, heads and segments ``S``.
        backbone_options: keywords of :class:`SIM` (``search``, ``k``, ``num_heads``, ``hidden``) or
            :class:`MMoE` (``num_experts``, ``expert_hidden``, ``tower_hidden``).

    Shapes:
        batch: users, streamers, categories (B,) long; history_streamers, history_categories, history_gaps (B, L)
        long; history_valid (B, L) bool; with MFQ content_<m> (B, S, F, d_m) float and content_valid_<m>
        (B, S, F) bool for any subset of the modalities  ->  {task: (B,) logits}
    """

    def __init__(
        self,
        num_users: int,
        num_streamers: int,
        num_categories: int,
        *,
        backbone: str = "sim",
        tasks: tuple[str, ...] = ("gift",),
        embedding_dim: int = 16,
        num_gap_buckets: int = 16,
        gie: bool = False,
        gie_dim: int = 64,
        gie_k: int = 20,
        gie_pooled: bool = False,
        mfq_inputs: Mapping[str, int] | None = None,
        mfq_dim: int = 64,
        mfq_queries: int = 4,
        mfq_heads: int = 2,
        mfq_segments: int = 5,
        **backbone_options: Any,
    ) -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"The 'backbone' parameter of GtrModel must be one of {BACKBONES}. Got {backbone!r}.")
        for name, value in (
            ("num_users", num_users),
            ("num_streamers", num_streamers),
            ("num_categories", num_categories),
            ("embedding_dim", embedding_dim),
            ("num_gap_buckets", num_gap_buckets),
        ):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"The '{name}' parameter of GtrModel must be a positive int. Got {value!r} instead.")
        self.backbone_name = backbone
        self.tasks = tuple(tasks)
        # the constructor's arguments, JSON-able: what a serving artifact needs to build the same model again
        self.hparams: dict[str, Any] = {
            "num_users": num_users,
            "num_streamers": num_streamers,
            "num_categories": num_categories,
            "backbone": backbone,
            "tasks": list(self.tasks),
            "embedding_dim": embedding_dim,
            "num_gap_buckets": num_gap_buckets,
            "gie": gie,
            "gie_dim": gie_dim,
            "gie_k": gie_k,
            "gie_pooled": gie_pooled,
            "mfq_inputs": None if mfq_inputs is None else {m: int(w) for m, w in mfq_inputs.items()},
            "mfq_dim": mfq_dim,
            "mfq_queries": mfq_queries,
            "mfq_heads": mfq_heads,
            "mfq_segments": mfq_segments,
            **{k: list(v) if isinstance(v, tuple) else v for k, v in backbone_options.items()},
        }
        self.embedding_dim = embedding_dim
        self.user = nn.Embedding(num_users, embedding_dim)
        self.streamer = nn.Embedding(num_streamers, embedding_dim)
        self.category = nn.Embedding(num_categories, embedding_dim)
        self.gap = nn.Embedding(num_gap_buckets, embedding_dim)
        self.gie_pooled = bool(gie and gie_pooled)
        self.gie_dims = (3 * gie_dim, 2 * gie_dim) if gie else (0, 0)  # widths of h_u, h_a
        self.gie = (
            GieExpansion(num_users, num_streamers, embedding_dim=gie_dim, k=gie_k) if gie and not gie_pooled else None
        )
        if self.gie is not None:
            self.gie_dims = (self.gie.user_dim, self.gie.streamer_dim)
        self.mfq = (
            None
            if mfq_inputs is None
            else MFQ(
                num_streamers,
                mfq_inputs,
                dim=mfq_dim,
                num_queries=mfq_queries,
                num_segments=mfq_segments,
                num_heads=mfq_heads,
            )
        )
        extra = sum(self.gie_dims) + (0 if self.mfq is None else self.mfq.output_dim)
        self.backbone: nn.Module
        if backbone == "sim":
            self.backbone = SIM(
                embedding_dim=embedding_dim, context_dim=embedding_dim + extra, tasks=self.tasks, **backbone_options
            )
        else:
            self.backbone = MMoE(input_dim=3 * embedding_dim + extra, tasks=self.tasks, **backbone_options)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for table in (self.user, self.streamer, self.category, self.gap):
            nn.init.normal_(table.weight, std=EMBEDDING_STD)

    def behaviours(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, L, d) behaviour embeddings ``E_s[s_l] + E_c[c_l] + E_g[g_l]`` (padding included, masked later)."""
        return (
            self.streamer(batch["history_streamers"])
            + self.category(batch["history_categories"])
            + self.gap(batch["history_gaps"])
        )

    def content(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """MFQ's ``h_m`` of the batch's segment content, flattened: (B, N d_mfq)."""
        assert self.mfq is not None
        given = [m for m in self.mfq.modalities if f"content_{m}" in batch]
        features = {m: batch[f"content_{m}"] for m in given}
        valid = {m: batch[f"content_valid_{m}"] for m in given if f"content_valid_{m}" in batch}
        return self.mfq(batch["streamers"], features, valid).flatten(1)  # type: ignore[no-any-return]

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        target = self.streamer(batch["streamers"]) + self.category(batch["categories"])  # (B, d)
        behaviours = self.behaviours(batch)  # (B, L, d)
        valid = batch["history_valid"]  # (B, L)
        # a user the model never saw is served with a given embedding (lsec.serve.gifts: the mean user row)
        context = [batch["user_embedding"] if "user_embedding" in batch else self.user(batch["users"])]  # (B, d)
        if self.gie is not None:
            context.extend(self.gie(batch["users"], batch["streamers"]))  # (B, m_u g), (B, m_a g)
        elif self.gie_pooled:
            context.extend([batch["gie_user"], batch["gie_streamer"]])  # read from a store
        if self.mfq is not None:  # h_m depends on the segment and its streamer only: a service may cache it
            context.append(batch["content_output"] if "content_output" in batch else self.content(batch))
        if isinstance(self.backbone, SIM):
            hard_keys = {"streamer": "streamers", "category": "categories"}.get(self.backbone.search)
            return self.backbone(
                target,
                behaviours,
                valid,
                torch.cat(context, dim=-1),
                None if hard_keys is None else batch[hard_keys],
                None if hard_keys is None else batch[f"history_{hard_keys}"],
            )
        weights = valid.to(behaviours.dtype).unsqueeze(-1)  # (B, L, 1)
        pooled = (behaviours * weights).sum(1) / weights.sum(1).clamp(min=1)  # (B, d); zeros without history
        return self.backbone(torch.cat([target, pooled, *context], dim=-1))  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        gie = "" if self.gie is None else f", gie(dim={self.gie.embedding_dim}, k={self.gie.k})"
        gie += ", gie(pooled)" if self.gie_pooled else ""
        mfq = "" if self.mfq is None else f", {self.mfq!r}"
        return f"{type(self).__name__}({self.backbone!r}, dim={self.embedding_dim}{gie}{mfq})"
