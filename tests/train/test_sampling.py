from __future__ import annotations

import numpy as np
import pytest

from lsec.train.sampling import KnownPairs, NegativeSampler


def make(num_users: int = 50, num_targets: int = 30, edges: int = 600, seed: int = 0) -> tuple[NegativeSampler, set]:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, num_users, edges)
    targets = rng.integers(0, num_targets, edges)
    return NegativeSampler(users, targets, num_users, num_targets), set(zip(users.tolist(), targets.tolist()))


def test_negatives_are_never_known_positives() -> None:
    sampler, known = make()
    users = np.repeat(np.arange(50), 20)
    negatives = sampler.sample(users, 4, np.random.default_rng(1))
    assert negatives.shape == (1000, 4)
    assert not any((u, t) in known for u, row in zip(users.tolist(), negatives.tolist()) for t in row)
    assert negatives.min() >= 0 and negatives.max() < 30


def test_same_seed_same_negatives_and_uniform_over_allowed_targets() -> None:
    sampler, known = make()
    a = sampler.sample(np.zeros(20000, np.int64), 1, np.random.default_rng(5))
    b = sampler.sample(np.zeros(20000, np.int64), 1, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    allowed = sorted(set(range(30)) - {t for u, t in known if u == 0})
    counts = np.bincount(a.ravel(), minlength=30)
    assert set(np.flatnonzero(counts)) == set(allowed)
    expected = 20000 / len(allowed)
    assert np.abs(counts[allowed] - expected).max() < 5 * np.sqrt(expected)  # uniform within sampling noise


def test_user_who_bought_everything_is_an_error() -> None:
    sampler = NegativeSampler(np.zeros(3), np.arange(3), 2, 3)
    with pytest.raises(ValueError, match="every one of the 3 targets"):
        sampler.sample(np.array([0]), 1, np.random.default_rng(0))
    assert sampler.sample(np.array([1]), 2, np.random.default_rng(0)).shape == (1, 2)


@pytest.mark.parametrize("limit", [0, 1 << 20])  # sorted keys only; bitmap
def test_known_pairs_match_a_python_set(limit: int) -> None:
    rng = np.random.default_rng(2)
    users, targets = rng.integers(0, 37, 500), rng.integers(0, 23, 500)
    known = KnownPairs(users, targets, 37, 23, bitmap_limit_bytes=limit)
    assert (known.bitmap is None) == (limit == 0)
    pairs = set(zip(users.tolist(), targets.tolist()))
    qu = np.r_[np.repeat(np.arange(40), 23), -1]  # users 37-39 and -1 lie outside the grid: never known
    qt = np.r_[np.tile(np.arange(23), 40), 0]
    expected = [(u, t) in pairs for u, t in zip(qu.tolist(), qt.tolist())]
    np.testing.assert_array_equal(known.contains(qu, qt), expected)
    assert sum(expected) == len(pairs)
