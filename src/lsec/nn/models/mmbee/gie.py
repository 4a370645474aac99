"""GraphCL: the graph node embedding layer of MMBee's Graph-guided Interest Expansion (Algorithm 1, eq. 9).

One embedding table per node type, ``Θ_user`` and ``Θ_streamer`` (the paper's ``Θ ∈ R^{|V_u ∪ V_a| x d}``
split by type; "author" in the paper is a streamer here). An anchor ``t`` is scored against a candidate ``v``
of its own type by the inner product ``s(t, v) = Θ(t)^T Θ(v)``. Each anchor comes with positives ``V_p``
(its metapath neighbours: ``u2a2u`` for a user, ``a2u2a`` for a streamer) and random negatives ``V_n``, and
its loss is ``L(t) = L_CE(t) + λ L_NCE(t)`` with

.. math::

    L_{NCE}(t) = -\\frac{1}{|V_p|} \\sum_{p \\in V_p} \\log
        \\frac{\\exp(s(t, p) / τ)}{\\exp(s(t, p) / τ) + \\sum_{n \\in V_n} \\exp(s(t, n) / τ)}

    L_{CE}(t) = \\frac{1}{|V_p| + |V_n|} \\Big( \\sum_{p \\in V_p} -\\log σ(s(t, p))
        + \\sum_{n \\in V_n} -\\log(1 - σ(s(t, n))) \\Big)

``L_NCE`` is eq. 9 with a temperature ``τ`` (eq. 9 is ``τ = 1``); it is computed as ``F.cross_entropy`` on
the logits ``[s(t, p), s(t, n_1), ..., s(t, n_M)] / τ`` with target 0, i.e. a log-softmax, so it stays finite
at any temperature (an exp / sum form overflows at ``τ = 0.01``). The paper names a cross-entropy loss without
writing it; ``L_CE`` is the binary one on the same pairs (label 1 for positives, 0 for negatives), through
``F.binary_cross_entropy_with_logits``. Padding positives (index ``-1``) are masked out; an anchor without any
positive has ``L_NCE = 0`` and ``L_CE`` over its negatives only.

The module is pure: index tensors in, per-anchor losses out. Batches, negatives and the optimizer live in
:mod:`lsec.train.gie`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NODE_TYPES = ("user", "streamer")
EMBEDDING_STD = 0.1


class GraphCL(nn.Module):
    """User and streamer embedding tables trained with ``L_CE + λ L_NCE`` (module docstring).

    Args:
        num_users, num_streamers: node counts.
        embedding_dim: width ``d`` of both tables.
        tau: InfoNCE temperature ``τ > 0``.
        nce_weight: ``λ >= 0``, the weight of ``L_NCE``.

    Shapes:
        anchors: (B,); positives: (B, P), -1 padded; negatives: (B, M)
        -> {"loss", "ce", "nce"}: (B,) each, one loss per anchor
    """

    def __init__(
        self, num_users: int, num_streamers: int, *, embedding_dim: int = 64, tau: float = 0.1, nce_weight: float = 1.0
    ) -> None:
        super().__init__()
        for name, value in (
            ("num_users", num_users),
            ("num_streamers", num_streamers),
            ("embedding_dim", embedding_dim),
        ):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"The '{name}' parameter of GraphCL must be a positive int. Got {value!r} instead.")
        if not tau > 0:
            raise ValueError(f"The 'tau' parameter of GraphCL must be a float > 0. Got {tau!r} instead.")
        if not nce_weight >= 0:
            raise ValueError(f"The 'nce_weight' parameter of GraphCL must be a float >= 0. Got {nce_weight!r} instead.")
        self.embedding_dim = embedding_dim
        self.tau = float(tau)
        self.nce_weight = float(nce_weight)
        self.user = nn.Embedding(num_users, embedding_dim)
        self.streamer = nn.Embedding(num_streamers, embedding_dim)
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Both tables ``~ N(0, 0.1^2)``, drawn from ``generator`` when given (seeded pre-training)."""
        nn.init.normal_(self.user.weight, std=EMBEDDING_STD, generator=generator)
        nn.init.normal_(self.streamer.weight, std=EMBEDDING_STD, generator=generator)

    def table(self, node_type: str) -> torch.Tensor:
        """The (num_nodes, d) embedding table of ``node_type`` (``"user"`` or ``"streamer"``)."""
        if node_type == "user":
            return self.user.weight
        if node_type == "streamer":
            return self.streamer.weight
        raise ValueError(
            f"The 'node_type' parameter of GraphCL must be one of {NODE_TYPES}. Got {node_type!r} instead."
        )

    def scores(self, node_type: str, anchors: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """Inner products ``s(t, v)``; negative candidates (padding) score 0. Shapes: (B,), (B, C) -> (B, C)."""
        table = self.table(node_type)
        # F.embedding, not table[...]: its CPU backward sums each row's gradients in a fixed order (indexing
        # backward accumulates in parallel, so two runs with one seed could differ in the last bits).
        anchor = F.embedding(anchors, table)  # (B, d)
        candidate = F.embedding(candidates.clamp(min=0), table)  # (B, C, d)
        return torch.einsum("bd,bcd->bc", anchor, candidate)

    def forward(
        self, node_type: str, anchors: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Per-anchor ``loss = ce + nce_weight * nce`` of anchors of one ``node_type`` (module docstring)."""
        mask = (positives >= 0).to(self.user.weight.dtype)  # (B, P)
        num_pos = mask.sum(dim=1)  # (B,)
        pos = self.scores(node_type, anchors, positives)  # (B, P)
        neg = self.scores(node_type, anchors, negatives)  # (B, M)
        batch, width = pos.shape
        num_neg = neg.shape[1]
        # InfoNCE: one softmax over [positive, negatives] per positive, target 0 = the positive.
        logits = torch.cat([pos.unsqueeze(-1), neg.unsqueeze(1).expand(batch, width, num_neg)], dim=-1) / self.tau
        target = torch.zeros(batch * width, dtype=torch.long, device=logits.device)
        nce = F.cross_entropy(logits.reshape(batch * width, num_neg + 1), target, reduction="none")  # (B * P,)
        nce = (nce.view(batch, width) * mask).sum(dim=1) / num_pos.clamp(min=1)  # (B,)
        ce_pos = F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos), reduction="none")  # (B, P)
        ce_neg = F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg), reduction="none")  # (B, M)
        ce = ((ce_pos * mask).sum(dim=1) + ce_neg.sum(dim=1)) / (num_pos + num_neg)  # (B,)
        return {"loss": ce + self.nce_weight * nce, "ce": ce, "nce": nce}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.user.num_embeddings} users, {self.streamer.num_embeddings} streamers, "
            f"dim={self.embedding_dim}, tau={self.tau}, nce_weight={self.nce_weight})"
        )
