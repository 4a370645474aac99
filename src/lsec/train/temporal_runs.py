"""Temporal (DM-GNN) runs after training: load, ``lsec evaluate`` report and table, ``lsec predict``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from lsec.config import Config
from lsec.errors import LsecConfigError
from lsec.nn.models.dmgnn import DMGNN
from lsec.train.temporal import TemporalTask, _clean, build_dmgnn, temporal_task, tier_summary


# ------------------------------------------------------------------------------------------------ runs
def load_temporal_run(
    root: Path,
    cfg: Config,
    info: dict[str, Any],
    state: dict[str, torch.Tensor],
    dataset: str,
    device: torch.device | None = None,
) -> Any:
    """A :class:`~lsec.train.runs.LoadedRun` of a temporal run: ``model`` a :class:`DMGNN` in eval mode,
    ``split`` its :class:`TemporalTask` (the tier rule is re-fitted from the training fold: deterministic)."""
    from lsec.errors import LsecError
    from lsec.train.runs import LoadedRun

    task = temporal_task(cfg, dataset)
    model = build_dmgnn(cfg, task)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise LsecError(
            f"{root}: checkpoint does not match model {cfg.model.name!r} of its config on this dataset ({err})."
        ) from None
    model.eval().to(device or torch.device("cpu"))
    return LoadedRun(run_dir=root, config=cfg, info=info, model=model, split=task, graphs={})  # type: ignore[arg-type]


@torch.no_grad()
def evaluate_temporal(run: Any, fold: str) -> dict[str, Any]:
    """``lsec evaluate`` of a temporal run: the model's and the baselines' reports on ``fold``."""
    task: TemporalTask = run.split
    model: DMGNN = run.model
    model.eval()
    report = task.report(model, fold)
    baseline = task.report(None, fold)
    return {
        "split": fold,
        "model": run.config.model.name,
        "run": str(run.run_dir),
        "engine": "temporal",
        "tasks": list(model.tasks),
        "metrics": _clean(report["metrics"]),
        "groups": report["groups"],
        "counts": report["counts"],
        "confusion": report.get("confusion"),
        "baselines": {"popularity_persistence": {"metrics": _clean(baseline["metrics"]), "groups": baseline["groups"]}},
        "tiers": tier_summary(task),
    }


def format_temporal_report(results: dict[str, Any], digits: int = 4) -> str:
    """A table: one row per group (transductive / inductive) and the baselines, one column per metric."""
    names = list(results["metrics"])
    rows = [["all", *(results["metrics"][n] for n in names)]]
    rows += [[g, *(results["groups"][g].get(n) for n in names)] for g in ("transductive", "inductive")]
    base = results["baselines"]["popularity_persistence"]
    rows.append(["baseline", *(base["metrics"].get(n) for n in names)])
    text = [[r[0], *("-" if v is None else f"{v:.{digits}f}" for v in r[1:])] for r in rows]
    header = ["group", *names]
    widths = [max(len(r[i]) for r in [header, *text]) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *text]]
    counts = {
        g: {k: v for k, v in results["groups"][g].items() if k.endswith(("events", "missing", "queries"))}
        for g in results["groups"]
    }
    lines.append(f"counts: {counts}")
    if results.get("confusion") is not None:
        lines.append(f"tier confusion (rows true, columns predicted): {results['confusion']}")
        lines.append(f"tiers: {results['tiers']['summary']}")
    return "\n".join(lines)


@torch.no_grad()
def predict_tiers(run: Any, users: np.ndarray, time: int) -> np.ndarray:
    """(B, K) tier probabilities of user indices ``users`` at ``time`` (events and consumption strictly before)."""
    task: TemporalTask = run.split
    if run.model.tier_head is None:
        raise LsecConfigError(
            f"{run.run_dir}: model {run.config.model.name!r} has no tier head (tasks {run.model.tasks})."
        )
    times = np.full(len(users), time, np.int64)
    return torch.softmax(task.tier_logits(run.model, users, times), -1).cpu().numpy()


@torch.no_grad()
def predict_links(run: Any, src: np.ndarray, dst: np.ndarray, time: int) -> np.ndarray:
    """(B,) probability that ``src[b]`` acts on ``dst[b]`` at ``time`` (events strictly before)."""
    task: TemporalTask = run.split
    if run.model.link_head is None:
        raise LsecConfigError(
            f"{run.run_dir}: model {run.config.model.name!r} has no link head (tasks {run.model.tasks})."
        )
    times = np.full(len(src), time, np.int64)
    return 1.0 / (1.0 + np.exp(-task.link_scores(run.model, src, dst, times)))
