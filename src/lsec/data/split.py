"""Train / valid / test splits and the fixed candidate lists of each evaluated task (DESIGN sections 4-5).

A split gives every edge of every relation a *fold*: ``0`` train, ``1`` valid, ``2`` test, ``-1``
outside every window. Four ways to make one:

* :func:`split_by_time`: consecutive day windows ``[start, +train_days)``, ``[.., +valid_days)``,
  ``[.., +test_days)`` (the LSEC-GNN protocol: 30 / 10 / 10 days from the dataset's time origin).
* :func:`split_by_ratio`: the same three windows, with boundaries placed at time quantiles so that about
  ``ratios`` of the edges fall in each; quantiles are taken over the pooled timestamps of all relations
  (one set of dates for the whole graph, so no relation sees the future of another) or, with
  ``per_relation=True``, separately per relation (exact fractions, but dates differ between relations).
* :func:`split_random`: each edge drawn independently (seeded), for data without timestamps.
* :func:`given_split`: ready fold arrays, e.g. from the train / test files of a LightGCN folder.

:func:`write_split` persists a split and draws the candidate lists once (seeded), so every model and
epoch sees the same lists::

    DIR/splits/<name>/split.json                          mode, boundaries, counts, parameters
    DIR/splits/<name>/folds/<src>__<rel>__<dst>.parquet   int8 column ``fold`` aligned with the edge rows
    DIR/splits/<name>/candidates/<task>__<valid|test>.parquet   user, target, label, cold

Candidate lists (per task and evaluation fold): each user with at least one positive (an edge of the
task relation in that fold) gets ``num_candidates`` rows: its positives (unique targets) plus targets
drawn uniformly without replacement from those it never interacted with in that relation (any fold,
including edges outside the windows). Two edge cases, both counted in ``split.json``:

* a user with more than ``num_candidates // 2`` positives keeps a seeded uniform subset of that many, so
  that its list still holds negatives to rank against (``truncated_users``);
* when the user has fewer non-interacted targets than needed (small catalogues), all of them are used and
  the list is shorter than ``num_candidates`` (``short_lists``).

A user is *cold* for a task when it has no training edge in the task's relation.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from lsec.data.graph import EdgeTable, HeteroGraph
from lsec.data.schema import Relation, edge_file_stem, relation
from lsec.data.store import load as load_dataset
from lsec.errors import LsecDataError

DAY = 86_400
TRAIN, VALID, TEST, OUTSIDE = 0, 1, 2, -1
FOLD_NAMES = {TRAIN: "train", VALID: "valid", TEST: "test"}
EVAL_FOLDS = (VALID, TEST)
SPLIT_FILE = "split.json"
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

FoldKey = int | str


# ---------------------------------------------------------------------------------------------- folds
@dataclass
class SplitFolds(Mapping[Relation, np.ndarray]):
    """Fold arrays per relation (int8 per edge, aligned with the edge table) plus how they were made.

    Behaves as a read-only mapping ``relation -> fold array``; keys may be given as ``"buy"`` or triples.
    """

    folds: dict[Relation, np.ndarray]
    mode: str
    boundaries: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str | Relation) -> np.ndarray:  # type: ignore[override]
        try:
            return self.folds[relation(key)]
        except ValueError as err:  # an unknown relation name is a missing key for a mapping
            raise KeyError(key) from err

    def __iter__(self) -> Iterator[Relation]:
        return iter(self.folds)

    def __len__(self) -> int:
        return len(self.folds)


def split_by_time(
    graph: HeteroGraph,
    train_days: float = 30,
    valid_days: float = 10,
    test_days: float = 10,
    start: int | str | datetime | None = None,
) -> SplitFolds:
    """Consecutive windows of whole days from ``start`` (default ``graph.time_origin``).

    An edge with timestamp ``ts`` is in train when ``start <= ts < start + train_days``, in valid for the
    next ``valid_days``, in test for the next ``test_days``, and ``-1`` otherwise. ``start`` is unix seconds,
    an ISO-8601 date (UTC unless it says otherwise) or a datetime. ``valid_days`` may be 0 (no valid fold).
    """
    for name, value, low in (
        ("train_days", train_days, 0),
        ("valid_days", valid_days, -1),
        ("test_days", test_days, 0),
    ):
        if not isinstance(value, int | float) or value <= low or not np.isfinite(value):
            expected = "a positive number of days" if low == 0 else "a number of days >= 0"
            raise LsecDataError(f"the {name!r} parameter of split_by_time is invalid", expected=expected, found=value)
    origin = graph.time_origin if start is None else to_unix_seconds(start)
    edges = [origin + round(d * DAY) for d in (0, train_days, train_days + valid_days)]
    edges.append(edges[-1] + round(test_days * DAY))
    bounds = np.asarray(edges, dtype=np.int64)
    folds = {rel: _assign(table.ts, bounds) for rel, table in graph.items()}
    info = {
        "train_days": train_days,
        "valid_days": valid_days,
        "test_days": test_days,
        **_window_info(bounds),
    }
    return SplitFolds(folds, "time", info)


def split_by_ratio(
    graph: HeteroGraph, ratios: Sequence[float] = (0.6, 0.2, 0.2), per_relation: bool = False
) -> SplitFolds:
    """Three consecutive time windows holding about ``ratios`` of the edges (no edge is left outside).

    Boundary ``b1`` is the timestamp at position ``round(r_train * n)`` of the sorted timestamps, ``b2`` the
    one at ``round((r_train + r_valid) * n)``; an edge is train when ``ts < b1``, valid when ``b1 <= ts < b2``,
    test otherwise. Edges sharing a boundary timestamp all go to the later fold, so fractions are approximate
    when many edges share a timestamp. The timestamps are pooled over all relations unless ``per_relation``.
    """
    values = _check_ratios("split_by_ratio", ratios)

    def bounds_of(ts: np.ndarray) -> np.ndarray:
        if ts.size == 0:
            return np.zeros(4, dtype=np.int64)
        ordered = np.sort(ts)
        n = ordered.size
        if ordered[0] == ordered[-1] and n > 1:
            raise LsecDataError(
                "every edge has the same timestamp, so time quantiles cannot separate the folds",
                expected="timestamps (or a random split: split_random / lsec data split --random)",
                found=f"ts = {int(ordered[0])} on all {n} edges",
            )
        b1 = ordered[min(n - 1, round(values[0] * n))]
        b2 = ordered[min(n - 1, round((values[0] + values[1]) * n))]
        return np.array([ordered[0], b1, max(b1, b2), ordered[-1] + 1], dtype=np.int64)

    folds: dict[Relation, np.ndarray] = {}
    info: dict[str, Any] = {"ratios": values, "per_relation": per_relation}
    if per_relation:
        info["relations"] = {}
        for rel, table in graph.items():
            bounds = bounds_of(table.ts)
            folds[rel] = _assign(table.ts, bounds)
            info["relations"][rel[1]] = _window_info(bounds)
    else:
        pooled = np.concatenate([t.ts for _, t in graph.items()] or [np.zeros(0, np.int64)])
        bounds = bounds_of(pooled)
        folds = {rel: _assign(table.ts, bounds) for rel, table in graph.items()}
        info.update(_window_info(bounds))
    return SplitFolds(folds, "ratio", info)


def split_random(graph: HeteroGraph, ratios: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> SplitFolds:
    """Each edge independently to train / valid / test with probabilities ``ratios`` (seeded per relation).

    For data without timestamps. Unlike the time splits, future interactions can land in train.
    """
    values = _check_ratios("split_random", ratios)
    cumulative = np.cumsum(values)[:2]
    folds = {}
    for rel, table in graph.items():
        rng = np.random.default_rng([seed, zlib.crc32(rel[1].encode())])
        folds[rel] = np.searchsorted(cumulative, rng.random(len(table)), side="right").astype(np.int8)
    return SplitFolds(folds, "random", {"ratios": values, "seed": seed})


def _check_ratios(owner: str, ratios: Sequence[float]) -> list[float]:
    try:
        values = [float(r) for r in ratios]
    except (TypeError, ValueError):
        values = []
    if len(values) != 3 or min(values) < 0 or values[0] <= 0 or values[2] <= 0 or abs(sum(values) - 1) > 1e-6:
        raise LsecDataError(
            f"the 'ratios' parameter of {owner} is invalid",
            expected="three numbers train,valid,test >= 0 summing to 1 (train and test > 0)",
            found=",".join(str(r) for r in ratios),
        )
    return values


def given_split(graph: HeteroGraph, folds: Mapping[str | Relation, np.ndarray]) -> SplitFolds:
    """Ready fold arrays (e.g. an importer's train / test files). Relations not listed are all train."""
    return SplitFolds(_normalise_folds(graph, folds), "given", {})


def _assign(ts: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Fold of each timestamp given window edges ``[b0, b1, b2, b3]`` (half-open windows)."""
    index = np.searchsorted(bounds, ts, side="right") - 1
    return np.where((index >= 0) & (index <= 2), index, OUTSIDE).astype(np.int8)


def _window_info(bounds: np.ndarray) -> dict[str, Any]:
    names = ("start", "train_end", "valid_end", "test_end")
    out: dict[str, Any] = {name: int(b) for name, b in zip(names, bounds, strict=True)}
    out["iso"] = {name: iso_utc(int(b)) for name, b in zip(names, bounds, strict=True)}
    return out


def _normalise_folds(graph: HeteroGraph, folds: Mapping[Any, np.ndarray]) -> dict[Relation, np.ndarray]:
    out: dict[Relation, np.ndarray] = {}
    for key, values in folds.items():
        try:
            rel = relation(key)
        except ValueError as err:
            raise LsecDataError(str(err)) from None
        if rel not in graph.edges:
            raise LsecDataError(f"fold array given for relation {rel[1]!r}, which the dataset does not have")
        arr = np.asarray(values)
        n = len(graph.edges[rel])
        if arr.shape != (n,):
            raise LsecDataError(
                f"fold array of relation {rel[1]!r} does not match its edge table",
                expected=f"shape ({n},)",
                found=arr.shape,
            )
        bad = np.flatnonzero((arr < OUTSIDE) | (arr > TEST) | (arr != np.round(arr)))
        if bad.size:
            raise LsecDataError(
                f"fold array of relation {rel[1]!r}",
                row=int(bad[0]) + 1,
                column="fold",
                expected="0 (train), 1 (valid), 2 (test) or -1 (outside)",
                found=arr[bad[0]].item(),
            )
        out[rel] = arr.astype(np.int8)
    for rel, table in graph.items():
        if rel not in out:
            out[rel] = np.zeros(len(table), dtype=np.int8)
    return {rel: out[rel] for rel in graph.edges}


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
    negatives = [
        _enumerate_negatives(users[dense], needed[dense], seen, pack, rng),
        _rejection_negatives(users[sparse], needed[sparse], seen, pack, rng),
    ]
    # One sort orders the rows by (user, target) and carries the label in the lowest bit.
    rows = np.sort(np.concatenate([(pos << 1) | 1, *(n << 1 for n in negatives)]))
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

    def key(self, user: np.ndarray, target: np.ndarray) -> np.ndarray:
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


# --------------------------------------------------------------------------------------------- split
class Split:
    """A dataset with its folds and fixed candidate lists (from :func:`load_split` or :func:`make_split`).

    Attributes:
        graph: the full dataset graph.
        folds: int8 fold array per relation, aligned with ``graph.edges[rel]``.
        info: the content of ``split.json``.
    """

    def __init__(
        self,
        graph: HeteroGraph,
        folds: Mapping[Relation, np.ndarray],
        info: dict[str, Any],
        candidates: Mapping[tuple[str, str], Candidates] | None = None,
        root: Path | None = None,
    ) -> None:
        self.graph = graph
        self.folds = dict(folds)
        self.info = info
        self.root = root
        self._candidates: dict[tuple[str, str], Candidates] = dict(candidates or {})
        self._train_graph: HeteroGraph | None = None

    @property
    def name(self) -> str:
        return str(self.info.get("name", "default"))

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.info.get("tasks", ()))

    def fold(self, rel: str | Relation) -> np.ndarray:
        """The int8 fold array of a relation."""
        return self.folds[self._relation(rel)]

    def edges(self, rel: str | Relation, fold: FoldKey) -> EdgeTable:
        """Edges of ``rel`` in ``fold`` (``"train"``, ``"valid"``, ``"test"`` or 0 / 1 / 2)."""
        triple = self._relation(rel)
        return self.graph.edges[triple].select(self.folds[triple] == fold_index(fold))

    def train_graph(self) -> HeteroGraph:
        """Same nodes, training-fold edges only (what message passing may see)."""
        if self._train_graph is None:
            self._train_graph = self.graph.with_edges({rel: self.edges(rel, TRAIN) for rel in self.graph.edges})
        return self._train_graph

    def candidates(self, task: str, fold: FoldKey) -> Candidates:
        """The fixed candidate rows of ``task`` in ``fold`` (``"valid"`` or ``"test"``)."""
        if task not in self.tasks:
            raise LsecDataError(
                f"split {self.name!r} has no task {task!r}",
                file=self.root,
                expected="one of: " + ", ".join(self.tasks),
                found=task,
            )
        fold_id = fold_index(fold)
        if fold_id not in EVAL_FOLDS:
            raise LsecDataError("candidate lists exist for evaluation folds only", expected="valid or test", found=fold)
        key = (task, FOLD_NAMES[fold_id])
        if key not in self._candidates:
            self._candidates[key] = self._load_candidates(*key)
        return self._candidates[key]

    def cold_users(self, task: str, fold: FoldKey) -> np.ndarray:
        """Evaluated users of ``task`` in ``fold`` without any training edge in the task's relation."""
        return self.candidates(task, fold).cold_users()

    def _relation(self, rel: str | Relation) -> Relation:
        try:
            triple = relation(rel)
        except ValueError as err:
            raise LsecDataError(str(err)) from None
        if triple not in self.folds:
            have = ", ".join(r[1] for r in self.folds)
            raise LsecDataError(f"the dataset has no {triple[1]!r} relation", expected=f"one of: {have}", found=rel)
        return triple

    def _load_candidates(self, task: str, fold: str) -> Candidates:
        counts = self.info.get("candidates", {}).get(task, {}).get(fold, {})
        if self.root is None or not counts.get("evaluated_users"):
            raise LsecDataError(
                f"split {self.name!r} has no {fold} positives for task {task!r}, so no candidate lists",
                file=self.root,
            )
        path = self.root / "candidates" / f"{task}__{fold}.parquet"
        if not path.is_file():
            raise LsecDataError("candidate file listed in split.json is missing", file=path)
        frame = pl.read_parquet(path)
        return Candidates(
            task=task,
            fold=fold,
            user=frame["user"].to_numpy().astype(np.int32),
            target=frame["target"].to_numpy().astype(np.int32),
            label=frame["label"].to_numpy().astype(np.int8),
            cold=frame["cold"].to_numpy().astype(bool),
            stats=dict(counts),
        )

    def __repr__(self) -> str:
        return f"Split(name={self.name!r}, mode={self.info.get('mode')!r}, tasks={self.tasks}, graph={self.graph!r})"


def make_split(
    graph: HeteroGraph,
    folds: Mapping[Any, np.ndarray],
    name: str = "default",
    tasks: Sequence[str] = ("buy", "follow"),
    num_candidates: int = 500,
    seed: int = 0,
    info: Mapping[str, Any] | None = None,
    show_progress: bool = False,
) -> Split:
    """Build a split in memory (candidate lists included), as :func:`write_split` would persist it."""
    if not _NAME_PATTERN.match(name):
        raise LsecDataError("invalid split name", expected="letters, digits, '.', '_' or '-'", found=name)
    if isinstance(num_candidates, bool) or not isinstance(num_candidates, int | np.integer) or num_candidates < 2:
        raise LsecDataError(
            "the 'num_candidates' parameter is invalid", expected="an integer >= 2", found=num_candidates
        )
    mode, boundaries = (folds.mode, folds.boundaries) if isinstance(folds, SplitFolds) else ("given", {})
    fold_arrays = _normalise_folds(graph, folds)
    task_names = _check_tasks(graph, fold_arrays, tasks, mode)

    candidates: dict[tuple[str, str], Candidates] = {}
    summary: dict[str, dict[str, dict[str, int]]] = {}
    steps = [(t, f) for t in task_names for f in EVAL_FOLDS]
    for task, fold_id in tqdm(steps, desc="candidate lists", disable=not show_progress):
        fold = FOLD_NAMES[fold_id]
        if not (fold_arrays[relation(task)] == fold_id).any():
            summary.setdefault(task, {})[fold] = {"evaluated_users": 0, "cold_users": 0, "positives": 0, "rows": 0}
            continue
        cand = build_candidates(graph, fold_arrays, task, fold_id, int(num_candidates), seed)
        candidates[(task, fold)] = cand
        summary.setdefault(task, {})[fold] = cand.stats

    counts = {
        rel[1]: {
            **{FOLD_NAMES[f]: int((arr == f).sum()) for f in (TRAIN, VALID, TEST)},
            "outside": int((arr == OUTSIDE).sum()),
        }
        for rel, arr in fold_arrays.items()
    }
    meta = {
        "name": name,
        "mode": mode,
        "boundaries": boundaries,
        "tasks": task_names,
        "num_candidates": int(num_candidates),
        "seed": int(seed),
        "relations": [
            {"src_type": r[0], "name": r[1], "dst_type": r[2], "file": f"folds/{edge_file_stem(r)}.parquet"}
            for r in fold_arrays
        ],
        "edges": counts,
        "candidates": summary,
        "info": dict(info or {}),
    }
    return Split(graph, fold_arrays, meta, candidates)


def _check_tasks(graph: HeteroGraph, folds: dict[Relation, np.ndarray], tasks: Sequence[str], mode: str) -> list[str]:
    names = []
    for task in tasks:
        try:
            rel = relation(task)
        except ValueError as err:
            raise LsecDataError(f"unknown task: {err}") from None
        if rel not in graph.edges:
            have = ", ".join(r[1] for r in graph.edges) or "none"
            raise LsecDataError(f"task {rel[1]!r} needs a {rel[1]!r} relation", expected=f"one of: {have}", found=task)
        fold = folds[rel]
        for fold_id in (TRAIN, TEST):
            if not (fold == fold_id).any():
                ts = graph.edges[rel].ts
                span = f"{iso_utc(int(ts.min()))} .. {iso_utc(int(ts.max()))}" if ts.size else "no edges at all"
                raise LsecDataError(
                    f"task {rel[1]!r} has no {FOLD_NAMES[fold_id]} edges in this {mode} split",
                    file=graph.name,
                    expected="windows that overlap the data",
                    found=f"{rel[1]} edges spanning {span}",
                )
        names.append(rel[1])
    return names


# ------------------------------------------------------------------------------------------------ I/O
def write_split(
    dataset_dir: str | os.PathLike[str],
    folds: Mapping[Any, np.ndarray],
    name: str = "default",
    tasks: Sequence[str] = ("buy", "follow"),
    num_candidates: int = 500,
    seed: int = 0,
    info: Mapping[str, Any] | None = None,
    *,
    graph: HeteroGraph | None = None,
    show_progress: bool = False,
) -> Split:
    """Build the split (see :func:`make_split`) and persist it under ``dataset_dir/splits/<name>/``.

    ``folds`` is a :class:`SplitFolds` or a plain mapping ``relation -> fold array`` (a "given" split).
    ``graph`` skips re-reading the dataset when the caller has it in memory (it must be what is on disk).
    An existing split of the same name is replaced. Returns the split, loadable again by :func:`load_split`.
    """
    root = Path(dataset_dir)
    graph = load_dataset(root) if graph is None else graph
    split = make_split(graph, folds, name, tasks, num_candidates, seed, info, show_progress)
    target = root / "splits" / name
    staging = root / "splits" / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "folds").mkdir(parents=True)
    (staging / "candidates").mkdir()
    for rel, arr in split.folds.items():
        pl.DataFrame({"fold": pl.Series("fold", arr, dtype=pl.Int8)}).write_parquet(
            staging / "folds" / f"{edge_file_stem(rel)}.parquet", statistics=False
        )
    for (task, fold), cand in split._candidates.items():
        pl.DataFrame(
            {
                "user": pl.Series("user", cand.user, dtype=pl.Int32),
                "target": pl.Series("target", cand.target, dtype=pl.Int32),
                "label": pl.Series("label", cand.label, dtype=pl.Int8),
                "cold": pl.Series("cold", cand.cold, dtype=pl.Boolean),
            }
        ).write_parquet(staging / "candidates" / f"{task}__{fold}.parquet", statistics=False)
    (staging / SPLIT_FILE).write_text(json.dumps(split.info, indent=2, default=_json_default) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    split.root = target
    return split


def list_splits(dataset_dir: str | os.PathLike[str]) -> list[str]:
    folder = Path(dataset_dir) / "splits"
    return sorted(p.name for p in folder.glob("*") if (p / SPLIT_FILE).is_file()) if folder.is_dir() else []


def load_split(
    dataset_dir: str | os.PathLike[str], name: str = "default", *, graph: HeteroGraph | None = None
) -> Split:
    """Read ``dataset_dir/splits/<name>/`` (candidate lists are read on first use)."""
    root = Path(dataset_dir)
    folder = root / "splits" / name
    meta_path = folder / SPLIT_FILE
    if not meta_path.is_file():
        have = ", ".join(list_splits(root)) or "none (run `lsec data split`)"
        raise LsecDataError(f"no split named {name!r}", file=root, expected=f"one of: {have}", found=name)
    try:
        info = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise LsecDataError(
            "unreadable split description", file=meta_path, expected="valid JSON", found=str(err)
        ) from None
    graph = load_dataset(root) if graph is None else graph
    folds: dict[Relation, np.ndarray] = {}
    for rel, table in graph.items():
        path = folder / "folds" / f"{edge_file_stem(rel)}.parquet"
        if not path.is_file():
            raise LsecDataError(f"split {name!r} has no fold file for relation {rel[1]!r}", file=path)
        arr = pl.read_parquet(path)["fold"].to_numpy().astype(np.int8)
        if arr.shape != (len(table),):
            raise LsecDataError(
                f"split {name!r} is stale: relation {rel[1]!r} changed since the split was written (re-run the split)",
                file=path,
                expected=f"{len(table)} rows",
                found=arr.shape[0],
            )
        folds[rel] = arr
    return Split(graph, folds, info, root=folder)


# ---------------------------------------------------------------------------------------------- misc
def fold_index(fold: FoldKey) -> int:
    """``"train"`` / ``"valid"`` / ``"test"`` (or 0 / 1 / 2) -> 0 / 1 / 2; named error otherwise."""
    if isinstance(fold, str):
        for index, fold_name in FOLD_NAMES.items():
            if fold == fold_name:
                return index
    elif isinstance(fold, int | np.integer) and int(fold) in FOLD_NAMES:
        return int(fold)
    raise LsecDataError("unknown fold", expected="train, valid or test", found=fold)


def to_unix_seconds(value: int | float | str | datetime) -> int:
    """Unix seconds from an int, an ISO-8601 string (UTC if no offset) or a datetime."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return int(moment.timestamp())
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        try:
            return to_unix_seconds(datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            pass
    raise LsecDataError("invalid start time", expected="unix seconds or an ISO-8601 date like 2020-12-01", found=value)


def iso_utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def _json_default(value: object) -> object:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
