from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lsec.graph.adjacency import bipartite_adjacency
from lsec.nn.conv.gat import AttentionSpMM, GATConv, attention_structure
from tests.nn.graphs import dense_homogeneous, random_edges

NUM_SRC, NUM_DST = 5, 6


def _graph(self_loops: bool):
    src, dst = random_edges(NUM_SRC, NUM_DST, 12, seed=4)  # leaves some nodes isolated
    return src, dst, bipartite_adjacency(src, dst, NUM_SRC, NUM_DST, self_loops=self_loops)


def test_structure_has_one_self_loop_per_node_and_the_graph_edges() -> None:
    src, dst, plain = _graph(False)
    _, _, looped = _graph(True)
    pattern = dense_homogeneous(src, dst, NUM_SRC, NUM_DST) + torch.eye(NUM_SRC + NUM_DST)
    for adjacency in (plain, looped):
        structure = attention_structure(adjacency)
        crow, col, row = structure.crow, structure.col, structure.row
        dense = torch.zeros_like(pattern)
        dense[row, col] += 1.0
        assert torch.equal(dense, pattern)  # no duplicates, nothing missing, exactly one loop per node
        assert torch.equal(torch.repeat_interleave(torch.arange(len(crow) - 1), crow.diff()), row)
        for i in range(len(crow) - 1):
            cols = col[crow[i] : crow[i + 1]]
            assert torch.all(cols[1:] > cols[:-1])  # sorted within each row (valid CSR)


@pytest.mark.parametrize("heads", [1, 3])
def test_attention_rows_sum_to_one(heads: int) -> None:
    torch.manual_seed(0)
    _, _, adjacency = _graph(False)
    conv = GATConv(4, 3, heads=heads)
    row, _, alpha = conv.attention_weights(adjacency, torch.randn(NUM_SRC + NUM_DST, 4))
    sums = torch.zeros(NUM_SRC + NUM_DST, heads).index_add(0, row, alpha)
    torch.testing.assert_close(sums, torch.ones_like(sums))
    assert torch.all(alpha > 0)


@pytest.mark.parametrize("heads", [1, 2])
@pytest.mark.parametrize("self_loops", [False, True])
def test_gat_equals_naive_per_node_loop(heads: int, self_loops: bool) -> None:
    torch.manual_seed(0)
    src, dst, adjacency = _graph(self_loops)
    n = NUM_SRC + NUM_DST
    conv = GATConv(4, 3, heads=heads, activation=False)
    with torch.no_grad():
        conv.bias.normal_()  # type: ignore[union-attr]
    x = torch.randn(n, 4)
    neighbours = dense_homogeneous(src, dst, NUM_SRC, NUM_DST)
    z = (x @ conv.weight).view(n, heads, 3)
    expected = torch.zeros(n, 3)
    for i in range(n):
        nodes = [i, *torch.nonzero(neighbours[i]).flatten().tolist()]  # itself plus its neighbours
        for h in range(heads):
            scores = torch.stack(
                [F.leaky_relu(conv.att_dst[h] @ z[i, h] + conv.att_src[h] @ z[j, h], 0.2) for j in nodes]
            )
            weights = torch.softmax(scores, 0)
            expected[i] += sum(w * z[j, h] for w, j in zip(weights, nodes)) / heads
    expected += conv.bias
    torch.testing.assert_close(conv(adjacency, x), expected, rtol=1e-5, atol=1e-5)


def test_isolated_node_keeps_its_own_transform() -> None:
    torch.manual_seed(0)
    adjacency = bipartite_adjacency(torch.tensor([0]).numpy(), torch.tensor([0]).numpy(), 2, 1)  # user 1 isolated
    conv = GATConv(3, 2, activation=False, bias=False)
    x = torch.randn(3, 3)
    torch.testing.assert_close(conv(adjacency, x)[1], x[1] @ conv.weight)


def test_gat_gradients_reach_attention_and_input() -> None:
    torch.manual_seed(0)
    _, _, adjacency = _graph(False)
    conv = GATConv(4, 3, heads=2)
    x = torch.randn(NUM_SRC + NUM_DST, 4, requires_grad=True)
    conv(adjacency, x).pow(2).sum().backward()
    for tensor in (x, conv.weight, conv.att_src, conv.att_dst):
        assert tensor.grad is not None and tensor.grad.abs().sum() > 0
    assert repr(conv) == "GATConv(4, 3, heads=2)"


def test_structure_transpose_and_cache() -> None:
    _, _, adjacency = _graph(False)
    structure = attention_structure(adjacency)
    assert attention_structure(adjacency) is structure  # computed once per adjacency
    values = torch.rand(structure.col.numel())
    dense = structure.csr(values).to_dense()
    torch.testing.assert_close(structure.csr(values[structure.transpose]).to_dense(), dense.T)


def test_attention_product_gradients_match_dense_autograd() -> None:
    torch.manual_seed(0)
    _, _, adjacency = _graph(True)
    structure = attention_structure(adjacency)
    values = torch.rand(structure.col.numel(), requires_grad=True)
    z = torch.randn(structure.num_nodes, 3, requires_grad=True)
    upstream = torch.randn(structure.num_nodes, 3)
    (AttentionSpMM.apply(structure, values, z) * upstream).sum().backward()

    dense_values = torch.zeros(structure.num_nodes, structure.num_nodes, requires_grad=True)
    reference_z = z.detach().clone().requires_grad_()
    with torch.no_grad():
        dense_values[structure.row, structure.col] = values
    (dense_values @ reference_z * upstream).sum().backward()
    torch.testing.assert_close(values.grad, dense_values.grad[structure.row, structure.col])
    torch.testing.assert_close(z.grad, reference_z.grad)
