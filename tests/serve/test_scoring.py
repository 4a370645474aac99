"""Query-time kernels against torch's PairMLPScorer and a naive stable sort."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lsec.nn.heads import PairMLPScorer
from lsec.serve.scoring import MLPRest, dot_scores, exclude, mlp_scores, popular, top_k


def _rest(head: PairMLPScorer) -> MLPRest:
    layers = [x for x in head.rest if isinstance(x, torch.nn.Linear)]
    return MLPRest(tuple(x.weight.detach().numpy() for x in layers), tuple(x.bias.detach().numpy() for x in layers))


@pytest.mark.parametrize("hidden", [(16,), (16, 8)])
@pytest.mark.parametrize("num_queries", [1, 3])
@pytest.mark.parametrize("block_rows", [7, 2048])
def test_mlp_scores_match_torch_score_all(hidden, num_queries, block_rows):
    torch.manual_seed(0)
    head = PairMLPScorer(query_dim=6, target_dim=10, hidden_dims=hidden).eval()
    query, target = torch.randn(num_queries, 6), torch.randn(301, 10)  # several blocks of >= 64 rows
    expected = head.score_all(query, target).numpy()  # (B, 301)
    with torch.no_grad():
        q_part = head.query_part(query).numpy()
        t_part = np.ascontiguousarray(head.target_part(target).numpy())
    got = mlp_scores(q_part, t_part, _rest(head), block_rows=block_rows)
    assert got.shape == (num_queries, 301) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_dot_scores_are_inner_products():
    rng = np.random.default_rng(0)
    q, t = rng.standard_normal((2, 5)).astype(np.float32), rng.standard_normal((9, 5)).astype(np.float32)
    np.testing.assert_allclose(dot_scores(q, t), q @ t.T, rtol=1e-6)


@pytest.mark.parametrize("k", [1, 5, 20, 100])
def test_top_k_equals_stable_descending_sort(k):
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 8, 60).astype(np.float32)  # many ties
    exclude(scores, np.array([3, 4, 10]))
    idx, vals = top_k(scores.copy(), k)
    finite = np.flatnonzero(np.isfinite(scores))
    order = finite[np.argsort(-scores[finite], kind="stable")][:k]
    np.testing.assert_array_equal(idx, order)
    np.testing.assert_array_equal(vals, scores[order])
    assert not {3, 4, 10} & set(idx.tolist())
    assert len(idx) == min(k, 57)


def test_top_k_rejects_non_positive_k():
    with pytest.raises(ValueError, match="'k' parameter"):
        top_k(np.zeros(3, np.float32), 0)


def test_popular_orders_by_count_and_excludes():
    counts = np.array([5, 0, 9, 9, 1], np.float32)
    idx, vals = popular(counts, 3, excluded=[2])
    assert idx.tolist() == [3, 0, 4] and vals.tolist() == [9, 5, 1]
