"""Swing (MMBee eq. 8) against a naive dict-of-sets reference: scores, top-k lists, bounded mode, recall."""

from __future__ import annotations

import importlib.util
from collections import defaultdict

import numpy as np
import pytest

from lsec.graph.swing import SwingNeighbours, _sample_users, gift_graph, swing, swing_recall

KERNELS = [
    "scipy",
    pytest.param("numba", marks=pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="no numba")),
]


def random_gifts(seed: int, num_users: int = 30, num_streamers: int = 12, num_edges: int = 90):
    """A small gift graph with duplicates and one hot streamer (index 3)."""
    rng = np.random.default_rng(seed)
    src = rng.integers(0, num_users, num_edges)
    dst = np.where(rng.random(num_edges) < 0.3, 3, rng.integers(0, num_streamers, num_edges))
    return src, dst, num_users, num_streamers


def naive_swing(src, dst, num_streamers, alpha, sampled=None) -> dict[int, dict[int, float]]:
    """eq. 8 literally: ordered pairs (u, v) of U_i ∩ U_j, u = v included; ``sampled[i]`` replaces U_i."""
    users_of, streamers_of = defaultdict(set), defaultdict(set)
    for u, a in zip(src.tolist(), dst.tolist()):
        users_of[a].add(u)
        streamers_of[u].add(a)
    scores: dict[int, dict[int, float]] = {}
    for i in range(num_streamers):
        own = users_of[i] if sampled is None else sampled[i]
        scores[i] = {}
        for j in range(num_streamers):
            common = own & users_of[j]
            if j != i and common:
                scores[i][j] = sum(
                    1.0 / (alpha + len(streamers_of[u] & streamers_of[v])) for u in common for v in common
                )
    return scores


def naive_top(row: dict[int, float], k: int) -> list[tuple[int, float]]:
    """Score (as float32) descending, then streamer index ascending: the documented order."""
    return sorted(row.items(), key=lambda item: (-np.float32(item[1]), item[0]))[:k]


def assert_matches(result: SwingNeighbours, reference: dict[int, dict[int, float]], k: int) -> None:
    for r, i in enumerate(result.streamers.tolist()):
        expected = naive_top(reference[i], k)
        width = len(expected)
        assert result.indices[r, :width].tolist() == [j for j, _ in expected]
        np.testing.assert_allclose(result.scores[r, :width], [s for _, s in expected], rtol=1e-6)
        assert (result.indices[r, width:] == -1).all() and (result.scores[r, width:] == 0).all()


def test_hand_computed_example():
    # users 0 and 1 gift streamers 0 and 1; user 2 gifts 1 and 2; alpha = 1:
    # s(0,1) = 4 ordered pairs of {0, 1}, each |I_u ∩ I_v| = 2 -> 4 / 3; s(1,2) = (2,2) alone, |I_2| = 2 -> 1 / 3.
    graph = gift_graph(src=np.array([0, 1, 0, 1, 2, 2]), dst=np.array([0, 0, 1, 1, 1, 2]), num_users=3, num_streamers=3)
    result = swing(graph=graph, k=3, mode="exact", kernel="scipy")
    assert result.indices.tolist() == [[1, -1, -1], [0, 2, -1], [1, -1, -1]]
    np.testing.assert_allclose(result.scores, [[4 / 3, 0, 0], [4 / 3, 1 / 3, 0], [1 / 3, 0, 0]], rtol=1e-6)
    dense = result.to_csr().toarray()
    np.testing.assert_allclose(dense, [[0, 4 / 3, 0], [4 / 3, 0, 1 / 3], [0, 1 / 3, 0]], rtol=1e-6)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 3.0])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_exact_mode_equals_naive_reference(seed, alpha, kernel):
    src, dst, num_users, num_streamers = random_gifts(seed)
    graph = gift_graph(src=src, dst=dst, num_users=num_users, num_streamers=num_streamers)
    reference = naive_swing(src, dst, num_streamers, alpha)
    for k in (4, num_streamers):  # truncated lists (ties at the cut) and every positive score
        assert_matches(swing(graph=graph, k=k, alpha=alpha, mode="exact", kernel=kernel), reference, k)
    assert sum(len(row) for row in reference.values()) > 0


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bounded_mode_equals_reference_on_its_sample(seed, kernel):
    src, dst, num_users, num_streamers = random_gifts(seed)
    graph = gift_graph(src=src, dst=dst, num_users=num_users, num_streamers=num_streamers)
    cap = 4
    ptr, users = _sample_users(graph, cap, seed=seed)
    sampled = {i: set(users[ptr[i] : ptr[i + 1]].tolist()) for i in range(num_streamers)}
    assert max(len(s) for s in sampled.values()) == cap < np.diff(graph.streamer_ptr).max()
    reference = naive_swing(src, dst, num_streamers, 1.0, sampled=sampled)
    result = swing(graph=graph, k=5, mode="bounded", max_users_per_streamer=cap, seed=seed, kernel=kernel)
    assert_matches(result, reference, 5)


def test_sample_is_a_uniform_subset_and_seeded():
    src, dst, num_users, num_streamers = random_gifts(0)
    graph = gift_graph(src=src, dst=dst, num_users=num_users, num_streamers=num_streamers)
    degree = np.diff(graph.streamer_ptr)
    hot = int(np.argmax(degree))
    hot_users = graph.streamer_users[graph.streamer_ptr[hot] : graph.streamer_ptr[hot + 1]]
    counts = dict.fromkeys(hot_users.tolist(), 0)
    for seed in range(400):
        ptr, users = _sample_users(graph, 3, seed=seed)
        np.testing.assert_array_equal(np.diff(ptr), np.minimum(degree, 3))
        for i in range(num_streamers):
            chosen = users[ptr[i] : ptr[i + 1]]
            own = graph.streamer_users[graph.streamer_ptr[i] : graph.streamer_ptr[i + 1]]
            assert set(chosen.tolist()) <= set(own.tolist()) and (np.diff(chosen) > 0).all()
        for u in users[ptr[hot] : ptr[hot + 1]].tolist():
            counts[u] += 1
    frequency = np.array(list(counts.values())) / 400
    np.testing.assert_allclose(frequency, 3 / len(hot_users), atol=0.1)
    first, again = _sample_users(graph, 3, seed=7), _sample_users(graph, 3, seed=7)
    np.testing.assert_array_equal(first[1], again[1])


@pytest.mark.parametrize("kernel", KERNELS)
def test_bounded_mode_with_caps_above_degrees_is_exact(kernel):
    src, dst, num_users, num_streamers = random_gifts(5, num_users=60, num_streamers=20, num_edges=200)
    graph = gift_graph(src=src, dst=dst, num_users=num_users, num_streamers=num_streamers)
    cap = int(np.diff(graph.streamer_ptr).max())
    exact = swing(graph=graph, k=6, mode="exact", kernel=kernel)
    bounded = swing(graph=graph, k=6, mode="bounded", max_users_per_streamer=cap, seed=3, kernel=kernel)
    np.testing.assert_array_equal(bounded.indices, exact.indices)
    np.testing.assert_array_equal(bounded.scores, exact.scores)
    assert swing_recall(exact=exact, bounded=bounded) == 1.0
    small = swing(graph=graph, k=6, mode="bounded", max_users_per_streamer=2, seed=3, kernel=kernel)
    assert 0.0 < swing_recall(exact=exact, bounded=small) < 1.0


def test_recall_counts_pooled_hits():
    def lists(rows):
        indices = np.array(rows, dtype=np.int32)
        scores = (indices >= 0).astype(np.float32)
        return SwingNeighbours(streamers=np.arange(2), indices=indices, scores=scores, num_streamers=4)

    exact, bounded = lists([[1, 2], [0, -1]]), lists([[2, 3], [0, -1]])
    assert swing_recall(exact=exact, bounded=bounded) == pytest.approx(2 / 3)
    assert np.isnan(swing_recall(exact=lists([[-1, -1], [-1, -1]]), bounded=bounded))
    with pytest.raises(ValueError, match="'bounded' parameter of swing_recall"):
        one_row = SwingNeighbours(
            streamers=np.arange(1), indices=bounded.indices[:1], scores=bounded.scores[:1], num_streamers=4
        )
        swing_recall(exact=exact, bounded=one_row)


@pytest.mark.parametrize("kernel", KERNELS)
def test_rows_subset_threads_and_kernels_agree(kernel):
    src, dst, num_users, num_streamers = random_gifts(11, num_users=200, num_streamers=40, num_edges=900)
    graph = gift_graph(src=src, dst=dst, num_users=num_users, num_streamers=num_streamers)
    full = swing(graph=graph, k=8, max_users_per_streamer=10, seed=1, kernel=kernel, num_threads=2)
    rows = np.array([3, 17, 0, 39])
    part = swing(graph=graph, k=8, max_users_per_streamer=10, seed=1, kernel=kernel, streamers=rows, num_threads=1)
    np.testing.assert_array_equal(part.indices, full.indices[rows])
    np.testing.assert_array_equal(part.scores, full.scores[rows])
    other = swing(graph=graph, k=8, max_users_per_streamer=10, seed=1, kernel="scipy")
    np.testing.assert_array_equal(other.indices, full.indices)
    np.testing.assert_allclose(other.scores, full.scores, rtol=1e-6)
    assert (full.indices != np.arange(num_streamers)[:, None]).all()  # never its own neighbour


def test_duplicate_edges_and_amounts_do_not_change_scores():
    src, dst, num_users, num_streamers = random_gifts(2)
    once = gift_graph(src=src, dst=dst, num_users=num_users, num_streamers=num_streamers)
    twice = gift_graph(
        src=np.concatenate([src, src]), dst=np.concatenate([dst, dst]), num_users=num_users,
        num_streamers=num_streamers, weight=np.arange(2 * len(src), dtype=np.float64),
    )  # fmt: skip
    a, b = (swing(graph=g, k=5, mode="exact", kernel="scipy") for g in (once, twice))
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert once.num_edges == twice.num_edges == len(set(zip(src.tolist(), dst.tolist())))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 0}, "'k' parameter of swing"),
        ({"alpha": -1.0}, "'alpha' parameter of swing"),
        ({"mode": "approx"}, "'mode' parameter of swing"),
        ({"kernel": "cuda"}, "'kernel' parameter of swing"),
        ({"max_users_per_streamer": 0}, "'max_users_per_streamer' parameter of swing"),
        ({"streamers": np.array([5])}, r"'streamers' parameter of swing must hold indices in \[0, 3\)"),
    ],
)
def test_invalid_arguments_name_the_parameter(kwargs, match):
    graph = gift_graph(src=np.array([0, 1]), dst=np.array([0, 2]), num_users=2, num_streamers=3)
    with pytest.raises(ValueError, match=match):
        swing(graph=graph, **{"k": 2, "kernel": "scipy", **kwargs})


def test_gift_graph_validates_and_merges():
    graph = gift_graph(
        src=np.array([1, 0, 1]), dst=np.array([2, 0, 2]), num_users=2, num_streamers=3, weight=np.array([2.0, 1.0, 5.0])
    )
    assert graph.user_ptr.tolist() == [0, 1, 2] and graph.user_streamers.tolist() == [0, 2]
    assert graph.user_weights.tolist() == [1.0, 7.0] and graph.streamer_ptr.tolist() == [0, 1, 1, 2]
    with pytest.raises(ValueError, match=r"'src' parameter of gift_graph must hold indices in \[0, 2\)"):
        gift_graph(src=np.array([2]), dst=np.array([0]), num_users=2, num_streamers=3)
    with pytest.raises(ValueError, match="'weight' parameter of gift_graph"):
        gift_graph(src=np.array([0]), dst=np.array([0]), num_users=2, num_streamers=3, weight=np.array([-1.0]))
    with pytest.raises(ValueError, match="'dst' parameter of gift_graph must have the length"):
        gift_graph(src=np.array([0, 1]), dst=np.array([0]), num_users=2, num_streamers=3)
