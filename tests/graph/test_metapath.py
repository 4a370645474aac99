"""Bounded metapath neighbourhoods and mean pooling against naive dict-based walks and loops."""

from __future__ import annotations

import importlib.util
from collections import defaultdict

import numpy as np
import pytest

from lsec.graph.metapath import HOPS, METAPATHS, MetapathNeighbours, mean_pool, metapath_neighbours
from lsec.graph.swing import gift_graph, swing

NUM_USERS, NUM_STREAMERS = 40, 15
KERNELS = [
    "scipy",
    pytest.param("numba", marks=pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="no numba")),
]


def random_graph(seed: int):
    """Gift edges with integer amounts (so summed weights are exact and ties are real), duplicates, a hot
    streamer, users without gifts; and the exact Swing lists of every streamer."""
    rng = np.random.default_rng(seed)
    num_edges = 110
    src = rng.integers(0, NUM_USERS - 5, num_edges)  # the last 5 users never gift
    dst = np.where(rng.random(num_edges) < 0.25, 2, rng.integers(0, NUM_STREAMERS, num_edges))
    amount = rng.integers(1, 4, num_edges).astype(np.float64)
    graph = gift_graph(src=src, dst=dst, num_users=NUM_USERS, num_streamers=NUM_STREAMERS, weight=amount)
    similar = swing(graph=graph, k=6, alpha=1.0, mode="exact", kernel="scipy")
    return src, dst, amount, graph, similar


def adjacency(src, dst, amount, similar):
    """hop name -> node -> {neighbour: weight}, as plain dicts."""
    hops: dict[str, dict[int, dict[int, float]]] = {"u2a": defaultdict(dict), "a2u": defaultdict(dict), "a2a": {}}
    for u, a, w in zip(src.tolist(), dst.tolist(), amount.tolist()):
        hops["u2a"][u][a] = hops["u2a"][u].get(a, 0.0) + w
        hops["a2u"][a][u] = hops["a2u"][a].get(u, 0.0) + w
    for i in range(NUM_STREAMERS):
        hops["a2a"][i] = {int(j): float(s) for j, s in zip(similar.indices[i], similar.scores[i]) if j >= 0}
    return hops


def naive_walk(metapath, hops, source, k, fanouts, max_frontier):
    """The documented bounded walk, one source at a time: lists of (node, visits, weight)."""
    frontier = {source: 1}
    path = HOPS[metapath]
    for h, hop in enumerate(path):
        last = h == len(path) - 1
        visits: dict[int, int] = defaultdict(int)
        weight: dict[int, float] = defaultdict(float)
        for parent, count in frontier.items():
            edges = sorted(hops[hop].get(parent, {}).items(), key=lambda e: (-e[1], e[0]))[: fanouts[h]]
            for node, w in edges:
                if node == source and ((last and metapath in ("u2a2u", "a2u2a")) or (metapath == "u2a2u2a" and h == 1)):
                    continue
                if metapath == "u2a2u2a" and last and node in hops["u2a"].get(source, {}):
                    continue
                visits[node] += count
                weight[node] += count * w
        ranked = sorted(visits, key=lambda x: (-visits[x], -weight[x], x))[: k if last else max_frontier]
        frontier = {x: visits[x] for x in ranked}
    return [(x, visits[x], weight[x]) for x in ranked]


def naive_visited_set(metapath, hops, source):
    """Definition 2 without bounds: every node reached at the last hop, minus the documented exclusions."""
    frontier = {source}
    for h, hop in enumerate(HOPS[metapath]):
        frontier = {x for p in frontier for x in hops[hop].get(p, {})}
        if metapath == "u2a2u2a" and h == 1:
            frontier.discard(source)
    if metapath in ("u2a2u", "a2u2a"):
        frontier.discard(source)
    if metapath == "u2a2u2a":
        frontier -= set(hops["u2a"].get(source, {}))
    return frontier


def assert_rows_match(result: MetapathNeighbours, hops, k, fanouts, max_frontier):
    for r, source in enumerate(result.sources.tolist()):
        expected = naive_walk(result.metapath, hops, source, k, fanouts, max_frontier)
        n = len(expected)
        assert result.indices[r, :n].tolist() == [x for x, _, _ in expected], (result.metapath, source)
        assert result.visits[r, :n].tolist() == [v for _, v, _ in expected]
        np.testing.assert_allclose(result.weights[r, :n], [w for _, _, w in expected], rtol=1e-6)
        assert (result.indices[r, n:] == -1).all() and (result.visits[r, n:] == 0).all()
        assert result.mask[r].sum() == n


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("metapath", METAPATHS)
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("k", "fanout", "max_frontier"), [(4, 2, 3), (6, 3, 64)])
def test_bounded_walk_equals_naive_reference(metapath, seed, k, fanout, max_frontier, kernel):
    src, dst, amount, graph, similar = random_graph(seed)
    fanouts = [fanout] * len(HOPS[metapath])
    result = metapath_neighbours(
        metapath=metapath, graph=graph, k=k, fanouts=fanouts, max_frontier=max_frontier, swing=similar, chunk_size=7,
        kernel=kernel, num_threads=2,
    )  # fmt: skip
    num_sources = NUM_USERS if metapath.startswith("u") else NUM_STREAMERS
    assert result.indices.shape == (num_sources, k) and result.indices.dtype == np.int32
    assert_rows_match(result, adjacency(src, dst, amount, similar), k, fanouts, max_frontier)
    assert result.mask.sum() > 0


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("metapath", METAPATHS)
def test_unbounded_walk_visits_every_metapath_neighbour(metapath, kernel):
    src, dst, amount, graph, similar = random_graph(4)
    hops = adjacency(src, dst, amount, similar)
    big = NUM_USERS + NUM_STREAMERS
    result = metapath_neighbours(
        metapath=metapath, graph=graph, k=big, fanouts=[big] * len(HOPS[metapath]), max_frontier=big, swing=similar,
        kernel=kernel,
    )  # fmt: skip
    for r, source in enumerate(result.sources.tolist()):
        assert set(result.indices[r][result.mask[r]].tolist()) == naive_visited_set(metapath, hops, source)
    if metapath == "u2a2u2a":  # never a streamer the user already gifted
        for r, source in enumerate(result.sources.tolist()):
            assert not set(result.indices[r].tolist()) & set(hops["u2a"].get(source, {}))


@pytest.mark.parametrize("kernel", KERNELS)
def test_a2a_is_the_swing_list_and_sources_subset_and_chunks_agree(kernel):
    _, _, _, graph, similar = random_graph(1)
    a2a = metapath_neighbours(metapath="a2a", graph=graph, k=4, fanouts=[4], swing=similar, kernel=kernel)
    np.testing.assert_array_equal(a2a.indices, similar.indices[:, :4])
    np.testing.assert_allclose(a2a.weights, similar.scores[:, :4])
    np.testing.assert_array_equal(a2a.visits, a2a.mask.astype(np.int32))
    users = np.array([7, 0, 39, 7])
    whole = metapath_neighbours(metapath="u2a2u2a", graph=graph, k=5, fanouts=[3, 3, 3], max_frontier=4, kernel=kernel)
    part = metapath_neighbours(
        metapath="u2a2u2a", graph=graph, k=5, fanouts=[3, 3, 3], max_frontier=4, sources=users, chunk_size=1,
        kernel="scipy" if kernel == "numba" else "auto",
    )  # fmt: skip
    np.testing.assert_array_equal(part.indices, whole.indices[users])
    np.testing.assert_array_equal(part.visits, whole.visits[users])
    assert (whole.indices[35:] == -1).all()  # users without gifts have empty lists


def test_mean_pool_equals_naive_loop():
    rng = np.random.default_rng(0)
    table = rng.standard_normal((9, 4)).astype(np.float32)
    indices = rng.integers(-3, 9, (13, 5))
    indices[2] = -1  # an empty row pools to zeros
    pooled = mean_pool(table=table, indices=indices, chunk_size=4)
    assert pooled.shape == (13, 4) and pooled.dtype == np.float32
    for r in range(13):
        chosen = [table[j] for j in indices[r] if j >= 0]
        expected = np.mean(chosen, axis=0) if chosen else np.zeros(4)
        np.testing.assert_allclose(pooled[r], expected, rtol=1e-5, atol=1e-6)
    assert (pooled[2] == 0).all()
    assert mean_pool(table=table.astype(np.float64), indices=indices).dtype == np.float64
    np.testing.assert_array_equal(mean_pool(table=np.zeros((0, 3)), indices=np.full((2, 2), -1)), np.zeros((2, 3)))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metapath": "u2u"}, "'metapath' parameter of metapath_neighbours"),
        ({"metapath": "u2a2u", "fanouts": [3]}, "'fanouts' parameter of metapath_neighbours must have one entry"),
        ({"metapath": "u2a2u", "fanouts": [3, 0]}, "'fanouts' parameter of metapath_neighbours must be an int >= 1"),
        ({"metapath": "a2a", "swing": None}, "'swing' parameter of metapath_neighbours"),
        ({"metapath": "u2a2u", "k": 0}, "'k' parameter of metapath_neighbours"),
        ({"metapath": "a2u2a", "sources": np.array([15])}, r"'sources' parameter .* indices in \[0, 15\)"),
        ({"metapath": "a2u2a", "kernel": "cuda"}, "'kernel' parameter of metapath_neighbours"),
    ],
)
def test_invalid_arguments_name_the_parameter(kwargs, match):
    _, _, _, graph, similar = random_graph(0)
    arguments = {"graph": graph, "k": 3, "swing": similar, **kwargs}
    with pytest.raises(ValueError, match=match):
        metapath_neighbours(**arguments)


def test_mean_pool_rejects_out_of_range_indices():
    with pytest.raises(ValueError, match="'indices' parameter of mean_pool must hold indices < 2"):
        mean_pool(table=np.zeros((2, 3)), indices=np.array([[0, 2]]))
