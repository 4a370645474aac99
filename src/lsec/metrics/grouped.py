"""AUC, and its per-user forms UAUC and GAUC (gift prediction, DESIGN section 5). Definitions are API.

``auc`` over all samples is the probability that a random positive outscores a random negative, ties
counting 1/2 (Mann-Whitney with mid-ranks):

.. math::  \\mathrm{AUC} = \\frac{\\sum_{p} R(p) - P (P + 1) / 2}{P N}

where ``R(p)`` is the 1-based mid-rank of positive ``p`` among all scores in ascending order (tied scores
share the mean of their positions). Per user ``u`` the same formula over the user's samples gives
``AUC_u``; users with one class only (``P_u = 0`` or ``N_u = 0``) are skipped and counted. Then

* ``uauc`` = unweighted mean of ``AUC_u`` over the kept users;
* ``gauc`` = :math:`\\sum_u n_u \\mathrm{AUC}_u / \\sum_u n_u` with ``n_u`` the user's number of samples
  (impressions), over the kept users.

These are MMBee's eq. 13 (``N`` = the users with both classes). With several tasks (gift, and later others),
:func:`task_metrics` computes each task from its own ``(labels, scores, users)`` only, so no task's figure can
be reported for another (a bug multi-task CTR libraries have shipped).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = ["GroupedAUC", "GroupedAUCMetric", "auc", "gauc", "grouped_auc", "task_metrics", "uauc"]


def _inputs(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.shape != scores.shape or labels.ndim != 1:
        raise ValueError(f"labels and scores must be 1-d arrays of one length. Got {labels.shape} and {scores.shape}.")
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0/1 (or bool).")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN.")
    return labels.astype(bool), scores


def _midranks(sorted_scores: np.ndarray, new_segment: np.ndarray) -> np.ndarray:
    """1-based mid-ranks of ascending scores, ranks restarting where ``new_segment`` (a row starts a group).

    Ties are runs of equal scores inside a segment; each gets the mean of its positions.
    """
    n = sorted_scores.size
    tie_start = np.ones(n, dtype=bool)
    tie_start[1:] = (sorted_scores[1:] != sorted_scores[:-1]) | new_segment[1:]
    tie_first = np.flatnonzero(tie_start)
    tie_len = np.diff(np.r_[tie_first, n])
    segment_first = np.flatnonzero(new_segment)
    segment_of = np.cumsum(new_segment) - 1
    position = np.arange(n) - segment_first[segment_of]  # 0-based within segment
    tie_mid = position[tie_first] + (tie_len + 1) / 2.0  # mean of positions+1 over the run
    return np.repeat(tie_mid, tie_len)


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Global ROC AUC with ties counting 1/2. Raises ``ValueError`` when only one class is present."""
    is_pos, scores = _inputs(labels, scores)
    num_pos = int(is_pos.sum())
    num_neg = is_pos.size - num_pos
    if num_pos == 0 or num_neg == 0:
        raise ValueError(f"auc needs both classes; got {num_pos} positives and {num_neg} negatives.")
    order = np.argsort(scores)
    segment = np.zeros(scores.size, dtype=bool)
    segment[0] = True
    ranks = _midranks(scores[order], segment)
    return float((ranks[is_pos[order]].sum() - num_pos * (num_pos + 1) / 2.0) / (num_pos * num_neg))


@dataclass
class GroupedAUC:
    """Result of :func:`grouped_auc`.

    Attributes:
        uauc, gauc: the two means (``nan`` when no user has both classes).
        num_users: distinct users; num_skipped: users with one class only.
        per_user: ``user``, ``auc`` (``nan`` if skipped), ``num_samples``, ``num_positives`` (users ascending).
    """

    uauc: float
    gauc: float
    num_users: int
    num_skipped: int
    per_user: dict[str, np.ndarray] = field(repr=False)


def grouped_auc(users: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> GroupedAUC:
    """Per-user AUC (mid-rank ties), UAUC and GAUC; see the module docstring."""
    is_pos, scores = _inputs(labels, scores)
    users = np.asarray(users)
    if users.shape != scores.shape:
        raise ValueError(f"users must have the shape of scores {scores.shape}. Got {users.shape}.")
    n = users.size
    order = np.lexsort((scores, users))
    users_sorted, scores_sorted, pos_sorted = users[order], scores[order], is_pos[order]
    new_user = np.ones(n, dtype=bool)
    new_user[1:] = users_sorted[1:] != users_sorted[:-1]
    ranks = _midranks(scores_sorted, new_user) if n else np.zeros(0)
    first = np.flatnonzero(new_user)
    user_of = np.cumsum(new_user) - 1
    count = np.diff(np.r_[first, n])
    num_pos = np.bincount(user_of, weights=pos_sorted, minlength=first.size).astype(np.int64)
    num_neg = count - num_pos
    rank_sum = np.bincount(user_of, weights=np.where(pos_sorted, ranks, 0.0), minlength=first.size)
    valid = (num_pos > 0) & (num_neg > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_auc = np.where(valid, (rank_sum - num_pos * (num_pos + 1) / 2.0) / (num_pos * num_neg), np.nan)
    if valid.any():
        uauc_value = float(per_auc[valid].mean())
        gauc_value = float((per_auc[valid] * count[valid]).sum() / count[valid].sum())
    else:
        uauc_value = gauc_value = float("nan")
    return GroupedAUC(
        uauc=uauc_value,
        gauc=gauc_value,
        num_users=int(first.size),
        num_skipped=int((~valid).sum()),
        per_user={
            "user": users_sorted[first],
            "auc": per_auc,
            "num_samples": count,
            "num_positives": num_pos,
        },
    )


def uauc(users: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> float:
    """Unweighted mean of per-user AUC over users with both classes (``nan`` if none)."""
    return grouped_auc(users, labels, scores).uauc


def gauc(users: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> float:
    """Per-user AUC weighted by each user's number of samples, over users with both classes (``nan`` if none)."""
    return grouped_auc(users, labels, scores).gauc


def task_metrics(tasks: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict[str, dict[str, float]]:
    """``auc``, ``uauc``, ``gauc`` of each task, from that task's own samples only.

    Args:
        tasks: task name -> ``(labels, scores, users)``, three 1-d arrays of one length per task (lengths may
            differ between tasks).

    Returns:
        task name -> ``{"auc", "uauc", "gauc", "num_samples", "num_positives", "num_users", "skipped_users"}``
        (``skipped_users``: users with one class only, left out of ``uauc`` / ``gauc``). A task whose samples
        hold one class only gets ``auc = nan`` instead of an error, so one empty task never hides the others.
    """
    if not isinstance(tasks, Mapping) or not tasks:
        raise ValueError(
            f"The 'tasks' parameter of task_metrics must be a non-empty mapping task -> "
            f"(labels, scores, users). Got {tasks!r:.80} instead."
        )
    out: dict[str, dict[str, float]] = {}
    for name, arrays in tasks.items():
        if not isinstance(arrays, tuple | list) or len(arrays) != 3:
            raise ValueError(
                f"task_metrics: task {name!r} must map to (labels, scores, users). Got {type(arrays).__name__}."
            )
        labels, scores, users = arrays
        try:
            is_pos, values = _inputs(labels, scores)
            grouped = grouped_auc(users, labels, scores)
        except ValueError as err:
            raise ValueError(f"task_metrics: task {name!r}: {err}") from None
        num_pos = int(is_pos.sum())
        both = 0 < num_pos < is_pos.size
        out[name] = {
            "auc": auc(is_pos, values) if both else float("nan"),
            "uauc": grouped.uauc,
            "gauc": grouped.gauc,
            "num_samples": float(is_pos.size),
            "num_positives": float(num_pos),
            "num_users": float(grouped.num_users),
            "skipped_users": float(grouped.num_skipped),
        }
    return out


class GroupedAUCMetric:
    """Accumulating ``auc`` / ``uauc`` / ``gauc`` (``update`` per batch, ``compute``, ``reset``)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def update(self, users: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> None:
        self._parts.append((np.asarray(users), np.asarray(labels), np.asarray(scores, dtype=np.float64)))

    def compute(self) -> dict[str, float]:
        """``auc``, ``uauc``, ``gauc`` and ``skipped_users`` (users with one class only)."""
        if not self._parts:
            raise ValueError("GroupedAUCMetric.compute() called before any update().")
        users, labels, scores = (np.concatenate(p) for p in zip(*self._parts, strict=True))
        grouped = grouped_auc(users, labels, scores)
        return {
            "auc": auc(labels, scores),
            "uauc": grouped.uauc,
            "gauc": grouped.gauc,
            "skipped_users": float(grouped.num_skipped),
        }
