"""Ciao product reviews with time, plus the trust network (Tang et al., WSDM 2012).

One folder, tab-separated, with headers (``.gz`` or plain)::

    DIR/rating_with_timestamp.tsv   user item category rating helpfulness timestamp   (unix seconds)
    DIR/trust.tsv                   truster trustee                                   (no time)

* Each rating row becomes one consumption event (``events/consumption.parquet``) of kind ``review`` (4,
  :data:`lsec.data.schema.CONSUMPTION_KINDS`) at its timestamp, with ``amount`` = the rating (Ciao has no
  prices; ratings are 1..5 stars, the 0s of the file are kept as given and counted in ``rating_zero``). The
  item's ``category`` becomes a column of ``nodes/item.parquet`` (an item given two categories keeps the
  first; counted in ``category_conflicts``). ``helpfulness`` is not imported.
* Each trust row becomes one ``social`` edge truster -> trustee of kind ``trust`` (3). **The trust file has
  no time.** Its edges get the sentinel ``ts = 0`` (:data:`TIME_UNKNOWN`) and ``meta.json`` -> ``time`` says
  ``social.time_known: false``; they are never given a rating's time. A temporal model must treat them as
  present from the start (or not use them); the dataset's ``time_origin`` comes from the ratings only.
* The same (user, item) pair rated more than once with another time, rating, category or helpfulness is
  kept (one event per row; counted in ``repeated_pairs`` / ``repeated_pair_rows``); exact duplicate rows
  (all six fields equal) are merged and counted.

Nothing is lost: per file rows read = kept + merged + rejected (``rejected/<file>.parquet``, each with a
reason naming the column, what was expected and what was found).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import polars as pl

from lsec.data.formats.common import read_table
from lsec.data.formats.social_events import (
    CheckedRows,
    check_rows,
    find_file,
    float_rule,
    id_rule,
    int_rule,
    require_header,
    time_rule,
    write_dataset,
)
from lsec.data.graph import HeteroGraph
from lsec.data.schema import CONSUMPTION_KINDS, SOCIAL_KINDS

PathLike = str | os.PathLike[str]
LAYOUT = "Ciao"
RATING_FILE = "rating_with_timestamp.tsv"
TRUST_FILE = "trust.tsv"
RATING_COLUMNS = ("user", "item", "category", "rating", "helpfulness", "timestamp")
TRUST_COLUMNS = ("truster", "trustee")
TIME_UNKNOWN = 0
"""``ts`` of edges whose time the layout does not give (Ciao trust)."""


def read_ratings(path: Path, now: int | None = None) -> tuple[CheckedRows, pl.DataFrame]:
    """(consumption rows, item categories: ``id``, ``category``) of the rating file."""
    table = read_table(path, delimiter="\t", header=True, min_columns=len(RATING_COLUMNS))
    require_header(table, RATING_COLUMNS, LAYOUT + " rating")
    user, item, category, rating, helpfulness, stamp = table.columns
    uid, uid_reason = id_rule(user, "user")
    iid, iid_reason = id_rule(item, "item")
    cat, cat_reason = int_rule(category, "an integer category")
    stars, stars_reason = float_rule(rating, "a rating from 0 to 5", low=0.0, high=5.0)
    ts, ts_reason = time_rule(stamp, "s", "unix seconds", now)
    rows = check_rows(
        table,
        target="consumption",
        values={
            "user": uid,
            "item": iid,
            "ts": ts,
            "kind": pl.lit(CONSUMPTION_KINDS["review"], dtype=pl.Int8),
            "amount": stars,
            "_category": cat,
            "_helpfulness": pl.col(helpfulness).str.strip_chars(),  # part of an exact duplicate
        },
        reasons=[uid_reason, iid_reason, cat_reason, stars_reason, ts_reason],
    )
    categories = rows.kept.select(pl.col("item").alias("id"), pl.col("_category").alias("category"))
    distinct = categories.unique(maintain_order=True)
    rows.report["category_conflicts"] = int(distinct.height - distinct["id"].n_unique())
    rows.report["rating_zero"] = int((rows.kept["amount"] == 0).sum())
    pairs = rows.kept.group_by("user", "item").len()
    rows.report["repeated_pairs"] = int((pairs["len"] > 1).sum())  # pairs with more than one kept row
    rows.report["repeated_pair_rows"] = int((pairs["len"] - 1).sum())  # kept rows after the first of their pair
    rows.kept = rows.kept.drop("_category", "_helpfulness")
    return rows, distinct.unique("id", keep="first", maintain_order=True)


def read_trust(path: Path) -> CheckedRows:
    table = read_table(path, delimiter="\t", header=True, min_columns=len(TRUST_COLUMNS))
    require_header(table, TRUST_COLUMNS, LAYOUT + " trust")
    src, src_reason = id_rule(table.columns[0], "user")
    dst, dst_reason = id_rule(table.columns[1], "user")
    return check_rows(
        table,
        target="social",
        values={
            "src": src,
            "dst": dst,
            "ts": pl.lit(TIME_UNKNOWN, dtype=pl.Int64),
            "kind": pl.lit(SOCIAL_KINDS["trust"], dtype=pl.Int8),
        },
        reasons=[src_reason, dst_reason],
        self_loop=("src", "dst"),
        extra_report={"time_known": False},
    )


def import_ciao(folder: PathLike, out: PathLike, *, name: str | None = None, now: int | None = None) -> HeteroGraph:
    """Import a Ciao folder (see the module docstring); returns the graph that was written."""
    started = time.perf_counter()
    rating_path = find_file(folder, [RATING_FILE], LAYOUT)
    trust_path = find_file(folder, [TRUST_FILE], LAYOUT)
    ratings, categories = read_ratings(rating_path, now)
    trust = read_trust(trust_path)
    return write_dataset(
        out,
        parts=[ratings, trust],
        node_tables={"item": categories},
        name=name,
        time_conventions={
            "consumption": "unix seconds of the rating's 'timestamp' column",
            "social": f"unknown: the trust file has no time; every trust edge has ts = {TIME_UNKNOWN} (sentinel)",
            "time_known": {"consumption": True, "social": False},
            "social_ts_sentinel": TIME_UNKNOWN,
        },
        provenance={
            "format": "ciao",
            "folder": str(Path(folder).resolve()),
            "amount": "the rating (stars); Ciao has no prices",
            "not_imported": ["helpfulness"],
        },
        started=started,
    )
