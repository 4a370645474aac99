"""Link-prediction metrics (DM-GNN social links, DESIGN section 5). Definitions are API.

Scores of positive pairs and of their negatives are pooled into one binary problem:

- ``auc``: the probability that a random positive scores above a random negative, ties counting 1/2
  (:func:`lsec.metrics.grouped.auc`, scikit-learn's ``roc_auc_score``).
- ``ap``: average precision, ``sum_n (R_n - R_{n-1}) P_n`` over the distinct score thresholds in decreasing
  order, ``P_n`` / ``R_n`` the precision / recall of "score >= threshold n" (scikit-learn's
  ``average_precision_score``: tied scores enter together, no interpolation).

Both are ``nan`` when either class is empty.
"""

from __future__ import annotations

import numpy as np

from lsec.metrics.grouped import auc

__all__ = ["average_precision", "link_metrics"]


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision of ``scores`` for binary ``labels`` (module docstring); ``nan`` without both classes.

    Shapes:
        labels, scores: (N,) -> float
    """
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels and scores must be 1-d arrays of one length. Got {y.shape} and {s.shape}.")
    positives = int(y.sum())
    if positives == 0 or positives == len(y):
        return float("nan")
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), len(s_sorted) - 1]  # last position of each distinct score
    true_pos = np.cumsum(y_sorted)[last].astype(np.float64)
    precision = true_pos / (last + 1)
    recall = true_pos / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def link_metrics(positive_scores: np.ndarray, negative_scores: np.ndarray) -> dict[str, float]:
    """``{"auc", "ap"}`` of positives against negatives, pooled (module docstring).

    Shapes:
        positive_scores (P,), negative_scores (N,) -> {"auc": float, "ap": float}
    """
    pos = np.asarray(positive_scores, dtype=np.float64).reshape(-1)
    neg = np.asarray(negative_scores, dtype=np.float64).reshape(-1)
    if len(pos) == 0 or len(neg) == 0:
        return {"auc": float("nan"), "ap": float("nan")}
    labels = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    scores = np.r_[pos, neg]
    return {"auc": float(auc(labels, scores)), "ap": average_precision(labels, scores)}
