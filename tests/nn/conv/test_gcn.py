from __future__ import annotations

import pytest
import torch

from lsec.graph.adjacency import bipartite_adjacency
from lsec.nn.conv.gcn import GCNConv
from tests.nn.graphs import dense_homogeneous, random_edges, sym_normalise


@pytest.mark.parametrize(("in_dim", "out_dim"), [(6, 3), (3, 6), (4, 4)])  # both multiplication orders
@pytest.mark.parametrize("activation", [True, False])
def test_gcn_equals_dense_reference(in_dim: int, out_dim: int, activation: bool) -> None:
    torch.manual_seed(0)
    src, dst = random_edges(5, 7, 14, seed=1)
    adjacency = bipartite_adjacency(src, dst, 5, 7, self_loops=True)
    conv = GCNConv(in_dim, out_dim, activation=activation)
    with torch.no_grad():
        conv.bias.normal_()  # type: ignore[union-attr]
    x = torch.randn(12, in_dim)
    a_hat = sym_normalise(dense_homogeneous(src, dst, 5, 7) + torch.eye(12))
    expected = a_hat @ x @ conv.weight + conv.bias
    if activation:
        expected = torch.relu(expected)
    out = conv(adjacency, x)
    assert out.shape == (12, out_dim)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_gcn_rejects_adjacency_without_self_loops() -> None:
    src, dst = random_edges(3, 4, 5, seed=0)
    with pytest.raises(ValueError, match="self_loops=True"):
        GCNConv(2, 2)(bipartite_adjacency(src, dst, 3, 4), torch.randn(7, 2))


def test_gcn_gradients_and_reset() -> None:
    torch.manual_seed(0)
    src, dst = random_edges(3, 4, 6, seed=0)
    conv = GCNConv(3, 2)
    x = torch.randn(7, 3, requires_grad=True)
    conv(bipartite_adjacency(src, dst, 3, 4, self_loops=True), x).pow(2).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0
    torch.manual_seed(1)
    conv.reset_parameters()
    first = conv.weight.detach().clone()
    torch.manual_seed(1)
    conv.reset_parameters()
    assert torch.equal(first, conv.weight) and torch.count_nonzero(conv.bias) == 0  # type: ignore[arg-type]
    assert repr(conv) == "GCNConv(3, 2)"
