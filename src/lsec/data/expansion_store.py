"""The expansion store's files: MMBee's metapath expansions of every user and streamer, memory-mapped.

The store is a file format, so its reader and writer live in ``data/`` (all file I/O does, DESIGN section 1):
training (:mod:`lsec.train.gtr`) and the service (:mod:`lsec.serve.expansion_store`, which computes the
expansions and builds a store) both read it from here. Layout::

    STORE/manifest.json                       format, version, metapaths, k, dims, counts, files (shape,
                                              dtype, sha256), how it was built
    STORE/embeddings/{user,streamer}.npy      the pre-trained tables Θ (num_nodes, d) float32
    STORE/user/<metapath>.indices.npy         (num_users, k) int32, -1 padded, best first
    STORE/user/<metapath>.pooled.npy          (num_users, d) float32
    STORE/streamer/<metapath>.indices.npy     (num_streamers, k) int32
    STORE/streamer/<metapath>.pooled.npy      (num_streamers, d) float32

Ids are the dataset's internal indices. :func:`write_store` writes into a temporary sibling folder and
renames it into place at the end, so a reader sees the old store or the new one, never half of one.
:meth:`ExpansionStore.open` memory-maps the arrays (checked against the manifest); a lookup is a row read.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from lsec.data.manifest import read_manifest
from lsec.data.store import create_folder
from lsec.errors import LsecError

__all__ = ["Expansion", "ExpansionStore", "UnknownIdError", "write_store", "SOURCE", "TARGET", "MANIFEST"]

FORMAT = "lsec.expansion_store"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SOURCE = {"u2a2u": "user", "u2a2u2a": "user", "u2a2a": "user", "a2a": "streamer", "a2u2a": "streamer"}
"""The node type each metapath starts from (the rows of its arrays), in the store's metapath order."""
TARGET = {"u2a2u": "user", "u2a2u2a": "streamer", "u2a2a": "streamer", "a2a": "streamer", "a2u2a": "streamer"}
"""The node type each metapath reaches (its neighbour ids, and the table its pooled embedding averages)."""


class UnknownIdError(LsecError, IndexError):
    """An id that is not a row of the store."""


class Expansion(NamedTuple):
    """One metapath's expansion of a batch of ids. Shapes: indices (B, k) int32 (-1 padded); pooled (B, d)."""

    indices: np.ndarray
    pooled: np.ndarray


def write_store(
    out: str | os.PathLike[str],
    *,
    tables: Mapping[str, np.ndarray],
    indices: Mapping[str, np.ndarray],
    pooled: Callable[[str], np.ndarray],
    k: int,
    counts: Mapping[str, int],
    max_frontier: int,
    provenance: Mapping[str, Any] | None = None,
) -> ExpansionStore:
    """Write a store (module docstring) from finished arrays, atomically, and open it.

    Args:
        out: the store folder (replaced as a whole: callers check that it may be).
        tables: ``{"user": (num_users, d), "streamer": (num_streamers, d)}`` float32 tables Θ.
        indices: per metapath of :data:`SOURCE`, the (rows, k) int32 neighbour ids (-1 padded).
        pooled: ``pooled(metapath)`` gives its (rows, d) mean-pooled embeddings; called once per metapath, so
            the five arrays are never in memory together.
        k, max_frontier: how the expansions were bounded (recorded).
        counts: ``user``, ``streamer`` and ``gift_edges`` of the graph the expansions come from.
        provenance: JSON-serialisable facts recorded in the manifest.
    """
    root = Path(out)
    tmp = root.with_name(f".{root.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    create_folder(tmp, shown=root)
    files: dict[str, dict[str, Any]] = {}

    def put(name: str, array: np.ndarray) -> None:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.ascontiguousarray(array), allow_pickle=False)
        files[name] = {"shape": list(array.shape), "dtype": array.dtype.str, "sha256": _sha256(path)}

    for node_type in ("user", "streamer"):
        put(f"embeddings/{node_type}.npy", np.asarray(tables[node_type], np.float32))
    metapath_meta = {}
    for name in SOURCE:
        ids = np.asarray(indices[name]).astype(np.int32)  # (n, k)
        put(f"{SOURCE[name]}/{name}.indices.npy", ids)
        put(f"{SOURCE[name]}/{name}.pooled.npy", np.asarray(pooled(name)).astype(np.float32))
        metapath_meta[name] = {
            "source": SOURCE[name],
            "target": TARGET[name],
            "indices": f"{SOURCE[name]}/{name}.indices.npy",
            "pooled": f"{SOURCE[name]}/{name}.pooled.npy",
            "neighbours": int((ids >= 0).sum()),
            "empty_rows": int((ids < 0).all(axis=1).sum()),
        }
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "k": k,
        "embedding_dim": int(np.asarray(tables["user"]).shape[1]),
        "max_frontier": max_frontier,
        "counts": {name: int(counts[name]) for name in ("user", "streamer", "gift_edges")},
        "metapaths": metapath_meta,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "provenance": dict(provenance or {}),
        "files": files,
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    _swap(tmp, root)
    return ExpansionStore.open(root)


@dataclass(frozen=True)
class ExpansionStore:
    """A store written by :func:`write_store`, its arrays memory-mapped (read-only).

    Attributes:
        path: the store folder; manifest: its ``manifest.json``.
        arrays: file name (relative to ``path``) -> memory-mapped array.
    """

    path: Path
    manifest: dict[str, Any]
    arrays: dict[str, np.ndarray]

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, verify: bool = False) -> ExpansionStore:
        """Memory-map the store at ``path``; ``verify`` also checks each file's sha256 (reads every byte)."""
        root = Path(path)
        manifest = _read_manifest(root)
        arrays = {}
        for name, entry in manifest["files"].items():
            file = root / name
            if not file.is_file():
                raise LsecError(f"{root}: store file {name} is missing (rebuild the store).")
            if verify and _sha256(file) != entry["sha256"]:
                raise LsecError(f"{root}: store file {name} does not match its checksum (rebuild the store).")
            try:
                array = np.load(file, mmap_mode="r", allow_pickle=False)
            except ValueError as err:
                raise LsecError(f"{root}: store file {name} is not a readable .npy array ({err}).") from None
            if list(array.shape) != entry["shape"] or array.dtype.str != entry["dtype"]:
                raise LsecError(
                    f"{root}: store file {name} has shape {list(array.shape)} and dtype {array.dtype.str}; the "
                    f"manifest says {entry['shape']} and {entry['dtype']} (rebuild the store)."
                )
            arrays[name] = array
        return cls(path=root, manifest=manifest, arrays=arrays)

    @property
    def k(self) -> int:
        return int(self.manifest["k"])

    @property
    def embedding_dim(self) -> int:
        return int(self.manifest["embedding_dim"])

    @property
    def num_users(self) -> int:
        return int(self.manifest["counts"]["user"])

    @property
    def num_streamers(self) -> int:
        return int(self.manifest["counts"]["streamer"])

    @property
    def metapaths(self) -> tuple[str, ...]:
        return tuple(self.manifest["metapaths"])

    def embeddings(self, node_type: str) -> np.ndarray:
        """The pre-trained (num_nodes, d) table of ``"user"`` or ``"streamer"`` (memory-mapped)."""
        if node_type not in ("user", "streamer"):
            raise ValueError(f"ExpansionStore.embeddings: node_type must be 'user' or 'streamer'. Got {node_type!r}.")
        return self.arrays[f"embeddings/{node_type}.npy"]

    def lookup(self, *, users: np.ndarray | None = None, streamers: np.ndarray | None = None) -> dict[str, Expansion]:
        """The expansions of ``users`` (``u2a2u``, ``u2a2u2a``, ``u2a2a``) and of ``streamers`` (``a2a``,
        ``a2u2a``), by metapath; a side that is ``None`` is left out. Raises :class:`UnknownIdError` for an id
        that is not a row of the store.

        Shapes:
            users: (B,), streamers: (B',) -> indices (B, k) / (B', k) int32, pooled (B, d) / (B', d) float32
        """
        out: dict[str, Expansion] = {}
        for node_type, ids in (("user", users), ("streamer", streamers)):
            if ids is None:
                continue
            rows = self._rows(node_type, ids)
            for name, entry in self.manifest["metapaths"].items():
                if entry["source"] == node_type:
                    out[name] = Expansion(
                        indices=np.asarray(self.arrays[entry["indices"]][rows]),
                        pooled=np.asarray(self.arrays[entry["pooled"]][rows]),
                    )
        return out

    def _rows(self, node_type: str, ids: np.ndarray) -> np.ndarray:
        array = np.asarray(ids)
        name = f"{node_type}s"
        if array.ndim != 1 or not (array.size == 0 or np.issubdtype(array.dtype, np.integer)):
            raise ValueError(
                f"ExpansionStore.lookup: {name} must be a 1-d array of integer ids (internal indices). "
                f"Got dtype {array.dtype}, shape {array.shape}."
            )
        count = self.num_users if node_type == "user" else self.num_streamers
        bad = np.flatnonzero((array < 0) | (array >= count))
        if bad.size:
            raise UnknownIdError(
                f"ExpansionStore.lookup: unknown {node_type} id {array[bad[0]]} at position {bad[0]} "
                f"({bad.size} unknown in all); this store holds {name} 0..{count - 1} ({self.path})."
            )
        return array.astype(np.int64)

    def __repr__(self) -> str:
        return (
            f"ExpansionStore({str(self.path)!r}, {self.num_users} users, {self.num_streamers} streamers, "
            f"k={self.k}, dim={self.embedding_dim})"
        )


def _read_manifest(root: Path) -> dict[str, Any]:
    return read_manifest(
        root, MANIFEST, FORMAT, FORMAT_VERSION, "an expansion store", "build one with `lsec mmbee build-store`"
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _swap(tmp: Path, root: Path) -> None:
    """Put the finished folder ``tmp`` at ``root``: an old store is renamed aside first, then removed."""
    old = root.with_name(f".{root.name}.old-{os.getpid()}")
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        os.replace(root, old)
    elif root.is_dir():
        root.rmdir()
    os.replace(tmp, root)
    shutil.rmtree(old, ignore_errors=True)
