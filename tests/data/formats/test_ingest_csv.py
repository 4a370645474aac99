"""The CSV / TSV / Parquet importer on files the tests write themselves."""

from __future__ import annotations

import gzip

import numpy as np
import polars as pl
import pytest

from lsec.data import load
from lsec.data.formats.csv import import_csv, parse_column_spec
from lsec.data.ingest_columns import ColumnMap
from lsec.errors import LsecDataError
from tests.conftest import random_tripartite

ORIGIN = 1_606_780_800  # 2020-12-01 00:00:00 UTC


def test_round_trip_of_a_random_graph_through_csv(tmp_path):
    """Write a known graph as CSVs with foreign column names, import, compare every edge."""
    graph = random_tripartite(num_users=25, num_items=30, num_streamers=5, num_edges=150, seed=7)
    names = {"user": "U{}", "item": "I{}", "streamer": "S{}"}
    paths = {}
    for (src_type, rel, dst_type), table in graph.items():
        frame = pl.DataFrame(
            {
                "when": table.ts,
                "from_id": [names[src_type].format(i) for i in table.src],
                "to_id": [names[dst_type].format(i) for i in table.dst],
            }
        )
        if table.weight is not None:
            frame = frame.with_columns(pl.Series("sales", table.weight.astype(np.float64)))
        paths[rel] = tmp_path / f"{rel}.csv"
        frame.write_csv(paths[rel])
    columns = {rel: parse_column_spec(f"{rel}:src=from_id,dst=to_id,ts=when")[1] for rel in paths}
    result = import_csv(paths, columns=columns, out=tmp_path / "ds")
    back = load(tmp_path / "ds")
    assert back.time_origin == ORIGIN
    for (src_type, rel, dst_type), table in graph.items():
        got = back[rel]
        exact_dups = len(table) - pl.DataFrame({"s": table.src, "d": table.dst, "t": table.ts}).n_unique()
        assert result.report[f"{rel}.csv"]["merged"] == exact_dups
        src_ids = back.ids(src_type)[got.src]
        dst_ids = back.ids(dst_type)[got.dst]
        weights = table.weight if table.weight is not None else [None] * len(table)
        got_weights = got.weight.tolist() if got.weight is not None else [None] * len(got)
        want = {
            (names[src_type].format(s), names[dst_type].format(d), t, None if w is None else float(np.float32(w)))
            for s, d, t, w in zip(table.src, table.dst, table.ts.tolist(), weights)
        }
        assert set(zip(src_ids, dst_ids, got.ts.tolist(), got_weights)) == want
        assert len(got) == len(want)
        assert (got.weight is None) == (table.weight is None)


def test_first_seen_order_across_files(tmp_path):
    (tmp_path / "b.csv").write_text("user,item\nu2,i1\nu1,i2\n")
    (tmp_path / "f.csv").write_text("user,streamer\nu3,s1\nu2,s2\n")
    (tmp_path / "s.csv").write_text("streamer,item\ns3,i3\n")
    result = import_csv({"buy": tmp_path / "b.csv", "follow": tmp_path / "f.csv", "sell": tmp_path / "s.csv"})
    graph = result.graph
    assert list(graph.ids("user")) == ["u2", "u1", "u3"]
    assert list(graph.ids("item")) == ["i1", "i2", "i3"]  # buy destinations first, then sell destinations
    assert list(graph.ids("streamer")) == ["s1", "s2", "s3"]
    assert graph["follow"].src.tolist() == [2, 0]
    assert graph["follow"].ts.tolist() == [0, 0]
    assert graph.time_origin == 0


def test_per_type_column_options_and_weight_none(tmp_path):
    (tmp_path / "buys.tsv").write_text("time\tbuyer\tproduct\tcount\n1606780800\tA\tX\t3\n1606867200\tB\tX\t4\n")
    result = import_csv({"buy": tmp_path / "buys.tsv"}, user_col="buyer", item_col="product", weight_col="none")
    assert result.report["buys.tsv"]["delimiter"] == "tab"
    assert result.report["buys.tsv"]["columns"] == {"src": "buyer", "dst": "product", "ts": "time", "weight": None}
    table = result.graph["buy"]
    assert table.weight is None
    assert table.ts.tolist() == [ORIGIN, ORIGIN + 86_400]


@pytest.mark.parametrize(
    ("ts_format", "values", "expected"),
    [
        ("auto", ["1606780800000", "1606780801999"], [ORIGIN, ORIGIN + 1]),
        ("ms", ["1606780800000", "1606780801999"], [ORIGIN, ORIGIN + 1]),
        ("auto", ["1606780800.7", "1606780801"], [ORIGIN, ORIGIN + 1]),
        ("auto", ["2020-12-01", "2020-12-01T01:00:00Z"], [ORIGIN, ORIGIN + 3600]),
        ("iso", ["2020-12-01 02:00:00+02:00", "2020-12-01T00:00:01.5"], [ORIGIN, ORIGIN + 1]),
        ("%d/%m/%Y %H:%M", ["01/12/2020 00:00", "02/12/2020 00:01"], [ORIGIN, ORIGIN + 86_460]),
    ],
)
def test_timestamp_formats(tmp_path, ts_format, values, expected):
    rows = "".join(f"u{i},i{i},{v}\n" for i, v in enumerate(values))
    (tmp_path / "b.csv").write_text("user,item,ts\n" + rows)
    result = import_csv({"buy": tmp_path / "b.csv"}, ts_format=ts_format, now=ORIGIN + 365 * 86_400)
    assert result.report["b.csv"]["rejected"] == 0
    assert result.graph["buy"].ts.tolist() == expected


def test_strftime_format_rejects_other_shapes(tmp_path):
    (tmp_path / "b.csv").write_text("user,item,ts\nu1,i1,01/12/2020\nu2,i2,2020-12-01\n")
    result = import_csv({"buy": tmp_path / "b.csv"}, ts_format="%d/%m/%Y")
    assert result.report["b.csv"]["rejected_by_reason"] == {
        "unparseable timestamp in column 'ts' (expected a date matching '%d/%m/%Y')": 1
    }


def test_bad_ts_format_option(tmp_path):
    (tmp_path / "b.csv").write_text("user,item\nu1,i1\n")
    with pytest.raises(LsecDataError, match="--ts-format"):
        import_csv({"buy": tmp_path / "b.csv"}, ts_format="fortnights")


def test_delimiter_sniffing_override_gzip_and_quotes(tmp_path):
    (tmp_path / "b.txt").write_text("user;item\nu1;i1\n")
    assert import_csv({"buy": tmp_path / "b.txt"}).report["b.txt"]["delimiter"] == "semicolon"
    (tmp_path / "c.csv").write_text("user|item\nu1|i1\n")
    assert len(import_csv({"buy": tmp_path / "c.csv"}, delimiter="|").graph["buy"]) == 1
    with gzip.open(tmp_path / "d.csv.gz", "wt") as handle:
        handle.write('user,item,ts\n"Doe, Jane",i1,1606780800\n"u""2",i2,1606780800\n')
    result = import_csv({"buy": tmp_path / "d.csv.gz"})
    assert list(result.graph.ids("user")) == ["Doe, Jane", 'u"2']
    assert result.report["d.csv.gz"]["kept"] == 2


def test_no_header_uses_positions(tmp_path):
    (tmp_path / "b.csv").write_text("u1,i1,1606780800,2\nu2,i1,1606780860,5\n")
    result = import_csv({"buy": tmp_path / "b.csv"}, header=False)
    table = result.graph["buy"]
    assert table.ts.tolist() == [ORIGIN, ORIGIN + 60]
    assert table.weight is not None and table.weight.tolist() == [2.0, 5.0]
    assert result.report["b.csv"]["rows_read"] == 2


def test_parquet_input_with_typed_columns(tmp_path):
    from datetime import datetime

    frame = pl.DataFrame(
        {
            "user_id": [1, 2, None],
            "item_id": ["a", "b", "c"],
            "ts": [datetime(2020, 12, 1), datetime(2020, 12, 2), datetime(2020, 12, 3)],
        }
    )
    frame.write_parquet(tmp_path / "b.parquet")
    result = import_csv({"buy": tmp_path / "b.parquet"})
    report = result.report["b.parquet"]
    assert (report["rows_read"], report["kept"], report["rejected"]) == (3, 2, 1)
    assert report["rejected_by_reason"] == {"empty user id in column 'user_id'": 1}
    assert list(result.graph.ids("user")) == ["1", "2"]
    assert result.graph["buy"].ts.tolist() == [ORIGIN, ORIGIN + 86_400]


def test_column_spec_parsing():
    assert parse_column_spec("buy:src=uid,dst=iid,ts=time") == ("buy", ColumnMap("uid", "iid", "time", None))
    for bad in ("buy", "buy:", "buy:src", "buy:foo=x", "dance:src=a"):
        with pytest.raises(LsecDataError, match="--columns"):
            parse_column_spec(bad)


@pytest.mark.parametrize("size", [0, 1, 7, 5000])
def test_first_seen_index_matches_a_naive_loop(size):
    from lsec.data.ingest import first_seen_index

    rng = np.random.default_rng(size)
    values = [f"n{v}" for v in rng.integers(0, max(size // 3, 1), size)]
    categories, index = first_seen_index(pl.Series(values, dtype=pl.Utf8))
    seen: dict[str, int] = {}
    for value in values:
        seen.setdefault(value, len(seen))
    assert categories.to_list() == list(seen)
    assert index.dtype == np.int32
    assert index.tolist() == [seen[v] for v in values]


def test_same_file_name_for_two_relations(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "edges.csv").write_text("user,item\nu1,i1\n,i2\n")
    (tmp_path / "b" / "edges.csv").write_text("user,streamer\nu1,s1\n")
    result = import_csv(
        {"buy": tmp_path / "a" / "edges.csv", "follow": tmp_path / "b" / "edges.csv"}, out=tmp_path / "ds"
    )
    assert set(result.report) == {"buy__edges.csv", "follow__edges.csv"}
    assert (tmp_path / "ds" / "rejected" / "buy__edges.csv.parquet").is_file()


@pytest.mark.parametrize("header", [True, False])
def test_byte_order_mark_and_windows_line_ends(tmp_path, header):
    text = ("user,item,ts\r\n" if header else "") + "u1,i1,1606780800\r\nu2,i2,1606780801\r\n"
    (tmp_path / "b.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    result = import_csv({"buy": tmp_path / "b.csv"}, header=header)
    assert list(result.graph.ids("user")) == ["u1", "u2"]
    assert result.graph["buy"].ts.tolist() == [1_606_780_800, 1_606_780_801]
    assert result.report["b.csv"]["rejected"] == 0
