"""gather_rows: index_select's values, and a backward with index_add_'s exact bits (issue 12 point 7)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lsec.graph.adjacency import gather_rows


def _naive_table_grad(num_rows: int, index: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Row by row, in ascending pair order: the sum index_add_ computes."""
    out = np.zeros((num_rows, grad.shape[1]), np.float32)
    for j, row in enumerate(index):
        out[row] += grad[j]
    return out


@pytest.mark.parametrize(("num_rows", "skew"), [(50, 1.0), (70_000, 1.0), (40, 3.0)])
def test_gather_rows_equals_index_select_forward_and_backward(num_rows: int, skew: float) -> None:
    rng = np.random.default_rng(0)
    # a skewed index: a few rows get most pairs (popular items), some rows none (70k rows: not 16-bit keys)
    index = np.minimum((rng.pareto(skew, 3_000) * 5).astype(np.int64), num_rows - 1)
    table = torch.from_numpy(rng.normal(size=(num_rows, 24)).astype(np.float32))
    upstream = torch.from_numpy(rng.normal(size=(len(index), 24)).astype(np.float32))
    idx = torch.from_numpy(index)

    ours = table.clone().requires_grad_()
    out = gather_rows(ours, idx)
    out.backward(upstream)
    ref = table.clone().requires_grad_()
    expected = ref.index_select(0, idx)
    expected.backward(upstream)

    assert torch.equal(out, expected)
    assert ours.grad is not None and ref.grad is not None
    assert torch.equal(ours.grad, ref.grad)  # bit for bit, duplicates summed in the same order
    naive = _naive_table_grad(num_rows, index, upstream.numpy())
    np.testing.assert_array_equal(ours.grad.numpy(), naive)
    assert np.bincount(index).max() > 20  # the case with long sums was exercised


def test_gather_rows_without_grad_is_index_select() -> None:
    table = torch.arange(12.0).view(4, 3)
    idx = torch.tensor([3, 0, 3])
    assert torch.equal(gather_rows(table, idx), table[[3, 0, 3]])


def test_gather_rows_inside_a_larger_graph_of_ops() -> None:
    """Gradients through a linear map before the gather and a product after it match index_select's."""
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.normal(size=(30, 8)).astype(np.float32))
    w = torch.from_numpy(rng.normal(size=(8, 5)).astype(np.float32))
    idx = torch.from_numpy(rng.integers(0, 30, 200))
    grads = []
    for gather in (gather_rows, lambda t, i: t.index_select(0, i)):
        xx, ww = x.clone().requires_grad_(), w.clone().requires_grad_()
        (gather(xx @ ww, idx).sin().sum()).backward()
        grads.append((xx.grad, ww.grad))
    assert torch.equal(grads[0][0], grads[1][0]) and torch.equal(grads[0][1], grads[1][1])
