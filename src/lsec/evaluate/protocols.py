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

from lsec.errors import LsecDataError, LsecError
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
    device = next(model.parameters()).device  # the rows go where the model is (train.device)
    for start in range(0, n, batch_size):
        u = torch.from_numpy(np.asarray(users[start : start + batch_size], np.int64)).to(device)
        t = torch.from_numpy(np.asarray(targets[start : start + batch_size], np.int64)).to(device)
        if kind == "custom":
            logits = model.score(task, enc, u, t)
        elif head is not None:
            logits = head.head(query.index_select(0, u) + target.index_select(0, t))
        else:
            logits = (query.index_select(0, u) * target.index_select(0, t)).sum(-1)
        out[start : start + len(u)] = logits.float().cpu().numpy()
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
    protocol: str | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Evaluation of a loaded run (:func:`lsec.train.runs.load_run`) on ``fold``.

    The protocol (``protocol`` or the run's ``eval.protocol``): ``candidates`` scores the split's fixed candidate
    lists (:func:`candidate_report` per task); ``full_sort`` ranks every item for each user with ``fold``
    positives, the user's training-fold items masked (buy task; recall / ndcg / precision at
    ``eval.full_sort_ks``); ``auto`` takes the candidate lists when the split has them for the task, else the
    full sort.

    Returns ``(results, scores)``: ``results = {"split": fold, "model": ..., "tasks": {task: report}, "protocol":
    {task: name}}`` and the per-row scores per task of the candidate-list protocol (aligned with its rows).
    """
    from lsec.train.engines import has_candidates

    if run.info.get("engine") == "temporal":  # DM-GNN links and tiers (lsec.train.temporal)
        from lsec.train.temporal_runs import evaluate_temporal

        return evaluate_temporal(run, fold), {}
    if run.info.get("engine") == "gtr":  # MMBee gift models: the fold's impressions (lsec.train.gtr)
        from lsec.train.gtr_runs import evaluate_gtr

        return evaluate_gtr(run, fold, tasks)
    model = run.model
    cfg = run.config
    protocol = protocol or cfg.eval.protocol
    if protocol not in ("auto", "candidates", "full_sort"):
        raise ValueError(f"The 'protocol' parameter must be auto, candidates or full_sort. Got {protocol!r}.")
    closed_form = not isinstance(model, RecommenderModel)
    model_tasks = ("buy",) if closed_form else model.tasks
    if tasks is not None:
        wanted = list(tasks)
    elif protocol == "candidates":
        wanted = [t for t in model_tasks if t in run.split.tasks]
    else:
        wanted = [t for t in model_tasks if has_candidates(run.split, t, fold) or t == "buy"]
    enc = None if closed_form else run.encode()
    results: dict[str, Any] = {
        "split": fold, "model": cfg.model.name, "run": str(run.run_dir), "tasks": {}, "protocol": {}
    }  # fmt: skip
    scores: dict[str, np.ndarray] = {}
    for task in wanted:
        by_lists = protocol == "candidates" or (protocol == "auto" and has_candidates(run.split, task, fold))
        if not by_lists:
            results["tasks"][task] = full_sort_run_report(run, task, fold, enc)
            results["protocol"][task] = "full_sort"
            continue
        if enc is None:
            raise LsecError(f"{run.run_dir}: {cfg.model.name} is evaluated with the full-sort protocol only.")
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
        results["protocol"][task] = "candidates"
        scores[task] = task_scores
    return results, scores


def full_sort_run_report(run: Any, task: str, fold: str, enc: Any) -> dict[str, Any]:
    """Full-sort report ``{"all": metrics, "users": {"all": n}, "ranking": {...}}`` of a run on ``fold`` (training
    items masked; ``ranking`` says which popularity prior and cold fallback ranked it, and how many evaluated users
    have no training pair)."""
    from lsec.evaluate.full_sort import full_sort_metrics, model_score_block, with_popularity_prior
    from lsec.train.engines import csr, distinct_pairs, fold_summary

    if task != "buy":
        raise LsecError(f"the full-sort protocol ranks items for the buy task; task {task!r} needs candidate lists.")
    split = run.split
    num_users, num_items = int(split.graph.num_nodes["user"]), int(split.graph.num_nodes["item"])
    train = csr(*distinct_pairs(split.edges(task, "train"), num_items), (num_users, num_items))
    held = csr(*distinct_pairs(split.edges(task, fold), num_items), (num_users, num_items))
    if held.nnz == 0:
        raise LsecDataError(
            f"split {split.name!r} has no {fold!r} pairs of task {task!r} to evaluate",
            file=split.root,
            expected=f"a {fold!r} fold with positives",
            found=fold_summary(split, task),
        )
    ev = run.config.eval
    prior = run_popularity_prior(run)
    block = with_popularity_prior(model_score_block(run.model, enc), train, prior=prior, cold_fallback=ev.cold_fallback)
    metrics = full_sort_metrics(block, train, held, ks=tuple(ev.full_sort_ks))
    users = int(metrics.pop("num_users"))
    cold = int((np.diff(train.indptr)[np.diff(held.indptr) > 0] == 0).sum())
    ranking = {"popularity_prior": prior, "cold_fallback": ev.cold_fallback, "users_without_training_pair": cold}
    return {"all": metrics, "users": {"all": users}, "ranking": ranking}


def run_popularity_prior(run: Any) -> float:
    """The popularity prior ``kappa`` a run is ranked with: the one chosen on validation after training
    (``run.json``'s ``popularity_prior.kappa``), else the first of ``eval.popularity_prior``."""
    chosen = (run.info.get("popularity_prior") or {}).get("kappa")
    return float(chosen) if chosen is not None else float(run.config.eval.popularity_prior[0])


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
