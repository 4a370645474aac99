"""Temporal CSR, leakage-free neighbour sampling and decay weights, against naive Python loops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lsec.graph.temporal import (
    build_temporal_csr,
    count_before,
    decay_weights,
    most_recent,
    uniform_before,
)


def random_events(seed: int, num_nodes: int = 9, num_events: int = 60, num_times: int = 8):
    """Few distinct timestamps, so many ties; a few self-loops are likely."""
    rng = np.random.default_rng(seed)
    src = rng.integers(0, num_nodes, num_events)
    dst = rng.integers(0, num_nodes, num_events)
    ts = rng.integers(0, num_times, num_events) * 10
    kinds = rng.integers(0, 3, num_events)
    return src, dst, ts, kinds, num_nodes


def naive_events_of(node, src, dst, ts, direction):
    """(ts, input position, neighbour) of every event of `node`, in input order."""
    out = []
    for e in range(len(src)):
        s, d = int(src[e]), int(dst[e])
        if direction in ("both", "out") and s == node:
            out.append((ts[e].item(), e, d))
        elif direction in ("both", "in") and d == node:
            out.append((ts[e].item(), e, s))
    return out


def naive_before(node, t, src, dst, ts, direction):
    """Events strictly before t, latest first (ties: later input position first)."""
    return sorted(
        [ev for ev in naive_events_of(node, src, dst, ts, direction) if ev[0] < t], key=lambda ev: (ev[0], ev[1])
    )[::-1]


def queries(seed: int, num_nodes: int, ts: np.ndarray, size: int = 80):
    """Half the query times exactly at event times, the rest anywhere, including before all events."""
    rng = np.random.default_rng(seed + 1000)
    nodes = rng.integers(0, num_nodes, size)
    times = np.where(rng.random(size) < 0.5, rng.choice(ts, size), rng.integers(-5, ts.max() + 15, size))
    return nodes, times


@pytest.mark.parametrize("time_order", ["shuffled", "sorted", "float"])  # the three sort paths
@pytest.mark.parametrize("direction", ["both", "out", "in"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_csr_slices_are_each_nodes_events_in_time_order(seed, direction, time_order):
    src, dst, ts, kinds, n = random_events(seed)
    if time_order == "sorted":
        order = np.argsort(ts, kind="stable")
        src, dst, ts, kinds = src[order], dst[order], ts[order], kinds[order]
    elif time_order == "float":
        ts = ts + 0.25
    csr = build_temporal_csr(src=src, dst=dst, timestamps=ts, num_nodes=n, kinds=kinds, direction=direction)
    expected_entries = {"both": 2 * len(src) - int((src == dst).sum()), "out": len(src), "in": len(src)}[direction]
    assert csr.num_entries == expected_entries and csr.num_nodes == n
    assert csr.indptr[0] == 0 and csr.indptr[-1] == expected_entries
    for v in range(n):
        lo, hi = csr.indptr[v], csr.indptr[v + 1]
        ref = sorted(naive_events_of(v, src, dst, ts, direction), key=lambda ev: (ev[0], ev[1]))
        assert csr.timestamps[lo:hi].tolist() == [ev[0] for ev in ref]
        assert csr.edge_ids[lo:hi].tolist() == [ev[1] for ev in ref]
        assert csr.neighbors[lo:hi].tolist() == [ev[2] for ev in ref]
        assert csr.kinds is not None and csr.kinds[lo:hi].tolist() == [int(kinds[ev[1]]) for ev in ref]


def test_csr_keeps_given_edge_ids_and_float_times():
    csr = build_temporal_csr(
        src=np.array([0, 1, 0]), dst=np.array([1, 2, 2]), timestamps=np.array([2.5, 1.0, 0.5]),
        edge_ids=np.array([70, 71, 72]), direction="out",
    )  # fmt: skip
    assert csr.num_nodes == 3 and csr.kinds is None
    assert csr.indptr.tolist() == [0, 2, 3, 3]
    assert csr.edge_ids.tolist() == [72, 70, 71]
    assert csr.timestamps.tolist() == [0.5, 2.5, 1.0]
    assert csr.degree().tolist() == [2, 1, 0]


@pytest.mark.parametrize("direction", ["both", "out"])
@pytest.mark.parametrize("k", [1, 3, 7])
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_most_recent_matches_naive_loop(seed, k, direction):
    src, dst, ts, kinds, n = random_events(seed)
    csr = build_temporal_csr(src=src, dst=dst, timestamps=ts, num_nodes=n, kinds=kinds, direction=direction)
    nodes, times = queries(seed, n, ts)
    sample = most_recent(csr, nodes=nodes, times=times, k=k)
    assert sample.neighbors.shape == sample.timestamps.shape == sample.edge_ids.shape == sample.mask.shape == (80, k)
    counts = count_before(csr, nodes=nodes, times=times)
    for b in range(len(nodes)):
        ref = naive_before(int(nodes[b]), int(times[b]), src, dst, ts, direction)
        assert counts[b] == len(ref)
        top = ref[:k]
        m = len(top)
        assert sample.mask[b].tolist() == [True] * m + [False] * (k - m)
        assert sample.timestamps[b, :m].tolist() == [ev[0] for ev in top]
        assert sample.edge_ids[b, :m].tolist() == [ev[1] for ev in top]
        assert sample.neighbors[b, :m].tolist() == [ev[2] for ev in top]
        assert sample.kinds is not None and sample.kinds[b, :m].tolist() == [int(kinds[ev[1]]) for ev in top]
        for arr in (sample.timestamps, sample.edge_ids, sample.neighbors, sample.kinds):
            assert (arr[b, m:] == -1).all()
    # leakage: nothing at or after the query time, and dt strictly positive on real entries
    assert (np.where(sample.mask, sample.timestamps, -np.inf) < times[:, None]).all()
    assert (sample.dt[sample.mask] > 0).all() and (sample.dt[~sample.mask] == 0).all()


def test_most_recent_returns_latest_not_earliest():
    # node 0 has events at 1..10; query at 11 with k = 3 must see 10, 9, 8 (TGAT's bug returned 1, 2, 3)
    ts = np.arange(1, 11)
    csr = build_temporal_csr(src=np.zeros(10, int), dst=np.arange(1, 11), timestamps=ts, direction="out")
    sample = most_recent(csr, nodes=np.array([0, 0]), times=np.array([11, 5]), k=3)
    assert sample.timestamps.tolist() == [[10, 9, 8], [4, 3, 2]]
    assert sample.neighbors.tolist() == [[10, 9, 8], [4, 3, 2]]
    assert sample.dt.tolist() == [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]


def test_query_exactly_at_event_time_excludes_the_event_and_its_ties():
    # the batch's own edges at t = 5 (three of them, tied) must never be returned for a query at 5
    src = np.array([0, 0, 0, 0, 0, 0])
    dst = np.array([1, 2, 3, 4, 5, 6])
    ts = np.array([3, 5, 5, 5, 4, 6])
    csr = build_temporal_csr(src=src, dst=dst, timestamps=ts, num_nodes=7)
    sample = most_recent(csr, nodes=np.array([0, 0, 0, 3]), times=np.array([5, 6, 3, 5]), k=4)
    assert sample.timestamps.tolist() == [[4, 3, -1, -1], [5, 5, 5, 4], [-1, -1, -1, -1], [-1, -1, -1, -1]]
    # ties at 5 come latest input first
    assert sample.neighbors[1].tolist() == [4, 3, 2, 5]
    assert sample.mask.sum(axis=1).tolist() == [2, 4, 0, 0]
    assert count_before(csr, nodes=np.array([0, 0, 6]), times=np.array([5, 100, 6])).tolist() == [2, 6, 0]


def test_padding_for_few_and_no_events_including_isolated_nodes_and_empty_graph():
    csr = build_temporal_csr(src=np.array([0, 0]), dst=np.array([1, 1]), timestamps=np.array([1, 2]), num_nodes=4)
    sample = most_recent(csr, nodes=np.array([0, 3, 1]), times=np.array([10, 10, 0]), k=3)
    assert sample.mask.tolist() == [[True, True, False], [False] * 3, [False] * 3]
    assert sample.neighbors.tolist() == [[1, 1, -1], [-1] * 3, [-1] * 3]
    assert sample.edge_ids.tolist() == [[1, 0, -1], [-1] * 3, [-1] * 3]
    empty = build_temporal_csr(src=np.array([], int), dst=np.array([], int), timestamps=np.array([], int), num_nodes=2)
    for s in (
        most_recent(empty, nodes=np.array([0, 1]), times=np.array([5, 5]), k=2),
        uniform_before(empty, nodes=np.array([0, 1]), times=np.array([5, 5]), k=2, seed=0),
    ):
        assert not s.mask.any() and (s.neighbors == -1).all() and s.neighbors.shape == (2, 2)
    none = most_recent(csr, nodes=np.array([], int), times=np.array([], int), k=2)
    assert none.neighbors.shape == (0, 2)


@pytest.mark.parametrize("replace", [False, True])
@pytest.mark.parametrize("k", [1, 4])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_uniform_before_draws_only_from_allowed_set_and_is_seeded(seed, k, replace):
    src, dst, ts, kinds, n = random_events(seed)
    csr = build_temporal_csr(src=src, dst=dst, timestamps=ts, num_nodes=n, kinds=kinds)
    nodes, times = queries(seed, n, ts)
    sample = uniform_before(csr, nodes=nodes, times=times, k=k, seed=seed, replace=replace)
    again = uniform_before(csr, nodes=nodes, times=times, k=k, seed=seed, replace=replace)
    for name in ("neighbors", "timestamps", "edge_ids", "kinds", "mask"):
        np.testing.assert_array_equal(getattr(sample, name), getattr(again, name))
    for b in range(len(nodes)):
        allowed = {(ev[1], ev[2]) for ev in naive_before(int(nodes[b]), int(times[b]), src, dst, ts, "both")}
        m = int(sample.mask[b].sum())
        assert m == (min(k, len(allowed)) if not replace else (k if allowed else 0))
        assert sample.mask[b, :m].all() and not sample.mask[b, m:].any()
        got = list(zip(sample.edge_ids[b, :m].tolist(), sample.neighbors[b, :m].tolist(), strict=True))
        assert set(got) <= allowed
        if not replace:
            assert len(set(got)) == m  # distinct events
        assert sample.timestamps[b, :m].tolist() == [int(ts[e]) for e, _ in got]
        assert sample.timestamps[b, :m].tolist() == sorted(sample.timestamps[b, :m].tolist(), reverse=True)
        assert (sample.neighbors[b, m:] == -1).all()
    assert (np.where(sample.mask, sample.timestamps, -np.inf) < times[:, None]).all()


def test_uniform_before_is_uniform_over_earlier_events_and_seeds_differ():
    # node 0: 6 events at t = 0..5 and 4 at t >= 6; query at 6, k = 2: each earlier event drawn w.p. 1/3
    csr = build_temporal_csr(src=np.zeros(10, int), dst=np.arange(1, 11), timestamps=np.arange(10), direction="out")
    nodes, times = np.zeros(30_000, int), np.full(30_000, 6)
    sample = uniform_before(csr, nodes=nodes, times=times, k=2, seed=7)
    assert sample.mask.all() and sample.timestamps.max() <= 5
    assert (sample.edge_ids[:, 0] != sample.edge_ids[:, 1]).all()
    frequency = np.bincount(sample.edge_ids.ravel(), minlength=10) / 30_000
    np.testing.assert_allclose(frequency[:6], 1 / 3, atol=0.015)
    assert frequency[6:].tolist() == [0, 0, 0, 0]
    pairs = np.bincount(sample.edge_ids[:, 0] * 10 + sample.edge_ids[:, 1], minlength=100)
    assert (pairs > 0).sum() == 15  # every 2-subset of 6 occurs
    other = uniform_before(csr, nodes=nodes[:50], times=times[:50], k=2, seed=8)
    assert not np.array_equal(other.edge_ids, sample.edge_ids[:50])


def test_decay_weights_values_units_and_padding():
    dt = np.array([[0.0, 3600.0, 7200.0], [10.0, 0.0, 0.0]])
    mask = np.array([[True, True, True], [True, False, False]])
    w = decay_weights(dt, 0.5, mask=mask, time_unit=3600.0)
    assert w.dtype == np.float32
    np.testing.assert_allclose(
        w, [[1.0, math.exp(-0.5), math.exp(-1.0)], [math.exp(-0.5 * 10 / 3600), 0, 0]], rtol=1e-6
    )
    np.testing.assert_allclose(decay_weights(np.array([2.0, 0.0]), 0.1), [math.exp(-0.2), 1.0], rtol=1e-6)
    assert decay_weights(dt, 0.0, mask=mask).tolist() == [[1, 1, 1], [1, 0, 0]]
    # padding may hold anything, including negative garbage
    assert decay_weights(np.array([-5.0, 1.0]), 1.0, mask=np.array([False, True]))[0] == 0.0


def test_decay_weights_from_a_sample():
    csr = build_temporal_csr(src=np.array([0, 0]), dst=np.array([1, 2]), timestamps=np.array([100, 160]))
    sample = most_recent(csr, nodes=np.array([0]), times=np.array([220]), k=3)
    w = decay_weights(sample.dt, 1.0, mask=sample.mask, time_unit=60.0)
    np.testing.assert_allclose(w, [[math.exp(-1.0), math.exp(-2.0), 0.0]], rtol=1e-6)


TINY = build_temporal_csr(src=np.array([0]), dst=np.array([1]), timestamps=np.array([0]))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: build_temporal_csr(src=np.array([0]), dst=np.array([1]), timestamps=np.array([0]), direction="x"),
         "'direction' parameter of build_temporal_csr"),
        (lambda: build_temporal_csr(src=np.array([0, 1]), dst=np.array([1]), timestamps=np.array([0, 1])),
         "'dst' parameter of build_temporal_csr must have the length of 'src' \\(2\\). Got 1"),
        (lambda: build_temporal_csr(src=np.array([0]), dst=np.array([5]), timestamps=np.array([0]), num_nodes=3),
         "'num_nodes' parameter of build_temporal_csr must be > every node index \\(max 5\\). Got 3"),
        (lambda: build_temporal_csr(src=np.array([0]), dst=np.array([1]), timestamps=np.array([np.nan])),
         "'timestamps' parameter of build_temporal_csr must be finite"),
        (lambda: build_temporal_csr(src=np.array([0.5]), dst=np.array([1]), timestamps=np.array([0])),
         "'src' parameter of build_temporal_csr must be a 1-D integer array"),
        (lambda: most_recent(TINY, nodes=np.array([0]), times=np.array([1]), k=0),
         "'k' parameter of most_recent must be a positive int. Got 0"),
        (lambda: uniform_before(TINY, nodes=np.array([2]), times=np.array([1]), k=1, seed=0),
         "'nodes' parameter of uniform_before must hold indices in \\[0, 2\\). Got values in \\[2, 2\\]"),
        (lambda: most_recent(TINY, nodes=np.array([0, 1]), times=np.array([1]), k=1),
         "'times' parameter of most_recent must have the length of 'nodes' \\(2\\). Got 1"),
        (lambda: decay_weights(np.array([1.0]), -1.0), "'lam' parameter of decay_weights must be a finite float >= 0"),
        (lambda: decay_weights(np.array([1.0]), 1.0, time_unit=0.0), "'time_unit' parameter of decay_weights"),
        (lambda: decay_weights(np.array([-1.0]), 1.0), "'dt' parameter of decay_weights must be >= 0 where masked"),
        (lambda: decay_weights(np.array([1.0]), 1.0, mask=np.array([True, False])), "'mask' parameter"),
    ],
)  # fmt: skip
def test_errors_name_the_parameter_and_what_came_in(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_large_batch_agrees_with_per_node_searchsorted():
    # a bigger graph checks the vectorised bisection against np.searchsorted on each node's slice
    rng = np.random.default_rng(5)
    num_nodes, num_events = 500, 200_000
    src = rng.zipf(1.5, num_events) % num_nodes  # skewed degrees, some hubs
    dst = rng.integers(0, num_nodes, num_events)
    ts = rng.integers(0, 5_000, num_events)
    csr = build_temporal_csr(src=src, dst=dst, timestamps=ts, num_nodes=num_nodes)
    nodes = rng.integers(0, num_nodes, 5_000)
    times = rng.integers(-10, 5_010, 5_000)
    got = count_before(csr, nodes=nodes, times=times)
    ref = np.array(
        [
            np.searchsorted(csr.timestamps[csr.indptr[v] : csr.indptr[v + 1]], t, side="left")
            for v, t in zip(nodes, times)
        ]
    )
    np.testing.assert_array_equal(got, ref)
    sample = most_recent(csr, nodes=nodes, times=times, k=10)
    assert (sample.mask.sum(axis=1) == np.minimum(ref, 10)).all()
    assert (np.where(sample.mask, sample.timestamps, -np.inf) < times[:, None]).all()
