"""The fast propagation (custom backward) against a dense reference: values and gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lsec.graph.adjacency import bipartite_adjacency, propagate


def dense_reference(src, dst, num_src, num_dst, weight=None, self_loops=False, normalization="sym") -> torch.Tensor:
    n = num_src + num_dst
    a = np.zeros((num_src, num_dst))
    for k, (s, d) in enumerate(zip(src, dst)):
        if weight is None:
            a[s, d] = 1.0
        else:
            a[s, d] += weight[k]
    full = np.zeros((n, n))
    full[:num_src, num_src:] = a
    full[num_src:, :num_src] = a.T
    if self_loops:
        full += np.eye(n)
    deg = full.sum(1)
    if normalization == "sym":
        inv = np.where(deg > 0, deg, 1.0) ** -0.5 * (deg > 0)
        full = inv[:, None] * full * inv[None, :]
    elif normalization == "left":
        inv = np.where(deg > 0, 1.0 / np.where(deg > 0, deg, 1.0), 0.0)
        full = inv[:, None] * full
    return torch.tensor(full, dtype=torch.float32)


def random_edges(seed: int, num_src: int = 7, num_dst: int = 5, num_edges: int = 18):
    rng = np.random.default_rng(seed)
    return rng.integers(0, num_src, num_edges), rng.integers(0, num_dst, num_edges), num_src, num_dst


@pytest.mark.parametrize("normalization", ["sym", "left", "none"])
@pytest.mark.parametrize("self_loops", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_propagate_matches_dense_forward_and_gradient(normalization, self_loops, weighted):
    src, dst, ns, nd = random_edges(seed=1)
    weight = np.random.default_rng(2).random(len(src)).astype(np.float32) + 0.5 if weighted else None
    adj = bipartite_adjacency(src, dst, ns, nd, weight=weight, self_loops=self_loops, normalization=normalization)
    dense = dense_reference(src, dst, ns, nd, weight, self_loops, normalization)
    assert adj.symmetric == (normalization != "left")
    torch.testing.assert_close(adj.matrix.to_dense(), dense, rtol=1e-5, atol=1e-6)

    x = torch.randn(ns + nd, 4, generator=torch.Generator().manual_seed(0), requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    upstream = torch.randn(ns + nd, 4, generator=torch.Generator().manual_seed(1))
    # two stacked layers, as models use them
    y = propagate(adj, propagate(adj, x))
    y_ref = dense @ (dense @ x_ref)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-6)
    (y * upstream).sum().backward()
    (y_ref * upstream).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-5, atol=1e-6)


def test_propagate_without_grad_and_gradcheck_double():
    src, dst, ns, nd = random_edges(seed=3)
    adj = bipartite_adjacency(src, dst, ns, nd)
    x = torch.randn(ns + nd, 3)
    with torch.no_grad():
        y = propagate(adj, x.requires_grad_(True))
    assert not y.requires_grad
    torch.testing.assert_close(y, adj.matrix.to_dense() @ x)


def test_public_api_shapes_and_duplicates_merged():
    adj = bipartite_adjacency(np.array([0, 0, 1]), np.array([1, 1, 0]), 2, 3)
    assert adj.matrix.shape == (5, 5)
    assert adj.num_nodes == 5 and adj.num_src == 2 and adj.num_dst == 3
    assert adj.num_edges == 4  # (0,1) counted once, both directions
    # user 0 has degree 1, item 1 has degree 1 -> weight 1
    assert adj.matrix.to_dense()[0, 3].item() == pytest.approx(1.0)


@pytest.mark.parametrize("self_loops", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_edge_exclusion_equals_the_graph_rebuilt_without_those_edges(self_loops, seed):
    from lsec.graph.adjacency import EdgeExclusion

    rng = np.random.default_rng(seed)
    src, dst = rng.integers(0, 30, 300), rng.integers(0, 40, 300)  # duplicates included
    exclusion = EdgeExclusion(src, dst, 30, 40, self_loops=self_loops)
    none = exclusion.without(np.zeros(0, np.int64), np.zeros(0, np.int64)).matrix.to_dense()
    full = bipartite_adjacency(src, dst, 30, 40, self_loops=self_loops).matrix.to_dense()
    torch.testing.assert_close(none, full, rtol=0, atol=1e-7)
    pick = rng.choice(len(src), 25, replace=False)
    absent = np.flatnonzero(~np.isin(np.arange(30 * 40), src * 40 + dst))[:3]  # pairs that are not edges: ignored
    removed = set(zip(src[pick].tolist(), dst[pick].tolist()))
    keep = np.array([(a, b) not in removed for a, b in zip(src.tolist(), dst.tolist())])
    got = exclusion.without(np.r_[src[pick], absent // 40], np.r_[dst[pick], absent % 40])
    want = bipartite_adjacency(src[keep], dst[keep], 30, 40, self_loops=self_loops)
    torch.testing.assert_close(got.matrix.to_dense(), want.matrix.to_dense(), rtol=0, atol=1e-7)
    assert got.num_edges == want.num_edges
