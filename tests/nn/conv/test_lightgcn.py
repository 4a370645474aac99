from __future__ import annotations

import pytest
import torch

from lsec.graph.adjacency import bipartite_adjacency
from lsec.nn.conv.lightgcn import LightGCNConv
from tests.nn.graphs import dense_homogeneous, random_edges, sym_normalise


@pytest.mark.parametrize("num_layers", [0, 1, 3])
def test_lightgcn_equals_dense_reference(num_layers: int) -> None:
    torch.manual_seed(0)
    src, dst = random_edges(6, 5, 15, seed=2)
    adjacency = bipartite_adjacency(src, dst, 6, 5)
    x = torch.randn(11, 4)
    a_hat = sym_normalise(dense_homogeneous(src, dst, 6, 5))
    layers = [x]
    for _ in range(num_layers):
        layers.append(a_hat @ layers[-1])
    expected = torch.stack(layers).mean(0)
    out = LightGCNConv(num_layers=num_layers)(adjacency, x)
    assert out.shape == (11, 4)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)


def test_lightgcn_has_no_parameters_and_rejects_self_loops() -> None:
    conv = LightGCNConv(num_layers=2)
    assert list(conv.parameters()) == []
    src, dst = random_edges(3, 3, 4, seed=0)
    with pytest.raises(ValueError, match="self_loops=False"):
        conv(bipartite_adjacency(src, dst, 3, 3, self_loops=True), torch.randn(6, 2))
    with pytest.raises(ValueError, match="num_layers"):
        LightGCNConv(num_layers=-1)


def test_lightgcn_gradient_reaches_input() -> None:
    src, dst = random_edges(4, 4, 8, seed=3)
    x = torch.randn(8, 3, requires_grad=True)
    LightGCNConv(num_layers=2)(bipartite_adjacency(src, dst, 4, 4), x).sum().backward()
    assert x.grad is not None and torch.all(x.grad != 0)  # layer 0 alone gives every node 1/3
