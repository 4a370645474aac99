"""Labelled events and dense feature arrays of a canonical dataset folder (DESIGN section 3).

Next to ``nodes/`` and ``edges/`` (written by :mod:`lsec.data.store`) a dataset may hold::

    events/<name>.parquet           labelled samples that are not graph edges, e.g. ``impressions``
    features/<owner>__<name>.npy    dense float16 / float32 arrays, row i = internal index i of ``owner``

Known event tables have a fixed schema (:data:`EVENT_SCHEMAS`); other names are accepted as they are.
Feature files are plain ``.npy`` (no pickle), so ``np.load(path, mmap_mode="r")`` maps them without reading.

:func:`save_dataset` writes a graph together with its events and features and lists both in ``meta.json``
(keys ``events`` and ``features``) through ``graph.meta``, so :mod:`lsec.data.store` needs no change.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from lsec.data.graph import HeteroGraph
from lsec.data.store import create_folder, save
from lsec.errors import LsecDataError

EVENTS_FOLDER = "events"
FEATURES_FOLDER = "features"
FEATURE_DTYPES = (np.dtype(np.float16), np.dtype(np.float32))

EVENT_SCHEMAS: dict[str, dict[str, str]] = {
    # One (user, segment) exposure: label 1 when the user sent a gift during it, amount > 0 iff label 1.
    "impressions": {
        "user": "int32",
        "streamer": "int32",
        "segment": "int32",
        "ts": "int64",
        "label": "int8",
        "amount": "float32",
    },
    # One 30-second slice of a live room: row i is segment i; ts is the second it starts.
    "segments": {"segment": "int32", "streamer": "int32", "room": "int32", "ts": "int64"},
    # DM-GNN consumption events (browse / cart / pay as kind).
    "consumption": {"user": "int32", "item": "int32", "ts": "int64", "kind": "int8", "amount": "float32"},
}

_POLARS = {
    "int8": pl.Int8,
    "int32": pl.Int32,
    "int64": pl.Int64,
    "float32": pl.Float32,
}


def events_path(root: str | os.PathLike[str], name: str) -> Path:
    return Path(root) / EVENTS_FOLDER / f"{name}.parquet"


def feature_path(root: str | os.PathLike[str], owner: str, name: str) -> Path:
    return Path(root) / FEATURES_FOLDER / f"{owner}__{name}.npy"


# --------------------------------------------------------------------------- events


def write_events(root: str | os.PathLike[str], name: str, columns: Mapping[str, np.ndarray]) -> Path:
    """Write ``events/<name>.parquet``; a known table must have exactly its schema's columns.

    Values are cast to the schema dtypes; a cast that would change a value (e.g. 3.5 into int32, 2**40 into
    int32) raises :class:`LsecDataError` naming the column.
    """
    path = events_path(root, name)
    lengths = {c: int(np.asarray(v).shape[0]) for c, v in columns.items()}
    if len(set(lengths.values())) > 1:
        raise LsecDataError(f"event table {name!r}: column lengths differ", file=path, found=lengths)
    schema = EVENT_SCHEMAS.get(name)
    if schema is not None and set(columns) != set(schema):
        raise LsecDataError(
            f"event table {name!r} has the wrong columns", file=path, expected=str(list(schema)), found=list(columns)
        )
    frame: dict[str, pl.Series] = {}
    for column in schema or columns:
        values = np.asarray(columns[column])
        if schema is not None:
            target = np.dtype(schema[column])
            cast = values.astype(target)
            if values.size and not np.array_equal(cast, values, equal_nan=values.dtype.kind == "f"):
                raise LsecDataError(
                    f"event table {name!r}: values do not fit the column type",
                    file=path,
                    column=column,
                    expected=schema[column],
                    found=values.dtype,
                )
            frame[column] = pl.Series(column, cast, dtype=_POLARS[schema[column]])
        else:
            frame[column] = pl.Series(column, values)
    create_folder(path.parent, shown=Path(root))
    pl.DataFrame(frame).write_parquet(path)
    return path


def read_events(root: str | os.PathLike[str], name: str, *, columns: list[str] | None = None) -> dict[str, np.ndarray]:
    """Columns of ``events/<name>.parquet`` as numpy arrays, checked against the schema of a known table."""
    path = events_path(root, name)
    if not path.is_file():
        have = ", ".join(list_events(root)) or "none"
        raise LsecDataError(
            f"event table {name!r} not found", file=path, expected="a file written by lsec", found=f"tables: {have}"
        )
    try:
        frame = pl.read_parquet(path, columns=columns)
    except pl.exceptions.ColumnNotFoundError as err:
        raise LsecDataError(f"event table {name!r}: column missing", file=path, found=str(err)) from None
    except (OSError, pl.exceptions.ComputeError) as err:
        raise LsecDataError("unreadable event table", file=path, expected="a Parquet file", found=str(err)) from None
    schema = EVENT_SCHEMAS.get(name, {})
    for column in columns or list(schema):
        if column not in frame.columns:
            raise LsecDataError(
                f"event table {name!r}: column missing", file=path, column=column, expected=schema.get(column)
            )
    out: dict[str, np.ndarray] = {}
    for column in frame.columns:
        values = frame[column].to_numpy()
        want = schema.get(column)
        if want is not None and values.dtype != np.dtype(want):
            raise LsecDataError(
                f"event table {name!r}: wrong column type",
                file=path,
                column=column,
                expected=want,
                found=values.dtype,
            )
        out[column] = values
    return out


def list_events(root: str | os.PathLike[str]) -> list[str]:
    folder = Path(root) / EVENTS_FOLDER
    return sorted(p.stem for p in folder.glob("*.parquet")) if folder.is_dir() else []


# --------------------------------------------------------------------------- features


def write_feature(root: str | os.PathLike[str], owner: str, name: str, array: np.ndarray) -> Path:
    """Write ``features/<owner>__<name>.npy`` (float16 or float32, no pickle)."""
    path = feature_path(root, owner, name)
    array = np.asarray(array)
    if array.dtype not in FEATURE_DTYPES:
        raise LsecDataError(
            "feature array has an unsupported type", file=path, expected="float16 or float32", found=array.dtype
        )
    if "__" in owner or "__" in name or not owner or not name:
        raise LsecDataError(
            "bad feature name", file=path, expected="owner and name without '__'", found=f"{owner}, {name}"
        )
    create_folder(path.parent, shown=Path(root))
    np.save(path, np.ascontiguousarray(array), allow_pickle=False)
    return path


def read_feature(
    root: str | os.PathLike[str], owner: str, name: str, *, rows: int | None = None, mmap: bool = True
) -> np.ndarray:
    """``features/<owner>__<name>.npy``, memory-mapped read-only by default; ``rows`` checks the first dimension."""
    path = feature_path(root, owner, name)
    if not path.is_file():
        have = ", ".join(list_features(root)) or "none"
        raise LsecDataError(
            "feature file not found", file=path, expected="a file written by lsec", found=f"features: {have}"
        )
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise LsecDataError("unreadable feature file", file=path, expected="a .npy array", found=str(err)) from None
    if array.dtype not in FEATURE_DTYPES:
        raise LsecDataError(
            "feature array has an unsupported type", file=path, expected="float16 or float32", found=array.dtype
        )
    if rows is not None and (array.ndim == 0 or array.shape[0] != rows):
        raise LsecDataError(
            f"feature array does not have one row per {owner}",
            file=path,
            expected=f"{rows} rows",
            found=tuple(array.shape),
        )
    return array


def list_features(root: str | os.PathLike[str]) -> list[str]:
    """``owner__name`` of every feature file."""
    folder = Path(root) / FEATURES_FOLDER
    return sorted(p.stem for p in folder.glob("*.npy")) if folder.is_dir() else []


# --------------------------------------------------------------------------- whole dataset


def save_dataset(
    graph: HeteroGraph,
    path: str | os.PathLike[str],
    *,
    events: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    features: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """:func:`lsec.data.store.save` plus ``events/`` and ``features/`` (keys ``"<owner>__<name>"``).

    ``meta.json`` lists them under ``events`` (name, file, rows) and ``features`` (owner, name, file, shape,
    dtype). Stale files of earlier runs in those folders are removed first.
    """
    root = Path(path)
    events = events or {}
    features = features or {}
    listing: dict[str, Any] = {
        "events": [
            {"name": name, "file": f"{EVENTS_FOLDER}/{name}.parquet", "rows": int(next(iter(cols.values())).shape[0])}
            for name, cols in events.items()
        ],
        "features": [],
    }
    for key, array in features.items():
        owner, _, name = key.partition("__")
        listing["features"].append(
            {
                "owner": owner,
                "name": name,
                "file": f"{FEATURES_FOLDER}/{key}.npy",
                "shape": list(array.shape),
                "dtype": str(array.dtype),
            }
        )
    for folder, suffix in ((EVENTS_FOLDER, "*.parquet"), (FEATURES_FOLDER, "*.npy")):
        for stale in (root / folder).glob(suffix) if (root / folder).is_dir() else []:
            stale.unlink()
    for name, cols in events.items():
        write_events(root, name, cols)
    for key, array in features.items():
        owner, _, name = key.partition("__")
        write_feature(root, owner, name, array)
    with_listing = graph.with_edges(graph.edges)
    with_listing.meta.update(listing)
    save(with_listing, root)
    return root
