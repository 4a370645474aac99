"""Full-sort recall@k / ndcg@k against a naive per-user loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from lsec.evaluate.full_sort import (
    choose_popularity_prior,
    dot_scores,
    full_sort_metrics,
    full_sort_topk,
    with_popularity_prior,
)


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


def split_with_cold_users(seed: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``random_split`` with users 0-4 stripped of training pairs, and distinct (untied) item popularity."""
    train, test = random_split(seed)
    train = train.tolil()
    for u in range(5):
        train[u, :] = 0
    train = sp.csr_matrix(train)
    train.eliminate_zeros()
    rng = np.random.default_rng(seed + 100)
    train.data = rng.uniform(0.5, 1.5, train.nnz).astype(np.float32)  # popularity (column sums) never ties
    return train, test


def naive_prior_scores(scores: np.ndarray, train: sp.csr_matrix, kappa: float, cold_fallback: bool) -> np.ndarray:
    """The module docstring's blend, one user at a time in float64."""
    counts = np.asarray(train.sum(axis=0), dtype=np.float64).ravel()
    z_pop = (counts - counts.mean()) / counts.std(ddof=1)
    out = scores.astype(np.float64).copy()
    for u in range(scores.shape[0]):
        degree = train[u].nnz
        if degree == 0 and (cold_fallback or kappa > 0):
            out[u] = counts
        elif kappa > 0:
            row = out[u]
            w = kappa / (kappa + degree)
            out[u] = (1 - w) * (row - row.mean()) / row.std(ddof=1) + w * z_pop
    return out


@pytest.mark.parametrize("kappa", [0.0, 0.5, 4.0])
@pytest.mark.parametrize("cold_fallback", [True, False])
def test_popularity_prior_matches_naive_blend(kappa, cold_fallback):
    train, test = split_with_cold_users(3)
    gen = torch.Generator().manual_seed(3)
    users, items = torch.randn(train.shape[0], 6, generator=gen), torch.randn(train.shape[1], 6, generator=gen)
    block = with_popularity_prior(dot_scores(users, items), train, prior=kappa, cold_fallback=cold_fallback)
    got = full_sort_metrics(block, train, test, ks=(5, 20), block_size=8)
    reference = naive_prior_scores((users @ items.T).numpy(), train, kappa, cold_fallback)
    for k in (5, 20):
        want = naive_metrics(reference, train, test, k)
        assert got[f"recall@{k}"] == pytest.approx(want[f"recall@{k}"], abs=1e-9)
        assert got[f"ndcg@{k}"] == pytest.approx(want[f"ndcg@{k}"], abs=1e-9)


def test_cold_users_get_popularity_and_warm_users_are_untouched_at_kappa_zero():
    train, _ = split_with_cold_users(4)
    gen = torch.Generator().manual_seed(4)
    users, items = torch.randn(train.shape[0], 6, generator=gen), torch.randn(train.shape[1], 6, generator=gen)
    plain = (users @ items.T).clone()
    got = with_popularity_prior(dot_scores(users, items, reuse_buffer=False), train)(torch.arange(train.shape[0]))
    counts = torch.from_numpy(np.asarray(train.sum(axis=0)).ravel().astype(np.float32))
    assert torch.equal(got[:5], counts.expand(5, -1))
    assert torch.equal(got[5:], plain[5:])  # bit for bit
    # no user concerned (every user has a pair, no blend) or nothing asked: the block itself is returned
    warm_train, _ = random_split(4)
    block = dot_scores(users, items)
    assert with_popularity_prior(block, warm_train) is block
    assert with_popularity_prior(block, train, cold_fallback=False) is block
    with pytest.raises(ValueError, match="prior"):
        with_popularity_prior(block, train, prior=-1.0)


def test_choose_popularity_prior_takes_the_best_validation_value():
    train, valid = split_with_cold_users(5)
    gen = torch.Generator().manual_seed(5)
    users, items = torch.randn(train.shape[0], 6, generator=gen), torch.randn(train.shape[1], 6, generator=gen)
    priors = (0.0, 0.5, 4.0, 1e6)
    kappa, table = choose_popularity_prior(dot_scores(users, items), train, valid, priors, metric="ndcg@20")
    assert list(table) == [str(p) for p in priors]
    for p in priors:
        block = with_popularity_prior(dot_scores(users, items), train, prior=p)
        assert table[str(p)]["ndcg@20"] == full_sort_metrics(block, train, valid, ks=(20,))["ndcg@20"]
    assert table[str(kappa)]["ndcg@20"] == max(m["ndcg@20"] for m in table.values())
    best = [p for p in priors if table[str(p)]["ndcg@20"] == table[str(kappa)]["ndcg@20"]]
    assert kappa == best[0]  # ties: the first
