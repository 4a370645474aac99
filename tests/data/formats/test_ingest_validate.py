"""`validate_dataset` finds each kind of inconsistency; `dataset_info` reports the right figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from lsec.data import save
from lsec.data.formats.csv import import_csv
from lsec.data.formats.validate import dataset_info, format_info, validate_dataset
from lsec.errors import LsecDataError
from tests.conftest import random_tripartite

NOW = 1_700_000_000


@pytest.fixture
def imported(tmp_path) -> Path:
    (tmp_path / "b.csv").write_text(
        "user,item,ts\nu1,i1,1606780800\nu2,i1,1606780900\nu2,i2,1606867200\nu2,i2,1606867200\n,i3,1606780800\n"
    )
    (tmp_path / "f.csv").write_text("user,streamer,ts\nu1,s1,1606780800\nu3,s1,1606780801\n")
    import_csv({"buy": tmp_path / "b.csv", "follow": tmp_path / "f.csv"}, out=tmp_path / "ds", now=NOW)
    return tmp_path / "ds"


def edit_meta(path: Path, change) -> None:
    meta = json.loads((path / "meta.json").read_text())
    change(meta)
    (path / "meta.json").write_text(json.dumps(meta))


def test_clean_import_is_valid(imported):
    report = validate_dataset(imported, now=NOW)
    assert report.ok and report.problems == [] and report.warnings == []
    assert len(report.checks) == 5


def test_meta_edge_count_mismatch(imported):
    edit_meta(imported, lambda m: m["relations"][0].update(edges=99))
    report = validate_dataset(imported, now=NOW)
    assert report.problems == ["meta.json: relation 'buy' lists 99 edges, edges/user__buy__item.parquet has 3"]


def test_ingestion_report_that_does_not_add_up(imported):
    edit_meta(imported, lambda m: m["ingestion"]["files"]["b.csv"].update(kept=4))
    report = validate_dataset(imported, now=NOW)
    assert report.problems == [
        "ingestion report of b.csv: rows read 5 != kept 4 + merged 1 + rejected 1",
        "relation 'buy': the ingestion report keeps 4 rows, the edge file has 3",
    ]


def test_missing_rejected_file(imported):
    (imported / "rejected" / "b.csv.parquet").unlink()
    assert validate_dataset(imported, now=NOW).problems == [
        "rejected/b.csv.parquet holds 0 row(s), the report counts 1"
    ]


def test_bad_timestamps_duplicates_and_node_ids(tmp_path):
    graph = random_tripartite(num_edges=20, seed=1)
    buy = graph["buy"]
    buy.ts[0] = -3
    buy.ts[1] = NOW + 10 * 86_400
    buy.src[2], buy.dst[2], buy.ts[2] = buy.src[3], buy.dst[3], buy.ts[3]
    graph.node_ids["user"] = np.array(["a"] * 2 + [f"u{i}" for i in range(graph.num_users - 2)], dtype=object)
    save(graph, tmp_path / "ds")
    report = validate_dataset(tmp_path / "ds", now=NOW)
    assert report.problems == [
        "nodes/user.parquet: 1 duplicated id(s)",
        "relation 'buy': 1 edge(s) with a negative timestamp",
        "relation 'buy': 1 edge(s) with a timestamp later than now + 1 day",
    ]
    assert "relation 'buy': 1 exact duplicate edge(s)" in report.warnings
    assert "relation 'buy': 1 edge(s) before the time origin 1606780800" in report.warnings


def test_split_fold_file_of_the_wrong_length(imported):
    folds = imported / "splits" / "s1" / "folds"
    folds.mkdir(parents=True)
    pl.DataFrame({"fold": pl.Series([0, 1], dtype=pl.Int8)}).write_parquet(folds / "user__buy__item.parquet")
    report = validate_dataset(imported, now=NOW)
    assert report.problems == ["split 's1': user__buy__item.parquet has 2 rows, relation 'buy' has 3"]


def test_not_a_dataset(tmp_path):
    with pytest.raises(LsecDataError, match="dataset folder not found"):
        validate_dataset(tmp_path / "nope")
    (tmp_path / "x").mkdir()
    with pytest.raises(LsecDataError, match="not an lsec dataset"):
        validate_dataset(tmp_path / "x")


def test_info_figures_and_table(imported):
    stats = dataset_info(imported)
    assert stats["nodes"] == {"user": 3, "item": 2, "streamer": 1}
    buy, follow = stats["relations"]
    assert (buy["edges"], buy["unique_pairs"]) == (3, 3)
    assert buy["density"] == pytest.approx(3 / (3 * 2))
    assert follow["density"] == pytest.approx(2 / 3)
    assert buy["ts_min_iso"] == "2020-12-01 00:00:00" and buy["ts_max_iso"] == "2020-12-02 00:00:00"
    assert stats["ingestion"] == {"rows_read": 7, "kept": 5, "merged": 1, "rejected": 1}
    text = format_info(stats).splitlines()
    header = next(line for line in text if line.startswith("relation"))
    rows = [line for line in text if line.startswith(("buy", "follow"))]
    assert rows[0].split() == ["buy", "user", "->", "item", "3", "3", "50.0000%", "no", "2020-12-01", "2020-12-02"]
    # Right-aligned numbers end in the same column as their header.
    assert header.index("edges") + len("edges") == rows[0].index(" 3 ") + 2
