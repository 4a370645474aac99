"""GTR (MMBee gift) runs after training: load a run folder and its ``lsec evaluate`` report and table.

A GTR run is scored on the impressions of a fold of its own time split (:mod:`lsec.train.gtr`), not on a
split's candidate lists. Each task of the model is reported from that task's own labels and scores
(:func:`lsec.metrics.grouped.task_metrics`): AUC over the fold's impressions, UAUC and GAUC over the users
with both classes, and how many users had one class only (skipped, counted). The two model-free scores of
the objective (``popularity``, ``random``) come with it on the same impressions.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lsec.config import Config
from lsec.errors import LsecError
from lsec.metrics.grouped import task_metrics

METRICS = ("auc", "uauc", "gauc")


def load_gtr_run(
    root: Path,
    cfg: Config,
    info: dict[str, Any],
    state: dict[str, torch.Tensor],
    dataset: str,
    device: torch.device | None = None,
) -> Any:
    """A :class:`~lsec.train.runs.LoadedRun` of a GTR run: ``model`` the :class:`GtrModel` with the checkpoint's
    weights in eval mode, ``split`` its :class:`~lsec.train.gtr.GtrObjective` (impressions, folds, labels).

    A GIE run re-opens its expansion store (``model.hparams.store``) for the model's sizes; the neighbour lists
    and fine-tuned tables themselves come from the checkpoint.
    """
    from lsec.train.gtr import gtr_objective
    from lsec.train.runs import LoadedRun

    cfg = dataclasses.replace(
        cfg,
        data=dataclasses.replace(cfg.data, dataset=str(dataset)),
        train=dataclasses.replace(cfg.train, validate=False),  # no baselines at load
    )
    objective, _ = gtr_objective(cfg, device or torch.device("cpu"))
    try:
        objective.model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise LsecError(
            f"{root}: checkpoint does not match model {cfg.model.name!r} of its config on this dataset "
            f"(expected the parameters that config builds; {first})."
        ) from None
    objective.model.eval()
    return LoadedRun(run_dir=root, config=cfg, info=info, model=objective.model, split=objective, graphs={})  # type: ignore[arg-type]


def evaluate_gtr(
    run: Any, fold: str, tasks: Sequence[str] | None = None
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``lsec evaluate`` of a GTR run on ``fold``: per task (default: the model's) AUC / UAUC / GAUC and counts,
    each from the task's own labels, and the baselines' gift-task metrics. Returns ``(results, scores)`` with
    the logits of the fold's impressions per task."""
    objective = run.split
    wanted = list(tasks) if tasks else list(objective.model.tasks)
    unknown = [task for task in wanted if task not in objective.model.tasks]
    if unknown:
        raise LsecError(f"--task {unknown[0]!r}: the model predicts {', '.join(objective.model.tasks)} only.")
    rows = objective.data.indices(fold)
    scores = objective.scores(rows)
    users = objective.data.users[rows]
    reports = task_metrics({task: (objective.data.labels[task][rows], scores[task], users) for task in wanted})
    results = {
        "split": fold,
        "model": run.config.model.name,
        "run": str(run.run_dir),
        "engine": "gtr",
        "days": objective.data.days[fold],
        "tasks": {task: _clean(metrics) for task, metrics in reports.items()},
        "protocol": {task: "impressions" for task in wanted},
        "baselines": {name: _clean(metrics) for name, metrics in objective.baselines(fold).items()},
    }
    return results, {task: scores[task] for task in wanted}


def gtr_scored_rows(run: Any, task: str, fold: str, scores: np.ndarray) -> Any:
    """Polars frame of the fold's impressions with EXTERNAL ids: ``user, streamer, ts, label, score``."""
    import polars as pl

    data = run.split.data
    rows = data.indices(fold)
    graph = _graph(run)
    return pl.DataFrame(
        {
            "user": pl.Series("user", graph.ids("user")[data.users[rows]].astype(str), dtype=pl.Utf8),
            "streamer": pl.Series("streamer", graph.ids("streamer")[data.streamers[rows]].astype(str), dtype=pl.Utf8),
            "ts": pl.Series("ts", data.ts[rows], dtype=pl.Int64),
            "label": pl.Series("label", data.labels[task][rows], dtype=pl.Int8),
            "score": pl.Series("score", scores, dtype=pl.Float32),
        }
    )


def _graph(run: Any) -> Any:
    from lsec.data.store import load

    return load(Path(run.config.data.dataset))


def _clean(metrics: dict[str, float]) -> dict[str, Any]:
    """JSON-safe: nan -> None, counts as ints."""
    out: dict[str, Any] = {}
    for name, value in metrics.items():
        if isinstance(value, float) and math.isnan(value):
            out[name] = None
        elif name.startswith(("num_", "skipped_")):
            out[name] = int(value)
        else:
            out[name] = float(value)
    return out


def format_gtr_report(results: dict[str, Any]) -> str:
    """Text table: one line per task (auc, uauc, gauc, impressions, positives, users kept / skipped), then the
    baselines' gift-task metrics."""

    def cell(value: Any) -> str:
        return "-" if value is None else f"{value:.4f}"

    lines = [f"{'':<22}" + "".join(f"{m:>9}" for m in METRICS) + f"{'impr.':>10}{'pos.':>8}{'users':>8}{'skipped':>9}"]
    for task, m in results["tasks"].items():
        lines.append(
            f"{'task ' + task:<22}" + "".join(f"{cell(m.get(k)):>9}" for k in METRICS)
            + f"{m['num_samples']:>10,}{m['num_positives']:>8,}{m['num_users']:>8,}{m['skipped_users']:>9,}"
        )  # fmt: skip
    for name, m in results.get("baselines", {}).items():
        lines.append(f"{'gift, ' + name:<22}" + "".join(f"{cell(m.get(k)):>9}" for k in METRICS))
    return "\n".join(lines)
