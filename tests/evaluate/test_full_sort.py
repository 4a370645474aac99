"""Full-sort recall@k / ndcg@k against a naive per-user loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from lsec.evaluate.full_sort import dot_scores, full_sort_metrics, full_sort_topk


def random_split(seed: int, num_users: int = 37, num_items: int = 53):
    rng = np.random.default_rng(seed)
    dense = rng.random((num_users, num_items))
    train = sp.csr_matrix((dense < 0.15).astype(np.float32))
    held_out = (dense >= 0.15) & (dense < 0.22)
    held_out[3] = False  # a user without test items is not evaluated
    return train, sp.csr_matrix(held_out.astype(np.float32))


def naive_metrics(scores: np.ndarray, train: sp.csr_matrix, test: sp.csr_matrix, k: int) -> dict[str, float]:
    recalls, ndcgs, precisions = [], [], []
    for u in range(scores.shape[0]):
        positives = set(test[u].indices.tolist())
        if not positives:
            continue
        s = scores[u].astype(np.float64).copy()
        s[train[u].indices] = -np.inf
        ranked = np.argsort(-s, kind="stable")[:k]
        hits = [1.0 if item in positives else 0.0 for item in ranked]
        recalls.append(sum(hits) / len(positives))
        precisions.append(sum(hits) / k)
        dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
        idcg = sum(1.0 / math.log2(r + 2) for r in range(min(len(positives), k)))
        ndcgs.append(dcg / idcg)
    return {
        f"recall@{k}": float(np.mean(recalls)),
        f"ndcg@{k}": float(np.mean(ndcgs)),
        f"precision@{k}": float(np.mean(precisions)),
    }


@pytest.mark.parametrize("block_size", [1, 8, 1000])
@pytest.mark.parametrize("seed", [0, 1])
def test_full_sort_matches_naive_loop(block_size, seed):
    train, test = random_split(seed)
    gen = torch.Generator().manual_seed(seed)
    users, items = torch.randn(train.shape[0], 6, generator=gen), torch.randn(train.shape[1], 6, generator=gen)
    got = full_sort_metrics(dot_scores(users, items), train, test, ks=(5, 20), block_size=block_size)
    scores = (users @ items.T).numpy()
    for k in (5, 20):
        want = naive_metrics(scores, train, test, k)
        assert got[f"recall@{k}"] == pytest.approx(want[f"recall@{k}"], abs=1e-9)
        assert got[f"ndcg@{k}"] == pytest.approx(want[f"ndcg@{k}"], abs=1e-9)
        assert got[f"precision@{k}"] == pytest.approx(want[f"precision@{k}"], abs=1e-9)
    assert got["num_users"] == int((np.diff(test.indptr) > 0).sum())


def test_topk_never_returns_training_items_and_perfect_scorer_scores_one():
    train, test = random_split(2)
    # a scorer that puts the test items on top reaches recall 1 / ndcg 1 at a k above every test list
    oracle = torch.tensor(test.toarray() + 0.5 * train.toarray())
    top = full_sort_topk(lambda u: oracle[u].clone(), np.arange(train.shape[0]), 10, exclude=train, block_size=5)
    for u in range(train.shape[0]):
        assert not set(top[u].tolist()) & set(train[u].indices.tolist())
    k = int(np.diff(test.indptr).max())
    got = full_sort_metrics(lambda u: oracle[u].clone(), train, test, ks=(k,))
    assert got[f"recall@{k}"] == pytest.approx(1.0)
    assert got[f"ndcg@{k}"] == pytest.approx(1.0)


def test_bad_ks_rejected():
    train, test = random_split(0)
    with pytest.raises(ValueError, match="ks"):
        full_sort_metrics(dot_scores(torch.zeros(37, 2), torch.zeros(53, 2)), train, test, ks=(0,))
