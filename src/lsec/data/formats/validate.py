"""Check a canonical dataset folder and summarise it (``lsec data validate`` / ``lsec data info``).

:func:`validate_dataset` loads the folder and runs, in order:

1. :meth:`HeteroGraph.validate` (index ranges, column lengths, finite weights);
2. ``meta.json`` against the files: node and edge counts, unique node ids per type;
3. timestamps: none negative, none later than now + 1 day (relations whose timestamps are all 0 are
   reported as "no timestamps");
4. the ingestion report, when present: ``rows_read = kept + merged + rejected`` for every file, the
   rejected rows on disk match the counted ones, kept rows of a relation add up to its edge count (a file
   with an ``edges`` count, such as a RecHub candidate list, contributes that many);
5. splits, when present: every fold file has one row per edge.

Problems make the dataset invalid. Warnings (exact duplicate edges, which a simulator or a log with
repeated events may hold legitimately; edges before the time origin) are reported but do not.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from lsec.data.graph import HeteroGraph
from lsec.data.ingest_rules import FUTURE_SLACK
from lsec.data.schema import edge_file_stem
from lsec.data.store import load, load_rejected
from lsec.errors import LsecDataError


@dataclass
class ValidationReport:
    path: Path
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_dataset(path: str | os.PathLike[str], *, now: int | None = None) -> ValidationReport:
    """Run every check on a dataset folder; a folder that cannot be loaded raises :class:`LsecDataError`."""
    root = Path(path)
    graph = load(root, validate=False)
    report = ValidationReport(root)
    try:
        graph.validate()
        report.checks.append("graph structure (index ranges, column lengths, finite weights)")
    except LsecDataError as err:
        report.problems.append(str(err))
    _check_meta(root, graph, report)
    _check_timestamps(graph, report, now)
    _check_duplicates(graph, report)
    _check_ingestion(root, graph, report)
    _check_splits(root, graph, report)
    return report


def _check_meta(root: Path, graph: HeteroGraph, report: ValidationReport) -> None:
    for node_type, count in graph.num_nodes.items():
        ids = graph.node_ids.get(node_type)
        if ids is None:
            report.warnings.append(f"nodes/{node_type}.parquet is missing (ids default to 0..{count - 1})")
            continue
        unique = len(pl.Series(ids.astype(str)).unique())
        if unique != len(ids):
            report.problems.append(f"nodes/{node_type}.parquet: {len(ids) - unique} duplicated id(s)")
    for entry in _read_relations(root):
        rel = (entry["src_type"], entry["name"], entry["dst_type"])
        table = graph.edges.get(rel)
        if table is not None and int(entry.get("edges", len(table))) != len(table):
            report.problems.append(
                f"meta.json: relation {rel[1]!r} lists {entry['edges']} edges, {entry['file']} has {len(table)}"
            )
    report.checks.append("meta.json counts against the node and edge files")


def _read_relations(root: Path) -> list[dict[str, Any]]:
    return list(json.loads((root / "meta.json").read_text()).get("relations", []))


def _check_timestamps(graph: HeteroGraph, report: ValidationReport, now: int | None) -> None:
    limit = (int(time.time()) if now is None else now) + FUTURE_SLACK
    for (_, name, _), table in graph.items():
        if not len(table):
            continue
        if not table.ts.any():
            report.warnings.append(f"relation {name!r} has no timestamps (all 0)")
            continue
        negative = int((table.ts < 0).sum())
        future = int((table.ts > limit).sum())
        if negative:
            report.problems.append(f"relation {name!r}: {negative} edge(s) with a negative timestamp")
        if future:
            report.problems.append(f"relation {name!r}: {future} edge(s) with a timestamp later than now + 1 day")
        early = int((table.ts < graph.time_origin).sum())
        if early:
            report.warnings.append(f"relation {name!r}: {early} edge(s) before the time origin {graph.time_origin}")
    report.checks.append("timestamp range")


def _check_duplicates(graph: HeteroGraph, report: ValidationReport) -> None:
    for (_, name, _), table in graph.items():
        if not len(table):
            continue
        frame = pl.DataFrame({"s": table.src, "d": table.dst, "t": table.ts})
        if table.weight is not None:
            frame = frame.with_columns(pl.Series("w", table.weight))
        if table.kind is not None:
            frame = frame.with_columns(pl.Series("k", table.kind))
        duplicates = frame.height - frame.n_unique()
        if duplicates:
            report.warnings.append(f"relation {name!r}: {duplicates} exact duplicate edge(s)")
    report.checks.append("exact duplicate edges")


def _check_ingestion(root: Path, graph: HeteroGraph, report: ValidationReport) -> None:
    ingestion = graph.meta.get("ingestion")
    if not ingestion:
        return
    rejected = load_rejected(root)
    kept_by_relation: dict[str, int] = {}
    for label, entry in ingestion.get("files", {}).items():
        read, kept, merged, bad = (int(entry[k]) for k in ("rows_read", "kept", "merged", "rejected"))
        if read != kept + merged + bad:
            report.problems.append(
                f"ingestion report of {label}: rows read {read} != kept {kept} + merged {merged} + rejected {bad}"
            )
        on_disk = rejected[label].height if label in rejected else 0
        if on_disk != bad:
            report.problems.append(f"rejected/{label}.parquet holds {on_disk} row(s), the report counts {bad}")
        if "relation" in entry:
            edges = int(entry.get("edges", kept))  # a candidate-list file keeps rows, only its positives are edges
            kept_by_relation[entry["relation"]] = kept_by_relation.get(entry["relation"], 0) + edges
    for (_, name, _), table in graph.items():
        if name in kept_by_relation and kept_by_relation[name] != len(table):
            report.problems.append(
                f"relation {name!r}: the ingestion report keeps {kept_by_relation[name]} rows, the edge file has "
                f"{len(table)}"
            )
    report.checks.append("ingestion report (rows read = kept + merged + rejected, rejected files)")


def _check_splits(root: Path, graph: HeteroGraph, report: ValidationReport) -> None:
    splits = root / "splits"
    if not splits.is_dir():
        return
    for split_dir in sorted(p for p in splits.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for rel, table in graph.items():
            fold_file = split_dir / "folds" / f"{edge_file_stem(rel)}.parquet"
            if not fold_file.is_file():
                continue
            rows = pl.scan_parquet(fold_file).select(pl.len()).collect().item()
            if rows != len(table):
                report.problems.append(
                    f"split {split_dir.name!r}: {fold_file.name} has {rows} rows, relation {rel[1]!r} has {len(table)}"
                )
    report.checks.append("split fold files against the edge tables")


def dataset_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Node counts, edge counts, unique pairs and densities (Tables 1-2 of the slides), time range."""
    graph = load(path)
    stats = graph.stats()
    for entry in stats["relations"]:
        rel = (entry["src_type"], entry["relation"], entry["dst_type"])
        table = graph.edges[rel]
        entry["weight"] = table.weight is not None
        entry["ts_min_iso"] = _iso(entry["ts_min"])
        entry["ts_max_iso"] = _iso(entry["ts_max"])
        if len(table) and not table.ts.any():
            entry["ts_min"] = entry["ts_max"] = entry["ts_min_iso"] = entry["ts_max_iso"] = None
    stats["path"] = str(Path(path))
    stats["time_origin"] = graph.time_origin
    stats["time_origin_iso"] = _iso(graph.time_origin)
    totals = graph.meta.get("ingestion", {}).get("totals")
    if totals:
        stats["ingestion"] = totals
    splits = Path(path) / "splits"
    stats["splits"] = (
        sorted(p.name for p in splits.iterdir() if p.is_dir() and not p.name.startswith("."))
        if (splits.is_dir())
        else []
    )
    return stats


def _iso(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(seconds)))


def format_info(stats: dict[str, Any]) -> str:
    """An aligned text table: nodes, then relations with edges, unique pairs, density and time range."""
    lines = [f"dataset {stats['name']!r} ({stats['path']})", ""]
    node_rows = [("node type", "count")] + [(t, f"{n:,}") for t, n in stats["nodes"].items()]
    lines += _table(node_rows, right=(1,))
    lines.append("")
    rel_rows = [("relation", "src -> dst", "edges", "unique pairs", "density", "weight", "first", "last")]
    for r in stats["relations"]:
        rel_rows.append(
            (
                r["relation"],
                f"{r['src_type']} -> {r['dst_type']}",
                f"{r['edges']:,}",
                f"{r['unique_pairs']:,}",
                f"{100 * r['density']:.4f}%",
                "yes" if r["weight"] else "no",
                (r["ts_min_iso"] or "-")[:10],
                (r["ts_max_iso"] or "-")[:10],
            )
        )
    lines += _table(rel_rows, right=(2, 3, 4))
    if "ingestion" in stats:
        t = stats["ingestion"]
        lines += [
            "",
            f"ingestion: {t['rows_read']:,} rows read = {t['kept']:,} kept + {t['merged']:,} merged "
            f"+ {t['rejected']:,} rejected",
        ]
    if stats["splits"]:
        lines.append("splits: " + ", ".join(stats["splits"]))
    return "\n".join(lines)


def _table(rows: Sequence[tuple[str, ...]], right: tuple[int, ...] = ()) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for index, row in enumerate(rows):
        cells = [
            cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    return out
