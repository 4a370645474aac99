"""Generic DM-GNN CSV / TSV / Parquet: a social interaction file and / or a consumption event file.

The generic :mod:`lsec.data.formats.csv` importer writes plain edges (src, dst, ts, weight); it has no
``kind`` column and no event tables, so social interactions of several kinds and consumption events come in
through this importer, which shares its reading rules (:mod:`lsec.data.formats.common`,
:mod:`lsec.data.ingest_rules`, :mod:`lsec.data.ingest_columns`)::

    social.csv        src, dst, ts [, kind]              -> edges/user__social__user.parquet
    consumption.csv   user, item, ts [, kind] [, amount] -> events/consumption.parquet

Columns are found by name (case-insensitive): source ``src`` / ``user`` / ``source`` / ``from``;
destination ``dst`` / ``target`` / ``to`` / ``contact`` / ``friend``; item ``item`` / ``item_id`` / ...;
timestamp ``ts`` / ``timestamp`` / ``time`` / ...; kind ``kind`` / ``type`` / ``action`` / ``behavior``;
amount ``amount`` / ``price`` / ``value``. A kind is a name of :data:`~lsec.data.schema.SOCIAL_KINDS` /
:data:`~lsec.data.schema.CONSUMPTION_KINDS` or its code (synonyms: click / view -> browse, favorite /
favourite -> collect, buy / purchase / order -> pay, rate / rating -> review, follow / friend -> contact,
share / retweet -> repost); a file without a kind column takes ``social_kind`` / ``consumption_kind``.
A consumption file without an amount column has amount NaN. Timestamps: ``ts_format`` (auto, s, ms, iso or a
strftime pattern), as for ``lsec data import csv``.
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
    float_rule,
    id_rule,
    kind_rule,
    time_rule,
    write_dataset,
)
from lsec.data.graph import HeteroGraph
from lsec.data.ingest_columns import ID_CANDIDATES, TS_CANDIDATES, pick_column
from lsec.data.ingest_rules import resolve_ts_format
from lsec.data.schema import CONSUMPTION_KINDS, SOCIAL_KINDS
from lsec.errors import LsecDataError

PathLike = str | os.PathLike[str]
KIND_CANDIDATES = ("kind", "type", "action", "behavior", "behaviour", "event", "event_type")
AMOUNT_CANDIDATES = ("amount", "price", "value", "money", "spend")
SRC_NAMES = ("src", "source", "from", "user", "user_id", "truster", "follower")
DST_NAMES = ("dst", "target", "to", "destination", "contact", "friend", "trustee", "followee")
SYNONYMS = {
    "social": {"follow": "contact", "friend": "contact", "share": "repost", "retweet": "repost"},
    "consumption": {
        "click": "browse",
        "view": "browse",
        "favorite": "collect",
        "favourite": "collect",
        "buy": "pay",
        "purchase": "pay",
        "order": "pay",
        "rate": "review",
        "rating": "review",
    },
}


def kind_codes(target: str) -> dict[str, int]:
    """Accepted kind spellings of ``target`` ("social" / "consumption") -> code (names, synonyms, codes)."""
    base = SOCIAL_KINDS if target == "social" else CONSUMPTION_KINDS
    codes = dict(base)
    codes.update({word: base[name] for word, name in SYNONYMS[target].items()})
    codes.update({str(code): code for code in base.values()})
    return codes


def _kind(table_columns: list[str], path: Path, target: str, default: str | None) -> tuple[pl.Expr, pl.Expr | None]:
    base = SOCIAL_KINDS if target == "social" else CONSUMPTION_KINDS
    column = pick_column(table_columns, None, KIND_CANDIDATES, "kind", path, False, True)
    if column is not None:
        what = " / ".join(f"{k} ({v})" for k, v in base.items())
        return kind_rule(column, kind_codes(target), what)
    if default is None or default.lower() not in kind_codes(target):
        raise LsecDataError(
            f"no kind column and no default {target} kind",
            file=path,
            expected=f"a column named one of {', '.join(KIND_CANDIDATES[:3])}, or --{target}-kind NAME with NAME in "
            + ", ".join(base),
            found=default,
        )
    return pl.lit(kind_codes(target)[default.lower()], dtype=pl.Int8), None


def read_social(path: Path, *, kind: str | None, ts_format: str, delimiter: str | None, now: int | None) -> CheckedRows:
    table = read_table(path, delimiter=delimiter, header=True, min_columns=3)
    columns = table.columns
    src_col = pick_column(columns, None, SRC_NAMES, "source user id", path, True, True)
    dst_col = pick_column(columns, None, DST_NAMES, "destination user id", path, True, True)
    ts_col = pick_column(columns, None, TS_CANDIDATES, "timestamp", path, True, True)
    assert src_col is not None and dst_col is not None and ts_col is not None  # required=True raised otherwise
    src, src_reason = id_rule(src_col, "user")
    dst, dst_reason = id_rule(dst_col, "user")
    fmt = resolve_ts_format(table.frame[ts_col].head(100_000), ts_format)
    ts, ts_reason = time_rule(ts_col, fmt, _describe(fmt), now)
    kind_value, kind_reason = _kind(columns, path, "social", kind)
    reasons = [src_reason, dst_reason, ts_reason] + ([kind_reason] if kind_reason is not None else [])
    rows = check_rows(
        table,
        target="social",
        values={"src": src, "dst": dst, "ts": ts, "kind": kind_value},
        reasons=reasons,
        self_loop=("src", "dst"),
    )
    rows.report["columns"] = {"src": src_col, "dst": dst_col, "ts": ts_col}
    rows.report["timestamps"] = _describe(fmt)
    return rows


def read_consumption(
    path: Path, *, kind: str | None, ts_format: str, delimiter: str | None, now: int | None
) -> CheckedRows:
    table = read_table(path, delimiter=delimiter, header=True, min_columns=3)
    columns = table.columns
    user_col = pick_column(columns, None, ID_CANDIDATES["user"], "user id", path, True, True)
    item_col = pick_column(columns, None, ID_CANDIDATES["item"], "item id", path, True, True)
    ts_col = pick_column(columns, None, TS_CANDIDATES, "timestamp", path, True, True)
    amount_col = pick_column(columns, None, AMOUNT_CANDIDATES, "amount", path, False, True)
    assert user_col is not None and item_col is not None and ts_col is not None
    user, user_reason = id_rule(user_col, "user")
    item, item_reason = id_rule(item_col, "item")
    fmt = resolve_ts_format(table.frame[ts_col].head(100_000), ts_format)
    ts, ts_reason = time_rule(ts_col, fmt, _describe(fmt), now)
    kind_value, kind_reason = _kind(columns, path, "consumption", kind)
    reasons = [user_reason, item_reason, ts_reason] + ([kind_reason] if kind_reason is not None else [])
    if amount_col is not None:
        amount, amount_reason = float_rule(amount_col, "a non-negative number")
        reasons.append(amount_reason)
    else:
        amount = pl.lit(float("nan"), dtype=pl.Float64)
    rows = check_rows(
        table,
        target="consumption",
        values={"user": user, "item": item, "ts": ts, "kind": kind_value, "amount": amount},
        reasons=reasons,
    )
    rows.report["columns"] = {"user": user_col, "item": item_col, "ts": ts_col, "amount": amount_col}
    rows.report["timestamps"] = _describe(fmt)
    return rows


def _describe(ts_format: str) -> str:
    from lsec.data.ingest_rules import describe_ts_format

    return describe_ts_format(ts_format)


def import_social_csv(
    out: PathLike,
    *,
    social: PathLike | None = None,
    consumption: PathLike | None = None,
    social_kind: str | None = None,
    consumption_kind: str | None = None,
    ts_format: str = "auto",
    delimiter: str | None = None,
    name: str | None = None,
    now: int | None = None,
) -> HeteroGraph:
    """Import a social file and / or a consumption file (see the module docstring); returns the graph written."""
    if social is None and consumption is None:
        raise LsecDataError("nothing to import", expected="--social FILE and / or --consumption FILE")
    started = time.perf_counter()
    parts = []
    if social is not None:
        parts.append(read_social(Path(social), kind=social_kind, ts_format=ts_format, delimiter=delimiter, now=now))
    if consumption is not None:
        parts.append(
            read_consumption(
                Path(consumption), kind=consumption_kind, ts_format=ts_format, delimiter=delimiter, now=now
            )
        )
    if len({p.label for p in parts}) != len(parts):
        raise LsecDataError("two input files have the same name", expected="distinct file names")
    return write_dataset(
        out,
        parts=parts,
        name=name,
        time_conventions={p.target: p.report["timestamps"] for p in parts} | {"time_known": True},
        provenance={
            "format": "social_csv",
            "files": {p.target: p.report["file"] for p in parts},
            "ts_format": ts_format,
        },
        started=started,
    )
