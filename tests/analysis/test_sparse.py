"""Vectorised set operations agree with Python sets; rewiring keeps degrees and repeats no pair."""

from __future__ import annotations

import numpy as np
import pytest

from lsec.analysis.sparse import BinaryCSR, intersection_sizes, jaccard, rewire


def random_csr(rows: int, cols: int, edges: int, seed: int) -> tuple[BinaryCSR, list[set[int]]]:
    rng = np.random.default_rng(seed)
    src, dst = rng.integers(0, rows, edges), rng.integers(0, cols, edges)
    sets: list[set[int]] = [set() for _ in range(rows)]
    for s, d in zip(src, dst):
        sets[s].add(int(d))
    return BinaryCSR.from_edges(src, dst, rows, cols), sets


def test_from_edges_merges_duplicates_and_sorts_neighbours():
    m = BinaryCSR.from_edges(np.array([2, 0, 2, 2]), np.array([1, 3, 0, 1]), 3, 4)
    assert m.degree.tolist() == [1, 0, 2]
    assert m.indices.tolist() == [3, 0, 1]
    assert m.contains(np.array([2, 2, 1, 0]), np.array([1, 3, 0, 3])).tolist() == [True, False, False, True]
    t = m.transpose()
    assert t.degree.tolist() == [1, 1, 0, 1]
    assert t.contains(np.array([0, 1, 3]), np.array([2, 2, 0])).all()


@pytest.mark.parametrize("seed", [0, 1])
def test_intersections_and_jaccard_match_python_sets(seed):
    left, left_sets = random_csr(50, 30, 400, seed)
    right, right_sets = random_csr(20, 30, 300, seed + 10)
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 50, 500), rng.integers(0, 20, 500)
    expected = [len(left_sets[i] & right_sets[j]) for i, j in zip(a, b)]
    assert intersection_sizes(left, right, a, b).tolist() == expected

    c = rng.integers(0, 50, 500)
    naive = [
        len(left_sets[i] & left_sets[j]) / len(left_sets[i] | left_sets[j]) if left_sets[i] | left_sets[j] else 0.0
        for i, j in zip(a, c)
    ]
    np.testing.assert_allclose(jaccard(left, a, c), naive)


def test_sample_other_neighbour_never_returns_the_excluded_one_and_is_uniform():
    m = BinaryCSR.from_edges(np.zeros(4, dtype=int), np.array([0, 1, 2, 3]), 1, 4)
    rng = np.random.default_rng(0)
    rows = np.zeros(30_000, dtype=np.int64)
    draws = m.sample_other_neighbour(rows, np.full(30_000, 2), rng)
    counts = np.bincount(draws, minlength=4)
    assert counts[2] == 0
    np.testing.assert_allclose(counts[[0, 1, 3]] / 30_000, 1 / 3, atol=0.015)


@pytest.mark.parametrize("density", [0.02, 0.3])
def test_rewire_keeps_every_degree_and_repeats_no_pair(density):
    rng = np.random.default_rng(3)
    rows, cols = 200, 60
    weights = rng.lognormal(0, 1, cols)
    src = np.repeat(np.arange(rows), rng.integers(1, int(density * cols * 2) + 2, rows))
    dst = rng.choice(cols, size=src.size, p=weights / weights.sum())
    m = BinaryCSR.from_edges(src, dst, rows, cols)
    rewired, dropped = rewire(m, np.random.default_rng(0))
    assert dropped == 0
    assert rewired.nnz == m.nnz  # from_edges merges repeats, so equal counts means none
    np.testing.assert_array_equal(rewired.degree, m.degree)
    np.testing.assert_array_equal(np.bincount(rewired.indices, minlength=cols), np.bincount(m.indices, minlength=cols))
    assert np.isin(rewired.keys, m.keys).mean() < 0.9  # the pairs really moved
    again, _ = rewire(m, np.random.default_rng(0))
    np.testing.assert_array_equal(again.keys, rewired.keys)  # same seed, same graph
