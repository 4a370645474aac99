"""DM-GNN importers (Tianchi, Epinions, Delicious, Ciao, generic social CSV) on generated fixtures.

Each fixture is written in the real layout (gzip, header or not, delimiter as published) with a known
number of rows per kind, one exact duplicate and one bad row; CI never reads ../shared/data.
"""

from __future__ import annotations

import calendar
import gzip
import json

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from lsec.cli import app
from lsec.data.events import read_events
from lsec.data.formats.ciao import TIME_UNKNOWN, import_ciao
from lsec.data.formats.delicious_contacts import import_delicious_contacts
from lsec.data.formats.epinions_trust import SECONDS_PER_STEP, import_epinions_trust
from lsec.data.formats.social_csv import import_social_csv
from lsec.data.formats.tianchi_ecomm import import_tianchi_ecomm
from lsec.data.formats.validate import validate_dataset
from lsec.data.schema import CONSUMPTION_KINDS, SOCIAL_KINDS
from lsec.data.store import load, load_rejected
from lsec.errors import LsecDataError

NOW = 1_800_000_000  # pinned "now" for the far-future rule


def write_gz(path, lines):
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")


def reconciled(meta):
    for label, entry in meta["ingestion"]["files"].items():
        assert entry["rows_read"] == entry["kept"] + entry["merged"] + entry["rejected"], label


def day(text):
    return calendar.timegm((int(text[:4]), int(text[4:6]), int(text[6:]), 0, 0, 0))


# ---------------------------------------------------------------------------------------------- Tianchi
def tianchi_fixture(folder, seed=0):
    rng = np.random.default_rng(seed)
    rows = [(4, 100, 4, "20190615")]  # user 4 has events but no feature row
    for _ in range(60):
        user, item = int(rng.integers(10)), int(rng.integers(100, 120))
        rows.append((user, item, int(rng.integers(1, 5)), f"201906{int(rng.integers(10, 20))}"))
    distinct = list(dict.fromkeys(rows))  # the generator may repeat rows: those are exact duplicates too
    lines = [f"{u}\t{i}\t{t}\t{d}" for u, i, t, d in rows]
    lines.append(lines[0])  # one more exact duplicate
    lines.append("3\t105\t7\t20190612")  # unknown behaviour type
    write_gz(folder / "ecomm_edge_train.txt.gz", lines)
    users = [f"{u}\t{u % 2}\t{u % 7}\t-1\t{u}\t{1000.5 + u}\t1,{u}" for u in range(12) if u != 4]
    write_gz(folder / "ecomm_user_feature.txt.gz", users)  # user 4 has events but no feature row
    items = [f"{i}\t33\t{5000 + i}\t0\t{i / 10:.1f}" for i in range(100, 120)]
    write_gz(folder / "ecomm_item_feature.txt.gz", items)
    return distinct, len(rows) + 1 - len(distinct)


def test_tianchi_kinds_days_prices_and_user_features(tmp_path):
    distinct, merged = tianchi_fixture(tmp_path)
    graph = import_tianchi_ecomm(tmp_path, tmp_path / "ds", now=NOW)
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    reconciled(meta)
    report = meta["ingestion"]["files"]["ecomm_edge_train.txt.gz"]
    assert (report["kept"], report["merged"], report["rejected"]) == (len(distinct), merged, 1)
    kind_of = {1: "browse", 2: "collect", 3: "cart", 4: "pay"}
    expected_kinds = {name: sum(1 for r in distinct if kind_of[r[2]] == name) for name in kind_of.values()}
    assert report["kinds"] == {k: n for k, n in expected_kinds.items() if n}
    events = read_events(tmp_path / "ds", "consumption")
    ids_user, ids_item = graph.ids("user"), graph.ids("item")
    got = [
        (int(ids_user[u]), int(ids_item[i]), int(k), int(t), float(a))
        for u, i, k, t, a in zip(events["user"], events["item"], events["kind"], events["ts"], events["amount"])
    ]
    want = [(u, i, CONSUMPTION_KINDS[kind_of[t]], day(d), np.float32(i / 10).item()) for u, i, t, d in distinct]
    assert got == want  # file order, kind codes, day at 00:00 UTC, amount = item price
    assert meta["time_origin"] == min(day(r[3]) for r in distinct)
    # users: feature file order first, then user 4 (events only) with the fill values
    loaded = load(tmp_path / "ds")
    assert list(loaded.ids("user")[:11]) == [str(u) for u in range(12) if u != 4]
    features = loaded.node_features["user"]
    assert loaded.ids("user")[11] == "4"
    assert features["gender"][11] == -1 and np.isnan(features["predict_income"][11])
    assert features["stage_list"][11] == "" and meta["users_without_features"] == 1
    assert features["predict_income"][0] == pytest.approx(1000.5)
    assert features["stage_list"][1] == "1,1"
    assert loaded.node_features["item"]["price"][0] == pytest.approx(10.0)
    bad = load_rejected(tmp_path / "ds")["ecomm_edge_train.txt.gz"]
    assert bad["line"].to_list() == [len(distinct) + merged + 1]
    assert bad["reason"][0] == ("column 'type': expected 1 (click), 2 (collect), 3 (cart) or 4 (buy), found '7'")
    assert validate_dataset(tmp_path / "ds").ok


# --------------------------------------------------------------------------------------------- Epinions
def test_epinions_steps_become_synthetic_days(tmp_path):
    lines = ["truster,trustee,step", "1,2,1", "1,3,2", "2,3,11", "1,2,1", "1,2,5", "4,4,3", "5,6,zero"]
    write_gz(tmp_path / "trust_with_step.csv.gz", lines)
    graph = import_epinions_trust(tmp_path, tmp_path / "ds")
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    reconciled(meta)
    report = meta["ingestion"]["files"]["trust_with_step.csv.gz"]
    assert (report["rows_read"], report["kept"], report["merged"], report["rejected"]) == (7, 4, 1, 2)
    assert report["edges_per_step"] == {"1": 1, "2": 1, "5": 1, "11": 1}
    assert report["pairs_at_several_steps"] == 2  # (1, 2) at steps 1 and 5
    loaded = load(tmp_path / "ds")
    social = loaded["social"]
    assert (social.ts // SECONDS_PER_STEP).tolist() == [1, 2, 11, 5]  # the step is kept exactly
    assert social.kind.tolist() == [SOCIAL_KINDS["trust"]] * 4
    assert meta["time_origin"] == 0 and meta["time"]["synthetic"] is True
    assert graph.num_users == 3  # 4 (self-loop only) and 5, 6 (bad row) are not users
    reasons = load_rejected(tmp_path / "ds")["trust_with_step.csv.gz"].sort("line")["reason"].to_list()
    assert reasons[0].startswith("self-loop")
    assert reasons[1] == "column 'step': expected a positive integer time step, found 'zero'"


# -------------------------------------------------------------------------------------------- Delicious
def test_delicious_milliseconds_to_seconds(tmp_path):
    lines = [
        "user,contact,timestamp_ms",
        "8,28,1286151259000",
        "8,40,1286101989999",
        "9,8,1156000000500",
        "9,8,1156000000500",
        "10,11,",
        "12,13,99999999999999999",
    ]
    write_gz(tmp_path / "user_contacts_timestamps.csv.gz", lines)
    import_delicious_contacts(tmp_path, tmp_path / "ds", now=NOW)
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    reconciled(meta)
    report = meta["ingestion"]["files"]["user_contacts_timestamps.csv.gz"]
    assert (report["kept"], report["merged"], report["rejected"]) == (3, 1, 2)
    social = load(tmp_path / "ds")["social"]
    assert social.ts.tolist() == [1286151259, 1286101989, 1156000000]  # floored
    assert set(social.kind.tolist()) == {SOCIAL_KINDS["contact"]}
    assert meta["time_origin"] == 1156000000 - 1156000000 % 86_400
    bad = load_rejected(tmp_path / "ds")["user_contacts_timestamps.csv.gz"].sort("line")
    assert bad["line"].to_list() == [6, 7]
    assert bad["reason"][0] == "column 'timestamp_ms': expected unix milliseconds, found ''"
    assert "not later than now + 1 day" in bad["reason"][1]


# ------------------------------------------------------------------------------------------------- Ciao
def test_ciao_ratings_and_trust_without_time(tmp_path):
    ratings = [
        "user\titem\tcategory\trating\thelpfulness\ttimestamp",
        "1\t10\t3\t5\t4\t959670000",
        "2\t10\t3\t4\t2\t959756400",
        "1\t10\t3\t3\t4\t969756400",  # the same pair again, another time: kept
        "1\t10\t3\t3\t4\t969756400",  # exact duplicate: merged
        "1\t10\t3\t3\t5\t969756400",  # differs only in helpfulness: kept
        "3\t11\t4\t0\t1\t979756400",  # rating 0: kept as given, counted
        "3\t12\t4\tsix\t1\t979756400",  # bad rating
    ]
    write_gz(tmp_path / "rating_with_timestamp.tsv.gz", ratings)
    write_gz(tmp_path / "trust.tsv.gz", ["truster\ttrustee", "1\t2", "2\t3", "7\t1", "3\t3"])
    graph = import_ciao(tmp_path, tmp_path / "ds", now=NOW)
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    reconciled(meta)
    rating = meta["ingestion"]["files"]["rating_with_timestamp.tsv.gz"]
    assert (rating["kept"], rating["merged"], rating["rejected"]) == (5, 1, 1)
    assert (rating["repeated_pairs"], rating["repeated_pair_rows"], rating["rating_zero"]) == (1, 2, 1)
    trust = meta["ingestion"]["files"]["trust.tsv.gz"]
    assert (trust["kept"], trust["rejected"], trust["time_known"]) == (3, 1, False)
    assert meta["time"]["time_known"] == {"consumption": True, "social": False}
    assert meta["time_origin"] == 959670000 - 959670000 % 86_400  # from the ratings only
    social = load(tmp_path / "ds")["social"]
    assert social.ts.tolist() == [TIME_UNKNOWN] * 3  # the sentinel, never a rating's time
    assert social.kind.tolist() == [SOCIAL_KINDS["trust"]] * 3
    events = read_events(tmp_path / "ds", "consumption")
    assert events["kind"].tolist() == [CONSUMPTION_KINDS["review"]] * 5
    assert events["amount"].tolist() == [5, 4, 3, 3, 0]
    assert list(graph.ids("user")) == ["1", "2", "3", "7"]  # trust-only user 7 appended
    assert load(tmp_path / "ds").node_features["item"]["category"].tolist() == [3, 4]
    bad = load_rejected(tmp_path / "ds")["rating_with_timestamp.tsv.gz"]
    assert bad["reason"][0] == "column 'rating': expected a rating from 0 to 5, found 'six'"
    assert validate_dataset(tmp_path / "ds").ok


# ------------------------------------------------------------------------------------------ generic CSV
def test_social_csv_kinds_by_name_code_and_synonym(tmp_path):
    (tmp_path / "social.csv").write_text(
        "src,dst,ts,kind\na,b,2021-01-01T00:00:00Z,like\nb,c,2021-01-02,1\nc,a,2021-01-03,share\na,c,2021-01-04,hug\n"
    )
    (tmp_path / "orders.csv").write_text("user,item,timestamp,amount\na,x,1609459200,9.5\nb,y,1609459300,-1\n")
    import_social_csv(
        tmp_path / "ds",
        social=tmp_path / "social.csv",
        consumption=tmp_path / "orders.csv",
        consumption_kind="buy",
        now=NOW,
    )
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    reconciled(meta)
    social = load(tmp_path / "ds")["social"]
    assert social.kind.tolist() == [SOCIAL_KINDS["like"], SOCIAL_KINDS["comment"], SOCIAL_KINDS["repost"]]
    assert social.ts.tolist() == [1609459200, 1609545600, 1609632000]
    events = read_events(tmp_path / "ds", "consumption")
    assert events["kind"].tolist() == [CONSUMPTION_KINDS["pay"]] and events["amount"].tolist() == [9.5]
    rejected = load_rejected(tmp_path / "ds")
    assert rejected["social.csv"]["reason"][0].startswith("column 'kind': expected like (0)")
    assert rejected["orders.csv"]["reason"][0] == "column 'amount': expected a non-negative number, found '-1'"


def test_social_csv_without_kind_needs_a_default(tmp_path):
    (tmp_path / "social.csv").write_text("src,dst,ts\na,b,1609459200\n")
    with pytest.raises(LsecDataError, match="no kind column"):
        import_social_csv(tmp_path / "ds", social=tmp_path / "social.csv")


def test_feature_row_repeated_with_other_values_is_rejected(tmp_path):
    tianchi_fixture(tmp_path)
    users = [f"{u}\t1\t2\t3\t4\t5.0\t1" for u in range(10)] + ["3\t0\t0\t0\t0\t0\t"]
    write_gz(tmp_path / "ecomm_user_feature.txt.gz", users)
    import_tianchi_ecomm(tmp_path, tmp_path / "ds", now=NOW)
    bad = load_rejected(tmp_path / "ds")["ecomm_user_feature.txt.gz"]
    assert bad["line"].to_list() == [11]
    assert "expected one row per user id, found 3 again" in bad["reason"][0]


# -------------------------------------------------------------------------------------------------- CLI
@pytest.mark.parametrize("layout", ["tianchi", "epinions", "delicious", "ciao"])
def test_cli_exit_codes(tmp_path, layout):
    if layout == "tianchi":
        tianchi_fixture(tmp_path)
    elif layout == "epinions":
        write_gz(tmp_path / "trust_with_step.csv.gz", ["truster,trustee,step", "1,2,1"])
    elif layout == "delicious":
        write_gz(tmp_path / "user_contacts_timestamps.csv.gz", ["user,contact,timestamp_ms", "1,2,1286151259000"])
    else:
        write_gz(
            tmp_path / "rating_with_timestamp.tsv.gz",
            ["user\titem\tcategory\trating\thelpfulness\ttimestamp", "1\t2\t3\t4\t5\t959670000"],
        )
        write_gz(tmp_path / "trust.tsv.gz", ["truster\ttrustee", "1\t5"])
    runner = CliRunner()
    result = runner.invoke(app, ["data", "import", layout, str(tmp_path), "--out", str(tmp_path / "ds")])
    assert result.exit_code == 0, result.output
    assert "rows read =" in result.output
    missing = runner.invoke(app, ["data", "import", layout, str(tmp_path / "nope"), "--out", str(tmp_path / "d2")])
    assert missing.exit_code == 2
    assert "folder not found" in missing.output
    assert not (tmp_path / "d2").exists() or not any((tmp_path / "d2").iterdir())


def test_cli_social_csv(tmp_path):
    (tmp_path / "s.csv").write_text("src,dst,ts\na,b,1609459200\n")
    runner = CliRunner()
    args = ["data", "import", "social-csv", "--social", str(tmp_path / "s.csv"), "--social-kind", "trust"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "ds")])
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(tmp_path / "ds" / "edges" / "user__social__user.parquet")["kind"].to_list() == [3]
    missing = runner.invoke(app, ["data", "import", "social-csv", "--social", str(tmp_path / "x.csv"), "--out", "y"])
    assert missing.exit_code == 2
