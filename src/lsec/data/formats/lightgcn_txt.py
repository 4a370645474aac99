"""LightGCN / NGCF text layout (Gowalla, Yelp2018, Amazon-Book as the LightGCN authors distribute them).

Two files, one line per user: ``user item item ...`` (whitespace-separated, 0-based integer ids)::

    DIR/train.txt[.gz]   training interactions
    DIR/valid.txt[.gz]   optional validation interactions
    DIR/test.txt[.gz]    held-out interactions

A user line with no item is allowed (the user exists, without interactions). The import keeps the ids as
they are: internal index = the integer id, node counts = largest id + 1, so results are comparable
with the published ones; external ids are the same integers as strings. There are no timestamps
(``ts = 0``). The files become the ``buy`` relation (train edges first, then valid, then test) and the given
split ``splits/given`` (fold 0 = train.txt, fold 1 = valid.txt when present, fold 2 = test.txt); without a
``valid.txt`` the trainers carve a validation fold from training or train a fixed budget (``train.validate``), written with :func:`lsec.data.split.write_split`
without candidate lists (the LightGCN protocol is full-sort evaluation). A repeated (user, item) pair in a
file is kept once and counted in ``meta.json``; a pair in both files stays in both (as published).
Malformed tokens stop the import with an :class:`~lsec.errors.LsecDataError` naming the file, line and token.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lsec.data.graph import EdgeTable, HeteroGraph
from lsec.errors import LsecDataError

PathLike = str | os.PathLike[str]
SPLIT_NAME = "given"


@dataclass(frozen=True)
class LightGCNSplit:
    """Interactions of a LightGCN folder, as int64 arrays (duplicates within a file removed)."""

    train_users: np.ndarray
    train_items: np.ndarray
    test_users: np.ndarray
    test_items: np.ndarray
    num_users: int
    num_items: int
    duplicates: dict[str, int]
    valid_users: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    valid_items: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def find_files(folder: PathLike) -> tuple[Path, Path]:
    """``(train, test)`` paths of a LightGCN folder (``.txt`` or ``.txt.gz``)."""
    folder = Path(folder)
    found = []
    for stem in ("train", "test"):
        paths = [folder / f"{stem}{suffix}" for suffix in (".txt", ".txt.gz")]
        match = next((p for p in paths if p.is_file()), None)
        if match is None:
            raise LsecDataError("file not found", file=folder / f"{stem}.txt", expected=f"{stem}.txt or {stem}.txt.gz")
        found.append(match)
    return found[0], found[1]


def find_valid(folder: PathLike) -> Path | None:
    """``valid.txt`` or ``valid.txt.gz`` of a LightGCN folder, or None (the validation file is optional)."""
    return next((p for p in (Path(folder) / "valid.txt", Path(folder) / "valid.txt.gz") if p.is_file()), None)


def read_interactions(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(users, items) of one ``user item item ...`` file (``.gz`` is read transparently)."""
    path = Path(path)
    if not path.is_file():
        raise LsecDataError("file not found", file=path, expected="a LightGCN 'user item item ...' text file")
    opener = gzip.open if path.suffix == ".gz" else open
    users: list[np.ndarray] = []
    items: list[np.ndarray] = []
    with opener(path, "rt", encoding="utf-8") as handle:
        for row, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                ids = np.array(fields, dtype=np.int64)
            except ValueError:
                bad = next(f for f in fields if not f.lstrip("-").isdigit())
                raise LsecDataError(
                    "not an integer id", file=path, row=row, expected="non-negative integer ids", found=bad
                ) from None
            if (ids < 0).any():
                raise LsecDataError(
                    "negative id", file=path, row=row, expected="non-negative integer ids", found=int(ids.min())
                )
            users.append(np.full(len(ids) - 1, ids[0], dtype=np.int64))
            items.append(ids[1:])
            if len(ids) == 1:  # a user without items still counts as a node
                users.append(ids[:1])
                items.append(np.array([-1], dtype=np.int64))
    if not users:
        raise LsecDataError("empty file", file=path, expected="at least one 'user item ...' line")
    return np.concatenate(users), np.concatenate(items)


def read_lightgcn(train_path: PathLike, test_path: PathLike, valid_path: PathLike | None = None) -> LightGCNSplit:
    """Read the files; node counts are the largest ids + 1 over all of them."""
    parts = {}
    duplicates = {}
    num_users = num_items = 0
    files = [("train", train_path), ("test", test_path)] + ([("valid", valid_path)] if valid_path else [])
    for name, path in files:
        users, items = read_interactions(path)
        num_users = max(num_users, int(users.max()) + 1)
        num_items = max(num_items, int(items.max()) + 1)
        keep = items >= 0
        users, items = users[keep], items[keep]
        _, first = np.unique(users * (2**31) + items, return_index=True)
        first.sort()
        duplicates[name] = int(len(users) - len(first))
        parts[name] = (users[first], items[first])
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    return LightGCNSplit(*parts["train"], *parts["test"], num_users, num_items, duplicates, *parts.get("valid", empty))


def import_lightgcn_txt(
    train_path: PathLike, test_path: PathLike, out_dir: PathLike, *, valid_path: PathLike | None = None
) -> HeteroGraph:
    """Import a LightGCN folder's files as a canonical dataset with the given split ``splits/given``.

    Returns the graph that was saved (users and items only; the ``buy`` edges are train, valid, then test).
    """
    from lsec.data.split import write_split
    from lsec.data.store import save

    data = read_lightgcn(train_path, test_path, valid_path)
    src = np.concatenate([data.train_users, data.valid_users, data.test_users]).astype(np.int32)
    dst = np.concatenate([data.train_items, data.valid_items, data.test_items]).astype(np.int32)
    graph = HeteroGraph(
        num_nodes={"user": data.num_users, "item": data.num_items},
        edges={("user", "buy", "item"): EdgeTable(src, dst, np.zeros(len(src), dtype=np.int64), None)},
        node_ids={
            "user": np.arange(data.num_users).astype(str).astype(object),
            "item": np.arange(data.num_items).astype(str).astype(object),
        },
        name=Path(out_dir).name,
        time_origin=0,
        meta={
            "provenance": {
                "format": "lightgcn_txt",
                "train": str(Path(train_path).resolve()),
                "test": str(Path(test_path).resolve()),
                **({"valid": str(Path(valid_path).resolve())} if valid_path else {}),
            },
            "ingestion": {
                "train_rows": len(data.train_users),
                "valid_rows": len(data.valid_users),
                "test_rows": len(data.test_users),
                "duplicates_merged": data.duplicates,
            },
        },
    )
    graph.validate()
    save(graph, out_dir)
    folds = np.concatenate(
        [
            np.zeros(len(data.train_users), np.int8),
            np.ones(len(data.valid_users), np.int8),
            np.full(len(data.test_users), 2, np.int8),
        ]
    )
    write_split(out_dir, {("user", "buy", "item"): folds}, name=SPLIT_NAME, tasks=(), graph=graph)
    return graph
