"""Which users does a trained DM-GNN treat as influential, and do their ties buy more after they buy?

**Influence score** of user ``v`` from a temporal run (DM-GNN's interpretability claim). Every event of the
scored fold (default test) gives two queries, its ``src`` and its ``dst`` at the event's time, exactly as the
link task embeds them. For a query ``(u, t)`` the encoder's top layer attends over ``u``'s sampled earlier
events; a slot whose event is ``u -> v`` (``u`` acted on ``v``'s content: ``v`` is one of ``u``'s ties, the
direction in which the simulator's influence flows) contributes ``mean_h alpha_h x w`` to ``v``, with
``alpha_h`` the attention of head ``h`` (after the decay, :meth:`TemporalEncoder.top_attention`) and
``w = exp(-lambda dt)`` the decay weight (1 for a model without decay). The score of ``v`` is the MEAN of its
contributions over the slots it fills (``appearances``), so a user is not influential merely for being
acted on often (the null control keeps every user's in-degree); users never in a slot get NaN.

**Tie lift** of user ``v`` (what the score should track): ``v``'s ties are the users ``u`` with a social event
``u -> v`` (any time). For each purchase (consumption kind ``pay``) of ``v`` at ``s`` with ``s + W`` inside the
data, count the purchases of each tie in ``(s, s + W]``; the expectation is each tie's purchases over the whole
span times ``W / span``. ``lift_v = observed / expected`` summed over ``v``'s purchases and ties (NaN with no
expectation). 1 means ``v``'s purchases do not move its ties.

:func:`influence_lift` bins users by score (quantiles) and pools the lift per bin; the report draws it
(:func:`lsec.analysis.figures.influence_lift_figure`) next to the same curve of a run on the null control.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from lsec.data.schema import CONSUMPTION_KINDS
from lsec.train.temporal_data import DAY, TemporalData

EVAL_CHUNK = 2048


@torch.no_grad()
def influence_scores(run: Any, fold: str = "test") -> dict[str, np.ndarray]:
    """``{"score": (N,) float64 (NaN where never attended), "appearances": (N,) int64}`` of a loaded temporal run."""
    from lsec.nn.models.dmgnn.encoder import TemporalEncoder

    task, model = run.split, run.model
    encoder = model.encoder
    if not isinstance(encoder, TemporalEncoder):
        raise ValueError(
            f"{run.run_dir}: influence scores need a temporal encoder (attention); got {type(encoder).__name__}."
        )
    model.eval()
    data: TemporalData = task.data
    events = np.flatnonzero(data.fold_mask(fold))
    users = np.concatenate([data.src[events], data.dst[events]])
    times = np.concatenate([data.ts[events], data.ts[events]])
    total = np.zeros(data.num_users)
    count = np.zeros(data.num_users, np.int64)
    for start in range(0, len(users), EVAL_CHUNK):
        nodes, at = users[start : start + EVAL_CHUNK], times[start : start + EVAL_CHUNK]
        hop, alpha, weight = encoder.top_attention(nodes, at, sampler=task.sample())
        contribution = (alpha.mean(1) * weight).cpu().numpy()  # (B, k)
        outgoing = hop.mask & (data.src[np.where(hop.mask, hop.edge_ids, 0)] == nodes[:, None])  # u -> v slots
        np.add.at(total, hop.neighbors[outgoing], contribution[outgoing])
        np.add.at(count, hop.neighbors[outgoing], 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return {"score": score, "appearances": count}


def tie_lift(data: TemporalData, window_days: float = 1.0) -> dict[str, np.ndarray]:
    """``{"observed": (N,), "expected": (N,), "lift": (N,)}``: the ties' purchases after each user's purchases."""
    n = data.num_users
    pay = data.consumption_kind == CONSUMPTION_KINDS["pay"]
    buyer, ts = data.consumption_user[pay], data.consumption_ts[pay]
    observed, expected = np.zeros(n), np.zeros(n)
    if len(ts) == 0:
        return {"observed": observed, "expected": expected, "lift": np.full(n, np.nan)}
    begin, end = int(ts.min()), int(ts.max()) + 1
    span, window = end - begin, int(round(window_days * DAY))
    pairs = np.unique(data.src * n + data.dst)  # ties u -> v
    follower, influencer = pairs // n, pairs % n
    order = np.argsort(influencer, kind="stable")
    follower, influencer = follower[order], influencer[order]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(influencer, minlength=n))])
    purchases = np.bincount(buyer, minlength=n)
    key = np.sort(buyer.astype(np.int64) * (span + 1) + (ts - begin))  # buyer's purchases by time
    inside = ts + window <= end
    v, s = buyer[inside], ts[inside] - begin
    degree = indptr[v + 1] - indptr[v]
    row = np.repeat(np.arange(len(v)), degree)
    u = follower[np.repeat(indptr[v] - np.cumsum(degree) + degree, degree) + np.arange(len(row))]
    base = u * (span + 1) + s[row]
    after = np.searchsorted(key, base + window, "right") - np.searchsorted(key, base, "right")
    np.add.at(observed, v[row], after)
    np.add.at(expected, v[row], purchases[u] * window / span)
    with np.errstate(invalid="ignore", divide="ignore"):
        lift = np.where(expected > 0, observed / expected, np.nan)
    return {"observed": observed, "expected": expected, "lift": lift}


def influence_lift(run: Any, *, fold: str = "test", bins: int = 5, window_days: float = 1.0) -> dict[str, Any]:
    """Scores, tie lifts and the pooled lift per score quantile bin of a loaded temporal run (module docstring).

    Returns ``{"bins": [{"score_low", "score_high", "users", "observed", "expected", "lift"}], "spearman":
    rank correlation of score and lift over the users with both, "users": that count, "scores": ...,
    "lift": ...}``.
    """
    scores = influence_scores(run, fold)
    lifts = tie_lift(run.split.data, window_days)
    score, lift = scores["score"], lifts["lift"]
    both = np.isfinite(score) & np.isfinite(lift)
    out: dict[str, Any] = {"fold": fold, "window_days": window_days, "users": int(both.sum()), "bins": []}
    out["spearman"] = float(spearmanr(score[both], lift[both])[0]) if both.sum() > 2 else float("nan")
    if both.sum() >= bins:
        edges = np.quantile(score[both], np.linspace(0, 1, bins + 1))
        which = np.clip(np.searchsorted(edges, score, side="right") - 1, 0, bins - 1)
        for b in range(bins):
            keep = both & (which == b)
            obs, exp = float(lifts["observed"][keep].sum()), float(lifts["expected"][keep].sum())
            out["bins"].append(
                {
                    "score_low": float(edges[b]),
                    "score_high": float(edges[b + 1]),
                    "users": int(keep.sum()),
                    "observed": obs,
                    "expected": exp,
                    "lift": obs / exp if exp > 0 else float("nan"),
                }
            )
    out["scores"], out["appearances"], out["lift"] = score, scores["appearances"], lift
    return out
