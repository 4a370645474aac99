"""RecHub / LSEC-GNN TSV layout (DESIGN sections 8, 10): the real LSEC files load as they are.

The authors' layout (``yusanshi/RecHub`` README, "Use your own dataset"), tab-separated, with headers::

    DIR/train/user.tsv  item.tsv  streamer.tsv            node lists: a header (``user``) and one id a line
    DIR/train/user-item-buy.tsv                           training edges: ``user  item``
    DIR/train/user-streamer-follow.tsv                    ``user  streamer``
    DIR/train/streamer-item-sell.tsv                      ``streamer  item``
    DIR/val/user-item-buy.tsv   DIR/test/user-item-buy.tsv     candidate lists: ``user  item  value``
    (DIR/val|test/user-streamer-follow.tsv, when present:  ``user  streamer  value``)

The val / test files there are NOT edges: each row is one entry of a fixed evaluation list, value 1 a
held-out positive and value 0 a sampled negative. A val / test edge file is read as such a list when its
header names a ``value`` (or ``label``) column, or, in the authors' layout (node files under ``train/``),
when it has no header and exactly three columns, the third holding only 0 / 1. Then (rules in
:mod:`lsec.data.formats.rechub_candidates`) its value-1 rows become the fold's positive edges, and ALL its
rows become that fold's candidate list in the split ``given``, stored as they are: same users, targets and
labels, no drawn negatives, repeated rows kept, no merging with training edges.

Other layouts are accepted too (tolerant guesses, kept from the first version of this reader):

    DIR/user.tsv  item.tsv  streamer.tsv                 node lists at the top level (or under train/)
    DIR/train/...  DIR/val/... (or valid/)  DIR/test/...  val / test files without a value column: plain edges

Node files are read from ``train/`` and from the top level; when both hold one for a type, the ids are
united (``train/`` first). A flat folder (the three edge files directly in ``DIR``, no fold folders) is
imported without a given split. ``.tsv.gz`` works in place of ``.tsv``.

The reader's assumptions on columns:

* Delimiter: tab if the first line has one, else the most frequent of ``,`` ``;`` ``|``, else whitespace.
* Header: the first line is a header when one of its fields is a usual column name (``user``, ``item_id``,
  ``id``, ``ts``, ``timestamp``, ``weight``, ``sales``, ...), or when its first field is not a number while
  the first field of the second line is. Otherwise every line is data. (``header=True/False`` forces it.)
* Node files: the id is the column named ``id`` / ``<type>_id`` / ``<type>``, else the first column; other
  columns are ignored. Node ids fix the internal order; edges naming an id absent from a given node
  file are rejected (``unknown ... id``).
* Edge files: the id columns come first, in the order of the file name (``user-item-buy``: user, then
  item), unless a header names them. Optional further columns: a timestamp (a header name such as ``ts``,
  or, without one, the first extra column whose values are unix seconds / milliseconds after 2001 or
  ISO-8601 dates) and a weight (a header name such as ``weight`` / ``sales``, or the first other numeric
  extra column). Missing timestamps give ``ts = 0``; any further columns are ignored.

The fold folders become a "given" split (``splits/given``, written with :func:`lsec.data.split.write_split`)
whose evaluated tasks are those of ``buy`` / ``follow`` that have train and test edges. Exact duplicates
among edge files are merged into the first (train before val before test); candidate-list rows never are.
A fold whose task has a candidate file gets exactly that list; the others get lists drawn as usual
(``num_candidates``, ``seed``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from lsec.data import ingest_rules as rules
from lsec.data.formats.common import peek, sniff_delimiter, split_fields
from lsec.data.formats.csv import write_result
from lsec.data.formats.rechub_candidates import CandidateRows, CandidateSource, attach_candidates, value_column
from lsec.data.ingest import EdgeSource, IngestResult, NodeSource, ReadOptions, ingest
from lsec.data.ingest_columns import ID_CANDIDATES, NONE, TS_CANDIDATES, WEIGHT_CANDIDATES, ColumnMap
from lsec.data.schema import relation
from lsec.errors import LsecDataError

PathLike = str | os.PathLike[str]

EDGE_FILES = {"buy": "user-item-buy", "follow": "user-streamer-follow", "sell": "streamer-item-sell"}
NODE_FILES = {"user": "user", "item": "item", "streamer": "streamer"}
FOLD_DIRS = (("train", 0), ("val", 1), ("valid", 1), ("test", 2))
SPLIT_NAME = "given"
_KNOWN_NAMES = {
    "id", "src", "dst", "source", "target",
    *TS_CANDIDATES, *WEIGHT_CANDIDATES,
    *(n for names in ID_CANDIDATES.values() for n in names if len(n) > 1),
}  # fmt: skip
_NUMBER = r"^-?\d+(\.\d*)?$"


def _find(folder: Path, stem: str) -> Path | None:
    for suffix in (".tsv", ".tsv.gz", ".txt", ".csv"):
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _looks_numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def detect_layout(path: Path, header: bool | None = None) -> tuple[str, bool, list[str], list[str]]:
    """Delimiter, header flag, column names and the first data lines' fields of one file."""
    lines = peek(path, 200)
    if not lines:
        raise LsecDataError("empty file", file=path, expected="a header line or data rows", found="no lines")
    delimiter = "\t" if "\t" in lines[0] else sniff_delimiter(lines[0])
    first = split_fields(lines[0], delimiter)
    if header is None:
        named = any(f.strip().lower() in _KNOWN_NAMES for f in first)
        second = split_fields(lines[1], delimiter) if len(lines) > 1 else []
        typed = bool(second) and not _looks_numeric(first[0].strip()) and _looks_numeric(second[0].strip())
        header = named or typed
    columns = [f.strip() for f in first] if header else [str(i + 1) for i in range(len(first))]
    return delimiter, header, columns, lines[1:] if header else lines


def _classify_extra(columns: list[str], sample: list[list[str]], skip: set[str]) -> tuple[str | None, str | None]:
    """Pick the timestamp and weight columns among the extra columns by their values."""
    ts_col = weight_col = None
    for position, name in enumerate(columns):
        if name in skip:
            continue
        values = pl.Series([row[position] if position < len(row) else None for row in sample], dtype=pl.Utf8)
        values = values.str.strip_chars().drop_nulls()
        values = values.filter(values != "")
        if values.len() == 0:
            continue
        numeric = values.str.contains(_NUMBER)
        if ts_col is None and bool(numeric.all()):
            as_float = values.cast(pl.Float64, strict=False)
            if bool(((as_float >= 1e9) & (as_float < 1e13)).all()):
                ts_col = name
                continue
        if ts_col is None and not bool(numeric.any()):
            parsed = pl.DataFrame({"v": values}).select(rules.parse_ts(rules.strip("v"), "iso")).to_series()
            if parsed.null_count() == 0:
                ts_col = name
                continue
        if weight_col is None and bool(values.cast(pl.Float64, strict=False).is_not_null().all()):
            weight_col = name
    return ts_col, weight_col


def edge_columns(path: Path, rel_name: str, header: bool | None = None) -> tuple[str, bool, ColumnMap]:
    """Delimiter, header flag and column mapping of one RecHub edge file (rules in the module docstring)."""
    src_type, _, dst_type = relation(rel_name)
    delimiter, has_header, columns, data = detect_layout(path, header)
    if len(columns) < 2:
        raise LsecDataError(
            "too few columns",
            file=path,
            expected=f"a {src_type} id and a {dst_type} id per line",
            found=f"1 column (first line {data[0][:60] if data else ''!r})",
        )
    lowered = {c.lower(): c for c in columns}

    def named(candidates: tuple[str, ...]) -> str | None:
        return next((lowered[n] for n in candidates if n in lowered), None)

    src = (named(("src", "source", *ID_CANDIDATES[src_type])) if has_header else None) or columns[0]
    dst = (named(("dst", "target", *ID_CANDIDATES[dst_type])) if has_header else None) or columns[1]
    ts = named(TS_CANDIDATES) if has_header else None
    weight = named(WEIGHT_CANDIDATES) if has_header else None
    if ts is None or weight is None:
        sample = [split_fields(line, delimiter) for line in data]
        guess_ts, guess_weight = _classify_extra(columns, sample, {src, dst} | {c for c in (ts, weight) if c})
        ts = ts or guess_ts
        weight = weight or (guess_weight if guess_weight != ts else None)
    return delimiter, has_header, ColumnMap(src, dst, ts or NONE, weight or NONE)


@dataclass
class RechubSources:
    """What :func:`rechub_sources` found: edge files, node files, candidate-list files."""

    edges: list[EdgeSource]
    nodes: list[NodeSource]
    candidates: list[CandidateSource]
    authors: bool  # node files under train/: the authors' layout


@dataclass
class RechubResult(IngestResult):
    """An :class:`IngestResult` plus the rows of the candidate-list files (internal indices, input order)."""

    candidates: list[CandidateRows] = field(default_factory=list)


def rechub_sources(folder: Path, header: bool | None = None) -> RechubSources:
    """Edge, node and candidate-list sources of a RecHub folder (fold folders if present, else a flat layout)."""
    if not folder.is_dir():
        raise LsecDataError("folder not found", file=folder, expected="a RecHub folder (train/, val/, test/)")
    fold_dirs = [(folder / d, fold, d) for d, fold in FOLD_DIRS if (folder / d).is_dir()]
    if not fold_dirs:
        fold_dirs = [(folder, -1, "")]
    node_paths = [
        (node_type, path, label)
        for sub, label in ((folder / "train", "train__"), (folder, ""))
        for node_type, stem in NODE_FILES.items()
        if (path := _find(sub, stem)) is not None
    ]
    authors = any(label for _, _, label in node_paths)
    edges: list[EdgeSource] = []
    candidates: list[CandidateSource] = []
    for sub, fold, label in fold_dirs:
        for rel_name, stem in EDGE_FILES.items():
            path = _find(sub, stem)
            if path is None:
                continue
            name = f"{label}__{path.name}" if label else path.name
            if fold in (1, 2):
                delimiter, has_header, names, data = detect_layout(path, header)
                value = value_column(names, has_header, data, delimiter, authors)
                if value is not None:
                    src, dst = _id_columns(path, names, has_header, rel_name, exclude=value)
                    rel = relation(rel_name)
                    candidates.append(CandidateSource(rel, path, fold, name, delimiter, has_header, src, dst, value))
                    continue
            delimiter, has_header, columns = edge_columns(path, rel_name, header)
            edges.append(EdgeSource(relation(rel_name), path, columns, fold, name, delimiter, has_header))
    if not edges:
        wanted = ", ".join(f"{s}.tsv" for s in EDGE_FILES.values())
        raise LsecDataError(
            "no edge files found",
            file=folder,
            expected=f"train/, val/, test/ folders (or the folder itself) holding {wanted}",
            found="entries " + ", ".join(sorted(p.name for p in folder.iterdir())[:10]),
        )
    nodes = []
    for node_type, path, label in node_paths:
        delimiter, has_header, names, _ = detect_layout(path, header)
        id_column = _node_id_column(node_type, names, has_header)
        nodes.append(NodeSource(node_type, path, id_column, label + path.name, delimiter, has_header))
    return RechubSources(edges, nodes, candidates, authors)


def _id_columns(path: Path, columns: list[str], has_header: bool, rel_name: str, exclude: str) -> tuple[str, str]:
    """Source and destination id columns of a candidate file: named in the header, else the first two others."""
    src_type, _, dst_type = relation(rel_name)
    others = [c for c in columns if c != exclude]
    if len(others) < 2:
        raise LsecDataError(
            "too few columns",
            file=path,
            expected=f"a {src_type} id, a {dst_type} id and the value column {exclude!r}",
            found=f"columns {columns}",
        )
    lowered = {c.lower(): c for c in others}

    def named(candidates: tuple[str, ...]) -> str | None:
        return next((lowered[n] for n in candidates if n in lowered), None) if has_header else None

    src = named(("src", "source", *ID_CANDIDATES[src_type])) or others[0]
    dst = named(("dst", "target", *ID_CANDIDATES[dst_type])) or next(c for c in others if c != src)
    return src, dst


def _node_id_column(node_type: str, columns: list[str], has_header: bool) -> str:
    if not has_header:
        return columns[0]
    lowered = {c.lower(): c for c in columns}
    for name in ("id", f"{node_type}_id", node_type, *ID_CANDIDATES[node_type]):
        if name in lowered:
            return lowered[name]
    return columns[0]


def import_rechub(
    folder: PathLike,
    *,
    out: PathLike | None = None,
    name: str | None = None,
    header: bool | None = None,
    ts_format: str = "auto",
    num_candidates: int = 500,
    seed: int = 0,
    now: int | None = None,
    show_progress: bool = False,
) -> RechubResult:
    """Import a RecHub folder; with ``out``, save it and write the given split ``splits/given``.

    ``num_candidates`` and ``seed`` apply to the lists that are drawn (folds without a candidate file).
    """
    root = Path(folder)
    sources = rechub_sources(root, header)
    provenance: dict[str, Any] = {
        "importer": "rechub",
        "folder": str(root.resolve()),
        "layout": "authors (node files under train/)" if sources.authors else "tolerant",
        "candidate_files": [c.label for c in sources.candidates],
    }
    dataset_name = name or (Path(out).name if out is not None else root.name)
    options = ReadOptions(ts_format=ts_format, now=now)
    ingested = ingest(
        sources.edges,
        sources.nodes,
        name=dataset_name,
        options=options,
        provenance=provenance,
        show_progress=show_progress,
    )
    result = RechubResult(ingested.graph, ingested.rejected, ingested.report, ingested.folds)
    if sources.candidates:
        result.candidates = attach_candidates(result, sources.candidates)
    if out is not None:
        write_result(result, out)
        if result.folds is not None:
            write_given_split(result, out, num_candidates=num_candidates, seed=seed, show_progress=show_progress)
    return result


def write_given_split(
    result: IngestResult, out: PathLike, *, num_candidates: int = 500, seed: int = 0, show_progress: bool = False
) -> list[str]:
    """Persist the fold folders as the split ``given``; returns the evaluated tasks.

    The rows of candidate-list files (a :class:`RechubResult`) become the lists of their task and fold as they
    are; a candidate file of a task that is not evaluated (no train or test edges) is named in the split info.
    """
    from lsec.data.split import FOLD_NAMES, Candidates, write_split

    if result.folds is None:
        raise LsecDataError("no fold folders, so no given split", expected="train/, val/, test/ folders")
    tasks = [
        t
        for t in ("buy", "follow")
        if relation(t) in result.folds and {0, 2} <= set(np.unique(result.folds[relation(t)]).tolist())
    ]
    given: dict[tuple[str, str], list[CandidateRows]] = {}
    for rows in getattr(result, "candidates", []):
        given.setdefault((rows.relation[1], FOLD_NAMES[rows.fold]), []).append(rows)
    lists = {
        key: Candidates(
            task=key[0],
            fold=key[1],
            user=np.concatenate([r.user for r in parts]),
            target=np.concatenate([r.target for r in parts]),
            label=np.concatenate([r.label for r in parts]),
            cold=np.zeros(sum(len(r.user) for r in parts), dtype=bool),  # derived by write_split
        )
        for key, parts in given.items()
        if key[0] in tasks
    }
    info: dict[str, Any] = {"source": "fold folders of a RecHub layout (train / val / test)"}
    if given:
        info["given_candidates"] = sorted(f"{task}/{fold}" for task, fold in lists)
        skipped = sorted(f"{task}/{fold}" for task, fold in given if task not in tasks)
        if skipped:
            info["candidate_files_not_evaluated"] = skipped  # the task has no train or no test edges
    write_split(
        out,
        result.folds,
        name=SPLIT_NAME,
        tasks=tasks,
        num_candidates=num_candidates,
        seed=seed,
        info=info,
        graph=result.graph,
        show_progress=show_progress,
        candidates=lists,
    )
    return tasks
