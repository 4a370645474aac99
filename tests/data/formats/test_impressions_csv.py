"""Generic impressions CSV: column options, label / amount rules, rooms and segments scoped by streamer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from lsec.cli import main
from lsec.data.events import read_events
from lsec.data.formats.impressions_csv import import_impressions_csv
from lsec.errors import LsecDataError

D0 = 1_746_403_200  # 2025-05-05 00:00 UTC
NOW = 1_800_000_000


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def code(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1
    return 0


def test_rules_counts_and_merges(tmp_path):
    raw = write(tmp_path / "log.csv", [
        "uid,anchor,time,label,amount",
        f"u1,s1,{D0},0,0",  # merged into the gift of row 3 (same user, streamer-day room, 30 s slot)
        f"u1,s1,{D0 + 15},1,3.5",  # gift
        f"u1,s1,{D0 + 15},1,3.5",  # duplicate: merged
        f"u2,s1,{D0 + 45},0,0",  # kept, next slot
        f"u2,s2,{D0 + 86_400},0,0",  # kept, next day
        f"u3,s2,{D0 + 86_400},2,0",  # label not 0 / 1
        f"u3,s2,{D0 + 86_400},1,0",  # a gift without an amount
        f"u3,s2,{D0 + 86_400},0,4",  # label 0 with an amount
        "u3,s2,yesterday,0,0",  # unparseable time
        f",s2,{D0 + 86_400},0,0",  # empty user
        f"u4,s3,{D0 + 2 * 86_400},TRUE,10",  # gift
    ])  # fmt: skip
    graph = import_impressions_csv(raw, tmp_path / "out", user_col="uid", streamer_col="anchor", now=NOW)
    entry = graph.meta["ingestion"]["files"]["log.csv"]
    assert (entry["rows_read"], entry["kept"], entry["merged"], entry["rejected"]) == (11, 4, 2, 5)
    assert entry["merged_into_gift"] == 1 and entry["columns"]["room"] is None
    assert entry["rejected_by_reason"] == {
        "column 'label': expected 0 or 1, found '2'": 1,
        "column 'amount': expected an amount > 0 on a gift (label 1), found '0'": 1,
        "column 'amount': expected 0 on a label-0 row, found '4'": 1,
        "column 'time': expected unix seconds, found 'yesterday'": 1,
        "empty user id in column 'uid'": 1,
    }
    assert pl.read_parquet(tmp_path / "out" / "rejected" / "log.csv.parquet")["line"].to_list() == [7, 8, 9, 10, 11]
    imp = read_events(tmp_path / "out", "impressions")
    users, streamers = graph.node_ids["user"], graph.node_ids["streamer"]
    rows = [
        (users[u], streamers[s], int(t), int(y), float(a))
        for u, s, t, y, a in zip(imp["user"], imp["streamer"], imp["ts"], imp["label"], imp["amount"])
    ]
    assert rows == [
        ("u1", "s1", D0 + 15, 1, 3.5),
        ("u2", "s1", D0 + 45, 0, 0.0),
        ("u2", "s2", D0 + 86_400, 0, 0.0),
        ("u4", "s3", D0 + 2 * 86_400, 1, 10.0),
    ]
    seg = read_events(tmp_path / "out", "segments")
    assert seg["ts"].tolist() == [D0, D0 + 30, D0 + 86_400, D0 + 2 * 86_400]  # 30 s slots of the unix grid
    rooms = read_events(tmp_path / "out", "rooms")
    assert rooms["id"].tolist() == ["s1@day20213", "s2@day20214", "s3@day20215"]  # the streamer's UTC day
    assert graph.time_origin == D0 and len(graph.edges[("user", "gift", "streamer")]) == 2


def test_segment_and_room_columns_without_a_label(tmp_path):
    """Without a label a row is a gift when its amount is > 0; segment ids are scoped by streamer."""
    raw = write(tmp_path / "log.tsv", [
        "user_id\tstreamer_id\tts\tgift_price\tsegment\troom",
        f"a\tx\t{(D0 + 100) * 1000}\t0\tg1\tr1",
        f"b\tx\t{(D0 + 70) * 1000}\t5\tg1\tr1",  # the segment starts at its earliest row
        f"a\ty\t{(D0 + 10) * 1000}\t0\tg1\tr1",  # the same ids under another streamer: another room and segment
        f"c\ty\t{(D0 + 20) * 1000}\t-1\tg2\tr1",  # negative amount
    ])  # fmt: skip
    graph = import_impressions_csv(raw, tmp_path / "out", ts_format="ms", now=NOW)
    entry = graph.meta["ingestion"]["files"]["log.tsv"]
    assert (entry["kept"], entry["rejected"]) == (3, 1)
    assert list(entry["rejected_by_reason"]) == ["column 'gift_price': expected a number >= 0, found '-1'"]
    imp = read_events(tmp_path / "out", "impressions")
    seg = read_events(tmp_path / "out", "segments")
    assert imp["label"].tolist() == [0, 1, 0] and imp["amount"].tolist() == [0.0, 5.0, 0.0]
    assert seg["ts"].tolist() == [D0 + 10, D0 + 70]
    np.testing.assert_array_equal(imp["segment"], [0, 1, 1])
    assert read_events(tmp_path / "out", "rooms")["id"].tolist() == ["r1", "r1"]  # one per streamer


def test_amount_only_and_errors(tmp_path):
    raw = write(tmp_path / "g.csv", ["user,streamer,ts,label", f"a,x,{D0},1", f"b,x,{D0},0"])
    graph = import_impressions_csv(raw, tmp_path / "out", amount_col="none", now=NOW)
    assert read_events(tmp_path / "out", "impressions")["amount"].tolist() == [1.0, 0.0]  # 1 per gift (a gifted)
    assert graph.meta["gifting"]["gifts"] == 1
    bare = write(tmp_path / "bare.csv", ["user,streamer,ts", f"a,x,{D0}"])
    with pytest.raises(LsecDataError, match="no label and no amount column"):
        import_impressions_csv(bare, tmp_path / "o2", now=NOW)
    with pytest.raises(LsecDataError, match="'viewer'"):
        import_impressions_csv(raw, tmp_path / "o3", user_col="viewer", now=NOW)
    with pytest.raises(LsecDataError, match="the user id column is required"):
        import_impressions_csv(raw, tmp_path / "o4", user_col="none", now=NOW)


def test_cli(tmp_path, capsys):
    raw = write(tmp_path / "g.csv", ["user,streamer,ts,label,amount", f"a,x,{D0},1,2", f"b,x,{D0},0,0", "c,x,bad,0,0"])
    assert code(["data", "import", "impressions-csv", str(raw), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "g.csv: 3 rows read = 2 kept + 0 merged + 1 rejected" in out
    assert "1 users, 1 streamers" not in out and "2 impressions (1 gifts, 50.000 % positive)" in out
    assert code(["data", "validate", str(tmp_path / "out")]) == 0
    assert code(["data", "import", "impressions-csv", str(raw), "--out", str(tmp_path / "o2"), "--label-col", "y"]) == 2
    assert "'y'" in capsys.readouterr().err
