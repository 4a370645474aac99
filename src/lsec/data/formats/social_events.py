"""Shared machinery of the DM-GNN importers: social edges and consumption events, every row accounted for.

The layout importers (:mod:`~lsec.data.formats.tianchi_ecomm`, :mod:`~lsec.data.formats.epinions_trust`,
:mod:`~lsec.data.formats.delicious_contacts`, :mod:`~lsec.data.formats.ciao`) and the generic
:mod:`~lsec.data.formats.social_csv` read their files with :func:`lsec.data.formats.common.read_table`, say
how each field is read (polars expressions giving a value and a rejection reason) and hand the result to
:func:`check_rows`. :func:`write_dataset` numbers the nodes and writes the canonical folder:

* ``edges/user__social__user.parquet``: ``src``, ``dst``, ``ts`` (unix seconds), ``kind`` (int8,
  :data:`~lsec.data.schema.SOCIAL_KINDS`);
* ``events/consumption.parquet``: ``user``, ``item``, ``ts``, ``kind`` (int8,
  :data:`~lsec.data.schema.CONSUMPTION_KINDS`), ``amount`` (float32);
* ``nodes/user.parquet`` / ``nodes/item.parquet`` with the layout's feature columns;
* ``rejected/<file>.parquet``: line number, the input fields, ``raw`` (a line that did not split) and ``reason``.

Nothing is lost: per file, ``rows_read = kept + merged + rejected`` (``meta.json`` -> ``ingestion``).
``merged`` counts exact duplicates of an earlier kept row of the same file (same values after
normalisation: ids trimmed, timestamps in seconds, kind codes). A rejection reason names the field, what
was expected and what was found, e.g. ``column 'type': expected 1 (click), 2 (collect), 3 (cart) or 4 (buy),
found '7'``. Node indices are dense per type in first-seen order: a feature file first (its row order),
then the event files in the order given, source before destination.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from lsec.data import ingest_rules as rules
from lsec.data.formats.common import LINE, RAW, REASON, RawTable, delimiter_name
from lsec.data.graph import EdgeTable, HeteroGraph
from lsec.data.schema import CONSUMPTION_KINDS, NODE_TYPES, SOCIAL_KINDS
from lsec.errors import LsecDataError

PathLike = str | os.PathLike[str]
DAY = 86_400
SOCIAL = ("user", "social", "user")
SOCIAL_COLUMNS = ("src", "dst", "ts", "kind")
CONSUMPTION_COLUMNS = ("user", "item", "ts", "kind", "amount")
NONE_STR = pl.lit(None, dtype=pl.Utf8)
LOOKUP = "_lookup_"
"""Prefix of columns joined onto ``frame`` from another file (e.g. a room's start): used by rules, not written to
``rejected/``."""


@dataclass
class CheckedRows:
    """One input file after the row rules: kept rows (external ids as strings), rejected rows, its report."""

    label: str  # the file name: key of the report and of rejected/<label>.parquet
    target: str  # "social", "consumption" or a node type ("user", "item") for feature files
    kept: pl.DataFrame
    rejected: pl.DataFrame
    report: dict[str, Any] = field(default_factory=dict)


def found(column: str) -> pl.Expr:
    """``'value'`` of a (stripped) input column, for "found ..." in a reason."""
    return pl.format("'{}'", pl.col(column).str.strip_chars().fill_null(""))


def reason_if(condition: pl.Expr, text: str | pl.Expr) -> pl.Expr:
    """``text`` where ``condition`` holds, else null (a rejection rule)."""
    value = pl.lit(text) if isinstance(text, str) else text
    return pl.when(condition).then(value).otherwise(NONE_STR)


def expected(column: str, what: str) -> pl.Expr:
    """``column 'x': expected <what>, found '<value>'`` (the reason template of every rule)."""
    return pl.format(f"column '{column}': expected {what}, found {{}}", found(column))


def id_rule(column: str, node_type: str) -> tuple[pl.Expr, pl.Expr]:
    """(normalised id, reason) of an id column (rules of :mod:`lsec.data.ingest_rules`)."""
    stripped = rules.strip(column)
    return rules.normalise_id(stripped), rules.id_reason(stripped, column, node_type)


def int_rule(column: str, what: str, low: int | None = None, high: int | None = None) -> tuple[pl.Expr, pl.Expr]:
    """(Int64 value, reason) of an integer column with optional bounds (inclusive)."""
    value = rules.strip(column).cast(pl.Int64, strict=False)
    bad = value.is_null()
    if low is not None:
        bad = bad | (value < low)
    if high is not None:
        bad = bad | (value > high)
    return value, reason_if(bad, expected(column, what))


def float_rule(column: str, what: str, low: float | None = 0.0, high: float | None = None) -> tuple[pl.Expr, pl.Expr]:
    """(Float64 value, reason) of a finite number column with optional bounds (inclusive; None = open)."""
    value = rules.strip(column).cast(pl.Float64, strict=False)
    bad = value.is_null() | value.is_nan() | value.is_infinite()
    if low is not None:
        bad = bad | (value < low)
    if high is not None:
        bad = bad | (value > high)
    return value, reason_if(bad, expected(column, what))


def time_rule(column: str, ts_format: str, what: str, now: int | None = None) -> tuple[pl.Expr, pl.Expr]:
    """(unix seconds, reason) of a ``s`` / ``ms`` / ``iso`` / strftime column (parsing of ingest_rules).

    Rejected: empty, unparseable, negative, or later than now + 1 day.
    """
    parsed = rules.parse_ts(rules.strip(column), ts_format)
    limit = (int(_now_seconds()) if now is None else now) + rules.FUTURE_SLACK
    reason = (
        pl.when(parsed.is_null() | (parsed < 0))
        .then(expected(column, what))
        .when(parsed > limit)
        .then(expected(column, f"{what} not later than now + 1 day"))
        .otherwise(NONE_STR)
    )
    return parsed, reason


def kind_rule(column: str, codes: Mapping[str, int], what: str) -> tuple[pl.Expr, pl.Expr]:
    """(Int8 kind code, reason) of a column whose values are the keys of ``codes`` (case-insensitive)."""
    lowered = rules.strip(column).str.to_lowercase()
    value = lowered.replace_strict(dict(codes), default=None, return_dtype=pl.Int8)
    return value, reason_if(value.is_null(), expected(column, what))


def check_rows(
    table: RawTable,
    *,
    target: str,
    values: Mapping[str, pl.Expr],
    reasons: Sequence[pl.Expr],
    frame: pl.DataFrame | None = None,
    self_loop: tuple[str, str] | None = None,
    unique_id: str | None = None,
    extra_report: Mapping[str, Any] | None = None,
) -> CheckedRows:
    """Apply the rules of one file: ``values`` become the kept columns, the first non-null reason rejects a row.

    ``frame`` is the split table (default ``table.frame``; pass it renamed for files without a header, or with
    columns named ``_lookup_*`` joined from another file, which the rules may read and ``rejected/`` leaves out);
    ``self_loop=("src", "dst")`` rejects rows whose two ids are equal; exact duplicates among the kept rows
    are merged (the first copy stays) and counted; with ``unique_id`` (feature files) a later row repeating
    an id with other values is rejected.
    """
    frame = table.frame if frame is None else frame
    checks = [pl.col(REASON), *reasons]
    lazy = frame.lazy().with_columns(**{f"_v_{k}": v for k, v in values.items()})
    if self_loop is not None:
        a, b = (f"_v_{c}" for c in self_loop)
        checks.append(reason_if(pl.col(a) == pl.col(b), "self-loop: a user's social edge to the same user"))
    checked = lazy.with_columns(pl.coalesce(checks).alias(REASON)).collect().with_row_index("_i")
    value_columns = [f"_v_{k}" for k in values]
    ok = checked.filter(pl.col(REASON).is_null())
    first = ok.select(pl.struct(value_columns).is_first_distinct()).to_series()
    merged = ok.height - int(first.sum())
    ok = ok.filter(first)
    if unique_id is not None and ok.height:
        again = ~ok[f"_v_{unique_id}"].is_first_distinct()
        if again.any():
            repeated = ok.filter(again)["_i"].implode()
            text = f"column '{unique_id}': expected one row per {target} id, found {{}} again with other values"
            checked = checked.with_columns(
                pl.when(pl.col("_i").is_in(repeated))
                .then(pl.format(text + " (its first row is kept)", pl.col(f"_v_{unique_id}")))
                .otherwise(pl.col(REASON))
                .alias(REASON)
            )
            ok = ok.filter(~again)
    kept = ok.select(pl.col(f"_v_{k}").alias(k) for k in values)
    inputs = [c for c in frame.columns if c not in (LINE, RAW, REASON) and not c.startswith(LOOKUP)]
    rejected = checked.filter(pl.col(REASON).is_not_null()).select([LINE, *inputs, RAW, REASON])
    by_reason = rejected.group_by(REASON).len().sort(["len", REASON], descending=[True, False])
    report: dict[str, Any] = {
        "file": str(Path(table.path).resolve()),
        "delimiter": delimiter_name(table.delimiter),
        "header": table.has_header,
        "rows_read": checked.height,
        "kept": kept.height,
        "merged": merged,
        "rejected": rejected.height,
        "rejected_by_reason": {str(r): int(n) for r, n in by_reason.iter_rows()},
        "blank_lines": table.blank_lines,
    }
    if target == "social":
        report["relation"] = "social"
    elif target in NODE_TYPES:
        report["node_type"] = target
    else:  # an event table: "consumption", "impressions", "rooms" ...
        report["events"] = target
    if target in ("social", "consumption") and kept.height:
        names = {v: k for k, v in (SOCIAL_KINDS if target == "social" else CONSUMPTION_KINDS).items()}
        counts = kept.group_by("kind").len().sort("kind")
        report["kinds"] = {names.get(int(k), str(k)): int(n) for k, n in counts.iter_rows()}
    report.update(extra_report or {})
    return CheckedRows(Path(table.path).name, target, kept, rejected, report)


def require_header(table: RawTable, wanted: Sequence[str], layout: str) -> None:
    """Stop with a named error when the header is not ``wanted`` (case and surrounding spaces ignored)."""
    have = tuple(c.strip().lower() for c in table.columns)
    if have != tuple(wanted):
        raise LsecDataError(
            "unexpected header on line 1",
            file=table.path,
            expected=f"the {layout} header {', '.join(wanted)}",
            found=", ".join(table.columns),
        )


def find_file(folder: PathLike, names: Sequence[str], layout: str) -> Path:
    """The first of ``names`` (each tried as given and with ``.gz``) present in ``folder``."""
    root = Path(folder)
    if not root.is_dir():
        raise LsecDataError("folder not found", file=root, expected=f"a {layout} folder ({names[0]}, ...)")
    for name in names:
        for candidate in (root / name, root / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise LsecDataError("file not found", file=root / names[0], expected=f"{' or '.join(names)} (optionally .gz)")


# ------------------------------------------------------------------------------------------- assembly
def _number(ids: Sequence[pl.Series]) -> pl.Series:
    """Distinct ids in first-seen order over the given columns."""
    parts = [s.cast(pl.Utf8) for s in ids if s.len()]
    return pl.concat(parts).unique(maintain_order=True) if parts else pl.Series([], dtype=pl.Utf8)


def _codes(values: pl.Series, categories: pl.Series) -> np.ndarray:
    if values.len() == 0:
        return np.zeros(0, dtype=np.int32)
    return values.cast(pl.Enum(categories)).to_physical().cast(pl.Int32).to_numpy()


def _features(rows: pl.DataFrame | None, categories: pl.Series, fill: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Feature columns of a node type in internal order; nodes without a feature row get ``fill``."""
    if rows is None or not rows.height:
        return {}
    table = pl.DataFrame({"id": categories}).join(rows, on="id", how="left", maintain_order="left")
    out: dict[str, np.ndarray] = {}
    for column in rows.columns:
        if column == "id":
            continue
        series = table[column].fill_null(fill.get(column)) if column in fill else table[column]
        out[column] = series.to_numpy()
    return out


def write_dataset(
    out: PathLike,
    *,
    parts: Sequence[CheckedRows],
    name: str | None = None,
    time_conventions: Mapping[str, Any],
    provenance: Mapping[str, Any],
    time_origin: int | None = None,
    feature_fill: Mapping[str, Mapping[str, Any]] | None = None,
    node_tables: Mapping[str, pl.DataFrame] | None = None,
    extra_meta: Mapping[str, Any] | None = None,
    started: float | None = None,
) -> HeteroGraph:
    """Number the nodes, build the graph and the consumption table, write the folder; return the graph.

    ``time_conventions`` (the layout's time conventions) goes to ``meta.json`` -> ``time``; ``time_origin`` defaults to
    UTC midnight of the earliest timestamp of the files whose times are known. ``node_tables`` are feature
    columns (``id`` + features) derived from event files (not files of their own, so not in the report).
    """
    from lsec.data.events import save_dataset

    social = [p for p in parts if p.target == "social"]
    consumption = [p for p in parts if p.target == "consumption"]
    node_rows = {p.target: p.kept for p in parts if p.target in ("user", "item")}
    node_rows.update(node_tables or {})
    social_frame = pl.concat([p.kept for p in social]) if social else None
    consumption_frame = pl.concat([p.kept for p in consumption]) if consumption else None

    user_sources = [node_rows["user"]["id"]] if "user" in node_rows else []
    item_sources = [node_rows["item"]["id"]] if "item" in node_rows else []
    for part in parts:  # first-seen order follows the order of the files
        if part.target == "social":
            pair = part.kept.select(pl.concat_list("src", "dst").alias("ids")).explode("ids")
            user_sources.append(pair["ids"])
        elif part.target == "consumption":
            user_sources.append(part.kept["user"])
            item_sources.append(part.kept["item"])
    users = _number(user_sources)
    num_nodes = {"user": users.len()}
    node_ids = {"user": users.to_numpy().astype(object)}
    items = _number(item_sources)
    if consumption or "item" in node_rows:
        num_nodes["item"] = items.len()
        node_ids["item"] = items.to_numpy().astype(object)

    edges: dict[tuple[str, str, str], EdgeTable] = {}
    if social_frame is not None:
        edges[SOCIAL] = EdgeTable(
            _codes(social_frame["src"], users),
            _codes(social_frame["dst"], users),
            social_frame["ts"].to_numpy(),
            None,
            social_frame["kind"].to_numpy(),
        )
    events: dict[str, dict[str, np.ndarray]] = {}
    if consumption_frame is not None:
        events["consumption"] = {
            "user": _codes(consumption_frame["user"], users),
            "item": _codes(consumption_frame["item"], items),
            "ts": consumption_frame["ts"].to_numpy().astype(np.int64),
            "kind": consumption_frame["kind"].to_numpy().astype(np.int8),
            "amount": consumption_frame["amount"].to_numpy().astype(np.float32),
        }
    if time_origin is None:
        timed = [p for p in [*social, *consumption] if p.kept.height and p.report.get("time_known", True)]
        earliest = min((int(p.kept["ts"].min()) for p in timed), default=0)  # type: ignore[arg-type]
        time_origin = earliest - earliest % DAY
    fill = feature_fill or {}
    node_features = {
        t: cols
        for t in ("user", "item")
        if (cols := _features(node_rows.get(t), users if t == "user" else items, fill.get(t, {})))
    }
    report = {p.label: p.report for p in parts}
    meta: dict[str, Any] = {
        "provenance": dict(provenance, created=_now()),
        "ingestion": {
            "files": report,
            "totals": {k: sum(int(r[k]) for r in report.values()) for k in ("rows_read", "kept", "merged", "rejected")},
        },
        "time": dict(time_conventions),
        "kinds": {"social": dict(SOCIAL_KINDS), "consumption": dict(CONSUMPTION_KINDS)},
        **(extra_meta or {}),
    }
    if started is not None:
        meta["ingestion"]["seconds"] = round(_perf() - started, 3)
    graph = HeteroGraph(
        num_nodes=num_nodes,
        edges=edges,
        node_ids=node_ids,
        name=name or Path(out).name,
        time_origin=int(time_origin),
        meta=meta,
        node_features=node_features,
    )
    graph.validate()
    save_dataset(graph, out, events=events)
    graph.meta["events"] = [  # as save_dataset lists them in meta.json
        {"name": n, "file": f"events/{n}.parquet", "rows": int(len(cols["user"]))} for n, cols in events.items()
    ]
    rejected_dir = Path(out) / "rejected"
    for part in parts:
        if part.rejected.height:
            rejected_dir.mkdir(exist_ok=True)
            part.rejected.write_parquet(rejected_dir / f"{part.label}.parquet")
    return graph


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _now_seconds() -> float:
    return time.time()


def _perf() -> float:
    return time.perf_counter()
