"""Generic CSV / TSV / Parquet importer: one file per relation, columns named by the user.

Usage (library)::

    result = import_csv({"buy": "buys.csv", "follow": "follows.csv"}, users="users.csv", out="data/shop")

Columns of each edge file are found, in this order of precedence:

1. ``columns={"buy": ColumnMap(src="uid", dst="iid", ts="time", weight="none")}`` (CLI ``--columns
   buy:src=uid,dst=iid,ts=time,weight=none``); ``none`` says the file has no such column;
2. per node type / field names (CLI ``--user-col``, ``--item-col``, ``--streamer-col``, ``--ts-col``,
   ``--weight-col``), used in every file where that node type or field appears;
3. the usual names, case-insensitive: ``user``, ``user_id``, ``uid``, ...; ``src`` / ``dst``; ``ts``,
   ``timestamp``, ``time``, ...; ``weight``, ``count``, ``sales``, ... (see :mod:`lsec.data.ingest_columns`).
   Without a header (``header=False``) columns are positional: 1 = source id, 2 = destination id,
   3 = timestamp, 4 = weight, and the options take 1-based positions (``--ts-col 3``).

A file without a timestamp column gets ``ts = 0`` on every edge (its report says ``timestamps: null``);
a relation without a weight column has no weight. Row rules (ids, timestamps, weights, duplicates,
rejections) are in :mod:`lsec.data.ingest_rules` and :mod:`lsec.data.ingest`; text reading rules
(delimiter, encoding, quoting) in :mod:`lsec.data.formats.common`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lsec.data.ingest import EdgeSource, IngestResult, NodeSource, ReadOptions, ingest
from lsec.data.ingest_columns import ColumnMap
from lsec.data.schema import relation
from lsec.data.store import save
from lsec.errors import LsecDataError

PathLike = str | os.PathLike[str]


def parse_column_spec(spec: str) -> tuple[str, ColumnMap]:
    """``"buy:src=uid,dst=iid,ts=time"`` -> ``("buy", ColumnMap(src="uid", dst="iid", ts="time"))``."""
    rel_name, sep, body = spec.partition(":")
    if not sep or not body:
        raise LsecDataError(
            column="--columns", expected="RELATION:field=column,... e.g. buy:src=uid,dst=iid", found=spec
        )
    try:
        relation(rel_name.strip())
    except ValueError:
        raise LsecDataError(
            column="--columns", expected="a relation name such as buy, follow, sell", found=rel_name
        ) from None
    fields: dict[str, str] = {}
    for part in body.split(","):
        key, eq, value = part.partition("=")
        key = key.strip()
        if not eq or key not in ("src", "dst", "ts", "weight") or not value.strip():
            raise LsecDataError(
                column="--columns", expected="fields src=, dst=, ts=, weight= with a column name", found=part
            )
        fields[key] = value.strip()
    return rel_name.strip(), ColumnMap(**fields)


def column_map_for(
    rel_name: str,
    explicit: ColumnMap | None,
    node_columns: Mapping[str, str | None],
    ts_col: str | None,
    weight_col: str | None,
) -> ColumnMap:
    """Combine a per-relation mapping with the per-node-type and per-field options."""
    src_type, _, dst_type = relation(rel_name)
    explicit = explicit or ColumnMap()
    same = src_type == dst_type
    return ColumnMap(
        src=explicit.src or (None if same else node_columns.get(src_type)),
        dst=explicit.dst or (None if same else node_columns.get(dst_type)),
        ts=explicit.ts or ts_col,
        weight=explicit.weight or weight_col,
    )


def import_csv(
    edge_files: Mapping[str, PathLike],
    *,
    users: PathLike | None = None,
    items: PathLike | None = None,
    streamers: PathLike | None = None,
    node_id_col: str | None = None,
    columns: Mapping[str, ColumnMap] | None = None,
    user_col: str | None = None,
    item_col: str | None = None,
    streamer_col: str | None = None,
    ts_col: str | None = None,
    weight_col: str | None = None,
    delimiter: str | None = None,
    header: bool = True,
    ts_format: str = "auto",
    name: str | None = None,
    out: PathLike | None = None,
    now: int | None = None,
    show_progress: bool = False,
) -> IngestResult:
    """Import one file per relation (``{"buy": path, ...}``) and, if ``out`` is given, save the dataset."""
    node_columns = {"user": user_col, "item": item_col, "streamer": streamer_col}
    for rel_name in edge_files:
        try:
            relation(rel_name)
        except ValueError as err:
            raise LsecDataError(str(err).rstrip("."), file=edge_files[rel_name]) from None
    sources = []
    names = [Path(p).name for p in edge_files.values()]
    for rel_name, path in edge_files.items():
        mapping = column_map_for(rel_name, (columns or {}).get(rel_name), node_columns, ts_col, weight_col)
        # Reports and rejected files are keyed by file name; two files of the same name get the relation prefix.
        label = Path(path).name if names.count(Path(path).name) == 1 else f"{rel_name}__{Path(path).name}"
        sources.append(EdgeSource(relation(rel_name), Path(path), mapping, label=label))
    unknown = set(columns or {}) - set(edge_files)
    if unknown:
        raise LsecDataError(
            "--columns names a relation with no input file",
            expected="one of " + ", ".join(edge_files),
            found=", ".join(sorted(unknown)),
        )
    nodes = [
        NodeSource(node_type, Path(path), node_id_col)
        for node_type, path in (("user", users), ("item", items), ("streamer", streamers))
        if path is not None
    ]
    options = ReadOptions(delimiter=delimiter, header=header, ts_format=ts_format, now=now)
    provenance: dict[str, Any] = {
        "importer": "csv",
        "edge_files": {k: str(Path(v).resolve()) for k, v in edge_files.items()},
        "node_files": {n.node_type: str(n.path.resolve()) for n in nodes},
        "ts_format": ts_format,
    }
    dataset_name = name or (Path(out).name if out is not None else "dataset")
    result = ingest(
        sources, nodes, name=dataset_name, options=options, provenance=provenance, show_progress=show_progress
    )
    if out is not None:
        write_result(result, out)
    return result


def write_result(result: IngestResult, out: PathLike) -> Path:
    """Save the imported graph with its rejected rows (``rejected/<file>.parquet``)."""
    result.graph.validate()
    return save(result.graph, out, rejected=result.rejected)
