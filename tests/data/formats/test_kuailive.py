"""KuaiLive importer: a hand-written fixture in the published schema (counts, reasons, ms timestamps, segments,
titles, categories), missing optional files, layout errors, and a simulated dataset written in the layout and
imported back (equal to the simulator's arrays), then built into a store and trained on with the GTR engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from lsec.cli import main
from lsec.data.events import read_events, read_feature
from lsec.data.formats.kuailive import import_kuailive
from lsec.data.formats.kuailive_export import export_kuailive
from lsec.data.store import load
from lsec.errors import LsecDataError

T0 = 1_746_374_400_000  # 2025-05-05 00:00 in Beijing (UTC+8), in ms: KuaiLive's first instant
NOW = 1_800_000_000
CONFIGS = Path(__file__).resolve().parents[3] / "configs" / "mmbee"


def write(folder: Path, name: str, header: str, rows: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join([header, *rows]) + "\n")


def kuailive_fixture(folder: Path, *, optional: bool = True) -> Path:
    """Every rule of the importer once; the expected outcome of each row is in its comment."""
    write(folder, "gift.csv", "user_id,live_id,streamer_id,timestamp,gift_price", [
        f"1,100,10,{T0 + 45_000},2",  # line 2: kept, room 100 slot 1
        f"1,100,10,{T0 + 45_000},2",  # exact duplicate: merged
        f"2,101,11,{T0 + 3_661_500},5",  # kept, room 101 slot 2
        f"3,100,10,{T0 + 50_000},abc",  # line 5: bad price
        f"3,100,10,{T0 + 50_000},0",  # price not positive
        f"4,100,99,{T0 + 50_000},3",  # unknown streamer (not in streamer.csv)
        f"4,101,10,{T0 + 3_700_000},3",  # room 101 belongs to streamer 11
        f"5,100,10,{T0 + 7_300_000},3",  # after room 100 ended
        "5,100,10,1746374450,3",  # seconds, not milliseconds
        f"7,100,10,{T0 + 50_000},3",  # unknown user
        f"4,102,12,{T0 + 90_000},7",  # kept, room 102 slot 1
    ])  # fmt: skip
    if not optional:
        return folder
    write(folder, "click.csv", "user_id,live_id,streamer_id,timestamp,watch_live_time", [
        f"1,100,10,{T0 + 31_000},5000",  # slot 1 of room 100, where user 1 sent a gift: merged into it
        f"1,100,10,{T0 + 10_000},5000",  # kept (slot 0)
        f"2,100,10,{T0 + 10_000},100",  # kept
        f"2,100,10,{T0 + 10_000},100",  # duplicate: merged
        f"3,999,10,{T0 + 10_000},1",  # unknown room
    ])  # fmt: skip
    write(folder, "negative.csv", "user_id,live_id,streamer_id,timestamp", [
        f"4,101,11,{T0 + 3_605_000}",  # kept, room 101 slot 0
        f"5,102,12,{T0 + 70_000}",  # kept, room 102 slot 0
        f",102,12,{T0 + 70_000}",  # empty user id
    ])  # fmt: skip
    header = "p_date,live_id,streamer_id,live_type,start_timestamp,end_timestamp,live_content_category,live_name_id"
    write(folder, "room.csv", header, [
        f"20250505,100,10,1,{T0},{T0 + 7_200_000},shop,0",
        f"20250505,101,11,1,{T0 + 3_600_000},{T0 + 18_000_000},game,1",
        f"20250505,102,12,1,{T0 + 60_000},{T0 + 600_000},shop,",  # no title
        f"20250505,103,10,1,{T0 + 7_200_000},{T0 + 3_600_000},shop,0",  # ends before it starts
        f"20250505,104,99,1,{T0},{T0 + 1000},shop,0",  # unknown streamer
        f"20250505,105,11,1,{T0},{T0 + 1000},game,x",  # bad live_name_id
    ])  # fmt: skip
    write(folder, "user.csv", "user_id,age", ["1,18-23", "2,24-30", "3,18-23", "4,31-40", "5,18-23"])
    write(folder, "streamer.csv", "streamer_id,gender", ["10,M", "11,F", "12,M"])
    write(folder, "like.csv", "user_id,live_id,streamer_id,timestamp", [f"1,100,10,{T0}"])
    np.save(folder / "title_embeddings.npy", np.arange(8, dtype=np.float32).reshape(2, 4))
    return folder


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    root = tmp_path_factory.mktemp("kuailive")
    out = root / "data"
    graph = import_kuailive(kuailive_fixture(root / "raw"), out, now=NOW)
    return graph, out


def counts(entry: dict) -> tuple[int, int, int, int]:
    return entry["rows_read"], entry["kept"], entry["merged"], entry["rejected"]


def test_every_row_is_kept_merged_or_rejected_with_its_reason(imported):
    graph, out = imported
    files = graph.meta["ingestion"]["files"]
    assert counts(files["gift.csv"]) == (11, 3, 1, 7)
    assert counts(files["click.csv"]) == (5, 2, 2, 1) and files["click.csv"]["merged_into_gift"] == 1
    assert counts(files["negative.csv"]) == (3, 2, 0, 1)
    assert counts(files["room.csv"]) == (6, 3, 0, 3)
    assert counts(files["user.csv"]) == (5, 5, 0, 0) and counts(files["streamer.csv"]) == (3, 3, 0, 0)
    assert files["click.csv"]["columns_not_used"] == ["watch_live_time"]
    assert graph.meta["files_not_imported"] == ["like.csv"] and graph.meta["files_missing"] == []
    reasons = files["gift.csv"]["rejected_by_reason"]
    assert reasons == {
        "column 'gift_price': expected a positive number, found 'abc'": 1,
        "column 'gift_price': expected a positive number, found '0'": 1,
        "column 'streamer_id': expected a streamer of streamer.csv, found '99'": 1,
        "column 'streamer_id': expected '11' (the streamer of room '101'), found '10'": 1,
        f"column 'timestamp': expected a time inside room '100' ({T0} to {T0 + 7_200_000} ms), found {T0 + 7_300_000}": 1,
        "column 'timestamp': expected unix milliseconds (13 digits; this looks like seconds), found '1746374450'": 1,
        "column 'user_id': expected a user of user.csv, found '7'": 1,
    }
    assert set(files["room.csv"]["rejected_by_reason"]) == {
        f"column 'end_timestamp': expected a time not before start_timestamp {T0 + 7_200_000}, found {T0 + 3_600_000}",
        "column 'streamer_id': expected a streamer of streamer.csv, found '99'",
        "column 'live_name_id': expected a row number of the title embeddings (an integer >= 0), found 'x'",
    }
    rejected = pl.read_parquet(out / "rejected" / "gift.csv.parquet")
    assert rejected["line"].to_list() == [5, 6, 7, 8, 9, 10, 11]  # the header is line 1
    assert rejected.columns == ["line", "user_id", "live_id", "streamer_id", "timestamp", "gift_price", "raw", "reason"]
    assert rejected["gift_price"].to_list()[:2] == ["abc", "0"] and rejected["reason"].null_count() == 0
    negative = pl.read_parquet(out / "rejected" / "negative.csv.parquet")
    assert negative["reason"].to_list() == ["empty user id in column 'user_id'"]
    totals = graph.meta["ingestion"]["totals"]
    assert totals["rows_read"] == totals["kept"] + totals["merged"] + totals["rejected"] == 33
    assert main_code(["data", "validate", str(out)]) == 0


def test_impressions_segments_and_gift_edges(imported):
    graph, out = imported
    ids = {t: list(graph.node_ids[t]) for t in ("user", "streamer")}
    assert ids == {"user": ["1", "2", "3", "4", "5"], "streamer": ["10", "11", "12"]}  # node files fix the order
    imp = read_events(out, "impressions")
    seg = read_events(out, "segments")
    rooms = read_events(out, "rooms")
    room_of = {int(r): str(i) for r, i in zip(rooms["room"], rooms["id"])}
    s0 = T0 // 1000
    # (user, streamer, room, segment start, ts, label, amount), by ts: ms floored to seconds, 30 s slots from the start
    expected = [
        ("1", "10", "100", s0, s0 + 10, 0, 0.0),
        ("2", "10", "100", s0, s0 + 10, 0, 0.0),
        ("1", "10", "100", s0 + 30, s0 + 45, 1, 2.0),
        ("5", "12", "102", s0 + 60, s0 + 70, 0, 0.0),
        ("4", "12", "102", s0 + 90, s0 + 90, 1, 7.0),
        ("4", "11", "101", s0 + 3600, s0 + 3605, 0, 0.0),
        ("2", "11", "101", s0 + 3660, s0 + 3661, 1, 5.0),
    ]
    found = [
        (
            ids["user"][u], ids["streamer"][s], room_of[int(seg["room"][g])], int(seg["ts"][g]), int(t), int(y),
            float(a),
        )
        for u, s, g, t, y, a in zip(imp["user"], imp["streamer"], imp["segment"], imp["ts"], imp["label"], imp["amount"])
    ]  # fmt: skip
    assert found == expected
    assert seg["segment"].tolist() == list(range(6)) and seg["ts"].tolist() == sorted(seg["ts"].tolist())
    assert (seg["streamer"] == rooms["streamer"][seg["room"]]).all()
    gift = graph.edges[("user", "gift", "streamer")]
    positive = imp["label"] == 1
    np.testing.assert_array_equal(gift.src, imp["user"][positive])
    np.testing.assert_array_equal(gift.ts, imp["ts"][positive])
    np.testing.assert_array_equal(gift.weight, imp["amount"][positive])
    assert graph.time_origin == s0  # local midnight at UTC+8
    assert graph.meta["gifting"]["positive_rate"] == pytest.approx(3 / 7)


def test_titles_categories_and_profiles(imported):
    graph, out = imported
    title = read_feature(out, "segment", "title")
    seg = read_events(out, "segments")
    rooms = read_events(out, "rooms")
    assert title.shape == (6, 1, 4) and title.dtype == np.float16
    table = np.arange(8, dtype=np.float32).reshape(2, 4)
    for g in range(6):
        row = rooms["title"][seg["room"][g]]
        np.testing.assert_array_equal(title[g, 0], table[row] if row >= 0 else np.zeros(4))
    assert graph.meta["segments_without_title"] == 2  # room 102 has no live_name_id
    assert graph.node_features["streamer"]["category"].tolist() == [2, 1, 2]  # game = 1, shop = 2
    assert graph.meta["categories"] == {"0": "unknown", "1": "game", "2": "shop"}
    assert graph.node_features["user"]["age"].tolist() == ["18-23", "24-30", "18-23", "31-40", "18-23"]
    assert load(out).node_features["streamer"]["gender"].tolist() == ["M", "F", "M"]


def test_only_gift_csv(tmp_path):
    """Optional files missing: rooms are the (streamer, live_id) pairs, slots on the unix 30 s grid."""
    graph = import_kuailive(kuailive_fixture(tmp_path / "raw", optional=False), tmp_path / "out", now=NOW)
    assert graph.meta["files_missing"] == ["click.csv", "negative.csv", "room.csv", "user.csv", "streamer.csv"]
    gift = graph.meta["ingestion"]["files"]["gift.csv"]
    # without the node and room files only the row rules apply: streamer 99, the room owner and the time pass
    assert counts(gift) == (11, 7, 1, 3)
    rooms = read_events(tmp_path / "out", "rooms")
    assert sorted(zip(rooms["id"].tolist(), graph.node_ids["streamer"][rooms["streamer"]].tolist())) == [
        ("100", "10"), ("100", "99"), ("101", "10"), ("101", "11"), ("102", "12"),
    ]  # fmt: skip
    seg = read_events(tmp_path / "out", "segments")
    assert (seg["ts"] % 30 == 0).all()
    assert not (tmp_path / "out" / "features").exists() or not list((tmp_path / "out" / "features").iterdir())
    assert "category" not in graph.node_features.get("streamer", {})


def test_layout_errors_name_the_file(tmp_path):
    raw = kuailive_fixture(tmp_path / "raw")
    (raw / "gift.csv").rename(raw / "gifts.csv")
    with pytest.raises(LsecDataError, match="gift.csv"):
        import_kuailive(raw, tmp_path / "a", now=NOW)
    write(raw, "gift.csv", "user_id,live_id,streamer_id,timestamp", ["1,100,10,1746374445000"])
    with pytest.raises(LsecDataError, match="gift.csv: column 'gift_price' missing"):
        import_kuailive(raw, tmp_path / "b", now=NOW)
    write(raw, "gift.csv", "user_id,live_id,streamer_id,timestamp,gift_price", ["1,100,10,1746374445000,1"])
    np.save(raw / "title_embeddings_pca128.npy", np.zeros((2, 4), np.float32))
    with pytest.raises(LsecDataError, match="several title embedding files"):
        import_kuailive(raw, tmp_path / "c", now=NOW)
    np.save(raw / "title_embeddings_pca128.npy", np.zeros(4, np.float32))
    with pytest.raises(LsecDataError, match="2-d float array"):
        import_kuailive(raw, tmp_path / "d", titles=raw / "title_embeddings_pca128.npy", now=NOW)
    write(raw, "gift.csv", "user_id,live_id,streamer_id,timestamp,gift_price", ["1,100,10,1746374445,1"])
    (raw / "click.csv").unlink()
    (raw / "negative.csv").unlink()
    with pytest.raises(LsecDataError, match="no impression left.*looks like seconds"):
        import_kuailive(raw, tmp_path / "e", titles=raw / "title_embeddings.npy", now=NOW)


def main_code(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1
    return 0


# ----------------------------------------------------------------------------- a simulated dataset, round trip
@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    root = tmp_path_factory.mktemp("kuailive-sim")
    assert (
        main_code(
            ["data", "simulate", "--preset", "mmbee", "--scale", "0.01", "--seed", "3", "--out", str(root / "sim")]
        )
        == 0
    )
    written = export_kuailive(root / "sim", root / "raw", seed=1)
    args = ["data", "import", "kuailive", str(root / "raw"), "--out", str(root / "imported"), "--utc-offset", "0"]
    assert main_code(args) == 0
    return root, written


def test_simulated_dataset_round_trips_through_the_layout(simulated):
    root, written = simulated
    sim, back = read_events(root / "sim", "impressions"), read_events(root / "imported", "impressions")
    # naive reference: a label-0 row in the segment of a gift of the same user is merged into it
    gifted = {(u, g) for u, g, y in zip(sim["user"], sim["segment"], sim["label"]) if y}
    keep = np.array([y == 1 or (u, g) not in gifted for u, g, y in zip(sim["user"], sim["segment"], sim["label"])])
    for column in sim:
        np.testing.assert_array_equal(back[column], sim[column][keep], err_msg=column)
    files = load(root / "imported").meta["ingestion"]["files"]
    assert sum(files[f]["merged_into_gift"] for f in ("click.csv", "negative.csv")) == int((~keep).sum())
    assert {f: files[f]["rows_read"] for f in written if f in files} == {f: n for f, n in written.items()}
    for column, values in read_events(root / "sim", "segments").items():
        np.testing.assert_array_equal(read_events(root / "imported", "segments")[column], values, err_msg=column)
    assert load(root / "imported").time_origin == load(root / "sim").time_origin
    # categories come back as a relabelling of the simulator's (c00 < c01 < ... sorted)
    sim_category = load(root / "sim").node_features["streamer"]["category"]
    back_category = load(root / "imported").node_features["streamer"]["category"]
    used = back_category > 0
    pairs = set(zip(sim_category[used].tolist(), back_category[used].tolist()))
    assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs}) > 1


def test_imported_dataset_builds_a_store_and_trains_with_gie(simulated, tmp_path):
    root, _ = simulated
    data, store, run = root / "imported", tmp_path / "store", tmp_path / "run"
    args = ["mmbee", "build-store", "--data", str(data), "--out", str(store), "--k", "5", "--epochs", "0"]
    assert main_code([*args, "--dim", "8", "--device", "cpu"]) == 0
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["counts"]["user"] == load(data).num_users
    train = ["train", "-q", "--config", str(CONFIGS / "sim-gie.yaml"), "--data", str(data), "--out", str(run)]
    overrides = ["train.epochs=1", "train.min_steps=0", "train.num_threads=1", "train.device=cpu"]
    assert main_code([*train, *overrides, f"model.hparams.store={store}"]) == 0
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "completed" and info["engine"] == "gtr"
    assert sum(info["impressions"].values()) == len(read_events(data, "impressions")["label"])
    assert "leak" not in info["gie_store"]  # the store saw the training days' gifts only
    evals = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    metrics = [e["metrics"] for e in evals if e["event"] == "eval"]
    assert metrics and 0.0 <= metrics[-1]["auc"] <= 1.0 and (run / "checkpoints" / "best.pt").is_file()
