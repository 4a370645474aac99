"""Tianchi e-commerce behaviour layout (the DyHATR ``ecomm`` sample of Alibaba's Tianchi data).

One folder, tab-separated, no header (``.gz`` or plain)::

    DIR/ecomm_edge_train.txt      user  item  type  date        (type 1 click, 2 collect, 3 cart, 4 buy;
                                                                 date YYYYMMDD)
    DIR/ecomm_user_feature.txt    user  gender  age_level  education  career  predict_income  stage_list
    DIR/ecomm_item_feature.txt    item  cate_1  cate  brand  price

(the two feature files are optional). Every behaviour row becomes one consumption event
(``events/consumption.parquet``); there are no user-user edges in this layout.

* kind (:data:`lsec.data.schema.CONSUMPTION_KINDS`): type 1 click -> ``browse`` (0), 2 collect ->
  ``collect`` (1), 3 cart -> ``cart`` (2), 4 buy -> ``pay`` (3);
* ts: the day at 00:00 UTC in unix seconds (the layout has days only; events of one day are unordered);
* amount: the item's ``price`` from the item feature file (the value at stake, also on browse / collect / cart
  rows: filter on kind for spending), NaN when the item has no feature row (counted in ``meta.json``).

User features become columns of ``nodes/user.parquet`` (gender, age_level, education, career: int64, -1 =
unknown as in the file; predict_income: float64; stage_list: the comma-separated list as text); item features
columns of ``nodes/item.parquet`` (cate_1, cate, brand: int64; price: float64). Users numbered from the user
feature file first (its order), then users seen only in behaviour rows; those get -1 / NaN / "" features
(counted). Items likewise.

Nothing is lost: per file rows read = kept + merged (exact duplicate rows) + rejected (``rejected/<file>.parquet``
with the line and a reason naming the column, what was expected and what was found).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import polars as pl

from lsec.data.formats.common import read_table
from lsec.data.formats.social_events import (
    CheckedRows,
    check_rows,
    expected,
    find_file,
    float_rule,
    id_rule,
    int_rule,
    kind_rule,
    reason_if,
    time_rule,
    write_dataset,
)
from lsec.data.graph import HeteroGraph
from lsec.data.schema import CONSUMPTION_KINDS

PathLike = str | os.PathLike[str]
LAYOUT = "Tianchi e-commerce (DyHATR ecomm)"
EDGE_FILE = "ecomm_edge_train.txt"
USER_FILE = "ecomm_user_feature.txt"
ITEM_FILE = "ecomm_item_feature.txt"
EDGE_COLUMNS = ("user", "item", "type", "date")
USER_COLUMNS = ("user", "gender", "age_level", "education", "career", "predict_income", "stage_list")
ITEM_COLUMNS = ("item", "cate_1", "cate", "brand", "price")
TYPES = {"1": "browse", "2": "collect", "3": "cart", "4": "pay"}
"""Tianchi behaviour type -> consumption kind name (click, collect, cart, buy)."""
TYPE_NAMES = {"1": "click", "2": "collect", "3": "cart", "4": "buy"}
USER_FILL: dict[str, Any] = {
    "gender": -1,
    "age_level": -1,
    "education": -1,
    "career": -1,
    "predict_income": float("nan"),
    "stage_list": "",
}
ITEM_FILL: dict[str, Any] = {"cate_1": -1, "cate": -1, "brand": -1, "price": float("nan")}


def _read(path: Path, names: tuple[str, ...]) -> tuple[Any, pl.DataFrame]:
    """The table of a header-less tab file and its split frame with the layout's column names."""
    table = read_table(path, delimiter="\t", header=False, min_columns=len(names))
    if len(table.columns) != len(names):
        raise _width_error(path, names, len(table.columns))
    table.columns = list(names)  # header-less: name the fields as the layout does
    return table, table.frame


def _width_error(path: Path, names: tuple[str, ...], width: int) -> Exception:
    from lsec.errors import LsecDataError

    return LsecDataError(
        "wrong number of fields on line 1",
        file=path,
        expected=f"{len(names)} tab-separated fields: {' '.join(names)}",
        found=f"{width} fields",
    )


def read_behaviour(path: Path, prices: pl.DataFrame | None, now: int | None = None) -> CheckedRows:
    table, frame = _read(path, EDGE_COLUMNS)
    user, user_reason = id_rule("user", "user")
    item, item_reason = id_rule("item", "item")
    codes = {t: CONSUMPTION_KINDS[k] for t, k in TYPES.items()}
    kind, kind_reason = kind_rule("type", codes, "1 (click), 2 (collect), 3 (cart) or 4 (buy)")
    ts, ts_reason = time_rule("date", "%Y%m%d", "a day as YYYYMMDD", now)
    if prices is not None and prices.height:
        amount = item.replace_strict(prices["id"], prices["price"], default=None, return_dtype=pl.Float64)
    else:
        amount = pl.lit(None, dtype=pl.Float64)
    rows = check_rows(
        table,
        frame=frame,
        target="consumption",
        values={"user": user, "item": item, "ts": ts, "kind": kind, "amount": amount.fill_null(float("nan"))},
        reasons=[user_reason, item_reason, kind_reason, ts_reason],
    )
    rows.report["types_read"] = {
        TYPE_NAMES.get(str(t), str(t)): int(n)
        for t, n in frame.group_by(pl.col("type").str.strip_chars()).len().sort("type").iter_rows()
    }
    rows.report["amount_unknown"] = int(rows.kept["amount"].is_nan().sum())
    return rows


def read_users(path: Path) -> CheckedRows:
    table, frame = _read(path, USER_COLUMNS)
    uid, uid_reason = id_rule("user", "user")
    values: dict[str, pl.Expr] = {"id": uid}
    reasons = [uid_reason]
    for column in ("gender", "age_level", "education", "career"):
        values[column], reason = int_rule(column, "an integer code (-1 = unknown)")
        reasons.append(reason)
    values["predict_income"], reason = float_rule("predict_income", "a finite number", low=None)
    reasons.append(reason)
    stages = pl.col("stage_list").str.strip_chars()
    values["stage_list"] = stages
    reasons.append(
        reason_if(
            ~stages.str.contains(r"^(-?\d+(,-?\d+)*)?$"),
            expected("stage_list", "comma-separated integers"),
        )
    )
    return check_rows(table, frame=frame, target="user", values=values, reasons=reasons, unique_id="id")


def read_items(path: Path) -> CheckedRows:
    table, frame = _read(path, ITEM_COLUMNS)
    iid, iid_reason = id_rule("item", "item")
    values: dict[str, pl.Expr] = {"id": iid}
    reasons = [iid_reason]
    for column in ("cate_1", "cate", "brand"):
        values[column], reason = int_rule(column, "an integer code")
        reasons.append(reason)
    values["price"], reason = float_rule("price", "a non-negative number")
    reasons.append(reason)
    return check_rows(table, frame=frame, target="item", values=values, reasons=reasons, unique_id="id")


def import_tianchi_ecomm(
    folder: PathLike, out: PathLike, *, name: str | None = None, now: int | None = None
) -> HeteroGraph:
    """Import a Tianchi ``ecomm`` folder (see the module docstring); returns the graph that was written."""
    started = time.perf_counter()
    edge_path = find_file(folder, [EDGE_FILE], LAYOUT)
    root = Path(folder)
    user_path = next((p for p in (root / USER_FILE, root / f"{USER_FILE}.gz") if p.is_file()), None)
    item_path = next((p for p in (root / ITEM_FILE, root / f"{ITEM_FILE}.gz") if p.is_file()), None)
    items = read_items(item_path) if item_path is not None else None
    users = read_users(user_path) if user_path is not None else None
    behaviour = read_behaviour(edge_path, None if items is None else items.kept.select("id", "price"), now)
    parts = [p for p in (users, items) if p is not None] + [behaviour]
    without = {}
    for node_type, rows in (("user", users), ("item", items)):
        seen = behaviour.kept[node_type].unique()
        known = rows.kept["id"] if rows is not None else pl.Series([], dtype=pl.Utf8)
        without[f"{node_type}s_without_features"] = int((~seen.is_in(known.implode())).sum())
    graph = write_dataset(
        out,
        parts=parts,
        name=name,
        time_conventions={
            "consumption": "the day of the 'date' column (YYYYMMDD) at 00:00 UTC, in unix seconds",
            "time_known": True,
            "resolution_seconds": 86_400,
        },
        provenance={
            "format": "tianchi_ecomm",
            "folder": str(root.resolve()),
            "type_to_kind": {f"{t} {TYPE_NAMES[t]}": k for t, k in TYPES.items()},
            "amount": "item price from the item feature file (NaN when unknown), on every kind",
        },
        feature_fill={"user": USER_FILL, "item": ITEM_FILL},
        extra_meta=without,
        started=started,
    )
    return graph
