from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from lsec.data import load, load_rejected, save
from lsec.data.graph import EdgeTable, HeteroGraph
from lsec.errors import LsecDataError
from tests.conftest import random_tripartite


def test_round_trip_is_bit_exact(tmp_path):
    graph = random_tripartite(seed=3)
    graph.node_ids["user"] = np.array([f"u{i}" for i in range(graph.num_users)], dtype=object)
    save(graph, tmp_path / "ds")
    back = load(tmp_path / "ds")
    assert back.num_nodes == graph.num_nodes
    assert back.time_origin == graph.time_origin
    assert list(back.edges) == list(graph.edges)
    for rel, table in graph.edges.items():
        other = back.edges[rel]
        for col in ("src", "dst", "ts"):
            a, b = getattr(table, col), getattr(other, col)
            assert a.dtype == b.dtype
            assert a.tobytes() == b.tobytes()
        if table.weight is None:
            assert other.weight is None
        else:
            assert table.weight.tobytes() == other.weight.tobytes()
    assert list(back.ids("user")) == [f"u{i}" for i in range(graph.num_users)]
    assert list(back.ids("item")) == [str(i) for i in range(graph.num_items)]


def test_layout_matches_design(tmp_path):
    graph = random_tripartite()
    rejected = {"buys.csv": pl.DataFrame({"line": [3], "reason": ["empty user id"]})}
    save(graph, tmp_path / "ds", rejected=rejected)
    root = tmp_path / "ds"
    assert (root / "nodes" / "user.parquet").is_file()
    assert (root / "edges" / "user__buy__item.parquet").is_file()
    assert (root / "edges" / "streamer__sell__item.parquet").is_file()
    frame = pl.read_parquet(root / "edges" / "streamer__sell__item.parquet")
    assert frame.schema == {"src": pl.Int32, "dst": pl.Int32, "ts": pl.Int64, "weight": pl.Float32}
    meta = json.loads((root / "meta.json").read_text())
    assert meta["schema_version"] == 1
    assert meta["nodes"] == {"user": 30, "item": 40, "streamer": 6}
    assert {r["name"] for r in meta["relations"]} == {"buy", "follow", "sell"}
    assert load_rejected(root)["buys.csv"]["reason"].to_list() == ["empty user id"]


def test_validate_names_the_bad_index():
    graph = HeteroGraph(
        num_nodes={"user": 2, "item": 2},
        edges={("user", "buy", "item"): EdgeTable(np.array([0, 1]), np.array([1, 5]), np.array([0, 0]))},
    )
    with pytest.raises(LsecDataError, match=r"row 2.*'dst'.*found 5"):
        graph.validate()


def test_load_missing_folder_is_a_named_error(tmp_path):
    with pytest.raises(LsecDataError, match="not an lsec dataset"):
        tmp_path.joinpath("x").mkdir()
        load(tmp_path / "x")


def test_stats_density(tiny_graph):
    stats = tiny_graph.stats()
    buy = next(r for r in stats["relations"] if r["relation"] == "buy")
    table = tiny_graph["buy"]
    pairs = len({(int(s), int(d)) for s, d in zip(table.src, table.dst)})
    assert buy["unique_pairs"] == pairs
    assert buy["density"] == pytest.approx(pairs / (30 * 40))
