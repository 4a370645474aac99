"""Every kind of bad input: exact counts, exact reason text, and rows read = kept + merged + rejected."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from lsec.data import load, load_rejected
from lsec.data.formats.csv import import_csv
from lsec.errors import LsecDataError

NOW = 1_700_000_000  # pinned "now" for the far-future rule
HEADER = "user_id,item_id,ts,weight\n"
GOOD = "u1,i1,1606780800,1\nu2,i2,1606780900,2\n"


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def run(tmp_path: Path, body: str | bytes, **kwargs):
    data = HEADER.encode() + GOOD.encode() + (body if isinstance(body, bytes) else body.encode())
    path = write(tmp_path, "buys.csv", data)
    result = import_csv({"buy": path}, now=NOW, out=tmp_path / "out", **kwargs)
    report = result.report["buys.csv"]
    assert report["rows_read"] == report["kept"] + report["merged"] + report["rejected"]
    return result, report


ROW_CASES = [
    # (kind, extra data lines, expected reason)
    ("empty id", ",i3,1606781000,1\n", "empty user id in column 'user_id'"),
    ("blank-padded empty id", "   ,i3,1606781000,1\n", "empty user id in column 'user_id'"),
    ("null marker id", "null,i3,1606781000,1\n", "missing user id in column 'user_id' (null marker)"),
    ("NaN id", "u3,NaN,1606781000,1\n", "missing item id in column 'item_id' (null marker)"),
    ("unparseable ts", "u3,i3,yesterday,1\n", "unparseable timestamp in column 'ts' (expected unix seconds)"),
    ("missing ts", "u3,i3,,1\n", "missing timestamp in column 'ts'"),
    ("negative ts", "u3,i3,-5,1\n", "negative timestamp in column 'ts'"),
    ("far-future ts", f"u3,i3,{NOW + 2 * 86_400},1\n", "timestamp in column 'ts' is later than now + 1 day"),
    ("non-numeric weight", "u3,i3,1606781000,lots\n", "non-numeric weight in column 'weight'"),
    ("negative weight", "u3,i3,1606781000,-2\n", "negative weight in column 'weight'"),
    ("non-finite weight", "u3,i3,1606781000,inf\n", "non-finite weight in column 'weight'"),
    ("missing weight", "u3,i3,1606781000,\n", "missing weight in column 'weight'"),
    ("too few fields", "u3,i3\n", "ragged row: expected 4 fields, found 2"),
    ("too many fields", "u3,i3,1606781000,1,extra\n", "ragged row: expected 4 fields, found 5"),
    ("quoted field with delimiter", '"u,3",i3,1606781000,1,x\n', "ragged row: expected 4 fields, found 5"),
    ("broken quotes", 'u3,"i3,1606781000,1\n', "unbalanced quotes"),
]


@pytest.mark.parametrize(("kind", "body", "reason"), ROW_CASES, ids=[c[0] for c in ROW_CASES])
def test_bad_row_is_rejected_with_reason(tmp_path, kind, body, reason):
    result, report = run(tmp_path, body)
    assert (report["rows_read"], report["kept"], report["merged"], report["rejected"]) == (3, 2, 0, 1)
    assert report["rejected_by_reason"] == {reason: 1}
    rejected = load_rejected(tmp_path / "out")["buys.csv"]
    assert rejected["reason"].to_list() == [reason]
    assert rejected["line"].to_list() == [4]  # header is line 1, two good rows, then the bad one
    assert len(result.graph["buy"]) == 2


def test_rejected_rows_keep_original_values(tmp_path):
    run(tmp_path, " u9 ,i9,later,7\nu3,i3\n")
    rejected = load_rejected(tmp_path / "out")["buys.csv"]
    assert rejected.columns == ["line", "user_id", "item_id", "ts", "weight", "raw", "reason"]
    first = rejected.row(0, named=True)
    assert first == {
        "line": 4,
        "user_id": " u9 ",
        "item_id": "i9",
        "ts": "later",
        "weight": "7",
        "raw": None,
        "reason": "unparseable timestamp in column 'ts' (expected unix seconds)",
    }
    second = rejected.row(1, named=True)
    assert second["raw"] == "u3,i3" and second["line"] == 5 and second["ts"] is None


def test_non_utf8_row_is_rejected(tmp_path):
    result, report = run(tmp_path, b"u\xe9,i3,1606781000,1\n")
    assert report["rejected_by_reason"] == {"invalid UTF-8 bytes": 1}
    assert (report["kept"], report["rejected"]) == (2, 1)


def test_exact_duplicates_are_merged_and_counted(tmp_path):
    # Same user, item, ts and weight as the first good row (twice), and once with padded / float-typed forms.
    result, report = run(
        tmp_path, "u1,i1,1606780800,1\nu1,i1,1606780800,1\n u1 ,i1,1606780800,1.0\nu1,i1,1606780801,1\n"
    )
    assert (report["rows_read"], report["kept"], report["merged"], report["rejected"]) == (6, 3, 3, 0)
    assert len(result.graph["buy"]) == 3  # the same pair at another second is a repeat purchase, kept
    assert result.graph.meta["ingestion"]["totals"] == {"rows_read": 6, "kept": 3, "merged": 3, "rejected": 0}


def test_whitespace_padded_and_float_typed_ids_are_normalised(tmp_path):
    result, report = run(
        tmp_path, " u1 ,i1,1606781000,1\n12,i4,1606781000,1\n12.0,i5,1606781000,1\n12.5,i6,1606781000,1\n"
    )
    graph = result.graph
    assert list(graph.ids("user")) == ["u1", "u2", "12", "12.5"]
    assert report["normalised_ids"] == 2
    users = graph["buy"].src.tolist()
    assert users == [0, 1, 0, 2, 2, 3]


def test_unknown_node_ids_are_rejected_when_node_files_are_given(tmp_path):
    users = write(tmp_path, "users.csv", "id,name\nu1,Ann\nu2,Bob\nu2,Bob\nu7,Eve\n")
    result, report = run(tmp_path, "u3,i3,1606781000,1\nu1,i3,1606781000,1\n", users=users)
    assert report["rejected_by_reason"] == {"unknown user id in column 'user_id' (not in users.csv)": 1}
    assert (report["kept"], report["rejected"]) == (3, 1)
    node_report = result.report["users.csv"]
    assert (node_report["rows_read"], node_report["kept"], node_report["merged"], node_report["rejected"]) == (
        4,
        3,
        1,
        0,
    )
    assert list(result.graph.ids("user")) == ["u1", "u2", "u7"]  # node file order, isolated u7 kept
    assert list(result.graph.ids("item")) == ["i1", "i2", "i3"]


def test_self_loops_are_rejected_for_same_type_relations(tmp_path):
    path = write(tmp_path, "friends.csv", "src,dst,ts\nu1,u2,1606780800\nu3,u3,1606780800\n")
    result = import_csv({"social": path}, now=NOW)
    report = result.report["friends.csv"]
    assert report["rejected_by_reason"] == {"self-loop: a user social edge to itself": 1}
    assert (report["rows_read"], report["kept"]) == (2, 1)


def test_blank_lines_are_skipped_and_counted(tmp_path):
    result, report = run(tmp_path, "\n\nu3,i3,1606781000,1\n")
    assert report["blank_lines"] == 2
    assert (report["rows_read"], report["kept"]) == (3, 3)
    assert result.rejected == {}


def test_several_problems_in_one_file(tmp_path):
    body = ",i3,1,1\nu3,i3,x,1\nu3,i3,1,-1\nu1,i1,1606780800,1\nu4,i4,1606781000,2\n"
    result, report = run(tmp_path, body)
    assert (report["rows_read"], report["kept"], report["merged"], report["rejected"]) == (7, 3, 1, 3)
    graph = load(tmp_path / "out")
    assert graph.meta["ingestion"]["files"]["buys.csv"]["rejected"] == 3
    np.testing.assert_array_equal(graph["buy"].weight, np.array([1, 2, 2], dtype=np.float32))


FILE_CASES = [
    ("empty file", b"", "buys.csv: empty file (expected a header line and data rows, found '0 bytes')."),
    ("header only", HEADER.encode(), "no data rows"),
    ("only blank lines", b"\n\n\n", "empty file"),
    ("utf-16", "user_id,item_id\nu1,i1\n".encode("utf-16"), "unreadable encoding"),
    ("latin-1 header", "usér_id,item_id\nu1,i1\n".encode("latin-1"), "unreadable encoding"),
    ("wrong delimiter", b"user_id;item_id;ts\nu1;i1;1606780800\n", "wrong delimiter; the file seems to use semicolon"),
    ("missing column", b"customer,item_id\nu1,i1\n", "missing required column"),
]


@pytest.mark.parametrize(("kind", "data", "message"), FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_unusable_file_raises_named_error(tmp_path, kind, data, message):
    path = write(tmp_path, "buys.csv", data)
    with pytest.raises(LsecDataError) as info:
        import_csv({"buy": path}, now=NOW)
    text = str(info.value)
    assert text.startswith(str(path))
    assert message in text


def test_missing_named_column_names_column_and_alternatives(tmp_path):
    path = write(tmp_path, "buys.csv", "uid,iid\nu1,i1\n")
    with pytest.raises(LsecDataError) as info:
        import_csv({"buy": path}, columns={}, ts_col="time")
    assert str(info.value) == (
        f"{path}, column 'time': missing required column (expected a timestamp column named 'time', "
        "found \"columns 'uid', 'iid'\")."
    )


def test_file_not_found(tmp_path):
    with pytest.raises(LsecDataError, match="nope.csv: file not found"):
        import_csv({"buy": tmp_path / "nope.csv"})


def test_rejected_parquet_is_readable_without_lsec(tmp_path):
    run(tmp_path, "u3,i3,oops,1\n")
    frame = pl.read_parquet(tmp_path / "out" / "rejected" / "buys.csv.parquet")
    assert frame.height == 1 and frame["reason"][0].startswith("unparseable timestamp")
