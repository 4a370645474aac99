"""MMBee's graph behaviour offline storage: metapath expansions precomputed for every user and streamer.

Serving never walks the graph (MMBee section 5.4, DESIGN section 6). A batch job computes, for every user,
its ``u2a2u``, ``u2a2u2a`` and ``u2a2a`` neighbours, for every streamer its ``a2a`` and ``a2u2a`` neighbours
(:mod:`lsec.graph.metapath`, ``k`` per metapath, -1 padded), and their mean-pooled pre-trained embeddings
(eq. 12 per metapath: ``pooled[r] = mean of Θ(v) over the row's neighbours``, zeros for an empty row, with
``Θ`` the GraphCL user table for ``u2a2u`` and the streamer table otherwise), and writes them as ``.npy``
arrays that the service memory-maps; looking up a node is a row read, ``O(1)`` per id.

The files and their reader (:class:`ExpansionStore`, :func:`~lsec.data.expansion_store.write_store`) are in
:mod:`lsec.data.expansion_store`, so that training reads a store without importing the service; this module
computes what goes into one (:func:`expand`, :func:`build_store`) and re-exports the reader's names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lsec.data.expansion_store import SOURCE, TARGET, Expansion, ExpansionStore, UnknownIdError, write_store
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

    indices = {name: given[name].indices.astype(np.int32) for name in METAPATHS}  # (n, k) each
    return write_store(
        root,
        tables=tables,
        indices=indices,
        pooled=lambda name: mean_pool(table=tables[TARGET[name]], indices=indices[name]),
        k=k,
        counts={"user": graph.num_users, "streamer": graph.num_streamers, "gift_edges": graph.num_edges},
        max_frontier=max_frontier,
        provenance=provenance,
    )


def _table(name: str, table: np.ndarray, rows: int, owner: str) -> np.ndarray:
    array = np.asarray(table)
    if array.ndim != 2 or array.shape[0] != rows or array.shape[1] < 1 or not np.isfinite(array).all():
        raise ValueError(
            f"The '{name}' parameter of {owner} must be a finite ({rows}, d) array. Got shape {array.shape}."
        )
    return array.astype(np.float32)
