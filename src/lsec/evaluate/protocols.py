"""Evaluation protocols: the fixed candidate lists of a split (LSEC-GNN, DESIGN section 5).

Each evaluated user has a list of ``num_candidates`` targets (its positives in the window + seeded
negatives it never interacted with), drawn once and stored with the split, so every model and every epoch
is scored on the same rows. A model scores every row from ONE encoding of the training graphs; metrics
come from :func:`lsec.metrics.ranking.candidate_metrics` (pessimistic ties), averaged over users, and are
reported for all users, warm users (with training interactions) and cold users (none) separately.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from lsec.nn.models.base import TASK_TARGET, Encoded, RecommenderModel

GROUPS = ("all", "warm", "cold")


@torch.no_grad()
def score_pairs(
    model: RecommenderModel,
    enc: Encoded,
    task: str,
    users: np.ndarray,
    targets: np.ndarray,
    *,
    batch_size: int = 16_384,
) -> np.ndarray:
    """Logits of (user, target) rows, exactly ``model.score`` but without recomputing per-row work.

    MLP scorers precompute the first layer once per user and once per target (the split layer of
    :class:`~lsec.nn.heads.PairMLPScorer`); dot scorers gather rows; custom models call ``model.score``.

    Shapes:
        users (n,), targets (n,) -> (n,) float32
    """
    n = len(users)
    out = np.empty(n, dtype=np.float32)
    kind = model.scoring_kind(task)
    head = model.scorer(task) if kind == "mlp" else None
    if kind in ("mlp", "dot"):
        query = model.query(task, enc)
        target = model.target(task, enc)
        if head is not None:
            query = head.query_part(query)  # (num_users, hidden)
            target = head.target_part(target)  # (num_targets, hidden)
    for start in range(0, n, batch_size):
        u = torch.from_numpy(np.asarray(users[start : start + batch_size], np.int64))
        t = torch.from_numpy(np.asarray(targets[start : start + batch_size], np.int64))
        if kind == "custom":
            logits = model.score(task, enc, u, t)
        elif head is not None:
            logits = head.head(query.index_select(0, u) + target.index_select(0, t))
        else:
            logits = (query.index_select(0, u) * target.index_select(0, t)).sum(-1)
        out[start : start + len(u)] = logits.float().numpy()
    return out


def candidate_report(
    candidates: Any,
    scores: np.ndarray,
    *,
    ks: Sequence[int] = (10, 50),
    first_ks: Sequence[int] = (10,),
    groups: Sequence[str] = GROUPS,
) -> dict[str, Any]:
    """Metrics of scored candidate rows for all, warm and cold users (or only the ``groups`` asked for).

    Args:
        candidates: object with per-row arrays ``user``, ``target``, ``label`` and ``cold`` (a split's lists).
        scores: (rows,) one score per candidate row.

    Returns:
        ``{"all": {...}, "warm": {...}, "cold": {...}, "users": {"all": n, "warm": n, "cold": n}}``; a group
        without users has an empty metric dict.
    """
    from lsec.metrics.ranking import candidate_metrics_detail, mean_over_users

    user = np.asarray(candidates.user)
    cold = np.asarray(candidates.cold).astype(bool)
    # One pass over all rows: per-user metrics depend on the user's own rows only, so each group's means are
    # means over its users of the same per-user values (no masked copies of tens of millions of rows).
    detail = candidate_metrics_detail(user, np.asarray(candidates.label), np.asarray(scores), ks=ks, first_ks=first_ks)
    per_user = detail.per_user
    users = per_user["user"]
    user_cold = np.isin(users, user[cold])  # a user's rows are all cold or all warm
    names = list(detail.metrics)
    report: dict[str, Any] = {"users": {}}
    for group in groups:
        mask = np.ones(users.size, bool) if group == "all" else (user_cold if group == "cold" else ~user_cold)
        report["users"][group] = int(mask.sum())
        if not mask.any():
            report[group] = {}
            continue
        report[group] = {name: mean_over_users(per_user[name][mask]) for name in names}
    return report


def evaluate_candidates(
    model: RecommenderModel,
    enc: Encoded,
    split: Any,
    task: str,
    fold: str,
    *,
    ks: Sequence[int] = (10, 50),
    first_ks: Sequence[int] = (10,),
    batch_size: int = 16_384,
    groups: Sequence[str] = GROUPS,
) -> tuple[dict[str, Any], np.ndarray]:
    """Score ``split.candidates(task, fold)`` with ``model`` and return (report, per-row scores)."""
    candidates = split.candidates(task, fold)
    scores = score_pairs(model, enc, task, candidates.user, candidates.target, batch_size=batch_size)
    return candidate_report(candidates, scores, ks=ks, first_ks=first_ks, groups=groups), scores


def format_report(report: Mapping[str, Any], *, digits: int = 4) -> str:
    """Plain-text table: one row per user group, one column per metric."""
    groups = [g for g in GROUPS if report.get(g)]
    if not groups:
        return "(no evaluated users)"
    names = list(report[groups[0]])
    header = ["group", "users", *names]
    rows = [[g, str(report["users"][g]), *(f"{report[g][m]:.{digits}f}" for m in names)] for g in groups]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]]
    return "\n".join(lines)


def evaluate_run(
    run: Any,
    fold: str = "test",
    *,
    tasks: Sequence[str] | None = None,
    ks: Sequence[int] | None = None,
    first_ks: Sequence[int] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Candidate-list evaluation of a loaded run (:func:`lsec.train.runs.load_run`) on ``fold``.

    Returns ``(results, scores)``: ``results = {"split": fold, "model": ..., "tasks": {task: report}}`` with
    a :func:`candidate_report` per task, and the per-row scores per task (aligned with the candidate rows).
    Tasks default to the model's tasks that the split has candidate lists for.
    """
    model: RecommenderModel = run.model
    cfg = run.config
    wanted = list(tasks) if tasks is not None else [t for t in model.tasks if t in run.split.tasks]
    enc = run.encode()
    results: dict[str, Any] = {"split": fold, "model": cfg.model.name, "run": str(run.run_dir), "tasks": {}}
    scores: dict[str, np.ndarray] = {}
    for task in wanted:
        report, task_scores = evaluate_candidates(
            model,
            enc,
            run.split,
            task,
            fold,
            ks=ks or cfg.eval.ks,
            first_ks=first_ks or cfg.eval.first_ks,
            batch_size=cfg.eval.batch_size,
        )
        results["tasks"][task] = report
        scores[task] = task_scores
    return results, scores


def scored_rows(run: Any, task: str, fold: str, scores: np.ndarray) -> Any:
    """Polars frame of every ranked row with EXTERNAL ids: ``user, <item|streamer>, label, cold, score``."""
    import polars as pl

    candidates = run.split.candidates(task, fold)
    graph = run.split.graph
    target_type = TASK_TARGET[task]
    return pl.DataFrame(
        {
            "user": pl.Series("user", graph.ids("user")[candidates.user].astype(str), dtype=pl.Utf8),
            target_type: pl.Series(target_type, graph.ids(target_type)[candidates.target].astype(str), dtype=pl.Utf8),
            "label": pl.Series("label", candidates.label, dtype=pl.Int8),
            "cold": pl.Series("cold", np.asarray(candidates.cold, bool), dtype=pl.Boolean),
            "score": pl.Series("score", scores, dtype=pl.Float32),
        }
    )
