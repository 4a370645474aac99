"""Ranking metrics of the candidate-list protocol (DESIGN section 5). The definitions are part of the API.

Each evaluated user ``u`` has a list of candidates with binary labels (``P_u`` positives, ``N_u``
negatives) and model scores. The list is ranked by descending score; **ties are broken pessimistically**:
inside a group of equal scores the negatives come first, then the positives, so a positive's rank is

.. math::  r(p) = \\#\\{j : s_j > s_p\\} + \\#\\{j \\text{ negative} : s_j = s_p\\} + i + 1

where ``i`` is its index among the positives tied with it (0, 1, ...). A constant scorer therefore ranks
every positive after every negative. Per user:

* ``auc``: fraction of (positive, negative) pairs ordered correctly, ties counting 1/2:
  :math:`\\frac{1}{P_u N_u} \\sum_{p, n} ([s_p > s_n] + \\tfrac12 [s_p = s_n])`.
* ``mrr``: mean over the user's positives of :math:`1 / r(p)` (the LSEC-GNN definition; every positive
  counts, ranks taken in the whole list).
* ``ndcg@k``: :math:`\\mathrm{DCG}_k / \\mathrm{IDCG}_k` with binary gain and log2 discount,
  :math:`\\mathrm{DCG}_k = \\sum_{p : r(p) \\le k} 1 / \\log_2(r(p) + 1)`,
  :math:`\\mathrm{IDCG}_k = \\sum_{i=1}^{\\min(P_u, k)} 1 / \\log_2(i + 1)`.
* ``recall@k``: :math:`\\#\\{p : r(p) \\le k\\} / P_u`.
* ``mrr_first@k``: :math:`1 / \\min_p r(p)` if that rank is at most ``k``, else 0 (RecBole / PyG MRR@k).

Reported values are means over users. Users without any positive are skipped for every metric; users
without any negative are skipped for ``auc`` only; both are counted (:class:`CandidateResult`).

Implementation (vectorised, no per-user loop): rows are grouped by user (a stable argsort, skipped when
they already are, as in a split's candidate files), lists of similar length are laid out in padded
``(users, width)`` blocks whose rows are sorted once (``np.sort`` along axis 1), and each positive finds
the number of scores above it and tied with it by a binary search run on all positives at once. The
pessimistic rank and the AUC pair counts follow from those counts, so no second sort is needed.
Blocks hold at most :data:`BLOCK_CELLS` padded cells, so the working memory does not grow with the number of
rows (tens of millions on lsec-large). float32 scores are used as they are (no float64 copy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, overload

import numpy as np

__all__ = [
    "CandidateMetrics",
    "CandidateResult",
    "candidate_metrics",
    "candidate_metrics_detail",
    "mean_over_users",
    "ndcg_at_k",
    "recall_at_k",
]


BLOCK_CELLS = 1 << 22  # padded cells per block of users (4M: ~32 MB per float64 work array)


@dataclass
class CandidateResult:
    """Everything :func:`candidate_metrics_detail` computes.

    Attributes:
        metrics: mean over users of each metric (``nan`` when no user qualifies).
        per_user: ``user`` (int64), ``num_positives``, ``num_negatives`` and one float array per metric
            (``nan`` where the user is skipped for that metric), users ascending.
        num_users: distinct users in the input.
        num_skipped: users without any positive (skipped for every metric).
        num_skipped_auc: users skipped for ``auc`` (no positive or no negative).
    """

    metrics: dict[str, float]
    per_user: dict[str, np.ndarray] = field(repr=False)
    num_users: int
    num_skipped: int
    num_skipped_auc: int


def _check_ks(name: str, ks: Sequence[int]) -> tuple[int, ...]:
    out = []
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"The '{name}' parameter of candidate_metrics must hold positive ints. Got {k!r} instead.")
        out.append(int(k))
    return tuple(out)


def candidate_metrics_detail(
    user: np.ndarray,
    label: np.ndarray,
    score: np.ndarray,
    ks: Sequence[int] = (10, 50),
    first_ks: Sequence[int] = (10,),
) -> CandidateResult:
    """Candidate-list metrics with per-user values and skip counts (see the module docstring).

    Shapes:
        user: (R,) ints; label: (R,) 0/1 (or bool); score: (R,) floats, no NaN. Rows in any order.
    """
    ks, first_ks = _check_ks("ks", ks), _check_ks("first_ks", first_ks)
    user = np.asarray(user)
    label = np.asarray(label)
    score = np.asarray(score)
    score = score if score.dtype in (np.float32, np.float64) else score.astype(np.float64)  # float32 kept: exact
    if not (user.shape == label.shape == score.shape) or user.ndim != 1:
        raise ValueError(
            f"user, label and score must be 1-d arrays of one length. Got shapes {user.shape}, {label.shape}, {score.shape}."
        )
    if np.isnan(score).any():
        raise ValueError(f"score contains NaN (first at row {int(np.flatnonzero(np.isnan(score))[0])}).")
    if label.size and ((label != 0) & (label != 1)).any():
        raise ValueError("label must be 0/1 (or bool).")
    names = [
        "auc",
        "mrr",
        *(f"ndcg@{k}" for k in ks),
        *(f"recall@{k}" for k in ks),
        *(f"mrr_first@{k}" for k in first_ks),
    ]

    if user.size < 2 or bool((user[1:] >= user[:-1]).all()):
        order, user_sorted = None, user  # already sorted by user (the candidate files are)
    else:
        order = np.argsort(user, kind="stable")
        user_sorted = user[order]
    n = user_sorted.size
    starts = np.flatnonzero(np.r_[True, user_sorted[1:] != user_sorted[:-1]]) if n else np.zeros(0, np.int64)
    sizes = np.diff(np.r_[starts, n])
    num_users = starts.size
    per_user: dict[str, np.ndarray] = {name: np.full(num_users, np.nan) for name in names}
    num_pos = np.zeros(num_users, dtype=np.int64)
    num_neg = np.zeros(num_users, dtype=np.int64)

    widths = 1 << np.ceil(np.log2(np.maximum(sizes, 1))).astype(np.int64)
    for width in np.unique(widths):
        same_width = np.flatnonzero(widths == width)
        step = max(1, BLOCK_CELLS // int(width))  # users per block: bounded memory whatever the row count
        for first in range(0, same_width.size, step):
            groups = same_width[first : first + step]
            block = _block_metrics(order, starts[groups], sizes[groups], int(width), label, score, ks, first_ks)
            num_pos[groups], num_neg[groups] = block.pop("num_positives"), block.pop("num_negatives")
            for name, values in block.items():
                per_user[name][groups] = values

    per_user["user"] = user_sorted[starts].astype(np.int64)
    per_user["num_positives"] = num_pos
    per_user["num_negatives"] = num_neg
    metrics = {name: mean_over_users(per_user[name]) for name in names}
    return CandidateResult(
        metrics=metrics,
        per_user=per_user,
        num_users=num_users,
        num_skipped=int((num_pos == 0).sum()),
        num_skipped_auc=int(((num_pos == 0) | (num_neg == 0)).sum()),
    )


def mean_over_users(values: np.ndarray) -> float:
    """Mean of per-user values, skipping ``nan`` (users a metric skips); ``nan`` when none is left."""
    valid = values[~np.isnan(values)]
    return float(valid.mean()) if valid.size else float("nan")


def _block_metrics(
    order: np.ndarray | None,
    starts: np.ndarray,
    sizes: np.ndarray,
    width: int,
    label: np.ndarray,
    score: np.ndarray,
    ks: tuple[int, ...],
    first_ks: tuple[int, ...],
) -> dict[str, np.ndarray]:
    """Metrics of the users whose lists (``order[start : start + size]``, ``order=None``: identity) fit in
    ``width`` columns.

    Each list's scores are sorted once (``np.sort`` along rows of a padded block); every positive then
    finds, by a vectorised binary search in its row, how many scores are above it and how many tie with it.
    """
    num = starts.size
    total = int(sizes.sum())
    offset = np.cumsum(sizes) - sizes  # where each list starts among this block's rows
    rows_in = np.arange(total) + np.repeat(starts - offset, sizes)  # positions in the user-sorted input
    if order is not None:
        rows_in = order[rows_in]
    dest = np.arange(total) + np.repeat(np.arange(num) * width - offset, sizes)  # flat slot in the block
    block = np.full((num, width), -np.inf, dtype=score.dtype)  # padding: -inf, sorts first
    block.ravel()[dest] = score[rows_in]
    block.sort(axis=1)  # ascending per list

    is_pos = label[rows_in] == 1
    pos_row = (dest[is_pos] // width).astype(np.int64)  # ascending
    pos_score = score[rows_in[is_pos]]
    num_pos = np.bincount(pos_row, minlength=num)
    num_neg = sizes - num_pos
    padding = width - sizes

    # Among the list's scores: how many are above the positive, how many equal it (padding included).
    below = _count_in_rows(block, pos_row, pos_score, strict=True)
    at_or_below = _count_in_rows(block, pos_row, pos_score, strict=False)
    above = width - at_or_below
    tied = at_or_below - below
    # Positives of the same list: order by (row, descending score); ties among positives are contiguous.
    by = np.lexsort((-pos_score, pos_row))
    pos_row, pos_score, above, tied = pos_row[by], pos_score[by], above[by], tied[by]
    same_run = np.r_[True, (pos_row[1:] != pos_row[:-1]) | (pos_score[1:] != pos_score[:-1])] if by.size else by
    run_id = np.cumsum(same_run) - 1
    index_in_tie, pos_tied = _run_rank(run_id)
    pos_above = _run_rank(pos_row)[0] - index_in_tie  # positives of the row strictly above
    neg_tied = tied - pos_tied - np.where(pos_score == -np.inf, padding[pos_row], 0)
    neg_above = above - pos_above
    rank = above + neg_tied + index_in_tie + 1  # pessimistic: after every tied negative
    correct = num_neg[pos_row] - neg_above - 0.5 * neg_tied  # pairs won, ties count 1/2

    def per_row(values: np.ndarray) -> np.ndarray:
        return np.bincount(pos_row, weights=values, minlength=num)

    with np.errstate(divide="ignore", invalid="ignore"):
        has_pos = num_pos > 0
        out: dict[str, np.ndarray] = {"num_positives": num_pos, "num_negatives": num_neg}
        out["auc"] = np.where(has_pos & (num_neg > 0), per_row(correct) / (num_pos * num_neg), np.nan)
        out["mrr"] = np.where(has_pos, per_row(1.0 / rank) / num_pos, np.nan)
        discount = 1.0 / np.log2(rank + 1.0)
        ideal = np.r_[0.0, np.cumsum(1.0 / np.log2(np.arange(2, max(ks, default=1) + 2)))]
        for k in ks:
            out[f"ndcg@{k}"] = np.where(
                has_pos, per_row(np.where(rank <= k, discount, 0.0)) / ideal[np.minimum(num_pos, k)], np.nan
            )
        for k in ks:
            out[f"recall@{k}"] = np.where(has_pos, per_row((rank <= k).astype(np.float64)) / num_pos, np.nan)
        first_rank = np.full(num, np.inf)
        if pos_row.size:
            is_first = np.r_[True, pos_row[1:] != pos_row[:-1]]  # a row's first positive has its best rank
            first_rank[pos_row[is_first]] = rank[is_first]
        for k in first_ks:
            out[f"mrr_first@{k}"] = np.where(has_pos, np.where(first_rank <= k, 1.0 / first_rank, 0.0), np.nan)
    return out


def _count_in_rows(block: np.ndarray, rows: np.ndarray, values: np.ndarray, strict: bool) -> np.ndarray:
    """Per query ``i``: how many entries of the ascending row ``block[rows[i]]`` are ``< values[i]``
    (``<=`` when not ``strict``), by a binary search run on all queries at once."""
    width = block.shape[1]
    flat = block.ravel()
    base = rows * width
    lo = np.zeros(rows.size, dtype=np.int64)
    hi = np.full(rows.size, width, dtype=np.int64)
    while True:
        active = lo < hi
        if not active.any():
            return lo
        mid = (lo + hi) // 2
        probe = flat[base + np.minimum(mid, width - 1)]
        right = active & ((probe < values) if strict else (probe <= values))
        lo = np.where(right, mid + 1, lo)
        hi = np.where(active & ~right, mid, hi)


def _run_rank(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each element: its 0-based index in its run of equal consecutive values, and that run's length."""
    if values.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    run_start = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    run_length = np.diff(np.r_[run_start, values.size])
    return np.arange(values.size) - np.repeat(run_start, run_length), np.repeat(run_length, run_length)


@overload
def candidate_metrics(
    user: np.ndarray,
    label: np.ndarray,
    score: np.ndarray,
    ks: Sequence[int] = ...,
    first_ks: Sequence[int] = ...,
    per_user: Literal[False] = ...,
) -> dict[str, float]: ...


@overload
def candidate_metrics(
    user: np.ndarray,
    label: np.ndarray,
    score: np.ndarray,
    ks: Sequence[int] = ...,
    first_ks: Sequence[int] = ...,
    *,
    per_user: Literal[True],
) -> dict[str, np.ndarray]: ...


def candidate_metrics(
    user: np.ndarray,
    label: np.ndarray,
    score: np.ndarray,
    ks: Sequence[int] = (10, 50),
    first_ks: Sequence[int] = (10,),
    per_user: bool = False,
) -> dict[str, float] | dict[str, np.ndarray]:
    """Mean candidate-list metrics: keys ``auc``, ``mrr``, ``ndcg@k``, ``recall@k`` (each k in ``ks``) and
    ``mrr_first@k`` (each k in ``first_ks``), as defined in the module docstring.

    With ``per_user=True`` returns the per-user arrays instead (plus ``user``, ``num_positives``,
    ``num_negatives``). Skip counts: :func:`candidate_metrics_detail`.
    """
    result = candidate_metrics_detail(user, label, score, ks, first_ks)
    return result.per_user if per_user else result.metrics


class CandidateMetrics:
    """Accumulating form (PyG style): ``update`` with batches of rows, ``compute`` once, ``reset``.

    A user's rows may be spread over several updates; they are grouped at ``compute`` time.
    """

    def __init__(self, ks: Sequence[int] = (10, 50), first_ks: Sequence[int] = (10,)) -> None:
        self.ks = _check_ks("ks", ks)
        self.first_ks = _check_ks("first_ks", first_ks)
        self.reset()

    def reset(self) -> None:
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def update(self, user: np.ndarray, label: np.ndarray, score: np.ndarray) -> None:
        self._parts.append((np.asarray(user), np.asarray(label), np.asarray(score, dtype=np.float64)))

    def compute_result(self) -> CandidateResult:
        if not self._parts:
            raise ValueError("CandidateMetrics.compute() called before any update().")
        user, label, score = (np.concatenate(part) for part in zip(*self._parts, strict=True))
        return candidate_metrics_detail(user, label, score, self.ks, self.first_ks)

    def compute(self) -> dict[str, float]:
        return self.compute_result().metrics

    def __repr__(self) -> str:
        return f"CandidateMetrics(ks={self.ks}, first_ks={self.first_ks})"


# ------------------------------------------------------------------------------ top-k building blocks
def recall_at_k(hits: np.ndarray, num_relevant: np.ndarray, k: int) -> np.ndarray:
    """Per-user ``hits@k / num_relevant`` from a top-k hit matrix.

    Shapes:
        hits: (U, K) bool, ``hits[u, j]`` = the item ranked ``j + 1`` for user ``u`` is relevant, ``K >= k``;
        num_relevant: (U,) relevant items per user (users with 0 give ``nan``). Returns (U,) float64.
    """
    hits = np.asarray(hits, dtype=bool)
    if k < 1 or k > hits.shape[1]:
        raise ValueError(f"The 'k' parameter of recall_at_k must be in 1..{hits.shape[1]}. Got {k} instead.")
    with np.errstate(divide="ignore", invalid="ignore"):
        relevant = np.asarray(num_relevant, dtype=np.float64)
        return np.where(relevant > 0, hits[:, :k].sum(axis=1) / relevant, np.nan)


def ndcg_at_k(hits: np.ndarray, num_relevant: np.ndarray, k: int) -> np.ndarray:
    """Per-user binary-gain nDCG@k from a top-k hit matrix (log2 discount, IDCG over ``min(num_relevant, k)``).

    Shapes as in :func:`recall_at_k`. Returns (U,) float64, ``nan`` for users without relevant items.
    """
    hits = np.asarray(hits, dtype=bool)
    if k < 1 or k > hits.shape[1]:
        raise ValueError(f"The 'k' parameter of ndcg_at_k must be in 1..{hits.shape[1]}. Got {k} instead.")
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.r_[0.0, np.cumsum(discount)]
    relevant = np.asarray(num_relevant, dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(relevant > 0, (hits[:, :k] * discount).sum(axis=1) / ideal[np.minimum(relevant, k)], np.nan)
