"""Full-sort evaluation (LightGCN convention): rank every item for every test user.

For each user with at least one held-out item: score all items, mask the user's training items (score
``-inf``), keep the top ``max(ks)`` with :func:`torch.topk`, then

- ``recall@k`` = hits in the top k / number of held-out items,
- ``ndcg@k``   = DCG / IDCG with binary gain and ``1 / log2(rank + 1)`` discount (rank from 1), IDCG over
  ``min(number of held-out items, k)`` positions,

averaged over the evaluated users. Users are processed in blocks so that memory stays at
``block_size x num_items`` scores whatever the number of users; hits are found by binary search in the
sorted ``(user, item)`` keys of the held-out set, never with a dense user x item table. Ties in the scores
are broken by :func:`torch.topk` (continuous model scores almost never tie).

**Popularity prior** (:func:`with_popularity_prior`, config ``eval.cold_fallback`` / ``eval.popularity_prior``):
a user with no training pair has nothing for a model to rank from (an untrained embedding, an all-zero GF-CF row),
so by default such a user is ranked by popularity (training-fold interaction counts), as serving's ``popular``
strategy does. With a prior weight ``kappa > 0`` every user's ranking blends the two by the user's training degree
``d``: ``score = (1 - w) * z_model + w * z_pop`` with ``w = kappa / (kappa + d)``, where ``z_model`` is the user's
model scores standardised over the catalogue (mean 0, std 1 per user) and ``z_pop`` the item counts standardised
the same way: a user with few pairs leans on popularity, one with many on the model; ``d = 0`` gives ``w = 1``
(popularity). ``kappa = 0`` leaves every user with a training pair exactly as the model ranks them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from tqdm import tqdm

ScoreBlock = Callable[[torch.Tensor], torch.Tensor]
"""``users (B,) int64 -> (B, num_items)`` scores of those users against the whole catalogue (the caller
may overwrite the returned block: masking happens in place)."""


def dot_scores(user_embedding: torch.Tensor, item_embedding: torch.Tensor, *, reuse_buffer: bool = True) -> ScoreBlock:
    """A :data:`ScoreBlock` for dot-product models: ``user_embedding[users] @ item_embedding.T``.

    With ``reuse_buffer`` (the default) every call writes into the same preallocated block, which is
    valid until the next call (what :func:`full_sort_topk` needs): first-touch page faults of a fresh
    (block_size, num_items) tensor cost about 40% of the product otherwise.
    """
    items_t = item_embedding.detach().T.contiguous()
    users_table = user_embedding.detach()
    buffer: list[torch.Tensor] = []

    def score(users: torch.Tensor) -> torch.Tensor:  # on the embeddings' device (a GPU when trained there)
        query = users_table[users.to(users_table.device)]
        if not reuse_buffer:
            return query @ items_t
        if not buffer or buffer[0].shape[0] < len(users):
            buffer[:] = [torch.empty(len(users), items_t.shape[1], dtype=items_t.dtype, device=items_t.device)]
        return torch.mm(query, items_t, out=buffer[0][: len(users)])

    return score


def full_sort_topk(
    score_block: ScoreBlock,
    users: np.ndarray,
    k: int,
    *,
    exclude: sp.csr_matrix | None = None,
    block_size: int = 2048,
    show_progress: bool = False,
) -> np.ndarray:
    """Top-``k`` item indices per user, best first, after masking ``exclude``'s items per user.

    Args:
        score_block: users -> (B, num_items) scores.
        users: (U,) user indices.
        k: list length.
        exclude: optional (num_users, num_items) CSR matrix of items never to recommend (training items).
        block_size: users scored at once (memory is ``block_size x num_items`` floats).

    Returns:
        (U, k) int64 array of item indices.
    """
    users = np.asarray(users, dtype=np.int64)
    out = np.empty((len(users), k), dtype=np.int64)
    with torch.no_grad():
        for start in tqdm(range(0, len(users), block_size), disable=not show_progress, desc="full sort"):
            block = users[start : start + block_size]
            scores = score_block(torch.from_numpy(block))  # (B, num_items)
            if exclude is not None:
                rows, cols = _block_entries(exclude, block)
                scores[torch.from_numpy(rows).to(scores.device), torch.from_numpy(cols).to(scores.device)] = -torch.inf
            out[start : start + len(block)] = torch.topk(scores, k, dim=1, sorted=True).indices.cpu().numpy()
    return out


def full_sort_metrics(
    score_block: ScoreBlock,
    train: sp.csr_matrix,
    test: sp.csr_matrix,
    *,
    ks: Sequence[int] = (20,),
    block_size: int = 2048,
    show_progress: bool = False,
) -> dict[str, float]:
    """``recall@k`` and ``ndcg@k`` of the full-sort protocol, averaged over users with test items.

    Args:
        score_block: users -> (B, num_items) scores (see :func:`dot_scores`).
        train: (num_users, num_items) CSR of training interactions (masked before ranking).
        test: (num_users, num_items) CSR of held-out interactions (the positives).
        ks: cut-offs.

    Returns:
        ``{"recall@k": ..., "ndcg@k": ..., "precision@k": ..., "num_users": U}`` for each k
        (precision@k = hits in the top k / k).
    """
    if not ks or min(ks) < 1:
        raise ValueError(f"The 'ks' parameter of full_sort_metrics must hold positive ints. Got {tuple(ks)}.")
    if train.shape != test.shape:
        raise ValueError(f"train and test must have the same shape; got {train.shape} and {test.shape}.")
    test = sp.csr_matrix(test, dtype=np.float32)
    test.sum_duplicates()
    test.sort_indices()
    num_items = test.shape[1]
    positives = np.diff(test.indptr)
    users = np.flatnonzero(positives > 0)
    kmax = min(max(ks), num_items)
    top = full_sort_topk(
        score_block, users, kmax, exclude=sp.csr_matrix(train), block_size=block_size, show_progress=show_progress
    )  # (U, kmax)
    # membership of each recommended item in the user's test set: binary search in sorted (user, item) keys
    test_rows = np.repeat(np.arange(test.shape[0], dtype=np.int64), positives)
    test_keys = test_rows * num_items + test.indices.astype(np.int64)  # sorted (CSR, sorted indices)
    keys = users[:, None] * num_items + top
    found = np.searchsorted(test_keys, keys)
    hits = test_keys[np.minimum(found, len(test_keys) - 1)] == keys  # (U, kmax) bool
    discount = 1.0 / np.log2(np.arange(2, kmax + 2))
    ideal_cum = np.cumsum(discount)
    n_pos = positives[users]
    result: dict[str, float] = {}
    for k in ks:
        kk = min(k, kmax)
        hit_k = hits[:, :kk]
        recall = hit_k.sum(1) / n_pos
        dcg = (hit_k * discount[:kk]).sum(1)
        idcg = ideal_cum[np.minimum(n_pos, kk) - 1]
        result[f"recall@{k}"] = float(recall.mean())
        result[f"ndcg@{k}"] = float((dcg / idcg).mean())
        result[f"precision@{k}"] = float((hit_k.sum(1) / k).mean())
    result["num_users"] = float(len(users))
    return result


def _block_entries(matrix: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(block row position, column) of every stored entry in ``matrix[rows]``."""
    starts = matrix.indptr[rows]
    counts = matrix.indptr[rows + 1] - starts
    total = int(counts.sum())
    position = np.repeat(np.arange(len(rows)), counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    cols = matrix.indices[np.repeat(starts, counts) + offsets]
    return position.astype(np.int64), cols.astype(np.int64)


def model_score_block(model: Any, enc: Mapping[str, torch.Tensor] | None, task: str = "buy") -> ScoreBlock:
    """Full-catalogue scores of a trained model (dot-product fast path) or of a fitted closed-form model.

    A closed-form model (``enc is None``) brings its own ``score_block()``; a dot-product model scores by one
    matrix product per block of users; an MLP scorer goes through ``model.score_all``.
    """
    if enc is None:
        block: ScoreBlock = model.score_block()
        return block
    if model.scoring_kind(task) == "dot":
        return dot_scores(model.query(task, enc).detach(), model.target(task, enc).detach())  # where the model is
    device = next(model.parameters()).device

    def score(users: torch.Tensor) -> torch.Tensor:
        return model.score_all(task, enc, users.to(device)).detach()

    return score


def popularity_block(train: sp.csr_matrix) -> ScoreBlock:
    """Every user scores each item by its number of training interactions (the popularity floor)."""
    counts = torch.from_numpy(np.asarray(train.sum(axis=0)).ravel().astype(np.float32))

    def score(users: torch.Tensor) -> torch.Tensor:
        return counts.expand(len(users), -1).clone()

    return score


def with_popularity_prior(
    score_block: ScoreBlock, train: sp.csr_matrix, *, prior: float = 0.0, cold_fallback: bool = True
) -> ScoreBlock:
    """``score_block`` with the popularity prior of the module docstring (training degree from ``train``).

    Args:
        score_block: users -> (B, num_items) model scores.
        train: (num_users, num_items) CSR of training interactions: a user's degree is its number of stored
            entries, an item's popularity its column sum (as :func:`popularity_block`).
        prior: ``kappa >= 0``; 0 blends nothing.
        cold_fallback: users without a training pair are ranked by popularity (their row becomes the counts).
            Implied by ``prior > 0`` (``w = 1`` at degree 0).

    Returns:
        ``score_block`` itself when ``prior == 0`` and not ``cold_fallback`` or when no user is concerned
        (every user has a training pair and ``prior == 0``: the scores are untouched, bit for bit), else a
        :data:`ScoreBlock` that writes into the block ``score_block`` returns.
    """
    if not prior >= 0 or not np.isfinite(prior):
        raise ValueError(f"The 'prior' parameter of with_popularity_prior must be a finite number >= 0. Got {prior}.")
    degree = np.diff(train.indptr)
    cold = degree == 0
    if prior == 0 and not (cold_fallback and cold.any()):
        return score_block
    counts = torch.from_numpy(np.asarray(train.sum(axis=0)).ravel().astype(np.float32))
    cold_t = torch.from_numpy(cold)
    if prior == 0:

        def fallback(users: torch.Tensor) -> torch.Tensor:
            scores = score_block(users)
            rows = cold_t[users.cpu()].to(scores.device)  # scores stay where the model is (a GPU too)
            if rows.any():
                scores[rows] = counts.to(scores.device, scores.dtype)
            return scores

        return fallback
    pop_std, pop_mean = torch.std_mean(counts)
    z_pop = (counts - pop_mean) / pop_std.clamp_min(1e-12)
    degree_t = torch.from_numpy(degree.astype(np.float32))

    def blended(users: torch.Tensor) -> torch.Tensor:
        scores = score_block(users)
        device = scores.device  # where the model is (a GPU too)
        weight = (prior / (prior + degree_t[users.cpu()])).to(device)  # (B,), 1 for cold users
        popularity_blend(scores, z_pop, weight)
        rows = cold_t[users.cpu()].to(device)
        if rows.any():  # exactly popularity (no rounding of z_pop's ties away)
            scores[rows] = counts.to(device, scores.dtype)
        return scores

    return blended


def popularity_blend(scores: torch.Tensor, z_pop: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """In place: ``(1 - w_b) z_model + w_b z_pop`` per row ``b``, ``z_model`` the row standardised (ddof 1).

    The one blend of the prior, shared by evaluation (:func:`with_popularity_prior`) and serving.

    Shapes:
        scores (B, T), z_pop (T,), weight (B,) -> scores
    """
    std, mean = torch.std_mean(scores, dim=1, keepdim=True)
    scores.sub_(mean).div_(std.clamp_min(1e-12)).mul_((1 - weight.to(scores.device, scores.dtype))[:, None])
    return scores.addr_(weight.to(scores.device, scores.dtype), z_pop.to(scores.device, scores.dtype))


def choose_popularity_prior(
    score_block: ScoreBlock,
    train: sp.csr_matrix,
    valid: sp.csr_matrix,
    priors: Sequence[float],
    *,
    metric: str = "recall@20",
    ks: Sequence[int] = (20,),
    cold_fallback: bool = True,
) -> tuple[float, dict[str, dict[str, float]]]:
    """The prior of ``priors`` whose blend scores best on ``valid`` (ties: the first), and every prior's metrics.

    Returns:
        ``(kappa, {str(kappa): metrics})``; metrics as :func:`full_sort_metrics` without ``num_users``.
    """
    if not priors:
        raise ValueError("The 'priors' parameter of choose_popularity_prior must hold at least one value.")
    table: dict[str, dict[str, float]] = {}
    best, best_value = float(priors[0]), -np.inf
    for prior in priors:
        block = with_popularity_prior(score_block, train, prior=float(prior), cold_fallback=cold_fallback)
        metrics = full_sort_metrics(block, train, valid, ks=ks)
        metrics.pop("num_users", None)
        table[str(float(prior))] = metrics
        if metric not in metrics:
            raise ValueError(f"metric {metric!r} is not a full-sort metric; expected one of {sorted(metrics)}.")
        if metrics[metric] > best_value:
            best, best_value = float(prior), metrics[metric]
    return best, table
