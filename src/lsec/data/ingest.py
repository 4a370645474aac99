"""Turn foreign edge and node files into a :class:`HeteroGraph`, accounting for every row.

An importer (CSV, RecHub TSV, ...) describes its files as :class:`EdgeSource` / :class:`NodeSource` and
calls :func:`ingest`. For every input file the result's report says::

    rows_read = kept + merged + rejected

* ``kept``: rows that became edges (or nodes);
* ``merged``: exact duplicates of an earlier kept row of the same relation (same source id, destination
  id, timestamp and weight after normalisation), across all files of that relation; counted, not stored;
* ``rejected``: rows written to ``rejected/<file>.parquet`` with their 1-based line number, their
  original fields and a ``reason`` (rules in :mod:`lsec.data.ingest_rules`).

Internal indices are dense per node type in **first-seen order**: a node file, when given, fixes the order
(and edges naming ids absent from it are rejected); otherwise ids are numbered as they first appear in the
edge files, in the order the sources are given, source column before destination column. Edges keep
input order (files in order, rows in order). ``time_origin`` is UTC midnight of the earliest timestamp.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from lsec.data import ingest_rules as rules
from lsec.data.formats.common import LINE, RAW, REASON, RawTable, delimiter_name, read_table
from lsec.data.graph import EdgeTable, HeteroGraph
from lsec.data.ingest_columns import ID_CANDIDATES, ColumnMap, pick_column, resolve_columns
from lsec.data.schema import NODE_TYPES, Relation
from lsec.errors import LsecDataError

DAY = 86_400


@dataclass
class EdgeSource:
    """One edge file of one relation. ``fold`` is 0/1/2 (train/valid/test) for pre-split layouts."""

    relation: Relation
    path: Path
    columns: ColumnMap = field(default_factory=ColumnMap)
    fold: int = -1
    label: str = ""
    delimiter: str | None = None  # overrides ReadOptions.delimiter for this file
    header: bool | None = None  # overrides ReadOptions.header for this file

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.label = self.label or self.path.name


@dataclass
class NodeSource:
    """A node list: one id per row in column ``id_column`` (None = ``id``, ``<type>_id``, ``<type>`` or the first)."""

    node_type: str
    path: Path
    id_column: str | None = None
    label: str = ""
    delimiter: str | None = None
    header: bool | None = None

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.label = self.label or self.path.name


@dataclass
class ReadOptions:
    delimiter: str | None = None
    header: bool = True
    ts_format: str = "auto"
    now: int | None = None  # "now" for the far-future check (tests pin it)


@dataclass
class IngestResult:
    graph: HeteroGraph
    rejected: dict[str, pl.DataFrame]
    report: dict[str, dict[str, Any]]
    folds: dict[Relation, np.ndarray] | None = None


# ---------------------------------------------------------------------------------------------- nodes
def _read_nodes(source: NodeSource, options: ReadOptions) -> tuple[pl.Series, pl.DataFrame, dict[str, Any]]:
    table = read_table(
        source.path,
        delimiter=source.delimiter or options.delimiter,
        header=options.header if source.header is None else source.header,
    )
    t = source.node_type
    if source.id_column is not None or not table.has_header:
        column = pick_column(table.columns, source.id_column or "1", (), f"{t} id", table.path, True, table.has_header)
    else:
        lowered = {c.lower(): c for c in table.columns}
        found = [lowered[n] for n in ("id", f"{t}_id", t, *ID_CANDIDATES.get(t, ())) if n in lowered]
        column = found[0] if found else table.columns[0]
    assert column is not None
    frame = table.frame.with_columns(
        pl.coalesce(pl.col(REASON), rules.id_reason(rules.strip(column), column, t)).alias(REASON),
        rules.normalise_id(rules.strip(column)).alias("_id"),
    )
    ok = frame.filter(pl.col(REASON).is_null())
    first = ok["_id"].is_first_distinct()
    ids = ok["_id"].filter(first)
    rejected = frame.filter(pl.col(REASON).is_not_null())
    report = _report(table, frame.height, ids.len(), ok.height - ids.len(), rejected, {"id": column})
    report.update({"node_type": t, "normalised_ids": int((ok["_id"] != ok[column]).sum())})
    return ids, _rejected_rows(rejected, table), report


# ---------------------------------------------------------------------------------------------- edges
def _read_edges(
    source: EdgeSource,
    options: ReadOptions,
    known: dict[str, tuple[pl.Series, str]],
    progress: Callable[[str], None] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]:
    """Kept rows (``src``, ``dst``, ``ts``, ``weight``?), rejected rows and the file's report."""
    src_type, name, dst_type = source.relation
    table = read_table(
        source.path,
        delimiter=source.delimiter or options.delimiter,
        header=options.header if source.header is None else source.header,
        min_columns=2,
    )
    mapping = resolve_columns(table, source.relation, source.columns)
    src, dst, ts, weight = mapping["src"], mapping["dst"], mapping["ts"], mapping["weight"]
    assert src is not None and dst is not None
    col = pl.col
    stripped = {"_s_src": rules.strip(src), "_s_dst": rules.strip(dst)}
    derived: list[pl.Expr] = []
    reasons = [
        col(REASON),
        rules.id_reason(col("_s_src"), src, src_type),
        rules.id_reason(col("_s_dst"), dst, dst_type),
    ]
    ts_format = None
    chunks = table.chunks()
    first_chunk = next(chunks)
    if ts is not None:
        ts_format = rules.resolve_ts_format(first_chunk[ts].head(100_000), options.ts_format)
        stripped["_s_ts"] = rules.strip(ts)
        derived.append(rules.parse_ts(col("_s_ts"), ts_format).alias("_ts"))
        reasons.append(rules.ts_reason(col("_s_ts"), col("_ts"), ts, ts_format, options.now))
    if weight is not None:
        stripped["_s_weight"] = rules.strip(weight)
        derived.append(rules.parse_weight(col("_s_weight")).alias("_weight"))
        reasons.append(rules.weight_reason(col("_s_weight"), col("_weight"), weight))
    for end, node_type in (("src", src_type), ("dst", dst_type)):
        if node_type in known:
            ids, node_label = known[node_type]
            reasons.append(
                pl.when(~col(end).is_in(ids.implode()))
                .then(pl.lit(f"unknown {node_type} id in column '{mapping[end]}' (not in {node_label})"))
                .otherwise(pl.lit(None, dtype=pl.Utf8))
            )
    if src_type == dst_type:
        reasons.append(
            pl.when(col("src") == col("dst"))
            .then(pl.lit(f"self-loop: a {src_type} {name} edge to itself"))
            .otherwise(pl.lit(None, dtype=pl.Utf8))
        )
    keep_cols = [col("src"), col("dst")]
    keep_cols.append(col("_ts").alias("ts") if ts is not None else pl.lit(0, dtype=pl.Int64).alias("ts"))
    if weight is not None:
        keep_cols.append(col("_weight").cast(pl.Float32).alias("weight"))
    normalised = (col("src") != col(src)).sum() + (col("dst") != col(dst)).sum()

    kept_parts, rejected_parts, normalised_count, done = [], [], 0, 0
    for chunk in itertools.chain([first_chunk], chunks):
        dots = chunk.select(
            col(src).str.contains(".", literal=True).any(), col(dst).str.contains(".", literal=True).any()
        )
        id_exprs = [
            rules.normalise_id(col("_s_src"), bool(dots.item(0, 0))).alias("src"),
            rules.normalise_id(col("_s_dst"), bool(dots.item(0, 1))).alias("dst"),
        ]
        frame = (
            chunk.lazy()
            .with_columns(**stripped)
            .with_columns(*id_exprs, *derived)
            .with_columns(rules.first_reason(reasons).alias(REASON))
            .collect()
        )
        ok = frame.filter(col(REASON).is_null())
        normalised_count += int(ok.select(normalised).item())
        kept_parts.append(ok.select(keep_cols))
        rejected_parts.append(_rejected_rows(frame.filter(col(REASON).is_not_null()), table))
        done += chunk.height
        del frame, ok
        if progress is not None:
            progress(f"{source.label}: {done:,}/{table.height:,} rows")
    kept = pl.concat(kept_parts, how="vertical", rechunk=True)
    rejected = pl.concat(rejected_parts, how="vertical")
    report = _report(table, table.height, kept.height, 0, rejected, mapping)
    report.update(
        {
            "relation": name,
            "fold": source.fold,
            "timestamps": rules.describe_ts_format(ts_format) if ts_format else None,
            "normalised_ids": normalised_count,
        }
    )
    return kept, rejected, report


def _report(
    table: RawTable, read: int, kept: int, merged: int, rejected: pl.DataFrame, columns: dict[str, str | None]
) -> dict[str, Any]:
    by_reason = rejected.group_by(REASON).len().sort(["len", REASON], descending=[True, False])
    return {
        "file": str(table.path),
        "delimiter": delimiter_name(table.delimiter),
        "header": table.has_header,
        "columns": columns,
        "rows_read": read,
        "kept": kept,
        "merged": merged,
        "rejected": rejected.height,
        "rejected_by_reason": {str(r): int(n) for r, n in by_reason.iter_rows()},
        "blank_lines": table.blank_lines,
    }


def _rejected_rows(rejected: pl.DataFrame, table: RawTable) -> pl.DataFrame:
    return rejected.select([LINE, *table.columns, RAW, REASON])


# ------------------------------------------------------------------------------------------- assembly
def ingest(
    edges: Sequence[EdgeSource],
    nodes: Sequence[NodeSource] = (),
    *,
    name: str = "dataset",
    options: ReadOptions | None = None,
    provenance: dict[str, Any] | None = None,
    show_progress: bool = False,
) -> IngestResult:
    """Read every source, apply the row rules, merge duplicates, number the nodes, build the graph."""
    options = options or ReadOptions()
    if options.ts_format not in rules.TS_FORMATS and "%" not in options.ts_format:
        raise LsecDataError(
            column="--ts-format", expected="auto, s, ms, iso or a strftime pattern with %", found=options.ts_format
        )
    if not edges:
        raise LsecDataError("nothing to import", expected="at least one edge file")
    labels = [n.label for n in nodes] + [e.label for e in edges]
    if len(set(labels)) != len(labels):
        raise LsecDataError("two input files have the same name", expected="distinct file names", found=labels)
    started = time.perf_counter()
    report: dict[str, dict[str, Any]] = {}
    rejected: dict[str, pl.DataFrame] = {}
    known: dict[str, tuple[pl.Series, str]] = {}
    bar = tqdm(total=len(nodes) + len(edges) + 1, desc="import", unit="file", disable=not show_progress)
    for node_source in nodes:
        bar.set_postfix_str(node_source.label)
        ids, bad, file_report = _read_nodes(node_source, options)
        if node_source.node_type in known:
            previous, label = known[node_source.node_type]
            ids = pl.concat([previous, ids]).unique(maintain_order=True)
            node_source_label = f"{label} + {node_source.label}"
        else:
            node_source_label = node_source.label
        known[node_source.node_type] = (ids, node_source_label)
        report[node_source.label] = file_report
        if bad.height:
            rejected[node_source.label] = bad
        bar.update()

    kept_by_relation: dict[Relation, list[tuple[int, pl.DataFrame]]] = {}
    for index, source in enumerate(edges):
        bar.set_postfix_str(source.label)
        kept, bad, file_report = _read_edges(source, options, known, bar.set_postfix_str)
        kept_by_relation.setdefault(source.relation, []).append((index, kept))
        report[source.label] = file_report
        if bad.height:
            rejected[source.label] = bad
        bar.update()

    bar.set_postfix_str("numbering nodes")
    graph, folds = _assemble(edges, kept_by_relation, known, report, name)
    bar.update()
    bar.close()
    graph.meta["provenance"] = dict(provenance or {}, created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    graph.meta["ingestion"] = {
        "files": report,
        "totals": {k: sum(int(r[k]) for r in report.values()) for k in ("rows_read", "kept", "merged", "rejected")},
        "seconds": round(time.perf_counter() - started, 3),
    }
    has_folds = any(s.fold >= 0 for s in edges)
    return IngestResult(graph, rejected, report, folds if has_folds else None)


def _assemble(
    sources: Sequence[EdgeSource],
    kept_by_relation: dict[Relation, list[tuple[int, pl.DataFrame]]],
    known: dict[str, tuple[pl.Series, str]],
    report: dict[str, dict[str, Any]],
    name: str,
) -> tuple[HeteroGraph, dict[Relation, np.ndarray]]:
    """Number the nodes, then merge exact duplicates per relation (on indices: cheaper than on strings).

    Merging after numbering gives the same numbering: a duplicate's ids were already seen in its first copy.
    """
    tables: dict[Relation, pl.DataFrame] = {}
    for rel, parts in kept_by_relation.items():
        weighted = any("weight" in frame.columns for _, frame in parts)
        frames = []
        for index, frame in parts:
            if weighted and "weight" not in frame.columns:
                frame = frame.with_columns(pl.lit(1.0, dtype=pl.Float32).alias("weight"))
            frames.append(frame.with_columns(pl.lit(index, dtype=pl.Int32).alias("_source")))
        tables[rel] = pl.concat(frames, how="vertical")
    kept_by_relation_sources = {rel: [i for i, _ in parts] for rel, parts in kept_by_relation.items()}
    kept_by_relation.clear()  # the concatenated tables are the only copy from here on

    node_types = [t for t in NODE_TYPES if t in known or any(t in (r[0], r[2]) for r in tables)]
    node_types += sorted({t for r in tables for t in (r[0], r[2])} - set(node_types))
    categories: dict[str, pl.Series] = {}
    codes: dict[tuple[Relation, str], np.ndarray] = {}
    for t in node_types:
        ends = [(rel, end) for rel in tables for end, et in (("src", rel[0]), ("dst", rel[2])) if et == t]
        if t in known:
            categories[t] = known[t][0]
            continue
        if not ends:
            categories[t] = pl.Series([], dtype=pl.Utf8)
            continue
        categories[t], positions = first_seen_index(pl.concat([tables[rel][end] for rel, end in ends]))
        offset = 0
        for rel, end in ends:
            n = tables[rel].height
            codes[(rel, end)] = positions[offset : offset + n]
            offset += n

    edges: dict[Relation, EdgeTable] = {}
    folds: dict[Relation, np.ndarray] = {}
    fold_of_source = np.array([s.fold for s in sources], dtype=np.int8)
    ts_min: int | None = None
    for rel in list(tables):
        frame = tables.pop(rel).with_columns(
            [
                pl.Series(end, codes.pop((rel, end))) if (rel, end) in codes else _index(pl.col(end), categories[t])
                for end, t in (("src", rel[0]), ("dst", rel[2]))
            ]
        )
        key = ["src", "dst", "ts"] + (["weight"] if "weight" in frame.columns else [])
        first = frame.select(pl.struct(key).is_first_distinct()).to_series()
        duplicates = frame.filter(~first).group_by("_source").len()
        for index, count in duplicates.iter_rows():
            label = sources[index].label
            report[label]["merged"] = int(count)
            report[label]["kept"] -= int(count)
        frame = frame.filter(first)
        ts = frame["ts"].to_numpy()
        weight = frame["weight"].to_numpy() if "weight" in frame.columns else None
        edges[rel] = EdgeTable(frame["src"].to_numpy(), frame["dst"].to_numpy(), ts, weight)
        folds[rel] = fold_of_source[frame["_source"].to_numpy()]
        has_ts = any(report[sources[i].label].get("timestamps") for i in kept_by_relation_sources[rel])
        if len(ts) and has_ts:
            ts_min = int(ts.min()) if ts_min is None else min(ts_min, int(ts.min()))
    graph = HeteroGraph(
        num_nodes={t: categories[t].len() for t in node_types},
        edges=edges,
        node_ids={t: categories[t].to_numpy().astype(object) for t in node_types},
        name=name,
        time_origin=0 if ts_min is None else ts_min - ts_min % DAY,
    )
    return graph, folds


def _index(values: pl.Expr, categories: pl.Series) -> pl.Expr:
    """Position (Int32) of each value in ``categories`` (every value is in it at this point)."""
    if categories.len() == 0:
        return values.cast(pl.Int32)
    return values.cast(pl.Enum(categories)).to_physical().cast(pl.Int32)


def first_seen_index(values: pl.Series) -> tuple[pl.Series, np.ndarray]:
    """Distinct values in first-seen order and each value's position among them (int32)."""
    categories = values.unique(maintain_order=True)
    if categories.len() == 0:
        return categories, np.zeros(0, dtype=np.int32)
    return categories, values.cast(pl.Enum(categories)).to_physical().cast(pl.Int32).to_numpy()
