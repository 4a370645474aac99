"""The L-layer TGAT encoder: node embeddings at query times, computed recursively over earlier neighbours.

The embedding of node ``i`` at time ``t`` after ``l`` layers is::

    h_i^0(t) = E[i]                                                (a learnable table)
    h_i^l(t) = TGAT_l( h_i^{l-1}(t), {h_j^{l-1}(t_j), e_ij, t - t_j : (j, t_j) in N(i, t)} )

where ``N(i, t)`` are sampled events of ``i`` strictly before ``t`` (:mod:`lsec.graph.temporal`). A
neighbour enters at ITS event time ``t_j``: layer ``l`` needs the layer-``l-1`` embeddings of the
neighbours as they were when the event happened, so their own neighbourhoods are sampled before ``t_j``
(never a leak from ``[t_j, t)``).

Sampling order (what :func:`sample_hops` returns and :meth:`TemporalEncoder.forward` consumes). The
queries of the top layer are ``Q_0 = (nodes, times)``; ``hops[0]`` samples them. The queries one layer
down are ``Q_1 = Q_0`` followed by the real (unmasked) neighbours of ``hops[0]`` in row-major order, at
their event times; ``hops[1]`` samples ``Q_1``; and so on, ``num_layers`` hops in all (layer 0 is a table
lookup and needs none). Padded neighbours are never looked up, so their ids and times never matter.

Dynamic node attributes (``attribute_dim > 0``, off by default): layer 0 becomes
``h_i^0(t) = E[i] + W_a a_i(t)`` with ``a_i(t)`` from a :data:`NodeAttributes` callback set by
:meth:`TemporalEncoder.set_node_attributes`. Layer 0 is evaluated at every query of the last hop: the top
queries at their query times and every sampled neighbour at ITS event time ``t_j``, so each event's message
carries the neighbour's attributes as they were just before the event (DM-GNN's dynamic node attributes; with
consumption, a tie's recent purchases) and nothing from ``[t_j, t)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from lsec.graph.temporal import TemporalNeighbors
from lsec.nn.models.dmgnn.tgat import TGATLayer

Sampler = Callable[[np.ndarray, np.ndarray], TemporalNeighbors]
"""``sampler(nodes (Q,), times (Q,)) -> TemporalNeighbors`` with (Q, k) arrays, e.g.
``lambda nodes, times: most_recent(csr, nodes=nodes, times=times, k=10)``."""

NodeAttributes = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``attributes(nodes (Q,), times (Q,)) -> (Q, attribute_dim)``: dynamic node attributes of each node computed
from what happened STRICTLY before its time (e.g. its recent consumption,
:meth:`lsec.train.temporal_data.TemporalData.node_attributes`); the caller guarantees the "strictly before"."""


def _as_array(values: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def _next_queries(nodes: np.ndarray, times: np.ndarray, hop: TemporalNeighbors) -> tuple[np.ndarray, np.ndarray]:
    """The queries one layer down: the current ones, then the real neighbours (row-major) at their event times."""
    mask = hop.mask
    next_nodes = np.concatenate([nodes, hop.neighbors[mask]])
    next_times = np.concatenate([times, hop.timestamps[mask]])
    return next_nodes, next_times


def sample_hops(
    sampler: Sampler,
    nodes: np.ndarray | torch.Tensor,
    times: np.ndarray | torch.Tensor,
    num_layers: int,
) -> list[TemporalNeighbors]:
    """The ``num_layers`` neighbourhoods an encoder of that depth reads, in the order of the module docstring.

    Shapes:
        nodes, times: (B,) -> [hops[0] with (B, k) arrays, hops[1] with (B + real neighbours of hops[0], k), ...]
    """
    node_arr, time_arr = _as_array(nodes).astype(np.int64, copy=False), _as_array(times)
    hops = []
    for _ in range(num_layers):
        hop = sampler(node_arr, time_arr)
        hops.append(hop)
        node_arr, time_arr = _next_queries(node_arr, time_arr, hop)
    return hops


class TemporalEncoder(nn.Module):
    """``num_layers`` TGAT layers over a learnable node table (module docstring).

    Args:
        num_nodes: size of the node table.
        embedding_dim: width of the table and of every layer's output.
        num_heads, time_dim, dropout, decay, decay_rate, time_unit: passed to every :class:`TGATLayer`
            (each layer has its own ``λ`` when ``decay="learned"``).
        num_layers: depth ``L >= 1``.
        num_edge_kinds: number of event kinds (like / comment / repost, ...); 0 = no edge features. With
            kinds, each event's kind is embedded into ``edge_dim`` features and the sampler must return
            ``kinds``.
        edge_dim: width of the kind embedding (used when ``num_edge_kinds > 0``).
        attribute_dim: width of the dynamic node attributes added at layer 0 (0: none; module docstring); the
            callback is set by :meth:`set_node_attributes` (not part of the state dict).

    Shapes:
        nodes: (B,) int, times: (B,) (the timestamps' units), sampler or hops -> (B, embedding_dim)
    """

    def __init__(
        self,
        num_nodes: int,
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
        time_unit: float = 1.0,
        attribute_dim: int = 0,
    ) -> None:
        super().__init__()
        for name, value, low in (
            ("num_nodes", num_nodes, 1),
            ("embedding_dim", embedding_dim, 1),
            ("num_layers", num_layers, 1),
            ("num_edge_kinds", num_edge_kinds, 0),
            ("attribute_dim", attribute_dim, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(
                    f"The '{name}' parameter of TemporalEncoder must be an int >= {low}. Got {value!r} instead."
                )
        self.num_nodes = num_nodes
        self.embedding_dim = embedding_dim
        self.num_layers = num_layers
        self.num_edge_kinds = num_edge_kinds
        self.node_embedding = nn.Embedding(num_nodes, embedding_dim)
        self.edge_embedding = nn.Embedding(num_edge_kinds, edge_dim) if num_edge_kinds else None
        self.layers = nn.ModuleList(
            TGATLayer(
                embedding_dim,
                edge_dim=edge_dim if num_edge_kinds else 0,
                time_dim=time_dim,
                num_heads=num_heads,
                dropout=dropout,
                decay=decay,
                decay_rate=decay_rate,
                time_unit=time_unit,
            )
            for _ in range(num_layers)
        )
        self.attribute_dim = attribute_dim
        self.attribute_projection = nn.Linear(attribute_dim, embedding_dim) if attribute_dim else None
        self.node_attributes: NodeAttributes | None = None
        self.reset_parameters()

    def set_node_attributes(self, attributes: NodeAttributes | None) -> None:
        """The callback of the dynamic node attributes (needed when ``attribute_dim > 0``)."""
        self.node_attributes = attributes

    def reset_parameters(self) -> None:
        nn.init.normal_(self.node_embedding.weight, std=0.1)
        if self.edge_embedding is not None:
            nn.init.normal_(self.edge_embedding.weight, std=0.1)
        for layer in self.layers:
            assert isinstance(layer, TGATLayer)  # narrows ModuleList's Module for mypy
            layer.reset_parameters()
        if self.attribute_projection is not None:  # last: without attributes the draws are those of before
            nn.init.xavier_normal_(self.attribute_projection.weight)
            nn.init.zeros_(self.attribute_projection.bias)

    def forward(
        self,
        nodes: np.ndarray | torch.Tensor,
        times: np.ndarray | torch.Tensor,
        *,
        sampler: Sampler | None = None,
        hops: Sequence[TemporalNeighbors] | None = None,
    ) -> torch.Tensor:
        """Embeddings of ``nodes`` at ``times``; neighbours from ``sampler`` or precomputed ``hops``, exactly one."""
        node_arr, time_arr = _as_array(nodes).astype(np.int64, copy=False), _as_array(times)
        if node_arr.ndim != 1 or time_arr.shape != node_arr.shape:
            raise ValueError(
                f"The 'nodes' and 'times' parameters of TemporalEncoder.forward must be (B,) arrays of one length. "
                f"Got shapes {node_arr.shape} and {time_arr.shape} instead."
            )
        if len(node_arr) and (node_arr.min() < 0 or node_arr.max() >= self.num_nodes):
            raise ValueError(
                f"The 'nodes' parameter of TemporalEncoder.forward must hold indices in [0, {self.num_nodes}). "
                f"Got values in [{node_arr.min()}, {node_arr.max()}] instead."
            )
        if sampler is not None and hops is None:
            hop_list = sample_hops(sampler, node_arr, time_arr, self.num_layers)
        elif hops is not None and sampler is None:
            hop_list = list(hops)
        else:
            raise ValueError("TemporalEncoder.forward needs exactly one of 'sampler' and 'hops'. Got both or neither.")
        if len(hop_list) != self.num_layers:
            raise ValueError(
                f"The 'hops' parameter of TemporalEncoder.forward must hold num_layers={self.num_layers} "
                f"neighbourhoods. Got {len(hop_list)} instead."
            )
        return self._encode(node_arr, time_arr, hop_list, self.num_layers)

    def top_attention(
        self, nodes: np.ndarray | torch.Tensor, times: np.ndarray | torch.Tensor, *, sampler: Sampler
    ) -> tuple[TemporalNeighbors, torch.Tensor, torch.Tensor]:
        """The top layer's attention over the sampled neighbours: ``(hops[0], alpha (B, H, k), w (B, k))``.

        ``alpha`` is :meth:`TGATLayer.attention_weights` (after the decay, 0 at padding) of the last layer on
        the same inputs :meth:`forward` gives it; ``w = exp(-λ Δt / time_unit)`` its decay weights (1 without
        decay, 0 at padding). Used by the influence scores of :mod:`lsec.analysis.dmgnn_influence`.
        """
        node_arr, time_arr = _as_array(nodes).astype(np.int64, copy=False), _as_array(times)
        hops = sample_hops(sampler, node_arr, time_arr, self.num_layers)
        hop = hops[0]
        device = self.node_embedding.weight.device
        lower = self._encode(*_next_queries(node_arr, time_arr, hop), hops[1:], self.num_layers - 1)
        batch, k = hop.mask.shape
        mask = torch.as_tensor(hop.mask, device=device)
        flat = torch.nonzero(mask.reshape(-1)).squeeze(1)
        neighbor_x = lower.new_zeros(batch * k, lower.shape[1]).index_copy(0, flat, lower[batch:])
        edge_attr = None
        if self.edge_embedding is not None and hop.kinds is not None:
            kinds = torch.as_tensor(np.where(hop.mask, hop.kinds, 0), dtype=torch.long, device=device)
            edge_attr = self.edge_embedding(kinds)
        dt = torch.as_tensor(hop.dt, dtype=lower.dtype, device=device)
        layer = self.layers[-1]
        assert isinstance(layer, TGATLayer)
        alpha = layer.attention_weights(lower[:batch], neighbor_x.view(batch, k, -1), edge_attr, dt, mask)
        rate = layer.decay_rate
        weight = torch.ones_like(dt) if rate is None else torch.exp(-rate * dt / layer.time_unit)
        return hop, alpha, weight * mask

    def _encode(self, nodes: np.ndarray, times: np.ndarray, hops: list[TemporalNeighbors], depth: int) -> torch.Tensor:
        """(Q, d) embeddings after ``depth`` layers; ``hops[0]`` samples these Q queries."""
        device = self.node_embedding.weight.device
        if depth == 0:
            table = self.node_embedding(torch.as_tensor(nodes, dtype=torch.long, device=device))
            if self.attribute_projection is None:
                return table
            if self.node_attributes is None:
                raise ValueError(
                    f"TemporalEncoder was built with attribute_dim={self.attribute_dim}, so it needs a node "
                    "attribute callback (set_node_attributes). Got None instead."
                )
            values = np.asarray(self.node_attributes(nodes, times))
            if values.shape != (len(nodes), self.attribute_dim):
                raise ValueError(
                    f"The node attribute callback must return a ({len(nodes)}, {self.attribute_dim}) array. "
                    f"Got shape {values.shape} instead."
                )
            return table + self.attribute_projection(torch.as_tensor(values, dtype=table.dtype, device=device))
        hop = hops[0]
        if hop.mask.shape[0] != len(nodes) or not np.array_equal(hop.query_times, times):
            raise ValueError(
                f"The 'hops' parameter of TemporalEncoder.forward must follow the order of sample_hops: one row "
                f"per query ({len(nodes)}) at the query's time. Got {hop.mask.shape[0]} rows instead."
            )
        batch, k = hop.mask.shape
        lower = self._encode(*_next_queries(nodes, times, hop), hops[1:], depth - 1)  # (B + V, d)
        mask = torch.as_tensor(hop.mask, device=device)  # (B, k)
        flat = torch.nonzero(mask.reshape(-1)).squeeze(1)  # (V,) positions of the real neighbours
        neighbor_x = lower.new_zeros(batch * k, lower.shape[1]).index_copy(0, flat, lower[batch:])
        edge_attr = None
        if self.edge_embedding is not None:
            if hop.kinds is None:
                raise ValueError(
                    "TemporalEncoder was built with num_edge_kinds > 0, so its neighbourhoods must carry 'kinds'. "
                    "Got kinds=None instead."
                )
            kinds = torch.as_tensor(np.where(hop.mask, hop.kinds, 0), dtype=torch.long, device=device)
            edge_attr = self.edge_embedding(kinds)  # (B, k, edge_dim)
        dt = torch.as_tensor(hop.dt, dtype=lower.dtype, device=device)  # (B, k), 0 at padding
        layer = self.layers[depth - 1]  # layers[0] reads the table, layers[-1] gives the output
        return layer(lower[:batch], neighbor_x.view(batch, k, -1), edge_attr, dt, mask)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.num_nodes}, embedding_dim={self.embedding_dim}, "
            f"num_layers={self.num_layers}, decay={self.layers[0].decay!r})"
        )
