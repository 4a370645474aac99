"""Tiny tripartite graphs as BipartiteAdjacency objects, plus dense references, for the nn tests."""

from __future__ import annotations

import numpy as np
import torch

from lsec.data.schema import RELATIONS
from lsec.graph.adjacency import BipartiteAdjacency, bipartite_adjacency

COUNTS = {"user": 7, "item": 9, "streamer": 4}


def random_edges(num_src: int, num_dst: int, num_edges: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, num_src, num_edges), rng.integers(0, num_dst, num_edges)


def make_graphs(
    *, self_loops: bool, counts: dict[str, int] = COUNTS, num_edges: int = 20, seed: int = 0
) -> dict[str, BipartiteAdjacency]:
    """One adjacency per LSEC relation over ``counts`` nodes; some nodes stay isolated."""
    graphs = {}
    for offset, rel in enumerate(("buy", "follow", "sell")):
        src_type, _, dst_type = RELATIONS[rel]
        src, dst = random_edges(counts[src_type], counts[dst_type], num_edges, seed + offset)
        graphs[rel] = bipartite_adjacency(src, dst, counts[src_type], counts[dst_type], self_loops=self_loops)
    return graphs


def dense_homogeneous(src: np.ndarray, dst: np.ndarray, num_src: int, num_dst: int) -> torch.Tensor:
    """``[[0, A], [A^T, 0]]`` with 0/1 entries, built by hand (duplicates count once)."""
    n = num_src + num_dst
    a = torch.zeros(n, n)
    for s, d in zip(src.tolist(), dst.tolist()):
        a[s, num_src + d] = 1.0
        a[num_src + d, s] = 1.0
    return a


def sym_normalise(a: torch.Tensor) -> torch.Tensor:
    """``D^-1/2 A D^-1/2`` with 0 for isolated nodes."""
    degree = a.sum(1)
    inv = torch.where(degree > 0, degree.clamp(min=1e-12) ** -0.5, torch.zeros_like(degree))
    return inv[:, None] * a * inv[None, :]
