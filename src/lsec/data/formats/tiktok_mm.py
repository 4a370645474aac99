"""TikTok multi-modal split layout (the MMSSL / DiffMM preprocessing of the ByteDance TikTok data).

One folder::

    DIR/train.tsv[.gz]   user<TAB>item with a header line, 0-based integer ids
    DIR/valid.tsv[.gz]   same layout (optional: without it the split has no 'valid' fold)
    DIR/test.tsv[.gz]    same layout
    DIR/image_feat.npy   (num_items, d) float array, row = item id   } each optional
    DIR/audio_feat.npy   (num_items, d) float array                  }
    DIR/text_feat.npy    (num_items, d) float array                  }

The import keeps the ids as they are (internal index = the integer id, external id = the same integer as a
string), so results compare with the published ones. ``num_users`` = largest user id + 1 over the three
files; ``num_items`` = largest item id + 1, or the feature arrays' row count when that is larger (items
with features but no interaction still exist). There are no timestamps (``ts = 0``). The files become the
``buy`` relation (train, then valid, then test edges) and the given split ``splits/given`` (folds
train / valid / test), written with :func:`lsec.data.split.write_split` without candidate lists: the
published protocol is full-sort evaluation.

Feature arrays go to ``features/item__<modality>.npy`` (float16 / float32 kept as they are, float64 stored
as float32); every array must be 2-D, finite and hold one row per item.

Nothing is lost silently: a (user, item) pair repeated within a file is kept once and counted
(``meta.json`` -> ``ingestion.files.<file>.merged``); a pair present in two files stays in both (as
published) and is counted in ``ingestion.pairs_also_in_train``. A malformed line (wrong number of fields,
an id that is not a non-negative integer, a missing or different header) stops the import with an
:class:`~lsec.errors.LsecDataError` naming the file, the line and what was expected.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from lsec.data.formats.common import LINE, REASON, read_table
from lsec.data.graph import EdgeTable, HeteroGraph
from lsec.errors import LsecDataError

PathLike = str | os.PathLike[str]
SPLIT_NAME = "given"
FOLDS = ("train", "valid", "test")
REQUIRED = ("train", "test")
HEADER = ("user", "item")
MODALITIES = {"image": "image_feat.npy", "audio": "audio_feat.npy", "text": "text_feat.npy"}
"""Modality name -> file name in the folder; stored as ``features/item__<modality>.npy``."""


@dataclass(frozen=True)
class TikTokFolder:
    """The files of a TikTok multi-modal folder (``None`` where an optional file is absent)."""

    interactions: dict[str, Path]  # fold name -> path, in FOLDS order
    features: dict[str, Path] = field(default_factory=dict)  # modality -> path


@dataclass(frozen=True)
class FoldPairs:
    """Distinct (user, item) pairs of one interaction file, in file order."""

    users: np.ndarray  # (E,) int64
    items: np.ndarray  # (E,) int64
    rows_read: int
    merged: int  # repeated pairs kept once
    blank_lines: int


def find_files(folder: PathLike) -> TikTokFolder:
    """Locate the interaction files (``.tsv`` or ``.tsv.gz``) and the feature arrays of a folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LsecDataError(
            "folder not found", file=folder, expected="a TikTok multi-modal folder (train.tsv.gz, test.tsv.gz, ...)"
        )
    interactions: dict[str, Path] = {}
    for fold in FOLDS:
        paths = [folder / f"{fold}{suffix}" for suffix in (".tsv", ".tsv.gz")]
        match = next((p for p in paths if p.is_file()), None)
        if match is None and fold in REQUIRED:
            raise LsecDataError(
                "file not found", file=folder / f"{fold}.tsv.gz", expected=f"{fold}.tsv or {fold}.tsv.gz"
            )
        if match is not None:
            interactions[fold] = match
    features = {m: folder / name for m, name in MODALITIES.items() if (folder / name).is_file()}
    return TikTokFolder(interactions, features)


def read_pairs(path: PathLike) -> FoldPairs:
    """Distinct (user, item) pairs of one ``user<TAB>item`` file with a header (``.gz`` read transparently)."""
    path = Path(path)
    table = read_table(path, delimiter="\t", header=True, min_columns=2)
    if tuple(c.strip().lower() for c in table.columns) != HEADER:
        raise LsecDataError(
            "unexpected header on line 1",
            file=path,
            expected="the header 'user<TAB>item'",
            found="<TAB>".join(table.columns),
        )
    frame = table.frame
    bad = frame.filter(pl.col(REASON).is_not_null())
    if bad.height:
        raise LsecDataError(
            f"malformed line {bad[LINE][0]}",
            file=path,
            expected="two tab-separated fields 'user<TAB>item'",
            found=f"{bad[REASON][0]}: {bad['raw'][0]}",
        )
    ids = {}
    for position, column in enumerate(table.columns):
        text = frame[column].str.strip_chars()
        values = text.cast(pl.Int64, strict=False)
        wrong = (values.is_null() | (values < 0) | (values >= 2**31)).to_numpy()
        if wrong.any():
            row = int(np.flatnonzero(wrong)[0])
            raise LsecDataError(
                f"not an integer {HEADER[position]} id on line {frame[LINE][row]}",
                file=path,
                column=HEADER[position],
                expected="a non-negative integer id below 2^31",
                found=text[row],
            )
        ids[HEADER[position]] = values.to_numpy().astype(np.int64)
    users, items = ids["user"], ids["item"]
    _, first = np.unique(users * (2**31) + items, return_index=True)
    first.sort()  # keep the first occurrence of each pair, in file order
    return FoldPairs(users[first], items[first], frame.height, int(len(users) - len(first)), table.blank_lines)


def read_feature(path: PathLike) -> np.ndarray:
    """A 2-D float feature array (float64 becomes float32), checked for finiteness."""
    path = Path(path)
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise LsecDataError(
            "unreadable .npy file", file=path, expected="a NumPy array of floats (np.save)", found=str(err)
        ) from None
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.floating):
        raise LsecDataError(
            "wrong feature array",
            file=path,
            expected="a 2-D float array (num_items, dim)",
            found=f"shape {array.shape}, dtype {array.dtype}",
        )
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    if not np.isfinite(array).all():
        row = int(np.flatnonzero(~np.isfinite(array).all(axis=1))[0])
        raise LsecDataError("non-finite feature value", file=path, expected="finite floats", found=f"row {row}")
    return array


def import_tiktok_mm(folder: PathLike, out_dir: PathLike) -> HeteroGraph:
    """Import a TikTok multi-modal folder as a canonical dataset with the given split ``splits/given``.

    Returns the graph that was saved (users and items; the ``buy`` edges are train, valid, then test).
    """
    from lsec.data.split import write_split
    from lsec.data.store import save

    files = find_files(folder)
    pairs = {fold: read_pairs(path) for fold, path in files.interactions.items()}
    features = {m: read_feature(path) for m, path in files.features.items()}
    num_users = max(int(p.users.max()) + 1 for p in pairs.values())
    largest_item = max(int(p.items.max()) for p in pairs.values())
    rows = {m: len(a) for m, a in features.items()}
    if len(set(rows.values())) > 1:
        raise LsecDataError(
            "feature arrays disagree on the number of items",
            file=folder,
            expected="one row per item in every array",
            found=", ".join(f"{files.features[m].name}: {n} rows" for m, n in rows.items()),
        )
    num_items = max([largest_item + 1, *rows.values()])
    for modality, count in rows.items():
        if count != num_items:
            raise LsecDataError(
                "too few feature rows",
                file=files.features[modality],
                expected=f"one row per item: {num_items} (largest item id {largest_item} + 1)",
                found=f"{count} rows",
            )

    train_keys = pairs["train"].users * (2**31) + pairs["train"].items
    also_in_train = {
        fold: int(np.isin(p.users * (2**31) + p.items, train_keys).sum())
        for fold, p in pairs.items()
        if fold != "train"
    }
    src = np.concatenate([p.users for p in pairs.values()]).astype(np.int32)
    dst = np.concatenate([p.items for p in pairs.values()]).astype(np.int32)
    fold_index = {name: i for i, name in enumerate(FOLDS)}
    folds = np.concatenate([np.full(len(p.users), fold_index[f], np.int8) for f, p in pairs.items()])
    file_reports: dict[str, dict[str, Any]] = {
        files.interactions[fold].name: {
            "file": str(files.interactions[fold].resolve()),
            "rows_read": p.rows_read,
            "kept": len(p.users),
            "merged": p.merged,
            "rejected": 0,
            "rejected_by_reason": {},
            "blank_lines": p.blank_lines,
            "relation": "buy",
            "fold": fold_index[fold],
            "timestamps": None,
        }
        for fold, p in pairs.items()
    }
    graph = HeteroGraph(
        num_nodes={"user": num_users, "item": num_items},
        edges={("user", "buy", "item"): EdgeTable(src, dst, np.zeros(len(src), dtype=np.int64), None)},
        node_ids={
            "user": np.arange(num_users).astype(str).astype(object),
            "item": np.arange(num_items).astype(str).astype(object),
        },
        name=Path(out_dir).name,
        time_origin=0,
        meta={
            "provenance": {
                "format": "tiktok_mm",
                "folder": str(Path(folder).resolve()),
                "files": {fold: str(path.resolve()) for fold, path in files.interactions.items()},
            },
            "ingestion": {
                "files": file_reports,
                "totals": {
                    "rows_read": sum(p.rows_read for p in pairs.values()),
                    "kept": int(len(src)),
                    "merged": sum(p.merged for p in pairs.values()),
                    "rejected": 0,
                },
                "pairs_also_in_train": also_in_train,
            },
            "features": {
                f"item__{m}": {
                    "shape": list(a.shape),
                    "dtype": str(a.dtype),
                    "source": str(files.features[m].resolve()),
                }
                for m, a in features.items()
            },
        },
    )
    graph.validate()
    save(graph, out_dir)
    feature_dir = Path(out_dir) / "features"
    shutil.rmtree(feature_dir, ignore_errors=True)  # arrays of a replaced dataset would not match these items
    if features:
        feature_dir.mkdir()  # the dataset folder exists: save() wrote it
        for modality, array in features.items():
            np.save(feature_dir / f"item__{modality}.npy", array, allow_pickle=False)
    write_split(out_dir, {("user", "buy", "item"): folds}, name=SPLIT_NAME, tasks=(), graph=graph)
    return graph
