"""Fixed candidate lists: each evaluated user's positives plus seeded negatives it never interacted with
(:func:`build_candidates`), or rows supplied as they are (:func:`given_candidates`)."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lsec.data.graph import HeteroGraph
from lsec.data.schema import relation
from lsec.data.split.folds import FOLD_NAMES, TRAIN, FoldKey, fold_index
from lsec.errors import LsecDataError


# ---------------------------------------------------------------------------------------- candidates
@dataclass
class Candidates:
    """Fixed candidate rows of one task and fold, sorted by ``(user, target)``.

    Shapes:
        user, target: (R,) int32; label: (R,) int8 (1 positive, 0 sampled negative); cold: (R,) bool
        (the row's user has no training edge in the task's relation).
    """

    task: str
    fold: str
    user: np.ndarray
    target: np.ndarray
    label: np.ndarray
    cold: np.ndarray
    stats: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.user.shape[0])

    def users(self) -> np.ndarray:
        """Evaluated users (ascending, int32)."""
        return np.unique(self.user)

    def cold_users(self) -> np.ndarray:
        return np.unique(self.user[self.cold])

    def __repr__(self) -> str:
        return f"Candidates(task={self.task!r}, fold={self.fold!r}, rows={len(self)}, users={self.users().size})"


def build_candidates(
    graph: HeteroGraph,
    folds: Mapping[Any, np.ndarray],
    task: str,
    fold: FoldKey,
    num_candidates: int = 500,
    seed: int = 0,
) -> Candidates:
    """Draw the candidate lists of ``task`` for the users with a positive in ``fold`` (see module doc).

    Negatives: bulk rejection sampling of i.i.d. uniform targets per user, minus interacted and repeated
    ones, then a uniformly random subset of the needed size (fresh random priorities, smallest kept). The
    procedure commutes with any relabelling of the targets a user never touched, so the chosen set is a
    uniform subset. Users who need more than half of their non-interacted targets enumerate them instead.
    Pairs are packed in int64 keys ``user << b | target`` and everything is ``np.sort`` plus elementwise work
    (no per-user Python loop). The generator is seeded by ``(seed, task, fold)``, so a list does not depend
    on which other lists are drawn.
    """
    rel = relation(task)
    fold_id = fold_index(fold)
    table = graph[rel]
    fold_arr = np.asarray(folds[rel])
    num_users = graph.num_nodes[rel[0]]
    num_targets = graph.num_nodes[rel[2]]
    rng = np.random.default_rng([seed, zlib.crc32(rel[1].encode()), fold_id])
    pack = _Packing(num_users, num_targets)

    seen = _sorted_unique(pack.key(table.src, table.dst))  # every interacted pair, sorted
    in_fold = fold_arr == fold_id
    pos = _sorted_unique(pack.key(table.src[in_fold], table.dst[in_fold]))  # sorted by user
    users, counts = _runs(pack.user(pos))

    max_positives = max(num_candidates // 2, 1)
    truncated = int((counts > max_positives).sum())
    if truncated:
        shuffled = pack.shuffle_within_users(pos, rng)
        pos = np.sort(shuffled[_rank_in_groups(pack.user(shuffled)) < max_positives])
        counts = np.minimum(counts, max_positives)

    seen_per_user = np.bincount(pack.user(seen), minlength=num_users)[users]
    available = num_targets - seen_per_user
    needed = np.minimum(num_candidates - counts, available)
    short = int((needed < num_candidates - counts).sum())
    dense = needed * 2 > available
    sparse = ~dense & (needed > 0)
    # Users are processed in blocks of about _BLOCK_ROWS output rows (bounded memory on large graphs); blocks
    # come in ascending user order, so sorting each block sorts the whole table.
    blocks = []
    for lo, hi in _user_blocks(counts + needed, _BLOCK_ROWS):
        first_key, end_key = pack.key(users[lo], 0), pack.key(users[hi - 1] + 1, 0)
        seen_block = seen[np.searchsorted(seen, first_key) : np.searchsorted(seen, end_key)]
        pos_block = pos[np.searchsorted(pos, first_key) : np.searchsorted(pos, end_key)]
        d, p = slice(lo, hi), dense[lo:hi]
        r = sparse[lo:hi]
        negatives = [
            _enumerate_negatives(users[d][p], needed[d][p], seen_block, pack, rng),
            _rejection_negatives(users[d][r], needed[d][r], seen_block, pack, rng),
        ]
        # One sort orders the rows by (user, target) and carries the label in the lowest bit.
        blocks.append(np.sort(np.concatenate([(pos_block << 1) | 1, *(n << 1 for n in negatives)])))
    rows = np.concatenate(blocks) if blocks else np.zeros(0, np.int64)
    keys = rows >> 1
    user = pack.user(keys).astype(np.int32)
    trained = np.zeros(num_users, dtype=bool)
    trained[table.src[fold_arr == TRAIN]] = True
    return Candidates(
        task=rel[1],
        fold=FOLD_NAMES[fold_id],
        user=user,
        target=pack.target(keys).astype(np.int32),
        label=(rows & 1).astype(np.int8),
        cold=~trained[user],
        stats={
            "evaluated_users": int(users.size),
            "cold_users": int((~trained[users]).sum()),
            "positives": int(pos.size),
            "rows": int(keys.size),
            "truncated_users": truncated,
            "short_lists": short,
        },
    )


def given_candidates(
    graph: HeteroGraph,
    folds: Mapping[Any, np.ndarray],
    task: str,
    fold: FoldKey,
    user: np.ndarray,
    target: np.ndarray,
    label: np.ndarray,
) -> Candidates:
    """Candidate rows taken as they are given (e.g. the val / test lists of the authors' RecHub layout).

    Nothing is drawn, merged or dropped: the rows are only put in ``(user, target)`` order by a stable sort
    (rows repeated in the input stay repeated, in input order). ``cold`` marks users without a training edge
    of the task's relation, as for drawn lists. Ids must be internal indices of ``graph``, labels 0 / 1.
    """
    rel = relation(task)
    fold_id = fold_index(fold)
    num_users, num_targets = graph.num_nodes[rel[0]], graph.num_nodes[rel[2]]
    user, target, label = (np.asarray(a).astype(np.int64) for a in (user, target, label))
    where = f"given {rel[1]} candidates of fold {FOLD_NAMES[fold_id]!r}"
    if not (user.shape == target.shape == label.shape) or user.ndim != 1:
        raise LsecDataError(
            f"{where}: user, target and label must be 1-d arrays of one length",
            found=f"shapes {user.shape}, {target.shape}, {label.shape}",
        )
    for name, values, bound, node_type in (("user", user, num_users, rel[0]), ("target", target, num_targets, rel[2])):
        if values.size and (values.min() < 0 or values.max() >= bound):
            raise LsecDataError(
                f"{where}: {name} index out of range",
                expected=f"internal {node_type} indices in [0, {bound})",
                found=f"{values.min()} .. {values.max()}",
            )
    if label.size and ((label != 0) & (label != 1)).any():
        raise LsecDataError(f"{where}: labels must be 0 or 1", found=sorted(set(np.unique(label).tolist()) - {0, 1}))
    order = np.lexsort((target, user))  # stable: repeated rows keep their input order
    user, target, label = user[order], target[order], label[order]
    table = graph[rel]
    trained = np.zeros(num_users, dtype=bool)
    trained[table.src[np.asarray(folds[rel]) == TRAIN]] = True
    users = np.unique(user)
    return Candidates(
        task=rel[1],
        fold=FOLD_NAMES[fold_id],
        user=user.astype(np.int32),
        target=target.astype(np.int32),
        label=label.astype(np.int8),
        cold=~trained[user],
        stats={
            "evaluated_users": int(users.size),
            "cold_users": int((~trained[users]).sum()),
            "positives": int(label.sum()),
            "rows": int(user.size),
            "truncated_users": 0,
            "short_lists": 0,
            "given": 1,
        },
    )


_BLOCK_ROWS = 4_000_000


def _user_blocks(rows_per_user: np.ndarray, limit: int) -> list[tuple[int, int]]:
    """Consecutive ``[lo, hi)`` ranges of users holding at most ``limit`` rows each (at least one user)."""
    ends = np.cumsum(rows_per_user)
    blocks, lo = [], 0
    while lo < rows_per_user.size:
        start = ends[lo - 1] if lo else 0
        hi = max(int(np.searchsorted(ends, start + limit, side="right")), lo + 1)
        blocks.append((lo, hi))
        lo = hi
    return blocks


class _Packing:
    """(user, target) pairs as int64 keys ``user << target_bits | target`` (order = (user, target))."""

    def __init__(self, num_users: int, num_targets: int) -> None:
        self.num_users = num_users
        self.num_targets = num_targets
        self.target_bits = max(int(num_targets - 1).bit_length(), 1)
        self.user_bits = max(int(num_users - 1).bit_length(), 1)
        if self.user_bits + self.target_bits > 61:
            raise LsecDataError(
                "too many nodes to pack (user, target) pairs in 61 bits",
                expected="num_users * num_targets < 2**61",
                found=f"{num_users} x {num_targets}",
            )

    def key(self, user: np.ndarray | int, target: np.ndarray | int) -> np.ndarray:
        return (np.asarray(user, dtype=np.int64) << self.target_bits) | np.asarray(target, dtype=np.int64)

    def user(self, key: np.ndarray) -> np.ndarray:
        return key >> self.target_bits

    def target(self, key: np.ndarray) -> np.ndarray:
        return key & ((1 << self.target_bits) - 1)

    def shuffle_within_users(self, keys: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``keys`` grouped by ascending user, in uniformly random order within each user.

        One ``np.sort`` of ``user | random priority | target`` packed in int64; when the ids leave fewer than
        20 bits for the priority, a slower lexsort on a float priority is used instead.
        """
        priority_bits = min(62 - self.user_bits - self.target_bits, 40)
        if priority_bits < 20:
            return keys[np.lexsort((rng.random(keys.size), self.user(keys)))]
        priority = rng.integers(0, 1 << priority_bits, keys.size, dtype=np.int64)
        shift = priority_bits + self.target_bits
        packed = np.sort((self.user(keys) << shift) | (priority << self.target_bits) | self.target(keys))
        return ((packed >> shift) << self.target_bits) | self.target(packed)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` through ``np.sort`` (numpy's hash-based unique is much slower on int64 keys)."""
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if ordered.size else ordered


def _runs(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array and their run lengths."""
    if sorted_values.size == 0:
        return sorted_values[:0], np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    return sorted_values[starts], np.diff(np.r_[starts, sorted_values.size])


def _rank_in_groups(group: np.ndarray) -> np.ndarray:
    """0-based position of each element inside its run of equal consecutive ``group`` values."""
    if group.size == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    lengths = np.diff(np.r_[starts, group.size])
    return np.arange(group.size) - np.repeat(starts, lengths)


def _fresh_distinct(keys: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Sorted distinct ``keys`` not in ``seen`` (sorted), by one sort of both with a flag bit."""
    flagged = np.sort(np.concatenate([seen << 1, (keys << 1) | 1]))  # a seen key sorts before its draws
    plain = flagged >> 1
    first = np.empty(plain.size, dtype=bool)
    first[:1] = True
    np.not_equal(plain[1:], plain[:-1], out=first[1:])
    return plain[first & (flagged & 1).astype(bool)]


def _take_first(
    keys: np.ndarray, users: np.ndarray, needed: np.ndarray, pack: _Packing
) -> tuple[np.ndarray, np.ndarray]:
    """From keys grouped by ascending user, the first ``needed[i]`` of each user ``users[i]`` who has that many.

    Returns the kept keys and a mask over ``users`` of those served.
    """
    index_of = np.zeros(pack.num_users, dtype=np.int64)
    index_of[users] = np.arange(users.size)
    owner = index_of[pack.user(keys)]
    done = np.bincount(owner, minlength=users.size) >= needed
    keep = done[owner] & (_rank_in_groups(owner) < needed[owner])
    return keys[keep], done


def _enumerate_negatives(
    users: np.ndarray, needed: np.ndarray, seen: np.ndarray, pack: _Packing, rng: np.random.Generator
) -> np.ndarray:
    """Uniform subsets of the complement, by listing it (for users who need most of it)."""
    out = []
    chunk = max(1, 10_000_000 // max(pack.num_targets, 1))
    for lo in range(0, users.size, chunk):
        u, k = users[lo : lo + chunk].astype(np.int64), needed[lo : lo + chunk]
        grid = pack.key(np.repeat(u, pack.num_targets), np.tile(np.arange(pack.num_targets), u.size))
        keys = pack.shuffle_within_users(_fresh_distinct(grid, seen), rng)
        out.append(_take_first(keys, u, k, pack)[0])
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def _rejection_negatives(
    users: np.ndarray, needed: np.ndarray, seen: np.ndarray, pack: _Packing, rng: np.random.Generator
) -> np.ndarray:
    """Uniform subsets of the complement by bulk rejection sampling (users needing at most half of it)."""
    out = []
    users, needed = users.astype(np.int64), needed.astype(np.int64)
    oversample = 1.25
    while users.size:
        draws = np.ceil(needed * oversample).astype(np.int64) + 8
        drawn = pack.key(np.repeat(users, draws), rng.integers(0, pack.num_targets, int(draws.sum())))
        keys = pack.shuffle_within_users(_fresh_distinct(drawn, seen), rng)
        kept, done = _take_first(keys, users, needed, pack)
        out.append(kept)
        users, needed = users[~done], needed[~done]
        oversample *= 2
    return np.concatenate(out) if out else np.zeros(0, np.int64)
