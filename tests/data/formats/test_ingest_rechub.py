"""The RecHub / LSEC-GNN TSV importer on folders the tests write themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lsec.data import load, load_rejected
from lsec.data.formats.rechub_tsv import edge_columns, import_rechub
from lsec.data.split import load_split
from lsec.errors import LsecDataError

ORIGIN = 1_606_780_800
DAY = 86_400


def make_folder(root: Path, seed: int = 0, header: bool = False) -> dict[str, dict[str, list[tuple]]]:
    """A small LSEC-like folder; returns the rows written per fold and relation."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    (root / "user.tsv").write_text("".join(f"{u}\n" for u in range(12)))
    (root / "item.tsv").write_text("item_id\tprice\n" + "".join(f"{i}\t{i * 3}\n" for i in range(15)))
    (root / "streamer.tsv").write_text("".join(f"s{s}\n" for s in range(4)))
    written: dict[str, dict[str, list[tuple]]] = {}
    windows = {"train": (0, 30), "val": (30, 40), "test": (40, 50)}
    for fold, (start, end) in windows.items():
        (root / fold).mkdir(parents=True)
        rows = written.setdefault(fold, {})
        buy = {
            (int(rng.integers(12)), int(rng.integers(15)), ORIGIN + int(rng.integers(start * DAY, end * DAY)))
            for _ in range(25)
        }
        follow = {
            (int(rng.integers(12)), f"s{rng.integers(4)}", ORIGIN + int(rng.integers(start * DAY, end * DAY)))
            for _ in range(15)
        }
        sell = {(f"s{rng.integers(4)}", int(rng.integers(15)), int(rng.integers(20, 90))) for _ in range(10)}
        rows["buy"], rows["follow"], rows["sell"] = sorted(buy), sorted(follow), sorted(sell)
        head = "user_id\titem_id\ttimestamp\n" if header else ""
        (root / fold / "user-item-buy.tsv").write_text(head + "".join(f"{u}\t{i}\t{t}\n" for u, i, t in rows["buy"]))
        (root / fold / "user-streamer-follow.tsv").write_text("".join(f"{u}\t{s}\t{t}\n" for u, s, t in rows["follow"]))
        (root / fold / "streamer-item-sell.tsv").write_text("".join(f"{s}\t{i}\t{w}\n" for s, i, w in rows["sell"]))
    return written


@pytest.mark.parametrize("header", [False, True])
def test_folder_loads_with_its_given_split(tmp_path, header):
    written = make_folder(tmp_path / "lsec", header=header)
    result = import_rechub(tmp_path / "lsec", out=tmp_path / "ds", num_candidates=8, seed=1)
    graph = load(tmp_path / "ds")
    assert graph.num_nodes == {"user": 12, "item": 15, "streamer": 4}
    assert list(graph.ids("streamer")) == ["s0", "s1", "s2", "s3"]
    assert graph.time_origin == ORIGIN
    buy_columns = result.report["train__user-item-buy.tsv"]["columns"]
    assert buy_columns == (
        {"src": "user_id", "dst": "item_id", "ts": "timestamp", "weight": None}
        if header
        else {"src": "1", "dst": "2", "ts": "3", "weight": None}
    )
    assert result.report["train__streamer-item-sell.tsv"]["columns"] == {
        "src": "1",
        "dst": "2",
        "ts": None,
        "weight": "3",
    }
    assert result.report["item.tsv"]["columns"] == {"id": "item_id"}

    split = load_split(tmp_path / "ds", "given")
    for fold_name, fold in (("train", 0), ("val", 1), ("test", 2)):
        edges = split.edges("buy", fold)
        got = {
            (int(graph.ids("user")[u]), int(graph.ids("item")[i]), int(t))
            for u, i, t in zip(edges.src, edges.dst, edges.ts)
        }
        assert got == set(written[fold_name]["buy"])
    sell = graph["sell"]
    assert sell.weight is not None and sell.ts.tolist() == [0] * len(sell)
    total_sell = sum(len(written[f]["sell"]) for f in written)
    merged = sum(result.report[f"{f}__streamer-item-sell.tsv"]["merged"] for f in ("train", "val", "test"))
    assert len(sell) == total_sell - merged
    cand = split.candidates("buy", "test")
    assert set(np.unique(cand.user)) == {
        int(np.flatnonzero(graph.ids("user") == str(u))[0]) for u, _, _ in written["test"]["buy"]
    }
    for label, entry in result.report.items():
        assert entry["rows_read"] == entry["kept"] + entry["merged"] + entry["rejected"], label


def test_ids_outside_node_lists_are_rejected(tmp_path):
    make_folder(tmp_path / "lsec")
    with (tmp_path / "lsec" / "test" / "user-item-buy.tsv").open("a") as handle:
        handle.write(f"99\t1\t{ORIGIN + 45 * DAY}\n3\t77\t{ORIGIN + 45 * DAY}\n")
    result = import_rechub(tmp_path / "lsec", out=tmp_path / "ds", num_candidates=8)
    report = result.report["test__user-item-buy.tsv"]
    assert report["rejected_by_reason"] == {
        "unknown user id in column '1' (not in user.tsv)": 1,
        "unknown item id in column '2' (not in item.tsv)": 1,
    }
    rejected = load_rejected(tmp_path / "ds")["test__user-item-buy.tsv"]
    assert sorted(rejected["1"].to_list()) == ["3", "99"]


def test_flat_folder_without_folds(tmp_path):
    root = tmp_path / "flat"
    root.mkdir()
    (root / "user-item-buy.tsv").write_text("1 2 1606780800\n2 3 1606780900\n")
    result = import_rechub(root, out=tmp_path / "ds")
    assert result.folds is None
    assert len(result.graph["buy"]) == 2
    assert result.report["user-item-buy.tsv"]["delimiter"] == "whitespace"
    assert not (tmp_path / "ds" / "splits").exists()


def test_column_detection_by_content(tmp_path):
    path = tmp_path / "user-item-buy.tsv"
    path.write_text("u1\ti1\t3\t2020-12-01T10:00:00\tx\nu2\ti2\t1\t2020-12-02T10:00:00\ty\n")
    delimiter, header, columns = edge_columns(path, "buy")
    assert (delimiter, header) == ("\t", False)
    assert (columns.src, columns.dst, columns.ts, columns.weight) == ("1", "2", "4", "3")
    path.write_text("a\tb\nx1\t5\n")
    _, header, columns = edge_columns(path, "buy")
    assert header is False  # "a", "b" are not column names and "x1" is not a number: all data


def test_missing_folder_and_no_edge_files(tmp_path):
    with pytest.raises(LsecDataError, match="folder not found"):
        import_rechub(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LsecDataError, match="no edge files found"):
        import_rechub(tmp_path / "empty")
