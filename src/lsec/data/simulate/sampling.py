"""Vectorised sampling primitives shared by the simulators (numpy only, no Python loops over edges).

Two building blocks:

* :class:`SegmentSampler`: members grouped into segments (e.g. items by topic, follow edges by user),
  each member with a non-negative weight; draws one member per request from a given segment with
  probability proportional to its weight, for millions of requests at once (one ``searchsorted``).
* :func:`fill_unique_pairs`: draw ``(src, dst)`` pairs in rounds until exactly ``target`` distinct pairs
  exist, keeping for each pair the row with the earliest timestamp, then thin to the target uniformly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

PairDraw = Callable[[int, int], dict[str, np.ndarray]]
"""``draw(n, round) -> columns`` with at least ``src``, ``dst`` (int64) and ``ts`` (int64), each of length n."""


@dataclass(frozen=True)
class SegmentSampler:
    """Weighted sampling of one member inside a chosen segment.

    Shapes:
        order: (M,) member ids sorted by segment; cum: (M,) inclusive cumulative weights in that order;
        starts, ends: (G,) first and one-past-last position of each segment in ``order``.
    """

    order: np.ndarray
    cum: np.ndarray
    starts: np.ndarray
    ends: np.ndarray

    @classmethod
    def build(cls, segment_of: np.ndarray, weight: np.ndarray, num_segments: int) -> SegmentSampler:
        """``segment_of[m]`` is the segment of member ``m`` and ``weight[m] >= 0`` its weight."""
        segment_of = np.asarray(segment_of, dtype=np.int64)
        order = np.argsort(segment_of, kind="stable")
        counts = np.bincount(segment_of, minlength=num_segments)
        ends = np.cumsum(counts)
        cum = np.cumsum(np.asarray(weight, dtype=np.float64)[order])
        return cls(order=order, cum=cum, starts=ends - counts, ends=ends)

    def totals(self) -> np.ndarray:
        """Total weight per segment, (G,)."""
        hi = np.where(self.ends > 0, self.cum[np.maximum(self.ends - 1, 0)], 0.0) if self.cum.size else 0.0
        lo = np.where(self.starts > 0, self.cum[np.maximum(self.starts - 1, 0)], 0.0) if self.cum.size else 0.0
        return np.asarray(hi - lo, dtype=np.float64) * (self.ends > self.starts)

    def sample(self, rng: np.random.Generator, segments: np.ndarray) -> np.ndarray:
        """One member id per entry of ``segments`` (each segment must have positive total weight)."""
        segments = np.asarray(segments, dtype=np.int64)
        start, end = self.starts[segments], self.ends[segments]
        lo = np.where(start > 0, self.cum[np.maximum(start - 1, 0)], 0.0)
        hi = self.cum[end - 1]
        r = lo + rng.random(segments.shape[0]) * (hi - lo)
        # side="right" skips zero-weight members: their cumulative weight equals their predecessor's.
        pos = np.clip(np.searchsorted(self.cum, r, side="right"), start, end - 1)
        return np.asarray(self.order[pos])

    def sample_global(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` members drawn over all segments together (proportional to weight)."""
        r = rng.random(n) * self.cum[-1]
        pos = np.minimum(np.searchsorted(self.cum, r, side="right"), self.cum.size - 1)
        return np.asarray(self.order[pos])


def categorical(rng: np.random.Generator, weight: np.ndarray, n: int) -> np.ndarray:
    """``n`` indices drawn with probability proportional to ``weight`` (vectorised inverse CDF)."""
    cum = np.cumsum(np.asarray(weight, dtype=np.float64))
    pos = np.searchsorted(cum, rng.random(n) * cum[-1], side="right")
    return np.minimum(pos, cum.size - 1).astype(np.int64)


def dedupe_pairs(columns: dict[str, np.ndarray], num_dst: int) -> dict[str, np.ndarray]:
    """Keep one row per distinct ``(src, dst)``: the one with the smallest ``ts`` (ties: first drawn)."""
    key = columns["src"].astype(np.int64) * num_dst + columns["dst"]
    order = np.lexsort((columns["ts"], key))
    sorted_key = key[order]
    first = np.ones(sorted_key.shape[0], dtype=bool)
    first[1:] = sorted_key[1:] != sorted_key[:-1]
    keep = order[first]
    return {name: values[keep] for name, values in columns.items()}


def fill_unique_pairs(
    draw: PairDraw,
    target: int,
    num_dst: int,
    rng: np.random.Generator,
    *,
    first_oversample: float = 1.15,
    max_rounds: int = 60,
) -> tuple[dict[str, np.ndarray], int]:
    """Exactly ``target`` distinct pairs (fewer only if ``max_rounds`` is exhausted); also the rounds used.

    Each round draws the shortfall times the duplicate ratio seen so far; the union is deduplicated
    (earliest ``ts`` wins) and, once at least ``target`` pairs exist, thinned uniformly at random to
    ``target`` rows. Rows come back sorted by ``(src, dst)``.
    """
    pool: dict[str, np.ndarray] | None = None
    drawn = 0
    have = 0
    rounds = 0
    while have < target and rounds < max_rounds:
        ratio = first_oversample if have == 0 else min(max(drawn / have, 1.0) * 1.1, 20.0)
        n = max(int(np.ceil((target - have) * ratio)), 64)
        batch = draw(n, rounds)
        drawn += n
        pool = batch if pool is None else {k: np.concatenate([pool[k], batch[k]]) for k in pool}
        pool = dedupe_pairs(pool, num_dst)
        have = pool["src"].shape[0]
        rounds += 1
    assert pool is not None
    if have > target:
        keep = np.sort(rng.permutation(have)[:target])
        pool = {k: v[keep] for k, v in pool.items()}
    return pool, rounds
