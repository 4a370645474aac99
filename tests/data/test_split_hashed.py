"""Hashed candidate lists (lsec.data.split.hashed): the list rules, determinism, and uniform negatives."""

from __future__ import annotations

import numpy as np

from lsec.data.split import split_by_time
from lsec.data.split.hashed import hashed_candidates, write_hashed_split
from lsec.data.split.store import load_split
from lsec.data.store import save
from tests.conftest import random_tripartite


def test_lists_hold_fold_positives_and_never_seen_negatives():
    graph = random_tripartite(num_users=50, num_items=60, num_streamers=6, num_edges=700, seed=5)
    folds = split_by_time(graph, 30, 10, 10)
    buy = graph["buy"]
    seen = set(zip(buy.src.tolist(), buy.dst.tolist(), strict=True))
    test = folds["buy"] == 2
    positives = set(zip(buy.src[test].tolist(), buy.dst[test].tolist(), strict=True))
    cand = hashed_candidates(graph, folds, "buy", "test", num_candidates=6, seed=4)
    rows = list(zip(cand.user.tolist(), cand.target.tolist(), strict=True))
    assert len(set(rows)) == len(rows)
    assert all((pair in positives) == bool(label) for pair, label in zip(rows, cand.label, strict=True))
    assert not any(pair in seen for pair, label in zip(rows, cand.label, strict=True) if label == 0)
    sizes = np.unique(cand.user, return_counts=True)[1]
    assert (sizes == 6).all()  # 60 items: every list is full
    assert cand.stats["truncated_users"] > 0 and (np.bincount(cand.user, weights=cand.label)[cand.users()] <= 3).all()
    again = hashed_candidates(graph, folds, "buy", "test", num_candidates=6, seed=4)
    other = hashed_candidates(graph, folds, "buy", "test", num_candidates=6, seed=5)
    np.testing.assert_array_equal(again.target, cand.target)
    assert not np.array_equal(other.target, cand.target)
    follow = hashed_candidates(graph, folds, "follow", "test", num_candidates=6, seed=4)
    assert follow.stats["short_lists"] > 0  # 6 streamers: every non-followed one is listed


def test_negatives_are_uniform_over_the_complement():
    """One user, 40 of 100 targets seen, 10 negatives needed, 400 seeds: inclusion counts ~ Binomial(400, 1/6)."""
    from lsec.data.graph import EdgeTable, HeteroGraph

    seen = np.arange(0, 80, 2)  # 40 seen targets, the first one is in test
    ts = np.where(np.arange(40) == 0, 1_000 + 45 * 86_400, 1_000)
    graph = HeteroGraph(
        num_nodes={"user": 1, "item": 100}, edges={("user", "buy", "item"): EdgeTable(np.zeros(40), seen, ts)},
        time_origin=1_000,
    )  # fmt: skip
    folds = split_by_time(graph, 30, 10, 10)
    counts = np.zeros(100)
    for seed in range(400):
        cand = hashed_candidates(graph, folds, "buy", "test", num_candidates=11, seed=seed)
        negatives = cand.target[cand.label == 0]
        assert negatives.size == 10 and not np.isin(negatives, seen).any()
        counts[negatives] += 1
    complement = np.setdiff1d(np.arange(100), seen)
    expected = 400 * 10 / 60
    chi2 = ((counts[complement] - expected) ** 2 / expected).sum()
    assert chi2 < 110  # 59 degrees of freedom: p < 1e-4 beyond 110; a first-k rule gives chi2 ~ 2000


def test_written_split_records_the_hashed_counts(tmp_path):
    graph = random_tripartite(num_users=30, num_items=40, num_streamers=6, num_edges=300, seed=1)
    save(graph, tmp_path)
    folds = split_by_time(graph, 30, 10, 10)
    write_hashed_split(tmp_path, folds, "h", ("buy",), num_candidates=10, seed=0)
    split = load_split(tmp_path, "h")
    assert split.info["info"] == {"sampler": "hashed"}
    assert split.info["candidates"]["buy"]["test"]["hashed"] == 1
    want = hashed_candidates(graph, folds, "buy", "test", num_candidates=10, seed=0)
    np.testing.assert_array_equal(split.candidates("buy", "test").target, want.target)
