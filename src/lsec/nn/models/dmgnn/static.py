"""The static baseline of DM-GNN's comparison: LightGCN on the aggregated (time-free) social graph.

The training events are collapsed into one undirected, unweighted user-user graph (an edge where two users
interacted at least once, in either direction, self-loops dropped), normalised ``Â = D^-1/2 A D^-1/2``, and a
learnable user table is propagated by :class:`~lsec.nn.conv.lightgcn.LightGCNConv` (``num_layers`` steps,
mean layer combination). The output ignores query times: a user has one embedding whatever ``t``, and a pair's
events after the training period never reach it (the snapshot is the training fold's).

:class:`StaticEncoder` has the call signature of :class:`~lsec.nn.models.dmgnn.encoder.TemporalEncoder`
(``sampler`` / ``hops`` accepted and ignored), so :class:`~lsec.nn.models.dmgnn.model.DMGNN` takes it as its
encoder and the two heads and the temporal objective stay the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from lsec.graph.adjacency import BipartiteAdjacency, to_torch_csr
from lsec.nn.conv.lightgcn import LightGCNConv


def aggregated_adjacency(src: np.ndarray, dst: np.ndarray, num_users: int) -> BipartiteAdjacency:
    """``D^-1/2 A D^-1/2`` of the undirected, binary user-user graph of the pairs ``(src, dst)`` (self-loops dropped).

    Shapes: src, dst (E,) -> a (num_users, num_users) symmetric adjacency.
    """
    src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
    keep = src != dst
    rows, cols = np.concatenate([src[keep], dst[keep]]), np.concatenate([dst[keep], src[keep]])
    matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(num_users, num_users))
    matrix.data[:] = 1.0  # duplicates summed by the constructor: binary again
    degree = np.asarray(matrix.sum(axis=1)).ravel()
    inv = np.zeros_like(degree)
    np.power(degree, -0.5, out=inv, where=degree > 0)
    normalised = (sp.diags(inv) @ matrix @ sp.diags(inv)).tocsr()
    return BipartiteAdjacency(matrix=to_torch_csr(normalised), num_src=num_users, num_dst=0, self_loops=False)


class StaticEncoder(nn.Module):
    """A user table propagated over a fixed normalised adjacency (module docstring).

    Args:
        adjacency: from :func:`aggregated_adjacency` (not saved in the state dict: rebuilt from the data).
        embedding_dim: width of the table and of the output.
        num_layers: LightGCN propagation steps.

    Shapes:
        nodes (B,), times (B,) (ignored) -> (B, embedding_dim)
    """

    def __init__(self, adjacency: BipartiteAdjacency, *, embedding_dim: int = 64, num_layers: int = 2) -> None:
        super().__init__()
        num_nodes = adjacency.num_nodes
        for name, value in (("embedding_dim", embedding_dim), ("num_layers", num_layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"The '{name}' parameter of StaticEncoder must be an int >= 1. Got {value!r} instead.")
        self.adjacency = adjacency
        self.num_nodes = num_nodes
        self.embedding_dim = embedding_dim
        self.num_layers = num_layers
        self.node_embedding = nn.Embedding(num_nodes, embedding_dim)
        self.conv = LightGCNConv(num_layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.node_embedding.weight, std=0.1)

    def _apply(self, fn: Any, recurse: bool = True) -> StaticEncoder:  # keep the adjacency on the table's device
        super()._apply(fn, recurse)
        device = self.node_embedding.weight.device
        if self.adjacency.matrix.device != device:
            self.adjacency = BipartiteAdjacency(
                matrix=self.adjacency.matrix.to(device),
                num_src=self.adjacency.num_src,
                num_dst=self.adjacency.num_dst,
                self_loops=False,
            )
        return self

    def forward(
        self,
        nodes: np.ndarray | torch.Tensor,
        times: np.ndarray | torch.Tensor | None = None,
        *,
        sampler: Any = None,
        hops: Sequence[Any] | None = None,
    ) -> torch.Tensor:
        """Propagated embeddings of ``nodes`` (times, sampler and hops are accepted for the encoder interface)."""
        device = self.node_embedding.weight.device
        index = torch.as_tensor(np.asarray(nodes.cpu() if isinstance(nodes, torch.Tensor) else nodes), device=device)
        if index.ndim != 1:
            raise ValueError(f"The 'nodes' parameter of StaticEncoder.forward must be (B,). Got {tuple(index.shape)}.")
        if len(index) and (int(index.min()) < 0 or int(index.max()) >= self.num_nodes):
            raise ValueError(
                f"The 'nodes' parameter of StaticEncoder.forward must hold indices in [0, {self.num_nodes}). "
                f"Got values in [{int(index.min())}, {int(index.max())}] instead."
            )
        table = self.conv(self.adjacency, self.node_embedding.weight)  # (N, d)
        return table[index.long()]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.num_nodes}, embedding_dim={self.embedding_dim}, num_layers={self.num_layers})"
        )
