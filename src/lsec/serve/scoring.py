"""Query-time scoring in numpy: one pass over a precomputed target table, then an exact top-k.

For a concat + MLP scorer (:class:`~lsec.nn.heads.PairMLPScorer`) the first layer splits into a target
part ``T = W_t t`` (precomputed for every target at export time, a contiguous ``(num_targets, hidden)``
float32 table) and a query part ``p = W_q q + b1`` (one vector per user). The logits are::

    s = MLP_rest(relu(T + p))

and ``relu(T + p) = max(T, -p) + p``, so the first hidden activation costs ONE elementwise pass over the
table (``np.maximum`` into a small reusable buffer) and the next linear layer absorbs the ``+ p``::

    relu(T + p) @ W2^T + b2 = max(T, -p) @ W2^T + (p @ W2^T + b2)

The table is walked in blocks of a few thousand rows so the scratch buffer stays in the L2 cache. For a
dot-product scorer the scores are ``T @ q`` (one matrix-vector product). Nothing here is approximate: the
scores equal the model's ``score_all`` up to float32 rounding (a different summation order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BLOCK_ROWS = 1024
"""Rows of the target table per block: (1024, 128) float32 = 512 KiB of scratch, well inside L2."""


@dataclass(frozen=True)
class MLPRest:
    """The scorer after its first linear map: ``relu`` then ``layers`` (ReLU between them, none after the last).

    Attributes:
        weights: per layer ``(out, in)`` float32, as in ``torch.nn.Linear``; the last has ``out == 1``.
        biases: per layer ``(out,)`` float32.
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]

    @property
    def hidden(self) -> int:
        return int(self.weights[0].shape[1])


def mlp_scores(
    query_part: np.ndarray,
    target_part: np.ndarray,
    rest: MLPRest,
    *,
    block_rows: int = BLOCK_ROWS,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Logits of each query against every target from precomputed first-layer parts.

    Shapes:
        query_part (B, h) (``W_q q + b1``), target_part (T, h) (``W_t t``) -> (B, T) float32
    """
    query_part = np.atleast_2d(np.asarray(query_part, dtype=np.float32))
    num_queries, hidden = query_part.shape
    num_targets = target_part.shape[0]
    if target_part.shape[1] != hidden or rest.hidden != hidden:
        raise ValueError(
            f"mlp_scores: query part width {hidden}, target part width {target_part.shape[1]} and scorer "
            f"input width {rest.hidden} must agree."
        )
    if out is None:
        out = np.empty((num_queries, num_targets), dtype=np.float32)
    first_w, first_b = rest.weights[0], rest.biases[0]
    negated = -query_part  # (B, h)
    # The "+ p" of relu(T + p) = max(T, -p) + p folded into the next layer's bias, once per query.
    shifted_bias = query_part @ first_w.T + first_b  # (B, out1)
    single_output = len(rest.weights) == 1
    rows = max(64, block_rows // max(num_queries, 1))
    scratch = np.empty((num_queries, min(rows, num_targets), hidden), dtype=np.float32)
    for start in range(0, num_targets, rows):
        block = target_part[start : start + rows]  # (b, h)
        b = block.shape[0]
        h1 = scratch[:, :b]  # (B, b, h)
        np.maximum(block[None, :, :], negated[:, None, :], out=h1)
        if single_output:
            # (B, b) = (B, b, h) @ (h,) + (B, 1): a matrix-vector product per query.
            logits = h1.reshape(num_queries * b, hidden) @ first_w[0]
            out[:, start : start + b] = logits.reshape(num_queries, b) + shifted_bias
            continue
        h = h1.reshape(num_queries, b, hidden) @ first_w.T + shifted_bias[:, None, :]  # (B, b, out1)
        for i in range(1, len(rest.weights)):
            np.maximum(h, 0.0, out=h)
            h = h @ rest.weights[i].T + rest.biases[i]
        out[:, start : start + b] = h[..., 0]
    return out


def dot_scores(query: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Inner products. Shapes: query (B, d), target (T, d) -> (B, T) float32."""
    query = np.atleast_2d(np.asarray(query, dtype=np.float32))
    return np.asarray(query @ target.T, dtype=np.float32)


def exclude(scores: np.ndarray, indices: np.ndarray) -> None:
    """Set ``scores[indices]`` to ``-inf`` in place (already-seen targets cannot be recommended)."""
    if len(indices):
        scores[indices] = -np.inf


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best targets of one score vector, best first; ``-inf`` (excluded) targets never appear.

    Ties are broken by the smaller target index, the order a stable descending sort gives. Fewer than
    ``k`` results come back when fewer targets are eligible.

    Shapes:
        scores (T,) -> indices (k',) int64, values (k',) float32 with ``k' = min(k, #finite)``
    """
    if k <= 0:
        raise ValueError(f"The 'k' parameter of top_k must be a positive int. Got {k} instead.")
    num_targets = scores.shape[0]
    if k < num_targets:
        candidates = np.argpartition(scores, num_targets - k)[num_targets - k :]  # the k largest, unordered
        # Targets tied with the k-th score may sit outside the partition: take them all, then cut.
        threshold = scores[candidates].min()
        candidates = np.flatnonzero(scores >= threshold) if np.isfinite(threshold) else candidates
    else:
        candidates = np.arange(num_targets)
    values = scores[candidates]
    order = np.lexsort((candidates, -values))[:k]
    chosen = candidates[order]
    values = values[order]
    keep = values > -np.inf
    return chosen[keep].astype(np.int64), values[keep].astype(np.float32)


def popular(popularity: np.ndarray, k: int, excluded: Sequence[int] | np.ndarray = ()) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most popular targets (training interaction counts), optionally without ``excluded``."""
    scores = popularity.astype(np.float32, copy=True)
    exclude(scores, np.asarray(excluded, dtype=np.int64))
    return top_k(scores, k)
