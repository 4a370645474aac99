"""MMBee's graph behaviour offline storage: metapath expansions precomputed for every user and streamer.

Serving never walks the graph (MMBee section 5.4, DESIGN section 6). A batch job computes, for every user,
its ``u2a2u``, ``u2a2u2a`` and ``u2a2a`` neighbours, for every streamer its ``a2a`` and ``a2u2a`` neighbours
(:mod:`lsec.graph.metapath`, ``k`` per metapath, -1 padded), and their mean-pooled pre-trained embeddings
(eq. 12 per metapath: ``pooled[r] = mean of Θ(v) over the row's neighbours``, zeros for an empty row, with
``Θ`` the GraphCL user table for ``u2a2u`` and the streamer table otherwise), and writes them as ``.npy``
arrays that the service memory-maps; looking up a node is a row read, ``O(1)`` per id::

    STORE/manifest.json                       format, version, metapaths, k, dims, counts, files (shape,
                                              dtype, sha256), how it was built
    STORE/embeddings/{user,streamer}.npy      the pre-trained tables Θ (num_nodes, d) float32
    STORE/user/<metapath>.indices.npy         (num_users, k) int32, -1 padded, best first
    STORE/user/<metapath>.pooled.npy          (num_users, d) float32
    STORE/streamer/<metapath>.indices.npy     (num_streamers, k) int32
    STORE/streamer/<metapath>.pooled.npy      (num_streamers, d) float32

Ids are the dataset's internal indices. A store is written into a temporary sibling folder and renamed into
place at the end, so a reader sees the old store or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from lsec.data.store import create_folder
from lsec.errors import LsecError
from lsec.graph.metapath import METAPATHS, MetapathNeighbours, mean_pool, metapath_neighbours
from lsec.graph.swing import GiftGraph, SwingNeighbours

__all__ = [
    "Expansion",
    "ExpansionStore",
    "UnknownIdError",
    "build_store",
    "expand",
    "SOURCE",
    "TARGET",
]

FORMAT = "lsec.expansion_store"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SOURCE = {"u2a2u": "user", "u2a2u2a": "user", "u2a2a": "user", "a2a": "streamer", "a2u2a": "streamer"}
"""The node type each metapath starts from (the rows of its arrays)."""
TARGET = {"u2a2u": "user", "u2a2u2a": "streamer", "u2a2a": "streamer", "a2a": "streamer", "a2u2a": "streamer"}
"""The node type each metapath reaches (its neighbour ids, and the table its pooled embedding averages)."""


class UnknownIdError(LsecError, IndexError):
    """An id that is not a row of the store."""


class Expansion(NamedTuple):
    """One metapath's expansion of a batch of ids. Shapes: indices (B, k) int32 (-1 padded); pooled (B, d)."""

    indices: np.ndarray
    pooled: np.ndarray


def expand(
    *,
    graph: GiftGraph,
    swing: SwingNeighbours,
    k: int,
    metapaths: Sequence[str] = METAPATHS,
    max_frontier: int = 64,
    kernel: str = "auto",
    num_threads: int | None = None,
) -> dict[str, MetapathNeighbours]:
    """The ``k`` best neighbours of every source of each metapath (:func:`lsec.graph.metapath.metapath_neighbours`)."""
    return {
        name: metapath_neighbours(
            metapath=name,
            graph=graph,
            k=k,
            swing=swing,
            max_frontier=max_frontier,
            kernel=kernel,
            num_threads=num_threads,
        )  # fmt: skip
        for name in metapaths
    }


def build_store(
    out: str | os.PathLike[str],
    *,
    graph: GiftGraph,
    swing: SwingNeighbours,
    user_embeddings: np.ndarray,
    streamer_embeddings: np.ndarray,
    k: int,
    neighbours: Mapping[str, MetapathNeighbours] | None = None,
    max_frontier: int = 64,
    provenance: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> ExpansionStore:
    """Compute and write the expansion store of ``graph`` (module docstring), then open it.

    Args:
        out: the store folder; must be new or empty unless ``overwrite``.
        graph, swing: the gift graph and the Swing neighbours of all its streamers.
        user_embeddings, streamer_embeddings: the pre-trained tables, (num_users, d) and (num_streamers, d).
        k: neighbours kept per metapath.
        neighbours: already computed expansions (e.g. the ones GraphCL took its positives from), by metapath;
            each must cover every source in order with width ``k``. Missing metapaths are computed.
        max_frontier: nodes kept after each intermediate hop of a walk.
        provenance: JSON-serialisable facts recorded in the manifest (dataset, seed, epochs ...).
        overwrite: replace an existing store.
    """
    owner = "build_store"
    root = Path(out)
    if root.exists() and not overwrite and (not root.is_dir() or any(root.iterdir())):
        raise LsecError(f"{root}: exists and is not empty (choose another --out or pass --overwrite).")
    tables = {
        "user": _table("user_embeddings", user_embeddings, graph.num_users, owner),
        "streamer": _table("streamer_embeddings", streamer_embeddings, graph.num_streamers, owner),
    }
    if tables["user"].shape[1] != tables["streamer"].shape[1]:
        raise ValueError(
            f"The 'streamer_embeddings' parameter of {owner} must have the width of 'user_embeddings' "
            f"({tables['user'].shape[1]}). Got {tables['streamer'].shape[1]}."
        )
    given = dict(neighbours or {})
    for name, found in given.items():
        rows = graph.num_users if SOURCE.get(name) == "user" else graph.num_streamers
        if name not in SOURCE or found.indices.shape != (rows, k) or not np.array_equal(found.sources, np.arange(rows)):
            raise ValueError(
                f"The 'neighbours' parameter of {owner} must map metapaths of {METAPATHS} to neighbours of all "
                f"{rows} sources, in order, with k = {k}. Got {name!r} with shape {found.indices.shape}."
            )
    missing = [name for name in METAPATHS if name not in given]
    given.update(expand(graph=graph, swing=swing, k=k, metapaths=missing, max_frontier=max_frontier))

    tmp = root.with_name(f".{root.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    create_folder(tmp, shown=root)
    files: dict[str, dict[str, Any]] = {}

    def put(name: str, array: np.ndarray) -> None:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.ascontiguousarray(array), allow_pickle=False)
        files[name] = {"shape": list(array.shape), "dtype": array.dtype.str, "sha256": _sha256(path)}

    for node_type, table in tables.items():
        put(f"embeddings/{node_type}.npy", table)
    metapath_meta = {}
    for name in METAPATHS:
        indices = given[name].indices.astype(np.int32)  # (n, k)
        pooled = mean_pool(table=tables[TARGET[name]], indices=indices).astype(np.float32)  # (n, d)
        put(f"{SOURCE[name]}/{name}.indices.npy", indices)
        put(f"{SOURCE[name]}/{name}.pooled.npy", pooled)
        metapath_meta[name] = {
            "source": SOURCE[name],
            "target": TARGET[name],
            "indices": f"{SOURCE[name]}/{name}.indices.npy",
            "pooled": f"{SOURCE[name]}/{name}.pooled.npy",
            "neighbours": int((indices >= 0).sum()),
            "empty_rows": int((indices < 0).all(axis=1).sum()),
        }
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "k": k,
        "embedding_dim": int(tables["user"].shape[1]),
        "max_frontier": max_frontier,
        "counts": {"user": graph.num_users, "streamer": graph.num_streamers, "gift_edges": graph.num_edges},
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
    """A store written by :func:`build_store`, its arrays memory-mapped (read-only).

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
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise LsecError(f"{root}: not an expansion store (no {MANIFEST}; build one with `lsec mmbee build-store`).")
    try:
        manifest: dict[str, Any] = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as err:
        raise LsecError(f"{manifest_path}: not valid JSON ({err.msg} at line {err.lineno}).") from None
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise LsecError(
            f"{manifest_path}: expected format {FORMAT!r} version {FORMAT_VERSION}, found "
            f"{manifest.get('format')!r} version {manifest.get('format_version')!r}."
        )
    return manifest


def _table(name: str, table: np.ndarray, rows: int, owner: str) -> np.ndarray:
    array = np.asarray(table)
    if array.ndim != 2 or array.shape[0] != rows or array.shape[1] < 1 or not np.isfinite(array).all():
        raise ValueError(
            f"The '{name}' parameter of {owner} must be a finite ({rows}, d) array. Got shape {array.shape}."
        )
    return array.astype(np.float32)


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
