"""Canonical on-disk dataset format (DESIGN section 3).

A dataset is a folder::

    meta.json                       schema version, name, node counts, relations, time origin,
                                    provenance, ingestion report
    nodes/<type>.parquet            column ``id`` (external id, string) in internal-index order
    edges/<src>__<rel>__<dst>.parquet   src int32, dst int32, ts int64 [, weight float32] [, kind int8]
    rejected/<file>.parquet         input rows that were not kept, with a ``reason`` column
    splits/<name>/...               written by :mod:`lsec.data.split`

``save`` followed by ``load`` gives back every array bit for bit.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from lsec.data.graph import EdgeTable, HeteroGraph, ordered_node_types
from lsec.data.schema import SCHEMA_VERSION, edge_file_stem, parse_edge_file_stem
from lsec.errors import LsecDataError

META_FILE = "meta.json"


def save(
    graph: HeteroGraph,
    path: str | os.PathLike[str],
    *,
    rejected: Mapping[str, pl.DataFrame] | None = None,
    overwrite: bool = True,
) -> Path:
    """Write ``graph`` (and optional rejected rows per input file) as a canonical dataset folder."""
    root = Path(path)
    if root.is_dir() and any(root.iterdir()):
        if not overwrite:
            raise LsecDataError("output folder is not empty", file=root, expected="an empty or new folder")
        for sub in ("nodes", "edges", "rejected"):
            shutil.rmtree(root / sub, ignore_errors=True)
    create_folder(root / "nodes", shown=root)
    create_folder(root / "edges", shown=root)

    for node_type in ordered_node_types(graph.num_nodes):
        columns: dict[str, Any] = {"id": pl.Series("id", graph.ids(node_type).astype(str), dtype=pl.Utf8)}
        for name, values in graph.node_features.get(node_type, {}).items():
            columns[name] = pl.Series(name, np.asarray(values))
        pl.DataFrame(columns).write_parquet(root / "nodes" / f"{node_type}.parquet")

    for rel, table in graph.edges.items():
        frame = {
            "src": pl.Series("src", table.src, dtype=pl.Int32),
            "dst": pl.Series("dst", table.dst, dtype=pl.Int32),
            "ts": pl.Series("ts", table.ts, dtype=pl.Int64),
        }
        if table.weight is not None:
            frame["weight"] = pl.Series("weight", table.weight, dtype=pl.Float32)
        if table.kind is not None:
            frame["kind"] = pl.Series("kind", table.kind, dtype=pl.Int8)
        pl.DataFrame(frame).write_parquet(root / "edges" / f"{edge_file_stem(rel)}.parquet")

    if rejected:
        (root / "rejected").mkdir(exist_ok=True)
        for file_name, rows in rejected.items():
            rows.write_parquet(root / "rejected" / f"{Path(file_name).name}.parquet")

    meta = dict(graph.meta)
    meta.update(
        {
            "schema_version": SCHEMA_VERSION,
            "name": graph.name,
            "time_origin": int(graph.time_origin),
            "nodes": {t: int(graph.num_nodes[t]) for t in ordered_node_types(graph.num_nodes)},
            "relations": [
                {
                    "src_type": rel[0],
                    "name": rel[1],
                    "dst_type": rel[2],
                    "file": f"edges/{edge_file_stem(rel)}.parquet",
                    "edges": len(table),
                    "weight": table.weight is not None,
                    **({"kind": True} if table.kind is not None else {}),
                }
                for rel, table in graph.edges.items()
            ],
        }
    )
    (root / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=False, default=_json_default))
    return root


def prepare_output_folder(path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Check that a new dataset may be written to ``path`` and create the folder (before any long work).

    ``path`` must be a new or empty folder; with ``force`` a non-empty one is accepted and its splits are
    removed (splits of the old data would not match the new edges). Raises :class:`LsecDataError` naming
    ``path`` otherwise, or when the folder cannot be created.
    """
    root = Path(path)
    if root.exists() and not root.is_dir():
        raise LsecDataError("output path is a file", file=root, expected="a new or empty folder")
    if root.is_dir() and any(root.iterdir()):
        if not force:
            raise LsecDataError(
                "output folder is not empty",
                file=root,
                expected="a new or empty folder (or pass --force to replace it)",
            )
        shutil.rmtree(root / "splits", ignore_errors=True)
    return create_folder(root)


def create_folder(path: str | os.PathLike[str], *, shown: str | os.PathLike[str] | None = None) -> Path:
    """``mkdir -p path``; an OS refusal becomes an :class:`LsecDataError` naming ``shown`` (default ``path``)."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise LsecDataError.from_os_error(
            err, file=shown if shown is not None else folder, expected="a folder that lsec can create and write"
        ) from None
    return folder


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    root = Path(path)
    meta_path = root / META_FILE
    if not root.is_dir():
        raise LsecDataError("dataset folder not found", file=root, expected="a folder written by lsec")
    if not meta_path.is_file():
        raise LsecDataError("not an lsec dataset", file=root, expected=f"a {META_FILE} file", found="no such file")
    try:
        meta: dict[str, Any] = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise LsecDataError("unreadable metadata", file=meta_path, expected="valid JSON", found=str(err)) from None
    version = meta.get("schema_version")
    if version != SCHEMA_VERSION:
        raise LsecDataError(file=meta_path, column="schema_version", expected=str(SCHEMA_VERSION), found=version)
    return meta


def load(path: str | os.PathLike[str], *, validate: bool = True) -> HeteroGraph:
    """Read a canonical dataset folder into a :class:`HeteroGraph`."""
    root = Path(path)
    meta = read_meta(root)
    num_nodes = {str(t): int(n) for t, n in meta["nodes"].items()}
    node_ids: dict[str, np.ndarray] = {}
    node_features: dict[str, dict[str, np.ndarray]] = {}
    for node_type in num_nodes:
        node_file = root / "nodes" / f"{node_type}.parquet"
        if not node_file.is_file():
            continue
        frame = pl.read_parquet(node_file)
        node_ids[node_type] = frame["id"].to_numpy().astype(object)
        extra = {c: frame[c].to_numpy() for c in frame.columns if c != "id"}
        if extra:
            node_features[node_type] = extra

    edges: dict[tuple[str, str, str], EdgeTable] = {}
    for entry in meta.get("relations", []):
        edge_file = root / entry["file"]
        rel = parse_edge_file_stem(Path(entry["file"]).stem)
        if not edge_file.is_file():
            raise LsecDataError("edge file listed in meta.json is missing", file=edge_file)
        frame = pl.read_parquet(edge_file)
        weight = frame["weight"].to_numpy() if "weight" in frame.columns else None
        kind = frame["kind"].to_numpy() if "kind" in frame.columns else None
        edges[rel] = EdgeTable(frame["src"].to_numpy(), frame["dst"].to_numpy(), frame["ts"].to_numpy(), weight, kind)

    graph = HeteroGraph(
        num_nodes=num_nodes,
        edges=edges,
        node_ids=node_ids,
        name=str(meta.get("name", root.name)),
        time_origin=int(meta.get("time_origin", 0)),
        meta={k: v for k, v in meta.items() if k not in ("nodes", "relations")},
        node_features=node_features,
    )
    if validate:
        graph.validate()
    return graph


def load_rejected(path: str | os.PathLike[str]) -> dict[str, pl.DataFrame]:
    """Rejected rows per input file name (empty dict when nothing was rejected)."""
    folder = Path(path) / "rejected"
    if not folder.is_dir():
        return {}
    return {f.stem: pl.read_parquet(f) for f in sorted(folder.glob("*.parquet"))}


def _json_default(value: object) -> object:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
