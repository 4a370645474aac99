"""Candidate lists drawn by counter-based hashing, so that one machine and a Spark cluster draw the same lists.

:func:`lsec.data.split.build_candidates` draws from one sequential random stream: the lists depend on the
order in which every user's draws are made, which a cluster cannot reproduce. :func:`hashed_candidates` draws
each user's list from a hash of ``(seed, task, fold, user, counter)`` instead, so a user's list depends on
nothing but the data of that user; :mod:`lsec.distributed.spark.split` computes the same lists row for row.

Rules (``base = hash(seed, task, fold)``, ``h`` the splitmix64 mix, ``n`` the number of targets):

* positives: the user's distinct targets of the task relation in the fold; a user with more than
  ``num_candidates // 2`` keeps the ``num_candidates // 2`` with the smallest ``h(base_pos, user, target)``;
* negatives needed: ``min(num_candidates - positives, available)``, ``available`` = targets the user never
  interacted with in the relation (any fold, edges outside the windows included);
* a *sparse* user (``2 * needed <= available``) takes the first ``needed`` distinct non-interacted values of
  the sequence ``t_j = h(h(base ^ user) + j * golden) mod n``, ``j = 0, 1, ...``: i.i.d. uniform draws with
  repeats and interacted targets rejected, so the set is a uniform random subset of the complement;
* a *dense* user (``2 * needed > available``) takes the ``needed`` non-interacted targets with the smallest
  ``h(base_dense, user, target)`` (bottom-k by hash: also a uniform subset), found by listing its complement.

The rows, ``cold`` flags and counts follow :func:`lsec.data.split.given_candidates` (the lists are handed
to :func:`lsec.data.split.write_split` as given lists).
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lsec.data.graph import HeteroGraph
from lsec.data.schema import relation
from lsec.data.split.candidates import Candidates, given_candidates
from lsec.data.split.folds import EVAL_FOLDS, FOLD_NAMES, FoldKey, SplitFolds, fold_index
from lsec.data.split.store import SPLIT_FILE, Split, write_split
from lsec.data.store import load

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
SALT = {"negative": 1, "positive": 2, "dense": 3}


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on uint64 values (wrapping arithmetic). Shapes: (N,) -> (N,) uint64."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def base_key(seed: int, task: str, fold: FoldKey, salt: str) -> int:
    """The per-list hash base of ``(seed, task, fold, salt)`` as a Python int (fits uint64)."""
    parts = (seed & (2**64 - 1), zlib.crc32(relation(task)[1].encode()), fold_index(fold), SALT[salt])
    key = np.zeros(1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for part in parts:
            key = mix(key ^ np.uint64(part) + GOLDEN)
    return int(key[0])


def pair_hash(base: int, user: np.ndarray, value: np.ndarray) -> np.ndarray:
    """``h(h(base ^ user) + value * golden)``: one uint64 per (user, value). Shapes: (N,), (N,) -> (N,)."""
    user = np.asarray(user, dtype=np.int64).astype(np.uint64)
    value = np.asarray(value, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        return mix(mix(np.uint64(base) ^ user) + value * GOLDEN)


def draw_targets(base: int, user: np.ndarray, counter: np.ndarray, num_targets: int) -> np.ndarray:
    """The sparse users' sequence ``t_j`` (module docstring). Shapes: (N,), (N,) -> (N,) int64."""
    return (pair_hash(base, user, counter) % np.uint64(num_targets)).astype(np.int64)


def hashed_candidates(
    graph: HeteroGraph,
    folds: Mapping[Any, np.ndarray],
    task: str,
    fold: FoldKey,
    num_candidates: int = 500,
    seed: int = 0,
) -> Candidates:
    """The candidate lists of ``task`` in ``fold`` by the hashing rules of the module docstring."""
    rel = relation(task)
    fold_id = fold_index(fold)
    table = graph[rel]
    num_targets = int(graph.num_nodes[rel[2]])
    in_fold = np.asarray(folds[rel]) == fold_id
    width = np.int64(max(num_targets, 1))
    seen = np.unique(table.src.astype(np.int64) * width + table.dst)
    pos = np.unique(table.src[in_fold].astype(np.int64) * width + table.dst[in_fold])
    pos_user, pos_target = pos // width, pos % width
    max_positives = max(num_candidates // 2, 1)
    users, counts = np.unique(pos_user, return_counts=True)
    truncated = int((counts > max_positives).sum())
    if truncated:
        rank_key = pair_hash(base_key(seed, task, fold_id, "positive"), pos_user, pos_target)
        order = np.lexsort((pos_target, rank_key, pos_user))
        rank = _rank_in_runs(pos_user[order])
        pos = np.sort(pos[order][rank < max_positives])
        pos_user, pos_target = pos // width, pos % width
        counts = np.minimum(counts, max_positives)
    seen_per_user = np.bincount((seen // width).astype(np.int64), minlength=graph.num_nodes[rel[0]])[users]
    available = num_targets - seen_per_user
    needed = np.minimum(num_candidates - counts, available)
    dense = 2 * needed > available
    negatives = [
        _dense(users[dense], needed[dense], seen, num_targets, base_key(seed, task, fold_id, "dense")),
        _sparse(users[~dense], needed[~dense], seen, num_targets, base_key(seed, task, fold_id, "negative")),
    ]
    keys = np.concatenate([pos, *negatives])
    label = np.concatenate([np.ones(pos.size, np.int8), np.zeros(keys.size - pos.size, np.int8)])
    out = given_candidates(graph, folds, rel[1], fold_id, keys // width, keys % width, label)
    out.stats.pop("given", None)
    out.stats.update(truncated_users=truncated, short_lists=int((needed < num_candidates - counts).sum()), hashed=1)
    return out


def write_hashed_split(
    dataset_dir: str | os.PathLike[str],
    folds: SplitFolds,
    name: str = "default",
    tasks: Sequence[str] = ("buy", "follow"),
    num_candidates: int = 500,
    seed: int = 0,
    *,
    graph: HeteroGraph | None = None,
) -> Split:
    """:func:`lsec.data.split.write_split` with every evaluated list drawn by :func:`hashed_candidates`;
    ``split.json`` records ``info.sampler = "hashed"`` and each list's hashed counts. This is what the Spark
    job ``split`` writes for the same dataset and parameters."""
    graph = load(dataset_dir) if graph is None else graph
    lists = {}
    for task in tasks:
        rel = relation(task)
        for fold_id in EVAL_FOLDS:
            if rel in graph.edges and (np.asarray(folds[rel]) == fold_id).any():
                lists[(rel[1], FOLD_NAMES[fold_id])] = hashed_candidates(
                    graph, folds, task, fold_id, num_candidates, seed
                )
    split = write_split(
        dataset_dir, folds, name, tasks, num_candidates, seed, {"sampler": "hashed"}, graph=graph, candidates=lists
    )
    path = Path(dataset_dir) / "splits" / name / SPLIT_FILE
    meta = json.loads(path.read_text())
    for (task, fold), cand in lists.items():
        meta["candidates"][task][fold] = cand.stats
    path.write_text(json.dumps(meta, indent=2) + "\n")
    split.info = meta
    return split


def _dense(users: np.ndarray, needed: np.ndarray, seen: np.ndarray, num_targets: int, base: int) -> np.ndarray:
    """Bottom-``needed`` non-interacted targets by hash, listing each user's complement. Keys (user * n + t)."""
    out = []
    chunk = max(1, 4_000_000 // max(num_targets, 1))
    width = np.int64(max(num_targets, 1))
    for lo in range(0, users.size, chunk):
        u = np.repeat(users[lo : lo + chunk].astype(np.int64), num_targets)
        t = np.tile(np.arange(num_targets, dtype=np.int64), min(chunk, users.size - lo))
        keys = u * width + t
        fresh = ~np.isin(keys, seen)
        u, t, keys = u[fresh], t[fresh], keys[fresh]
        order = np.lexsort((t, pair_hash(base, u, t), u))
        limit = needed[lo : lo + chunk][np.searchsorted(users[lo : lo + chunk], u[order])]
        out.append(keys[order][_rank_in_runs(u[order]) < limit])
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def _sparse(users: np.ndarray, needed: np.ndarray, seen: np.ndarray, num_targets: int, base: int) -> np.ndarray:
    """First ``needed`` distinct non-interacted values of each user's hash sequence. Keys (user * n + t)."""
    width = np.int64(max(num_targets, 1))
    users, needed = users.astype(np.int64), needed.astype(np.int64)
    take = needed > 0
    users, needed = users[take], needed[take]
    kept_keys: list[np.ndarray] = []
    start = np.zeros(users.size, dtype=np.int64)  # first counter not drawn yet, per user
    found_u = np.zeros(0, np.int64)
    found_j = np.zeros(0, np.int64)
    found_t = np.zeros(0, np.int64)
    oversample = 1.25
    while users.size:
        draws = np.ceil(needed * oversample).astype(np.int64) + 8
        u = np.repeat(users, draws)
        j = np.repeat(start, draws) + np.arange(u.size) - np.repeat(np.cumsum(draws) - draws, draws)
        t = draw_targets(base, u, j, num_targets)
        fresh = ~np.isin(u * width + t, seen)
        found_u = np.concatenate([found_u, u[fresh]])
        found_j = np.concatenate([found_j, j[fresh]])
        found_t = np.concatenate([found_t, t[fresh]])
        # Distinct (user, target), first counter of each; then per user by counter.
        order = np.lexsort((found_j, found_t, found_u))
        first = np.r_[True, (found_u[order][1:] != found_u[order][:-1]) | (found_t[order][1:] != found_t[order][:-1])]
        pick = order[first]
        found_u, found_j, found_t = found_u[pick], found_j[pick], found_t[pick]
        order = np.lexsort((found_j, found_u))
        found_u, found_j, found_t = found_u[order], found_j[order], found_t[order]
        have = np.bincount(np.searchsorted(users, found_u), minlength=users.size)
        done = have >= needed
        owner = np.searchsorted(users, found_u)
        finished = done[owner]
        rank = _rank_in_runs(found_u[finished])
        kept_keys.append((found_u[finished] * width + found_t[finished])[rank < needed[owner[finished]]])
        found_u, found_j, found_t = found_u[~finished], found_j[~finished], found_t[~finished]
        start = start + draws
        users, needed, start = users[~done], needed[~done], start[~done]
        oversample *= 2
    return np.concatenate(kept_keys) if kept_keys else np.zeros(0, np.int64)


def _rank_in_runs(group: np.ndarray) -> np.ndarray:
    """0-based position of each element in its run of equal consecutive values."""
    if group.size == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    return np.arange(group.size) - np.repeat(starts, np.diff(np.r_[starts, group.size]))


__all__ = ["draw_targets", "hashed_candidates", "mix", "pair_hash", "write_hashed_split"]
