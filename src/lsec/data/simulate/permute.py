"""Null controls: shuffle one endpoint of a relation so the relation carries no information.

A configuration-model shuffle: the chosen endpoint column is permuted at random, so every node keeps
its degree on both sides (each row keeps its other endpoint, timestamp and weight) while who is linked
to whom becomes random. The permutation can create repeated pairs; those are removed by degree-preserving
swaps with random other rows, and any pair still repeated after that (only in nearly complete graphs) is
dropped (counted in ``meta["permuted"]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lsec.data.graph import EdgeTable, HeteroGraph
from lsec.data.schema import Relation, relation

SWAP_ROUNDS = 30
SWAP_CANDIDATES = 16


def default_endpoint(rel: Relation) -> str:
    """The streamer side when the relation has one (follow: dst, sell: src), otherwise ``dst``."""
    if rel[2] == "streamer":
        return "dst"
    if rel[0] == "streamer":
        return "src"
    return "dst"


def permute_relation(
    graph: HeteroGraph, relation_name: str | Relation, seed: int = 0, endpoint: str | None = None
) -> HeteroGraph:
    """A copy of ``graph`` whose ``relation_name`` edges have their ``endpoint`` column shuffled.

    Args:
        graph: any dataset.
        relation_name: e.g. ``"follow"`` or ``("streamer", "sell", "item")``.
        seed: seed of the permutation.
        endpoint: ``"src"`` or ``"dst"``; default :func:`default_endpoint` (the streamer side).

    Returns:
        A new graph (other relations shared, not copied); ``meta["permuted"]`` lists what was done.
    """
    rel = relation(relation_name)
    table = graph[rel]
    side = endpoint or default_endpoint(rel)
    if side not in ("src", "dst"):
        raise ValueError(f"The 'endpoint' parameter of permute_relation must be 'src' or 'dst'. Got {side!r} instead.")
    rng = np.random.default_rng(seed)
    moved = getattr(table, side).astype(np.int64)
    kept = getattr(table, "dst" if side == "src" else "src").astype(np.int64)
    moved = moved[rng.permutation(moved.shape[0])]

    width = int(max(graph.num_nodes[rel[0]], graph.num_nodes[rel[2]], 1))
    moved = _resolve_repeats(kept, moved, width, rng)
    keep = np.ones(moved.shape[0], dtype=bool)
    keep[_repeated_rows(kept, moved, width)] = False

    new_src, new_dst = (moved, kept) if side == "src" else (kept, moved)
    permuted = EdgeTable(
        new_src[keep],
        new_dst[keep],
        table.ts[keep],
        None if table.weight is None else table.weight[keep],
    )
    edges = dict(graph.edges)
    edges[rel] = permuted
    out = graph.with_edges(edges)
    record: dict[str, Any] = {
        "relation": rel[1],
        "endpoint": side,
        "seed": int(seed),
        "duplicates_dropped": int((~keep).sum()),
    }
    out.meta["permuted"] = [*graph.meta.get("permuted", []), record]
    return out


def _resolve_repeats(kept: np.ndarray, moved: np.ndarray, width: int, rng: np.random.Generator) -> np.ndarray:
    """Degree-preserving swaps that remove repeated pairs.

    Each repeated row proposes a swap of its moved endpoint with a random other row; a swap is accepted
    when neither of the two new pairs exists yet (and no two accepted swaps share a row or create the
    same pair). Repeats are rare and swaps mostly succeed, so a few vectorised rounds suffice.
    """
    moved = moved.copy()
    for _ in range(SWAP_ROUNDS):
        repeated = _repeated_rows(kept, moved, width)
        if repeated.size == 0:
            break
        keys = np.sort(kept * width + moved)
        candidates = rng.integers(0, moved.shape[0], (repeated.size, SWAP_CANDIDATES))  # (R, C)
        cand_a = kept[repeated, None] * width + moved[candidates]
        cand_b = kept[candidates] * width + moved[repeated, None]
        valid = ~_contains(keys, cand_a) & ~_contains(keys, cand_b) & (candidates != repeated[:, None])
        pick = np.argmax(valid, axis=1)
        row = np.arange(repeated.size)
        ok = valid[row, pick]
        partner, new_a, new_b = candidates[row, pick], cand_a[row, pick], cand_b[row, pick]
        # one swap per row and per new pair within the round
        rows = np.concatenate([repeated, partner])
        pairs = np.concatenate([new_a, new_b])
        first_row = _first_occurrence(rows)
        first_pair = _first_occurrence(pairs)
        half = repeated.size
        ok &= first_row[:half] & first_row[half:] & first_pair[:half] & first_pair[half:]
        ok &= ~np.isin(partner, repeated)
        a, b = repeated[ok], partner[ok]
        moved[a], moved[b] = moved[b], moved[a].copy()
    return moved


def _contains(sorted_keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    pos = np.minimum(np.searchsorted(sorted_keys, query), sorted_keys.size - 1)
    return np.asarray(sorted_keys[pos] == query)


def _first_occurrence(values: np.ndarray) -> np.ndarray:
    """True where a value appears for the first time (in array order), False on later repeats."""
    _, first = np.unique(values, return_index=True)
    out = np.zeros(values.shape[0], dtype=bool)
    out[first] = True
    return out


def _repeated_rows(kept: np.ndarray, moved: np.ndarray, width: int) -> np.ndarray:
    """Rows whose (kept, moved) pair already occurred in an earlier row."""
    key = kept * width + moved
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    repeat = np.zeros(key.shape[0], dtype=bool)
    repeat[1:] = sorted_key[1:] == sorted_key[:-1]
    return np.sort(order[repeat])
