"""MFQ, multi-modal fusion with learnable queries (MMBee section 4, eqs. 3-7).

Input: for each modality ``m`` (visual, speech, comment, ...) the frames of the last ``S`` segments of the
live room, ``X_m`` (B, S, F, d_m), and which frames exist, ``valid_m`` (B, S, F). Each modality is first
mapped to the MFQ width ``d`` and given a learned segment-position embedding (offset 0 = the current segment),
then flattened to ``T = S F`` tokens. Missing frames (an earlier segment the room does not have, a dropped
frame, an absent modality) never change the output: they are zeroed on entry and masked as keys everywhere.

**Orthogonal projection** (eqs. 3-4). For a target modality ``m`` and every other present modality ``o``::

    Corr_mo = softmax_j(<x_m,i, x_o,j> / sqrt(d))              over the valid frames j of o       (T, T)
    Y_m,i  = x_m,i + sum_o (1 / n_o) sum_j (1 - Corr_mo[i, j]) x_o,j                                  (T, d)

``1 - Corr`` keeps what ``o`` has that ``m`` does not ("the parts of other modalities that are orthogonal to the
target modality"). The paper writes the sum without ``1 / n_o`` (``n_o`` = valid frames of ``o``); we divide so
that the scale does not grow with the number of frames. A modality with no valid frame in a row adds nothing.

**Fusion** (eq. 5), with multi-head attention ``Attn(Q, K, V)`` over valid keys, each block residual and
layer-normed (``out = LN(query + W_o Attn(...))``, not stated in the paper; it makes the stack trainable)::

    h_m  = CrossAttn(X_m W_m^Q, Y_m W_m^K, Y_m W_m^V)           per modality, keys = valid frames of m
    h_f  = SelfAttn(h_v ⊕ h_s ⊕ h_t)                            over the concatenated valid tokens

**Learnable queries** (eqs. 6-7). Every streamer owns ``N`` query tokens ``q_a`` (N, d), randomly
initialised::

    h'_m = CrossAttn(q_a W_c^Q, h_f W_c^K, h_f W_c^V)           keys = valid fused tokens
    h_m  = SelfAttn(h'_m)                                       (B, N, d)

A row without any valid frame gets ``h'_m = LN(q_a)`` (attention over nothing returns zero).

The query tokens may instead be given at call time (``forward(..., queries=...)``, ``num_streamers=None``: no
table): MMBee's Table 2 setting initialises them from the item embedding (the paper, section 5.2: "learnable
queries initialized with item embedding"); :class:`~lsec.nn.models.mmbee.rec.MMBeeRec` ties them to it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

QUERY_STD = 0.05


def orthogonal_projection(
    features: Mapping[str, torch.Tensor], valid: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Eqs. 3-4 for every modality (module docstring): ``Y_m`` from ``X_m`` and the other modalities.

    Shapes:
        features: {m: (B, T_m, d)} (invalid frames must be zero); valid: {m: (B, T_m) bool}
        ->  {m: (B, T_m, d)}
    """
    out = {}
    for m, x_m in features.items():
        y = x_m
        scale = 1.0 / math.sqrt(x_m.shape[-1])
        for o, x_o in features.items():
            if o == m:
                continue
            keys = valid[o]  # (B, T_o)
            scores = torch.einsum("bid,bjd->bij", x_m, x_o) * scale  # (B, T_m, T_o)
            corr = _masked_softmax(scores, keys.unsqueeze(1))  # (B, T_m, T_o); 0 on invalid keys
            dissimilar = (1.0 - corr) * keys.unsqueeze(1).to(x_m.dtype)  # (B, T_m, T_o)
            count = keys.sum(1).clamp(min=1).to(x_m.dtype)[:, None, None]  # (B, 1, 1)
            y = y + torch.einsum("bij,bjd->bid", dissimilar / count, x_o)  # (B, T_m, d)
        out[m] = y
    return out


def _masked_softmax(scores: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis restricted to ``valid`` keys; all-invalid rows give all zeros (never NaN).

    Shapes: scores (..., T_q, T_k); valid broadcastable to it, bool.
    """
    valid = valid.expand_as(scores)
    any_valid = valid.any(-1, keepdim=True)  # (..., T_q, 1)
    masked = scores.masked_fill(~valid, -math.inf).masked_fill(~any_valid, 0.0)
    return torch.softmax(masked, dim=-1) * valid.to(scores.dtype)


class MaskedAttention(nn.Module):
    """Multi-head attention with a key mask, residual and layer norm: ``LN(query + W_o Attn(W_Q q, W_K k, W_V v))``.

    Invalid keys get weight exactly 0; a query with no valid key gets ``LN(query)``.

    Shapes:
        query: (B, T_q, d);  keys: (B, T_k, d);  valid: (B, T_k) bool  ->  (B, T_q, d)
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(
                f"The 'dim' parameter of MaskedAttention ({dim}) must be divisible by num_heads ({num_heads})."
            )
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        b, t_q, d = query.shape
        h = self.num_heads

        def heads(x: torch.Tensor) -> torch.Tensor:
            return x.view(b, x.shape[1], h, d // h).transpose(1, 2)  # (B, h, T, d_h)

        q, k, v = heads(self.q(query)), heads(self.k(keys)), heads(self.v(keys))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // h)  # (B, h, T_q, T_k)
        weights = _masked_softmax(scores, valid[:, None, None, :])  # (B, h, T_q, T_k)
        attended = (weights @ v).transpose(1, 2).reshape(b, t_q, d)  # (B, T_q, d)
        return self.norm(query + self.out(attended))  # type: ignore[no-any-return]


class MFQ(nn.Module):
    """Multi-modal fusion with learnable streamer queries (module docstring, MMBee eqs. 3-7).

    Args:
        num_streamers: rows of the query table (each streamer owns ``num_queries`` tokens); ``None``: no table,
            the caller passes the query tokens to :meth:`forward`.
        input_dims: feature width per modality, e.g. ``{"visual": 16, "speech": 16, "comment": 16}``; the order
            is the order of concatenation in eq. 5.
        dim: MFQ width ``d`` (MMBee Table 6: 32 / 64 / 128).
        num_queries: ``N`` query tokens per streamer.
        num_segments: ``S``, segments per input (MMBee Table 7: 5 / 10 / 20); offset 0 is the current one.
        num_heads: attention heads of every block (divides ``dim``).

    Shapes:
        streamers: (B,) long; features: {m: (B, S, F, d_m)} float for any subset of the modalities (an absent
        one counts as all frames missing); valid: {m: (B, S, F)} bool (default: all frames of a given modality);
        queries: (B, N, d) float or None (default: the table's rows of ``streamers``)
        ->  (B, N, d)
    """

    def __init__(
        self,
        num_streamers: int | None,
        input_dims: Mapping[str, int],
        *,
        dim: int = 64,
        num_queries: int = 4,
        num_segments: int = 5,
        num_heads: int = 2,
    ) -> None:
        super().__init__()
        for name, value in (
            *((("num_streamers", num_streamers),) if num_streamers is not None else ()),
            ("dim", dim),
            ("num_queries", num_queries),
            ("num_segments", num_segments),
            ("num_heads", num_heads),
        ):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"The '{name}' parameter of MFQ must be a positive int. Got {value!r} instead.")
        if not input_dims or any(int(w) <= 0 for w in input_dims.values()):
            raise ValueError(
                f"The 'input_dims' parameter of MFQ must map modalities to positive widths. Got {dict(input_dims)!r}."
            )
        if dim % num_heads:
            raise ValueError(f"The 'dim' parameter of MFQ ({dim}) must be divisible by num_heads ({num_heads}).")
        self.modalities = tuple(input_dims)
        self.dim, self.num_queries, self.num_segments = dim, num_queries, num_segments
        self.inputs = nn.ModuleDict({m: nn.Linear(int(w), dim) for m, w in input_dims.items()})
        self.position = nn.Parameter(torch.empty(num_segments, dim))  # segment offset embedding
        self.cross = nn.ModuleDict({m: MaskedAttention(dim, num_heads) for m in self.modalities})  # eq. 5, h_m
        self.fuse = MaskedAttention(dim, num_heads)  # eq. 5, h_f
        self.queries = (  # q_a, N tokens per streamer
            nn.Embedding(num_streamers, num_queries * dim) if num_streamers is not None else None
        )
        self.query_cross = MaskedAttention(dim, num_heads)  # eq. 6
        self.query_self = MaskedAttention(dim, num_heads)  # eq. 7
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.position, std=QUERY_STD)
        if self.queries is not None:
            nn.init.normal_(self.queries.weight, std=QUERY_STD)

    @property
    def output_dim(self) -> int:
        """Width of the flattened output ``N d``."""
        return self.num_queries * self.dim

    def embed(
        self, features: Mapping[str, torch.Tensor], valid: Mapping[str, torch.Tensor] | None = None
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Every modality as (B, S F, d) tokens (zero where missing) and its (B, S F) mask; absent -> all missing."""
        given = [m for m in self.modalities if m in features]
        unknown = [m for m in features if m not in self.inputs]
        if unknown or not given:
            raise ValueError(f"MFQ: features must be given for some of {self.modalities}. Got {list(features)}.")
        ref = features[given[0]]
        b, s, f = ref.shape[:3]
        if s > self.num_segments:
            raise ValueError(f"MFQ: at most num_segments={self.num_segments} segments per input. Got {s}.")
        tokens, masks = {}, {}
        for m in self.modalities:
            if m in features:
                x = features[m]  # (B, S, F, d_m)
                ok = (valid or {}).get(m)
                ok = torch.ones(x.shape[:3], dtype=torch.bool, device=x.device) if ok is None else ok.bool()
                x = x.masked_fill(~ok.unsqueeze(-1), 0.0)  # missing frames may hold anything, even NaN
                z = self.inputs[m](x) + self.position[: x.shape[1], None, :]  # (B, S, F, d)
                tokens[m] = z.masked_fill(~ok.unsqueeze(-1), 0.0).reshape(b, -1, self.dim)  # (B, S F, d)
                masks[m] = ok.reshape(b, -1)  # (B, S F)
            else:
                tokens[m] = ref.new_zeros(b, s * f, self.dim)
                masks[m] = torch.zeros(b, s * f, dtype=torch.bool, device=ref.device)
        return tokens, masks

    def forward(
        self,
        streamers: torch.Tensor,
        features: Mapping[str, torch.Tensor],
        valid: Mapping[str, torch.Tensor] | None = None,
        queries: torch.Tensor | None = None,
    ) -> torch.Tensor:
        b = streamers.shape[0]
        if queries is None:
            if self.queries is None:
                raise ValueError("MFQ was built without a query table (num_streamers=None): pass queries=.")
            queries = self.queries(streamers).view(b, self.num_queries, self.dim)  # (B, N, d), q_a
        elif queries.shape != (b, self.num_queries, self.dim):
            raise ValueError(
                f"MFQ: queries must have shape ({b}, {self.num_queries}, {self.dim}). Got {tuple(queries.shape)}."
            )
        tokens, masks = self.embed(features, valid)
        projected = orthogonal_projection(tokens, masks)  # {m: (B, T, d)}, eq. 4
        fused_parts = [self.cross[m](tokens[m], projected[m], masks[m]) for m in self.modalities]  # eq. 5, h_m
        fused_in = torch.cat(fused_parts, dim=1)  # (B, M T, d), h'_f
        fused_mask = torch.cat([masks[m] for m in self.modalities], dim=1)  # (B, M T)
        fused = self.fuse(fused_in, fused_in, fused_mask)  # (B, M T, d), h_f
        attended = self.query_cross(queries, fused, fused_mask)  # (B, N, d), eq. 6
        everyone = torch.ones(b, self.num_queries, dtype=torch.bool, device=streamers.device)
        return self.query_self(attended, attended, everyone)  # type: ignore[no-any-return]  # (B, N, d), eq. 7

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(modalities={list(self.modalities)}, dim={self.dim}, "
            f"num_queries={self.num_queries}, num_segments={self.num_segments})"
        )


__all__ = ["MFQ", "MaskedAttention", "orthogonal_projection"]
