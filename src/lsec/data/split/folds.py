"""Fold assignment: which edges are train (0), valid (1), test (2) or outside every window (-1)."""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from lsec.data.graph import HeteroGraph
from lsec.data.schema import Relation, relation
from lsec.errors import LsecDataError

DAY = 86_400
TRAIN, VALID, TEST, OUTSIDE = 0, 1, 2, -1
FOLD_NAMES = {TRAIN: "train", VALID: "valid", TEST: "test"}
EVAL_FOLDS = (VALID, TEST)

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
    return SplitFolds(normalise_folds(graph, folds), "given", {})


def _assign(ts: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Fold of each timestamp given window edges ``[b0, b1, b2, b3]`` (half-open windows)."""
    index = np.searchsorted(bounds, ts, side="right") - 1
    return np.where((index >= 0) & (index <= 2), index, OUTSIDE).astype(np.int8)


def _window_info(bounds: np.ndarray) -> dict[str, Any]:
    names = ("start", "train_end", "valid_end", "test_end")
    out: dict[str, Any] = {name: int(b) for name, b in zip(names, bounds, strict=True)}
    out["iso"] = {name: iso_utc(int(b)) for name, b in zip(names, bounds, strict=True)}
    return out


def normalise_folds(graph: HeteroGraph, folds: Mapping[Any, np.ndarray]) -> dict[Relation, np.ndarray]:
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
