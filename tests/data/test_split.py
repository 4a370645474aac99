from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from lsec.data import save
from lsec.data.graph import EdgeTable, HeteroGraph
from lsec.data.split import (
    DAY,
    build_candidates,
    given_split,
    load_split,
    make_split,
    split_by_ratio,
    split_by_time,
    split_random,
    write_split,
)
from lsec.errors import LsecDataError
from tests.conftest import random_tripartite

ORIGIN = 1_606_780_800  # 2020-12-01 UTC


def graph_for_candidates(seed: int = 0, num_users: int = 60, num_items: int = 900, num_streamers: int = 80):
    """Enough items that 500-lists fit; a few users with many purchases, some cold users."""
    rng = np.random.default_rng(seed)
    n = 4000

    def table(n_src, n_dst, count):
        return EdgeTable(
            rng.integers(0, n_src, count), rng.integers(0, n_dst, count), ORIGIN + rng.integers(0, 50 * DAY, count)
        )

    buy = table(num_users, num_items, n)
    # user 0 buys 300 distinct items in the test window (more than 500 // 2 positives)
    heavy = EdgeTable(np.zeros(300), rng.permutation(num_items)[:300], np.full(300, ORIGIN + 45 * DAY))
    # users num_users-3.. only appear in valid/test: cold
    late = EdgeTable(
        np.repeat(np.arange(num_users - 3, num_users), 2), rng.integers(0, num_items, 6), np.full(6, ORIGIN + 41 * DAY)
    )
    keep = ~((buy.src >= num_users - 3) & (buy.ts < ORIGIN + 30 * DAY))
    buy = buy.select(keep)
    buy = EdgeTable(*(np.concatenate([getattr(t, c) for t in (buy, heavy, late)]) for c in ("src", "dst", "ts")))
    return HeteroGraph(
        num_nodes={"user": num_users, "item": num_items, "streamer": num_streamers},
        edges={
            ("user", "buy", "item"): buy,
            ("user", "follow", "streamer"): table(num_users, num_streamers, 800),
            ("streamer", "sell", "item"): table(num_streamers, num_items, 500),
        },
        name="cand",
        time_origin=ORIGIN,
    )


def test_time_folds_match_windows_exactly(tiny_graph):
    folds = split_by_time(tiny_graph, train_days=20, valid_days=5, test_days=10)
    for rel, table in tiny_graph.items():
        day = (table.ts - ORIGIN) / DAY
        expected = np.select([day < 20, day < 25, day < 35], [0, 1, 2], -1)
        np.testing.assert_array_equal(folds[rel], expected)
        assert folds[rel].dtype == np.int8
    assert folds.boundaries["train_end"] == ORIGIN + 20 * DAY
    assert folds.boundaries["iso"]["start"] == "2020-12-01T00:00:00Z"


def test_boundary_timestamps_are_half_open():
    ts = ORIGIN + np.array([-1, 0, 30 * DAY - 1, 30 * DAY, 40 * DAY, 50 * DAY - 1, 50 * DAY])
    graph = HeteroGraph(
        {"user": 1, "item": 1}, {("user", "buy", "item"): EdgeTable(np.zeros(7), np.zeros(7), ts)}, time_origin=ORIGIN
    )
    np.testing.assert_array_equal(split_by_time(graph)["buy"], [-1, 0, 0, 1, 2, 2, -1])
    np.testing.assert_array_equal(split_by_time(graph, start="2020-12-02")["buy"], [-1, -1, 0, 0, 1, 2, 2])


def test_start_forms_and_mapping_behaviour(tiny_graph):
    from datetime import datetime, timezone

    as_int = split_by_time(tiny_graph, start=ORIGIN + 2 * DAY)
    as_iso = split_by_time(tiny_graph, start="2020-12-03T00:00:00Z")
    as_datetime = split_by_time(tiny_graph, start=datetime(2020, 12, 3, tzinfo=timezone.utc))
    naive_utc = split_by_time(tiny_graph, start=datetime(2020, 12, 3))
    for other in (as_iso, as_datetime, naive_utc):
        for rel in tiny_graph.edges:
            np.testing.assert_array_equal(other[rel], as_int[rel])
    assert "buy" in as_int and "gift" not in as_int and "nonsense" not in as_int
    assert as_int.get("nonsense") is None
    assert len(as_int) == 3
    with pytest.raises(LsecDataError, match="train_days"):
        split_by_time(tiny_graph, train_days=0)


def test_ratio_split_global_and_per_relation(tiny_graph):
    folds = split_by_ratio(tiny_graph, (0.5, 0.25, 0.25))
    pooled = np.concatenate([t.ts for _, t in tiny_graph.items()])
    all_folds = np.concatenate([folds[r] for r in tiny_graph.edges])
    assert (all_folds >= 0).all()
    np.testing.assert_allclose(np.bincount(all_folds) / pooled.size, [0.5, 0.25, 0.25], atol=0.02)
    # one set of dates: every train edge is earlier than every valid edge, across relations
    assert pooled[all_folds == 0].max() < pooled[all_folds == 1].min()
    per = split_by_ratio(tiny_graph, (0.6, 0.2, 0.2), per_relation=True)
    for rel in tiny_graph.edges:
        assert np.bincount(per[rel], minlength=3)[0] == pytest.approx(0.6 * len(tiny_graph.edges[rel]), abs=3)
    with pytest.raises(LsecDataError, match="ratios"):
        split_by_ratio(tiny_graph, (0.5, 0.5, 0.5))


def test_random_split_and_timestamp_free_data():
    rng = np.random.default_rng(0)
    n = 20_000
    buy = EdgeTable(rng.integers(0, 500, n), rng.integers(0, 800, n), np.zeros(n))  # no timestamps
    graph = HeteroGraph({"user": 500, "item": 800}, {("user", "buy", "item"): buy})
    with pytest.raises(LsecDataError, match="same timestamp.*random split"):
        split_by_ratio(graph, (0.8, 0.1, 0.1))
    folds = split_random(graph, (0.8, 0.1, 0.1), seed=3)
    np.testing.assert_allclose(np.bincount(folds["buy"]) / n, [0.8, 0.1, 0.1], atol=0.01)
    np.testing.assert_array_equal(split_random(graph, (0.8, 0.1, 0.1), seed=3)["buy"], folds["buy"])
    assert not np.array_equal(split_random(graph, (0.8, 0.1, 0.1), seed=4)["buy"], folds["buy"])
    split = make_split(graph, folds, tasks=("buy",), num_candidates=100)
    assert split.info["mode"] == "random"
    assert len(split.candidates("buy", "test")) == 100 * split.candidates("buy", "test").users().size


def test_train_graph_has_only_training_edges(tiny_graph):
    split = make_split(tiny_graph, split_by_time(tiny_graph), num_candidates=10)
    train = split.train_graph()
    for rel, table in tiny_graph.items():
        in_train = (table.ts >= ORIGIN) & (table.ts < ORIGIN + 30 * DAY)
        assert len(train.edges[rel]) == in_train.sum()
        np.testing.assert_array_equal(train.edges[rel].src, table.src[in_train])
        assert len(split.edges(rel, "test")) == ((table.ts >= ORIGIN + 40 * DAY) & (table.ts < ORIGIN + 50 * DAY)).sum()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("task", ["buy", "follow"])
@pytest.mark.parametrize("block_rows", [4_000_000, 1_200])  # one block / many user blocks
def test_candidate_lists_follow_the_protocol(seed, task, block_rows, monkeypatch):
    monkeypatch.setattr("lsec.data.split.candidates._BLOCK_ROWS", block_rows)
    graph = graph_for_candidates(seed)
    folds = split_by_time(graph)
    num_candidates = 500 if task == "buy" else 50  # follow: enumeration path
    table = graph[task]
    interacted = {(int(s), int(d)) for s, d in zip(table.src, table.dst)}
    trained_users = set(table.src[folds[task] == 0].tolist())
    for fold in (1, 2):
        cand = build_candidates(graph, folds, task, fold, num_candidates, seed)
        in_fold = folds[task] == fold
        positives: dict[int, set[int]] = {}
        for s, d in zip(table.src[in_fold], table.dst[in_fold]):
            positives.setdefault(int(s), set()).add(int(d))
        assert cand.users().tolist() == sorted(positives)
        keys = cand.user.astype(np.int64) * 10_000 + cand.target
        assert (np.diff(keys) > 0).all()  # sorted by (user, target), no duplicates
        for u, pos in positives.items():
            m = cand.user == u
            targets, labels = cand.target[m], cand.label[m]
            assert m.sum() == num_candidates
            kept = set(targets[labels == 1].tolist())
            if len(pos) <= num_candidates // 2:
                assert kept == pos
            else:  # truncated to a seeded subset
                assert len(kept) == num_candidates // 2 and kept <= pos
            assert all((u, int(t)) not in interacted for t in targets[labels == 0])
            assert (cand.cold[m] == (u not in trained_users)).all()
        assert cand.stats["cold_users"] == len(set(positives) - trained_users)
    if task == "buy":
        assert cand.stats["truncated_users"] == 1
        assert cand.stats["cold_users"] >= 1


@pytest.mark.parametrize("num_candidates", [15, 35])  # 10 of 40 needed: rejection path; 30 of 40: enumeration
def test_negatives_are_uniform(num_candidates):
    # one user, 5 test positives, 40 never-touched items: each should be drawn with frequency needed / 40
    num_items, draws = 50, 400
    buy = EdgeTable(np.zeros(10), np.arange(10), np.r_[np.zeros(5), np.full(5, 45 * DAY)])
    graph = HeteroGraph({"user": 1, "item": num_items}, {("user", "buy", "item"): buy})
    folds = {("user", "buy", "item"): np.r_[np.zeros(5), np.full(5, 2)].astype(np.int8)}
    counts = np.zeros(num_items)
    for seed in range(draws):
        cand = build_candidates(graph, folds, "buy", "test", num_candidates=num_candidates, seed=seed)
        assert len(cand) == num_candidates
        counts[cand.target[cand.label == 0]] += 1
    assert counts[:10].sum() == 0
    expected = (num_candidates - 5) / 40
    frequency = counts[10:] / draws
    sd = np.sqrt(expected * (1 - expected) / draws)
    assert abs(frequency.mean() - expected) < 1e-12
    assert np.abs(frequency - expected).max() < 4.5 * sd


def test_lists_do_not_depend_on_other_tasks():
    graph = graph_for_candidates(2)
    folds = split_by_time(graph)
    both = make_split(graph, folds, tasks=("buy", "follow"), num_candidates=60, seed=1)
    alone = make_split(graph, folds, tasks=("buy",), num_candidates=60, seed=1)
    for fold in ("valid", "test"):
        np.testing.assert_array_equal(both.candidates("buy", fold).target, alone.candidates("buy", fold).target)
    other_seed = make_split(graph, folds, tasks=("buy",), num_candidates=60, seed=2)
    assert not np.array_equal(other_seed.candidates("buy", "test").target, alone.candidates("buy", "test").target)


def test_small_catalogue_uses_all_untouched_targets(tiny_graph):
    folds = split_by_time(tiny_graph)
    cand = build_candidates(tiny_graph, folds, "follow", "test", num_candidates=500)
    table = tiny_graph["follow"]
    for u in cand.users():
        touched = set(table.dst[table.src == u].tolist())
        m = cand.user == u
        assert m.sum() == len(set(table.dst[(table.src == u) & (folds["follow"] == 2)].tolist())) + 6 - len(touched)
    assert cand.stats["short_lists"] == cand.users().size


def test_write_load_round_trip_and_determinism(tmp_path):
    graph = graph_for_candidates(3)
    save(graph, tmp_path / "ds")
    folds = split_by_time(graph)
    written = write_split(tmp_path / "ds", folds, tasks=("buy", "follow"), num_candidates=100, seed=5)
    root = tmp_path / "ds" / "splits" / "default"
    assert (root / "folds" / "user__buy__item.parquet").is_file()
    frame = pl.read_parquet(root / "candidates" / "buy__test.parquet")
    assert frame.schema == {"user": pl.Int32, "target": pl.Int32, "label": pl.Int8, "cold": pl.Boolean}
    assert pl.read_parquet(root / "folds" / "user__follow__streamer.parquet").schema == {"fold": pl.Int8}
    info = json.loads((root / "split.json").read_text())
    assert info["mode"] == "time" and info["seed"] == 5 and info["num_candidates"] == 100
    assert info["boundaries"]["train_end"] == ORIGIN + 30 * DAY
    assert info["edges"]["buy"]["test"] == int((folds["buy"] == 2).sum())
    assert info["candidates"]["buy"]["test"]["evaluated_users"] == written.candidates("buy", "test").users().size

    loaded = load_split(tmp_path / "ds")
    for task in ("buy", "follow"):
        for fold in ("valid", "test"):
            a, b = written.candidates(task, fold), loaded.candidates(task, fold)
            for col in ("user", "target", "label", "cold"):
                np.testing.assert_array_equal(getattr(a, col), getattr(b, col))
            assert b.user.dtype == np.int32 and b.label.dtype == np.int8
            np.testing.assert_array_equal(loaded.cold_users(task, fold), np.unique(b.user[b.cold]))
    for rel in graph.edges:
        np.testing.assert_array_equal(loaded.fold(rel), folds[rel])

    before = {p.name: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    write_split(tmp_path / "ds", split_by_time(graph), tasks=("buy", "follow"), num_candidates=100, seed=5)
    after = {p.name: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert before == after
    other = write_split(tmp_path / "ds", folds, name="s6", tasks=("buy",), num_candidates=100, seed=6)
    assert not np.array_equal(other.candidates("buy", "test").target, loaded.candidates("buy", "test").target)


def test_given_split_and_empty_valid(tmp_path):
    graph = graph_for_candidates(1)
    save(graph, tmp_path / "ds")
    rng = np.random.default_rng(0)
    buy_folds = np.where(rng.random(len(graph["buy"])) < 0.8, 0, 2)
    split = write_split(tmp_path / "ds", {"buy": buy_folds}, name="given", tasks=("buy",), num_candidates=50)
    assert split.info["mode"] == "given"
    assert (load_split(tmp_path / "ds", "given").fold("follow") == 0).all()  # unlisted relations are train
    with pytest.raises(LsecDataError, match="no valid positives"):
        split.candidates("buy", "valid")
    assert len(split.candidates("buy", "test")) == 50 * split.candidates("buy", "test").users().size


def test_named_errors(tmp_path, tiny_graph):
    save(tiny_graph, tmp_path / "ds")
    with pytest.raises(LsecDataError, match="no split named 'nope'.*none"):
        load_split(tmp_path / "ds", "nope")
    folds = split_by_time(tiny_graph)
    with pytest.raises(LsecDataError, match="unknown task"):
        make_split(tiny_graph, folds, tasks=("watch",))
    no_follow = tiny_graph.with_edges({r: t for r, t in tiny_graph.items() if r[1] != "follow"})
    with pytest.raises(LsecDataError, match="task 'follow' needs a 'follow' relation"):
        make_split(no_follow, split_by_time(no_follow))
    with pytest.raises(LsecDataError, match="no test edges.*2020-12"):
        make_split(tiny_graph, split_by_time(tiny_graph, train_days=60))
    with pytest.raises(LsecDataError, match="does not match its edge table"):
        given_split(tiny_graph, {"buy": np.zeros(3)})
    with pytest.raises(LsecDataError, match="row 2.*'fold'.*found 7"):
        given_split(tiny_graph, {"buy": np.r_[0, 7, np.zeros(len(tiny_graph["buy"]) - 2)]})
    split = write_split(tmp_path / "ds", folds, num_candidates=10)
    assert "default" in str(split.root)
    with pytest.raises(LsecDataError, match="has no task 'gift'"):
        split.candidates("gift", "test")
    with pytest.raises(LsecDataError, match="unknown fold"):
        split.edges("buy", "later")
    with pytest.raises(LsecDataError, match="invalid split name"):
        make_split(tiny_graph, folds, name="../x")
    # a stale split (edges changed after splitting) is detected
    save(random_tripartite(num_edges=150), tmp_path / "ds")
    with pytest.raises(LsecDataError, match="stale"):
        load_split(tmp_path / "ds")


@pytest.mark.parametrize("num_users, num_targets", [(100, 50), (2**25, 2**20)])  # packed sort / lexsort fallback
def test_shuffle_within_users_is_a_grouped_permutation(num_users, num_targets):
    from lsec.data.split.candidates import _Packing

    pack = _Packing(num_users, num_targets)
    rng = np.random.default_rng(0)
    users = np.sort(rng.choice(num_users, 10, replace=False)[rng.integers(0, 10, 300)])  # ~30 keys per user
    keys = np.unique(pack.key(users, rng.integers(0, num_targets, 300)))
    out = pack.shuffle_within_users(keys, rng)
    assert np.array_equal(np.sort(out), keys)
    assert (np.diff(pack.user(out)) >= 0).all()  # still grouped by ascending user
    assert not np.array_equal(out, keys)  # and actually reordered within users


def test_too_many_nodes_to_pack_is_a_named_error():
    from lsec.data.split.candidates import _Packing

    with pytest.raises(LsecDataError, match="too many nodes"):
        _Packing(2**40, 2**30)


def test_failed_write_keeps_the_previous_split(tmp_path, tiny_graph):
    save(tiny_graph, tmp_path / "ds")
    first = write_split(tmp_path / "ds", split_by_time(tiny_graph), num_candidates=10)
    before = first.candidates("buy", "test").target.copy()
    with pytest.raises(LsecDataError, match="unknown task"):
        write_split(tmp_path / "ds", split_by_time(tiny_graph), tasks=("buy", "watch"), num_candidates=10, seed=9)
    assert sorted(p.name for p in (tmp_path / "ds" / "splits").iterdir()) == ["default"]
    np.testing.assert_array_equal(load_split(tmp_path / "ds").candidates("buy", "test").target, before)
