"""Candidate-list files of the authors' RecHub layout: ``val|test/<relation>.tsv`` with ``user item value`` rows.

In ``yusanshi/RecHub`` (the LSEC-GNN code) the val / test files are not edges but the fixed evaluation lists::

    user    item    value
    0       45      1          value 1: a held-out positive
    0       92      0          value 0: a sampled negative
    ...

Reading rules (see :mod:`lsec.data.formats.rechub_tsv` for when a file is taken as such a list):

* every row whose ids and value are usable is **kept as a candidate row**, exactly as given: nothing is
  drawn, merged or dropped; a row repeated in the file stays repeated (the authors' evaluation scores every
  row of the file, repeats included), and a row naming a pair that is also a training edge is not a
  duplicate of that edge;
* each value-1 row is also one edge of the relation in the file's fold (``valid`` / ``test``, ``ts = 0``,
  weight 1 when the relation is weighted): the fold's positives. Value-0 rows never become edges;
* rejected (with a reason, in ``rejected/<file>.parquet``): empty or null-marker ids, a value other than
  0 / 1 (``1.0`` reads as 1), ids missing from a given node list, lines with the wrong number of fields;
* ids of a node type without a node list that no edge file names are appended to that type's ids (in
  first-seen order), so a sampled negative never seen in training still has a node.

The report entry of such a file keeps ``rows_read = kept + merged + rejected`` with ``kept`` = candidate
rows and ``merged = 0``; ``edges`` is the number of value-1 rows (the edges the file contributed), and
``positives``, ``negatives``, ``users``, ``repeated_rows`` (rows repeating an earlier (user, target) pair
of the file) describe the lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from lsec.data import ingest_rules as rules
from lsec.data.formats.common import LINE, RAW, REASON, delimiter_name, read_table, split_fields
from lsec.data.graph import EdgeTable, HeteroGraph
from lsec.data.ingest import IngestResult
from lsec.data.schema import Relation

VALUE_NAMES = ("value", "label")
"""Header names of the value column (case-insensitive)."""


@dataclass
class CandidateSource:
    """One val / test candidate file: ``src`` / ``dst`` id columns and the 0 / 1 ``value`` column."""

    relation: Relation
    path: Path
    fold: int
    label: str
    delimiter: str
    header: bool
    src: str
    dst: str
    value: str


@dataclass
class CandidateRows:
    """The kept rows of one candidate file, as internal indices (input order)."""

    relation: Relation
    fold: int
    user: np.ndarray  # (R,) int32
    target: np.ndarray  # (R,) int32
    label: np.ndarray  # (R,) int8


def value_column(
    columns: list[str], has_header: bool, sample: Sequence[str], delimiter: str, authors: bool
) -> str | None:
    """The value column of a val / test edge file, or None when the file is a plain edge file.

    With a header: the column named ``value`` or ``label``. Without one, only in the authors' layout (node files
    under ``train/``): a third and last column holding nothing but 0 / 1 in the sampled lines.
    """
    if has_header:
        return next((c for c in columns if c.strip().lower() in VALUE_NAMES), None)
    if not authors or len(columns) != 3:
        return None
    values = {fields[2].strip() for fields in (split_fields(line, delimiter) for line in sample) if len(fields) > 2}
    return columns[2] if values and values <= {"0", "1"} else None


def read_candidates(
    source: CandidateSource, node_lists: dict[str, tuple[np.ndarray, str]]
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]:
    """Kept rows (``line``, ``src``, ``dst`` as normalised ids, ``label`` int8), rejected rows and the report.

    ``node_lists`` holds, per node type read from node files, the known ids and the node files' label
    (rows naming other ids are rejected, as for edges).
    """
    src_type, name, dst_type = source.relation
    table = read_table(source.path, delimiter=source.delimiter, header=source.header, min_columns=2)
    src, dst, value = source.src, source.dst, source.value
    col = pl.col
    reasons = [
        col(REASON),
        rules.id_reason(col("_s_src"), src, src_type),
        rules.id_reason(col("_s_dst"), dst, dst_type),
        pl.when(col("_s_value").is_null() | (col("_s_value") == ""))
        .then(pl.lit(f"empty value in column '{value}'"))
        .when(col("_value").is_null() | ~col("_value").is_in([0.0, 1.0]))
        .then(pl.lit(f"value in column '{value}' is not 0 or 1"))
        .otherwise(pl.lit(None, dtype=pl.Utf8)),
    ]
    for end, column, node_type in (("src", src, src_type), ("dst", dst, dst_type)):
        if node_type in node_lists:
            ids, node_label = node_lists[node_type]
            reasons.append(
                pl.when(~col(end).is_in(pl.Series(ids, dtype=pl.Utf8).implode()))
                .then(pl.lit(f"unknown {node_type} id in column '{column}' (not in {node_label})"))
                .otherwise(pl.lit(None, dtype=pl.Utf8))
            )
    kept_parts, rejected_parts, normalised = [], [], 0
    for chunk in table.chunks():
        frame = (
            chunk.lazy()
            .with_columns(_s_src=rules.strip(src), _s_dst=rules.strip(dst), _s_value=rules.strip(value))
            .with_columns(
                rules.normalise_id(col("_s_src")).alias("src"),
                rules.normalise_id(col("_s_dst")).alias("dst"),
                col("_s_value").cast(pl.Float64, strict=False).alias("_value"),
            )
            .with_columns(rules.first_reason(reasons).alias(REASON))
            .collect()
        )
        ok = frame.filter(col(REASON).is_null())
        normalised += int(ok.select((col("src") != col(src)).sum() + (col("dst") != col(dst)).sum()).item())
        kept_parts.append(ok.select(LINE, "src", "dst", col("_value").cast(pl.Int8).alias("label")))
        rejected_parts.append(frame.filter(col(REASON).is_not_null()).select([LINE, *table.columns, RAW, REASON]))
    kept = pl.concat(kept_parts, how="vertical")
    rejected = pl.concat(rejected_parts, how="vertical")
    by_reason = rejected.group_by(REASON).len().sort(["len", REASON], descending=[True, False])
    positives = int(kept["label"].sum()) if kept.height else 0
    report: dict[str, Any] = {
        "file": str(table.path),
        "delimiter": delimiter_name(table.delimiter),
        "header": table.has_header,
        "columns": {"src": src, "dst": dst, "value": value},
        "rows_read": table.height,
        "kept": kept.height,
        "merged": 0,
        "rejected": rejected.height,
        "rejected_by_reason": {str(r): int(n) for r, n in by_reason.iter_rows()},
        "blank_lines": table.blank_lines,
        "relation": name,
        "fold": source.fold,
        "timestamps": None,
        "normalised_ids": normalised,
        "candidate_list": True,
        "edges": positives,
        "positives": positives,
        "negatives": kept.height - positives,
        "users": int(kept["src"].n_unique()),
        "repeated_rows": kept.height - int(kept.select(pl.struct("src", "dst").n_unique()).item()),
    }
    return kept, rejected, report


def attach_candidates(result: IngestResult, sources: Sequence[CandidateSource]) -> list[CandidateRows]:
    """Read the candidate files into ``result`` (in place) and return their rows as internal indices.

    Adds each file's report entry and rejected rows, appends ids first seen in them (types without a node
    list), appends the value-1 rows as edges of their fold and updates the ingestion totals in the graph meta.
    """
    graph, report = result.graph, result.report
    node_lists: dict[str, tuple[np.ndarray, str]] = {}
    for entry_label, entry in report.items():
        node_type = entry.get("node_type")
        if node_type is not None:
            previous = node_lists.get(node_type)
            node_lists[node_type] = (
                graph.ids(node_type),
                f"{previous[1]} + {entry_label}" if previous else entry_label,
            )
    frames = []
    for source in sources:
        kept, bad, file_report = read_candidates(source, node_lists)
        report[source.label] = file_report
        if bad.height:
            result.rejected[source.label] = bad
        frames.append(kept)

    node_ids = dict(graph.node_ids)
    ends = [
        (t, frame[end]) for source, frame in zip(sources, frames, strict=True)
        for end, t in (("src", source.relation[0]), ("dst", source.relation[2]))
    ]  # fmt: skip
    for node_type in dict.fromkeys(t for t, _ in ends):
        have = graph.ids(node_type) if node_type in graph.num_nodes else np.zeros(0, dtype=object)
        named = pl.concat([values for t, values in ends if t == node_type]).unique(maintain_order=True)
        new = named.filter(~named.is_in(pl.Series(have, dtype=pl.Utf8).implode()))
        node_ids[node_type] = np.concatenate([have, new.to_numpy().astype(object)]) if new.len() else have

    rows: list[CandidateRows] = []
    edges = dict(graph.edges)
    folds = dict(result.folds or {})
    for source, frame in zip(sources, frames, strict=True):
        rel = source.relation
        user = _indices(frame["src"], node_ids[rel[0]])
        target = _indices(frame["dst"], node_ids[rel[2]])
        label = frame["label"].to_numpy().astype(np.int8)
        rows.append(CandidateRows(rel, source.fold, user, target, label))
        positive = label == 1
        old = edges.get(rel)
        weighted = old is not None and old.weight is not None
        added = EdgeTable(
            user[positive], target[positive], np.zeros(int(positive.sum()), np.int64),
            np.ones(int(positive.sum()), np.float32) if weighted else None,
        )  # fmt: skip
        edges[rel] = added if old is None else _concat(old, added)
        folds[rel] = np.concatenate([folds.get(rel, np.zeros(0, np.int8)), np.full(len(added), source.fold, np.int8)])

    ingestion = dict(graph.meta.get("ingestion", {}))
    ingestion["files"] = report
    ingestion["totals"] = {
        k: sum(int(r[k]) for r in report.values()) for k in ("rows_read", "kept", "merged", "rejected")
    }
    result.graph = HeteroGraph(
        num_nodes={**graph.num_nodes, **{t: len(ids) for t, ids in node_ids.items()}},
        edges=edges,
        node_ids=node_ids,
        name=graph.name,
        time_origin=graph.time_origin,
        meta={**graph.meta, "ingestion": ingestion},
        node_features=graph.node_features,
    )
    result.folds = folds
    return rows


def _indices(values: pl.Series, ids: np.ndarray) -> np.ndarray:
    """Position (int32) of each id in ``ids`` (every value is in it)."""
    if values.len() == 0:
        return np.zeros(0, np.int32)
    categories = pl.Series(ids, dtype=pl.Utf8)
    return values.cast(pl.Enum(categories)).to_physical().cast(pl.Int32).to_numpy()


def _concat(first: EdgeTable, second: EdgeTable) -> EdgeTable:
    weight = None
    if first.weight is not None and second.weight is not None:
        weight = np.concatenate([first.weight, second.weight])
    return EdgeTable(
        np.concatenate([first.src, second.src]).astype(np.int32),
        np.concatenate([first.dst, second.dst]).astype(np.int32),
        np.concatenate([first.ts, second.ts]).astype(np.int64),
        weight,
    )
