"""GF-CF closed form against a dense numpy reference; both SVD solvers; it beats popularity on clusters."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from lsec.nn.models.gfcf import GFCF


def random_interactions(seed=0, num_users=40, num_items=30, density=0.2):
    rng = np.random.default_rng(seed)
    dense = (rng.random((num_users, num_items)) < density).astype(np.float32)
    dense[0] = 0  # a user without interactions
    return sp.csr_matrix(dense)


def dense_gfcf(r: np.ndarray, alpha: float, k: int) -> np.ndarray:
    du, di = r.sum(1), r.sum(0)
    inv_u = np.where(du > 0, 1 / np.sqrt(np.where(du > 0, du, 1)), 0)
    inv_i = np.where(di > 0, 1 / np.sqrt(np.where(di > 0, di, 1)), 0)
    rn = inv_u[:, None] * r * inv_i[None, :]
    _, _, vt = np.linalg.svd(rn)
    v = vt[:k].T
    ideal = (r * inv_i[None, :]) @ v @ v.T * np.sqrt(di)[None, :]
    return r @ (rn.T @ rn) + alpha * ideal


@pytest.mark.parametrize("kernel", ["numba", "scipy"])
@pytest.mark.parametrize("solver", ["svds", "randomized"])
def test_scores_match_dense_formula(solver, kernel):
    train = random_interactions()
    model = GFCF(alpha=0.3, k=6, solver=solver, oversampling=24, power_iterations=6, kernel=kernel).fit(train)
    users = torch.arange(40)
    got = model.score_all(users).numpy()
    want = dense_gfcf(train.toarray().astype(np.float64), 0.3, 6)
    np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-4)
    assert got.dtype == np.float32 and got.shape == (40, 30)


@pytest.mark.parametrize("kernel", ["numba", "scipy"])
def test_linear_filter_matches_item_item_product(kernel):
    # alpha = 0 leaves r_u R~^T R~ alone: compare with the explicit item-item matrix, users in any order
    train = random_interactions(seed=3, num_users=70, num_items=50, density=0.15)
    r = train.toarray().astype(np.float64)
    du, di = r.sum(1), r.sum(0)
    rn = r / np.sqrt(np.where(du > 0, du, 1))[:, None] / np.sqrt(np.where(di > 0, di, 1))[None, :]
    want = r @ (rn.T @ rn)
    users = np.array([5, 0, 69, 5, 33])
    got = GFCF(alpha=0.0, k=4, kernel=kernel).fit(train).score_all(users).numpy()
    np.testing.assert_allclose(got, want[users], rtol=1e-5, atol=1e-6)


def test_score_block_reuses_one_buffer_and_matches_score_all():
    train = random_interactions(seed=4)
    model = GFCF(k=5).fit(train)
    block = model.score_block()
    first = block(torch.tensor([3, 1, 2]))
    np.testing.assert_allclose(first.numpy(), model.score_all(np.array([3, 1, 2])).numpy(), rtol=1e-6, atol=1e-7)
    second = block(torch.tensor([7, 8]))
    assert second.data_ptr() == first.data_ptr() and second.shape == (2, 30)
    np.testing.assert_allclose(second.numpy(), model.score_all(np.array([7, 8])).numpy(), rtol=1e-6, atol=1e-7)


def test_same_seed_same_scores():
    train = random_interactions(seed=5)
    a = GFCF(k=5, seed=2).fit(train).score_all(np.arange(40)).numpy()
    b = GFCF(k=5, seed=2).fit(train).score_all(np.arange(40)).numpy()
    np.testing.assert_array_equal(a, b)


def test_cluster_structure_ranks_own_cluster_first():
    # users and items in 3 clusters (index mod 3); each user bought 4 of its cluster's 10 items
    rng = np.random.default_rng(1)
    rows, cols = [], []
    for u in range(60):
        own = np.arange(u % 3, 30, 3)
        for i in rng.permutation(own)[:4]:
            rows.append(u)
            cols.append(i)
    train = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(60, 30))
    scores = GFCF(k=3, solver="svds").fit(train).score_all(np.arange(60)).numpy()
    scores[train.toarray() > 0] = -np.inf
    top = np.argsort(-scores, axis=1)[:, :6]
    assert ((top % 3) == (np.arange(60) % 3)[:, None]).mean() == 1.0


def test_bad_parameters():
    train = random_interactions()
    with pytest.raises(ValueError, match="solver"):
        GFCF(solver="qr").fit(train)
    with pytest.raises(ValueError, match="'k'"):
        GFCF(k=30).fit(train)
    with pytest.raises(ValueError, match="'kernel'"):
        GFCF(kernel="cuda").fit(train)
    with pytest.raises(ValueError, match=r"\[0, 40\)"):
        GFCF(k=3).fit(train).score_all(np.array([0, 40]))
    with pytest.raises(RuntimeError, match="before fit"):
        GFCF().score_all(np.arange(3))
