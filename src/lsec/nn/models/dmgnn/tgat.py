"""One TGAT layer (Xu et al., 2020) with DM-GNN's exponential recency decay.

A node ``i`` queried at time ``t`` with hidden state ``x_i`` attends over ``k`` sampled events that
happened strictly before ``t``: neighbour ``j`` with state ``x_j``, edge features ``e_ij`` and age
``Δt_j = t - t_j > 0``. As in TGAT's code, query, keys and values live in the concatenated space::

    q   = [x_i || 0_e || Φ(0)]                          (model_dim = node_dim + edge_dim + time_dim)
    k_j = v_j = [x_j || e_ij || Φ(Δt_j)]
    s_j^h = <W_q^h q, W_k^h k_j> / sqrt(head_dim)       (per head h)
    α_j^h = softmax_j( s_j^h - λ Δt_j / time_unit )      over the real (unmasked) neighbours only
    c^h   = Σ_j α_j^h W_v^h v_j
    a     = LayerNorm( q + Dropout(W_o [c^1 || ... || c^H]) )
    h_i   = W_2 ReLU( W_1 [a || x_i] )                  (TGAT's MergeLayer with the node's own state)

Decay (DM-GNN's "dynamic weight decay"): subtracting ``λ Δt`` from the score multiplies the attention by
``exp(-λ Δt)`` and renormalises over the neighbours, ``α_j = α_j^plain w_j / Σ_l α_l^plain w_l`` with
``w_j = exp(-λ Δt_j / time_unit)``; computed in log space it never underflows, however old the events.
``decay=None`` is plain TGAT; ``"fixed"`` keeps ``λ = decay_rate`` constant (``λ = 0`` is plain TGAT
exactly); ``"learned"`` uses ``λ = softplus(ρ)``, ``ρ`` initialised so that ``λ = decay_rate``. ``ρ`` (or the
fixed ``λ``, a buffer, unused without decay) is stored as ``decay_param`` in every mode, so state dicts of
the three modes share their keys.

Padding: masked neighbours are zeroed before any arithmetic and get attention exactly 0, so no value
at a padded position (id, features, time, even NaN) reaches the output or its gradient. A node with
no earlier neighbour has context ``c = 0``: its output is ``W_2 ReLU(W_1 [LayerNorm(q + W_o 0) || x_i])``,
a function of its own state only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lsec.nn.models.dmgnn.time_encoding import TimeEncoding

DECAY_MODES = (None, "fixed", "learned")


class TGATLayer(nn.Module):
    """Multi-head temporal attention over earlier neighbours, merged with the node's own state.

    Args:
        node_dim: width of the node states ``x`` (input).
        out_dim: width of the output; default ``node_dim``.
        edge_dim: width of the edge features (0: none).
        time_dim: number of time-encoding harmonics; default ``node_dim``.
        num_heads: attention heads; each has width ``max(1, model_dim // num_heads)``.
        dropout: dropout on the attention weights and on the attention output (training only).
        decay: ``None``, ``"fixed"`` or ``"learned"`` (module docstring).
        decay_rate: ``λ >= 0`` (fixed) or its initial value ``> 0`` (learned), per ``time_unit``.
        time_unit: length of one unit of ``λ``'s time scale in the units of ``Δt`` (86400 with unix
            seconds makes ``λ`` a rate per day).

    Shapes:
        x: (B, node_dim), neighbor_x: (B, k, node_dim), edge_attr: (B, k, edge_dim) or None,
        dt: (B, k) ages ``t - t_j``, mask: (B, k) bool, True at real neighbours
        -> (B, out_dim); :meth:`attention_weights` -> (B, num_heads, k)
    """

    def __init__(
        self,
        node_dim: int,
        out_dim: int | None = None,
        *,
        edge_dim: int = 0,
        time_dim: int | None = None,
        num_heads: int = 2,
        dropout: float = 0.1,
        decay: str | None = None,
        decay_rate: float = 1.0,
        time_unit: float = 1.0,
    ) -> None:
        super().__init__()
        out_dim = node_dim if out_dim is None else out_dim
        time_dim = node_dim if time_dim is None else time_dim
        for name, value, low in (
            ("node_dim", node_dim, 1),
            ("out_dim", out_dim, 1),
            ("edge_dim", edge_dim, 0),
            ("time_dim", time_dim, 1),
            ("num_heads", num_heads, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"The '{name}' parameter of TGATLayer must be an int >= {low}. Got {value!r} instead.")
        if decay not in DECAY_MODES:
            raise ValueError(f"The 'decay' parameter of TGATLayer must be one of {DECAY_MODES}. Got {decay!r} instead.")
        low_rate_ok = decay_rate > 0 if decay == "learned" else decay_rate >= 0
        if not (math.isfinite(decay_rate) and low_rate_ok):
            bound = "> 0 when decay='learned'" if decay == "learned" else ">= 0"
            raise ValueError(
                f"The 'decay_rate' parameter of TGATLayer must be a finite float {bound}. Got {decay_rate!r} instead."
            )
        if not (math.isfinite(time_unit) and time_unit > 0):
            raise ValueError(f"The 'time_unit' parameter of TGATLayer must be a float > 0. Got {time_unit!r} instead.")
        self.node_dim = node_dim
        self.out_dim = out_dim
        self.edge_dim = edge_dim
        self.time_dim = time_dim
        self.num_heads = num_heads
        self.model_dim = node_dim + edge_dim + time_dim
        self.head_dim = max(1, self.model_dim // num_heads)
        self.decay = decay
        self.initial_decay_rate = float(decay_rate)
        self.time_unit = float(time_unit)

        self.time_encoding = TimeEncoding(time_dim)
        width = num_heads * self.head_dim
        self.query = nn.Linear(self.model_dim, width, bias=False)
        self.key = nn.Linear(self.model_dim, width, bias=False)
        self.value = nn.Linear(self.model_dim, width, bias=False)
        self.output = nn.Linear(width, self.model_dim)
        self.norm = nn.LayerNorm(self.model_dim)
        self.merge_hidden = nn.Linear(self.model_dim + node_dim, node_dim)
        self.merge_out = nn.Linear(node_dim, out_dim)
        self.dropout = nn.Dropout(dropout)
        if decay == "learned":
            self.decay_param = nn.Parameter(torch.empty(()))
        else:
            self.register_buffer("decay_param", torch.tensor(float(decay_rate)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """TGAT's initialisation: normal ``sqrt(2 / (model_dim + head_dim))`` projections, Xavier elsewhere."""
        std = math.sqrt(2.0 / (self.model_dim + self.head_dim))
        for proj in (self.query, self.key, self.value):
            nn.init.normal_(proj.weight, mean=0.0, std=std)
        for linear in (self.output, self.merge_hidden, self.merge_out):
            nn.init.xavier_normal_(linear.weight)
            nn.init.zeros_(linear.bias)
        self.norm.reset_parameters()
        self.time_encoding.reset_parameters()
        with torch.no_grad():
            if self.decay == "learned":  # inverse softplus: softplus(ρ) = λ0
                self.decay_param.fill_(self.initial_decay_rate + math.log(-math.expm1(-self.initial_decay_rate)))
            else:
                self.decay_param.fill_(self.initial_decay_rate)

    @property
    def decay_rate(self) -> torch.Tensor | None:
        """The current ``λ`` (0-d tensor, differentiable when learned), or ``None`` without decay."""
        if self.decay is None:
            return None
        if self.decay == "learned":
            return F.softplus(self.decay_param)
        return self.decay_param

    def _attend(
        self,
        x: torch.Tensor,
        neighbor_x: torch.Tensor,
        edge_attr: torch.Tensor | None,
        dt: torch.Tensor,
        mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(alpha (B, H, k), values (B, H, k, head_dim), q (B, model_dim))``."""
        batch, k = mask.shape
        if neighbor_x.shape[:2] != (batch, k) or dt.shape != (batch, k) or x.shape[0] != batch:
            raise ValueError(
                f"TGATLayer needs x (B, d), neighbor_x (B, k, d), dt (B, k) and mask (B, k) with one B and k. "
                f"Got {tuple(x.shape)}, {tuple(neighbor_x.shape)}, {tuple(dt.shape)} and {tuple(mask.shape)} instead."
            )
        if (edge_attr is None) != (self.edge_dim == 0):
            raise ValueError(
                f"The 'edge_attr' parameter of TGATLayer must be a (B, k, {self.edge_dim}) tensor when edge_dim > 0 "
                f"and None otherwise. Got {None if edge_attr is None else tuple(edge_attr.shape)} instead."
            )
        mask = mask.to(torch.bool)
        dtype = x.dtype
        # Padding is zeroed first, so nothing stored there (ids, features, times, NaN) can leak.
        valid = mask.unsqueeze(-1)  # (B, k, 1)
        dt = torch.where(mask, dt.to(dtype), torch.zeros((), dtype=dtype, device=x.device))  # (B, k)
        parts = [torch.where(valid, neighbor_x, torch.zeros((), dtype=dtype, device=x.device))]
        if edge_attr is not None:
            parts.append(torch.where(valid, edge_attr.to(dtype), torch.zeros((), dtype=dtype, device=x.device)))
        parts.append(self.time_encoding(dt))
        keys = torch.cat(parts, dim=-1)  # (B, k, model_dim)
        own = [x]
        if self.edge_dim:
            own.append(x.new_zeros(batch, self.edge_dim))
        own.append(self.time_encoding(x.new_zeros(batch)))
        q = torch.cat(own, dim=-1)  # (B, model_dim)

        heads, width = self.num_heads, self.head_dim
        query = self.query(q).view(batch, heads, 1, width)  # (B, H, 1, w)
        key = self.key(keys).view(batch, k, heads, width).transpose(1, 2)  # (B, H, k, w)
        value = self.value(keys).view(batch, k, heads, width).transpose(1, 2)  # (B, H, k, w)
        scores = (query * key).sum(-1) / math.sqrt(width)  # (B, H, k)
        rate = self.decay_rate
        if rate is not None:
            scores = scores - (rate * dt / self.time_unit).unsqueeze(1)  # log of exp(-λ Δt)
        head_mask = mask.unsqueeze(1)  # (B, 1, k)
        empty = ~mask.any(dim=1)  # (B,) nodes without any earlier neighbour
        # Empty rows get finite scores (0) so softmax and its backward stay NaN-free; the mask then zeroes them.
        scores = scores.masked_fill(~head_mask, float("-inf")).masked_fill(empty[:, None, None], 0.0)
        alpha = torch.softmax(scores, dim=-1) * head_mask  # (B, H, k), exactly 0 at padding
        return alpha, value, q

    def attention_weights(
        self,
        x: torch.Tensor,
        neighbor_x: torch.Tensor,
        edge_attr: torch.Tensor | None,
        dt: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        """(B, num_heads, k) attention of each node on each neighbour (after decay; 0 at padding)."""
        return self._attend(x, neighbor_x, edge_attr, dt, mask)[0]

    def forward(
        self,
        x: torch.Tensor,
        neighbor_x: torch.Tensor,
        edge_attr: torch.Tensor | None,
        dt: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        alpha, value, q = self._attend(x, neighbor_x, edge_attr, dt, mask)
        alpha = self.dropout(alpha)
        context = (alpha.unsqueeze(-1) * value).sum(2)  # (B, H, w)
        context = context.reshape(x.shape[0], -1)  # (B, H * w)
        attended = self.norm(q + self.dropout(self.output(context)))  # (B, model_dim)
        hidden = torch.relu(self.merge_hidden(torch.cat([attended, x], dim=-1)))  # (B, node_dim)
        return self.merge_out(hidden)  # (B, out_dim)

    def __repr__(self) -> str:
        decay = "" if self.decay is None else f", decay={self.decay!r}"
        return (
            f"{type(self).__name__}({self.node_dim}, {self.out_dim}, edge_dim={self.edge_dim}, "
            f"time_dim={self.time_dim}, num_heads={self.num_heads}{decay})"
        )
