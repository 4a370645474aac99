"""Null controls on any dataset: ``permute_relation`` and ``lsec data permute``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lsec.cli import app
from lsec.data.graph import EdgeTable, HeteroGraph
from lsec.data.schema import relation
from lsec.data.simulate import permute_relation
from lsec.data.simulate.permute import default_endpoint
from lsec.data.store import load, save
from tests.conftest import random_tripartite

runner = CliRunner()


def distinct(graph: HeteroGraph, rel: str) -> HeteroGraph:
    """The same graph with repeated pairs of ``rel`` removed (the random fixture has a few)."""
    table = graph[rel]
    _, first = np.unique(table.src.astype(np.int64) * 10_000 + table.dst, return_index=True)
    edges = dict(graph.edges)
    edges[relation(rel)] = table.select(np.sort(first))
    return graph.with_edges(edges)


@pytest.mark.parametrize("rel", ["follow", "sell", "buy"])
def test_degrees_times_and_weights_are_kept(rel: str) -> None:
    graph = distinct(random_tripartite(num_users=60, num_items=80, num_streamers=12, num_edges=300, seed=4), rel)
    before = graph[rel]
    out = permute_relation(graph, rel, seed=3)
    after = out[rel]
    assert len(after) == len(before)
    for side in ("src", "dst"):
        n = graph.num_nodes[relation(rel)[0 if side == "src" else 2]]
        np.testing.assert_array_equal(
            np.bincount(getattr(before, side), minlength=n), np.bincount(getattr(after, side), minlength=n)
        )
    side = default_endpoint(relation(rel))
    fixed = "dst" if side == "src" else "src"
    np.testing.assert_array_equal(getattr(before, fixed), getattr(after, fixed))  # each row keeps its other end
    np.testing.assert_array_equal(before.ts, after.ts)
    if before.weight is not None:
        np.testing.assert_array_equal(before.weight, after.weight)
    assert np.mean(getattr(before, side) != getattr(after, side)) > 0.5  # really shuffled
    keys = after.src.astype(np.int64) * 10_000 + after.dst
    assert np.unique(keys).size == len(after)  # no repeated pairs created
    for other, table in graph.items():
        if other[1] != rel:
            assert out[other] is table
    assert out.meta["permuted"] == [{"relation": rel, "endpoint": side, "seed": 3, "duplicates_dropped": 0}]


def test_endpoints_default_to_the_streamer_side() -> None:
    assert default_endpoint(("user", "follow", "streamer")) == "dst"
    assert default_endpoint(("streamer", "sell", "item")) == "src"
    assert default_endpoint(("user", "buy", "item")) == "dst"


def test_same_seed_same_permutation_and_bad_endpoint() -> None:
    graph = distinct(random_tripartite(seed=1), "follow")
    a = permute_relation(graph, "follow", seed=9)["follow"]
    b = permute_relation(graph, "follow", seed=9)["follow"]
    c = permute_relation(graph, "follow", seed=10)["follow"]
    assert a.dst.tobytes() == b.dst.tobytes() and a.dst.tobytes() != c.dst.tobytes()
    with pytest.raises(ValueError, match="'endpoint' parameter of permute_relation"):
        permute_relation(graph, "follow", seed=1, endpoint="middle")


def test_dense_relation_keeps_almost_every_edge() -> None:
    rng = np.random.default_rng(0)
    # 40 x 10 pairs, 60 % of them present, skewed degrees: plain shuffling repeats many pairs
    cells = np.flatnonzero(rng.random(400) < np.repeat(np.linspace(0.3, 0.9, 40), 10))
    table = EdgeTable(cells // 10, cells % 10, np.arange(cells.size))
    graph = HeteroGraph({"user": 40, "item": 5, "streamer": 10}, {("user", "follow", "streamer"): table})
    out = permute_relation(graph, "follow", seed=2)
    assert out.meta["permuted"][0]["duplicates_dropped"] <= 0.01 * cells.size
    keys = out["follow"].src.astype(np.int64) * 10 + out["follow"].dst
    assert np.unique(keys).size == len(out["follow"])


def test_cli_simulate_then_permute(tmp_path: Path) -> None:
    data, null = tmp_path / "sim", tmp_path / "null"
    result = runner.invoke(
        app, ["data", "simulate", "--preset", "lsec-small", "--scale", "0.02", "--seed", "4", "--out", str(data)]
    )
    assert result.exit_code == 0, result.output
    assert "follow" in result.output and "density" in result.output and "ratio" in result.output
    graph = load(data)
    assert graph.num_nodes == {"user": 588, "item": 633, "streamer": 93}
    assert graph.meta["provenance"]["seed"] == 4
    assert len(graph["buy"]) == round(451_441 * 0.02**1.5)  # default degree exponent 0.5

    result = runner.invoke(
        app,
        ["data", "simulate", "--scale", "0.02", "--degree-exponent", "0", "--out", str(tmp_path / "dense")],
    )
    assert result.exit_code == 0, result.output
    assert len(load(tmp_path / "dense")["buy"]) == round(451_441 * 0.02)  # the table's mean degrees

    result = runner.invoke(
        app, ["data", "permute", str(data), "--relation", "follow", "--seed", "1", "--out", str(null)]
    )
    assert result.exit_code == 0, result.output
    shuffled = load(null)
    assert shuffled.meta["permuted"][0]["relation"] == "follow"
    dropped = shuffled.meta["permuted"][0]["duplicates_dropped"]
    assert len(shuffled["follow"]) == len(graph["follow"]) - dropped and dropped <= 0.01 * len(graph["follow"])
    assert not np.array_equal(shuffled["follow"].dst[:100], graph["follow"].dst[:100])
    np.testing.assert_array_equal(shuffled["buy"].dst, graph["buy"].dst)


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    graph = random_tripartite()
    save(graph, tmp_path / "d")
    result = runner.invoke(app, ["data", "simulate", "--preset", "lsec-medium", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "'preset' parameter" in result.output
    result = runner.invoke(app, ["data", "simulate", "--scale", "0.02", "--out", str(tmp_path / "d")])
    assert result.exit_code == 2 and "not empty" in result.output
    result = runner.invoke(app, ["data", "simulate", "--degree-exponent", "2", "--out", str(tmp_path / "e")])
    assert result.exit_code == 2 and "'degree_exponent' parameter" in result.output and "Got 2.0" in result.output
    result = runner.invoke(
        app, ["data", "permute", str(tmp_path / "d"), "--relation", "gift", "--out", str(tmp_path / "y")]
    )
    assert result.exit_code == 2 and "no 'gift' relation" in result.output
    result = runner.invoke(app, ["data", "permute", str(tmp_path / "missing"), "--out", str(tmp_path / "z")])
    assert result.exit_code == 2 and "error:" in result.output
