"""Each Spark job equals its in-process counterpart on the same small data (ids and counts exactly, floats 1e-6).

All tests share one ``local[2]`` session (conftest). The data are small but cover the branches: pairs below
and above the sales threshold plus rejected rows, streamers above the Swing cap (so the bounded draw
matters), every metapath and its exclusions, dense and sparse candidate users, truncated positives.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from lsec.analysis.influence import purchase_counts
from lsec.analysis.sparse import BinaryCSR, intersection_sizes
from lsec.data.graph import EdgeTable, HeteroGraph
from lsec.data.sales import sell_edges_from_sales
from lsec.data.split import load_split, split_by_time
from lsec.data.split.hashed import write_hashed_split
from lsec.data.store import save
from lsec.distributed.spark import expansions as spark_expansions
from lsec.distributed.spark import influence as spark_influence
from lsec.distributed.spark import sales as spark_sales
from lsec.distributed.spark import split as spark_split
from lsec.distributed.spark import swing as spark_swing
from lsec.distributed.spark.__main__ import main
from lsec.graph.swing import gift_graph, swing
from lsec.serve.expansion_store import expand
from tests.conftest import random_tripartite

ORIGIN = 1_606_780_800


def frame(spark, **columns):
    return spark.createDataFrame(pl.DataFrame(columns).to_pandas())


# ------------------------------------------------------------------------------------------ (a) sales
def sales_log(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "streamer": rng.integers(-1, 12, n),  # -1: rejected
            "item": rng.integers(0, 41, n),  # 40: rejected (40 items)
            "ts": ORIGIN + rng.integers(0, 40, n) * 3600,  # few distinct moments: rows share timestamps
            "quantity": np.where(rng.random(n) < 0.02, -1.0, rng.integers(1, 4, n).astype(float)),
        }
    )


def test_sales_job_equals_in_process(spark, tmp_path):
    log = sales_log()
    graph = HeteroGraph(num_nodes={"user": 1, "item": 40, "streamer": 12}, edges={}, name="sales", time_origin=ORIGIN)
    save(graph, tmp_path / "d")
    (tmp_path / "d" / "events").mkdir()
    log.write_parquet(tmp_path / "d" / "events" / "sales.parquet")
    expected = sell_edges_from_sales(log, num_streamers=12, num_items=40, threshold=12)

    report = spark_sales.run(spark, str(tmp_path / "d"), str(tmp_path / "o"), threshold=12)
    got = pl.read_parquet(tmp_path / "o" / "edges" / "streamer__sell__item.parquet")
    assert got.schema == {"src": pl.Int32, "dst": pl.Int32, "ts": pl.Int64, "weight": pl.Float32}
    assert 0 < got.height < expected.counts["pairs"]  # the threshold drops pairs
    np.testing.assert_array_equal(got["src"].to_numpy(), expected.edges.src)
    np.testing.assert_array_equal(got["dst"].to_numpy(), expected.edges.dst)
    np.testing.assert_array_equal(got["ts"].to_numpy(), expected.edges.ts)
    np.testing.assert_allclose(got["weight"].to_numpy(), expected.edges.weight, rtol=1e-6)
    assert report == {k: expected.counts[k] for k in report}
    rejected = pl.read_parquet(tmp_path / "o" / "rejected" / "sales.parquet")
    assert sorted(rejected["reason"].to_list()) == sorted(expected.rejected["reason"].to_list())
    assert report["rows_used"] + report["rows_rejected"] == log.height


# ------------------------------------------------------------------------------------------ (b) swing
def gifts(seed=0, users=150, streamers=25, edges=1200):
    rng = np.random.default_rng(seed)
    src = rng.integers(0, users, edges)
    dst = np.minimum(rng.zipf(1.6, edges) - 1, streamers - 1)  # a few streamers with many users
    amount = rng.integers(1, 6, edges).astype(np.float32)
    return src, dst, amount, users, streamers


def swing_arrays(rows, num_streamers, k):
    index = np.full((num_streamers, k), -1, dtype=np.int32)
    score = np.zeros((num_streamers, k), dtype=np.float32)
    index[rows["src"], rows["rank"]] = rows["dst"]
    score[rows["src"], rows["rank"]] = rows["weight"]
    return index, score


@pytest.mark.parametrize("mode", ["exact", "bounded"])
def test_swing_job_equals_in_process(spark, mode):
    src, dst, amount, users, streamers = gifts()
    graph = gift_graph(src=src, dst=dst, num_users=users, num_streamers=streamers, weight=amount)
    assert np.diff(graph.streamer_ptr).max() > 15  # the cap bites
    expected = swing(graph=graph, k=6, mode=mode, max_users_per_streamer=15, seed=7)
    table = frame(
        spark, src=src.astype(np.int32), dst=dst.astype(np.int32), ts=np.zeros(src.size, np.int64), weight=amount
    )
    rows = spark_swing.swing_edges(table, k=6, mode=mode, max_users_per_streamer=15, seed=7, partitions=3).toPandas()
    index, score = swing_arrays(rows, streamers, 6)
    np.testing.assert_array_equal(index, expected.indices)
    np.testing.assert_allclose(score, expected.scores, rtol=1e-6)
    if mode == "bounded":  # another seed draws other users: the equality above is not a coincidence
        other = swing(graph=graph, k=6, mode=mode, max_users_per_streamer=15, seed=8)
        assert not np.array_equal(other.indices, expected.indices)


# ------------------------------------------------------------------------------------- (c) expansions
def test_expansion_job_equals_in_process(spark, tmp_path):
    src, dst, amount, users, streamers = gifts(seed=1, users=80, streamers=20, edges=500)
    graph = gift_graph(src=src, dst=dst, num_users=users, num_streamers=streamers, weight=amount)
    similar = swing(graph=graph, k=5, mode="bounded", max_users_per_streamer=12, seed=0)
    expected = expand(graph=graph, swing=similar, k=5, max_frontier=7)
    dataset = HeteroGraph(
        num_nodes={"user": users, "streamer": streamers},
        edges={("user", "gift", "streamer"): EdgeTable(src, dst, np.full(src.size, ORIGIN), amount)},
        name="gifts", time_origin=ORIGIN,
    )  # fmt: skip
    save(dataset, tmp_path / "d")
    options = {"mode": "bounded", "max_users_per_streamer": 12, "seed": 0}
    report = spark_expansions.run(
        spark, str(tmp_path / "d"), str(tmp_path / "o"), k=5, max_frontier=7, swing_options=options
    )
    got = spark_expansions.read_expansions(
        str(tmp_path / "o" / "expansions"), num_users=users, num_streamers=streamers, k=5
    )
    for name, want in expected.items():
        assert report[name] == int(want.mask.sum()) > 0, name
        np.testing.assert_array_equal(got[name].indices, want.indices, err_msg=name)
        np.testing.assert_array_equal(got[name].visits, want.visits, err_msg=name)
        np.testing.assert_allclose(got[name].weights, want.weights, rtol=1e-6, err_msg=name)
    written = pl.read_parquet(tmp_path / "o" / "edges" / "streamer__swing__streamer.parquet")
    np.testing.assert_array_equal(swing_arrays(written.to_pandas(), streamers, 5)[0], similar.indices)


# -------------------------------------------------------------------------------------- (d) influence
def test_influence_counts_equal_in_process(spark):
    graph = random_tripartite(num_users=60, num_items=50, num_streamers=8, num_edges=400, seed=3)
    tables = {name: graph[name] for name in ("buy", "follow", "sell")}
    spark_tables = {
        name: frame(spark, src=t.src, dst=t.dst, ts=t.ts) for name, t in tables.items()
    }  # fmt: skip
    rng = np.random.default_rng(0)
    rewired = EdgeTable(rng.permutation(tables["follow"].src), tables["follow"].dst, tables["follow"].ts)
    got = spark_influence.users_items(
        spark_tables["buy"],
        spark_tables["follow"],
        spark_tables["sell"],
        frame(spark, src=rewired.src, dst=rewired.dst),
    ).toPandas()
    buy = BinaryCSR.from_table(tables["buy"], 60, 50)
    follow = BinaryCSR.from_table(tables["follow"], 60, 8)
    sell = BinaryCSR.from_table(tables["sell"], 8, 50)
    eligible = np.flatnonzero((follow.degree > 0) & (buy.degree > 0))
    real = got.dropna(subset=["followed"])
    np.testing.assert_array_equal(real["user"].to_numpy(), eligible)
    hits, offered = purchase_counts(buy, follow, sell, eligible)
    assert hits.sum() > 0
    np.testing.assert_array_equal(real["hits"].to_numpy(), hits)
    np.testing.assert_array_equal(real["offered"].to_numpy(), offered)
    np.testing.assert_array_equal(real["followed"].to_numpy(), follow.degree[eligible])
    shuffled = got.dropna(subset=["followed_random"])
    random_follow = BinaryCSR.from_table(rewired, 60, 8)
    hits_r, offered_r = purchase_counts(buy, random_follow, sell, shuffled["user"].to_numpy())
    np.testing.assert_array_equal(shuffled["hits_random"].to_numpy(), hits_r)
    np.testing.assert_array_equal(shuffled["offered_random"].to_numpy(), offered_r)

    a, b = rng.integers(0, 60, 40), rng.integers(0, 60, 40)
    pairs = spark_influence.pair_overlaps(spark_tables["buy"], frame(spark, a=a, b=b), by="src").toPandas()
    key = pairs["a"].to_numpy(), pairs["b"].to_numpy()
    np.testing.assert_array_equal(pairs["common"].to_numpy(), intersection_sizes(buy, buy, *key))
    np.testing.assert_array_equal(pairs["degree_a"].to_numpy(), buy.degree[key[0]])
    assert pairs["common"].sum() > 0
    items = spark_influence.pair_overlaps(spark_tables["buy"], frame(spark, a=a % 50, b=b % 50), by="dst").toPandas()
    sellers = buy.transpose()
    np.testing.assert_array_equal(
        items["common"].to_numpy(), intersection_sizes(sellers, sellers, items["a"].to_numpy(), items["b"].to_numpy())
    )


# ------------------------------------------------------------------------------------------ (e) split
def test_split_job_equals_in_process(spark, tmp_path):
    graph = random_tripartite(num_users=50, num_items=60, num_streamers=6, num_edges=700, seed=5)
    for name in ("inprocess", "spark"):
        save(graph, tmp_path / name)
    folds = split_by_time(graph, 30, 10, 10)
    expected = write_hashed_split(tmp_path / "inprocess", folds, "t", ("buy", "follow"), num_candidates=6, seed=4)
    info = spark_split.run(spark, str(tmp_path / "spark"), str(tmp_path / "spark"), name="t",
                           num_candidates=6, seed=4)  # fmt: skip
    got = load_split(tmp_path / "spark", "t")
    for rel in graph.edges:
        np.testing.assert_array_equal(got.fold(rel), expected.fold(rel), err_msg=rel[1])
    stats = expected.info["candidates"]
    assert stats["buy"]["test"]["truncated_users"] > 0  # users with more than 3 positives: truncation drawn
    assert stats["follow"]["test"]["short_lists"] > 0  # 6 streamers: the complement is listed
    assert info["candidates"] == stats and info["edges"] == expected.info["edges"]
    for task in ("buy", "follow"):
        for fold in ("valid", "test"):
            want, have = expected.candidates(task, fold), got.candidates(task, fold)
            assert len(want) > 0
            for column in ("user", "target", "label", "cold"):
                np.testing.assert_array_equal(
                    getattr(have, column), getattr(want, column), err_msg=f"{task} {fold} {column}"
                )
    on_disk = json.loads((tmp_path / "spark" / "splits" / "t" / "split.json").read_text())
    assert on_disk["boundaries"]["train_end"] == expected.info["boundaries"]["train_end"]


# ------------------------------------------------------------------------------------------- the entry
def test_entry_runs_a_job_and_reports_bad_input(spark, tmp_path, capsys):
    log = sales_log(n=200, seed=2)
    graph = HeteroGraph(num_nodes={"user": 1, "item": 40, "streamer": 12}, edges={}, name="sales", time_origin=ORIGIN)
    save(graph, tmp_path / "d")
    (tmp_path / "d" / "events").mkdir()
    log.write_parquet(tmp_path / "d" / "events" / "sales.parquet")
    assert main(["sales", "--in", str(tmp_path / "d"), "--out", str(tmp_path / "o"), "--threshold", "3"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["report"]["pairs_kept"] == len(
        sell_edges_from_sales(log, num_streamers=12, num_items=40, threshold=3).edges
    )
    assert main(["swing", "--in", str(tmp_path / "missing"), "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "missing" in err and "Traceback" not in err
