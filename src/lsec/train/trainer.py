"""Entry point of ``lsec train``: build the engine's objective for a config and run the one loop.

:func:`train_run` resolves ``train.engine`` (:mod:`lsec.train.engines`), builds the model and its objective
(:class:`~lsec.train.lsec.LsecObjective`, :class:`~lsec.train.bpr.BprObjective`, or a closed-form fit) and
runs :class:`~lsec.train.loop.Loop` into a run folder (:mod:`lsec.train.runs`). :class:`Trainer` is the
LSEC objective and its loop in one object, for benchmarks and experiments that drive epochs themselves.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from lsec.config import Config
from lsec.errors import LsecError
from lsec.graph.adjacency import BipartiteAdjacency
from lsec.nn.models.base import RecommenderModel
from lsec.train.loop import FitResult, Loop, StepTimer, resolve_device
from lsec.train.lsec import PRIMARY_TASK, LsecObjective, TaskData, task_data, training_logits

__all__ = ["FitResult", "StepTimer", "TaskData", "Trainer", "task_data", "train_run", "training_logits"]


class Trainer:
    """The LSEC objective of ``model`` on ``split`` run by the one loop (see :class:`lsec.train.loop.Loop`).

    Args:
        model: a :class:`RecommenderModel` (its ``tasks`` and ``relations`` say what to train and read).
        split: a loaded split (``train_graph()``, ``candidates(task, fold)``).
        graphs: relation name -> adjacency of the training edges (see :func:`lsec.train.runs.build_graphs`).
        config: the resolved config (``train`` and ``eval`` sections are used).
        run_dir: folder for ``log.jsonl`` and ``checkpoints/``; ``None`` keeps everything in memory.
        show_progress: tqdm bars per epoch.
        on_eval: optional callback ``(epoch, metrics)`` after each validation.
    """

    def __init__(
        self,
        model: RecommenderModel,
        split: Any,
        graphs: dict[str, BipartiteAdjacency],
        config: Config,
        *,
        run_dir: str | os.PathLike[str] | None = None,
        show_progress: bool = False,
        on_eval: Callable[[int, dict[str, float]], None] | None = None,
        device: torch.device | None = None,
    ) -> None:
        self.objective = LsecObjective(model, split, graphs, config, device=device)
        self.loop = loop_for(self.objective, config, run_dir=run_dir, show_progress=show_progress, on_eval=on_eval)
        self.model = model
        self.timer = self.loop.timer

    def steps_per_epoch(self) -> int:
        return self.objective.steps_per_epoch()

    def train_epoch(self, epoch: int, *, max_steps: int | None = None) -> float:
        """One pass over every training positive (or ``max_steps`` steps of it); the mean step loss."""
        return self.loop.run_epoch(epoch, max_steps=max_steps)

    def validate(self) -> dict[str, Any]:
        """Validation report per trained task that has candidate lists (buy first)."""
        report: dict[str, Any] = self.loop.validate()["groups"]
        return report

    def fit(self, *, start_epoch: int = 1, state: dict[str, Any] | None = None) -> FitResult:
        return self.loop.fit(start_epoch=start_epoch, state=state)

    def resume_state(self) -> tuple[int, dict[str, Any] | None]:
        return self.loop.resume_state()


def train_run(
    cfg: Config,
    run_dir: str | os.PathLike[str],
    *,
    resume: bool = False,
    show_progress: bool = False,
    echo: Callable[[str], None] | None = None,
) -> FitResult:
    """Train the configured model into ``run_dir`` (a run folder, :mod:`lsec.train.runs`).

    ``resume`` continues from ``last.pt`` with the run's own ``config.yaml`` (``cfg`` is ignored then, except
    when the folder has none). ``echo`` receives one-line notes (which validation was used, warnings).
    ``train.distributed=ddp`` (under torchrun) trains data-parallel: every rank runs this function, rank 0
    writes the run folder (:mod:`lsec.train.ddp`).
    """
    from lsec.config import load_config
    from lsec.train.ddp import process_group
    from lsec.train.runs import CONFIG_FILE

    if resume and (Path(run_dir) / CONFIG_FILE).is_file():
        cfg = load_config(Path(run_dir) / CONFIG_FILE)
    with process_group(cfg.train.distributed, resolve_device(cfg.train.device)) as dist:
        return _train_run(cfg, Path(run_dir), resume, show_progress, echo, dist)


def _train_run(
    cfg: Config,
    root: Path,
    resume: bool,
    show_progress: bool,
    echo: Callable[[str], None] | None,
    dist: Any,
) -> FitResult:
    from lsec.config import dump_config, load_config
    from lsec.data.split import load_split
    from lsec.errors import LsecConfigError
    from lsec.train.ddp import threads_per_rank
    from lsec.train.engines import resolve_engine
    from lsec.train.runs import CONFIG_FILE, FORMAT_VERSION, RUN_FILE, read_run_info, write_json

    main = dist is None or dist.is_main
    say = echo if echo is not None and main else (lambda _message: None)
    if resume and (root / CONFIG_FILE).is_file():
        cfg = load_config(root / CONFIG_FILE)
        done = read_run_info(root)
        if done.get("status") == "completed":
            return FitResult(
                done["best_epoch"], done["best_metric"], done.get("epochs_run", 0), True, done.get("best_metrics", {})
            )
    elif (root / RUN_FILE).is_file():
        raise LsecError(f"{root}: already holds a run; pass --resume to continue it or choose another --out.")
    if not cfg.data.dataset:
        raise LsecConfigError("data.dataset is empty: pass the dataset folder (--data DIR).")
    dataset = Path(cfg.data.dataset).resolve()
    if not dataset.is_dir():
        raise LsecError(f"Dataset folder {str(dataset)!r} does not exist.")
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, dataset=str(dataset)))
    threads = (
        threads_per_rank(cfg.train.num_threads) if dist is not None else cfg.train.num_threads or os.cpu_count() or 1
    )
    torch.set_num_threads(threads)
    engine = resolve_engine(cfg)
    device = resolve_device(cfg.train.device) if dist is None else dist.device
    if dist is not None and engine == "closed_form":
        raise LsecConfigError(
            "train.distributed=ddp trains the lsec, bpr, gtr and temporal engines; closed_form fits in one step "
            "(run it without torchrun)."
        )
    save_json = write_json if main else _no_write  # rank 0 writes the run folder
    if dist is not None:
        dist.barrier()  # every rank has checked the folder before rank 0 writes into it

    split: Any = None if engine in ("gtr", "temporal") else load_split(dataset, name=cfg.data.split)  # own events
    try:
        if main:
            root.mkdir(parents=True, exist_ok=True)
            dump_config(cfg, root / CONFIG_FILE)
    except OSError as err:
        raise LsecError(f"{root}: cannot write the run folder there ({err.strerror or err}).") from None
    info: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "model": cfg.model.name,
        "engine": engine,
        "dataset": str(dataset),
        "split": cfg.data.split,
        "seed": cfg.train.seed,
        "device": str(device),
        "status": "running",
        "metric": cfg.train.metric,
        "num_threads": torch.get_num_threads(),
    }
    if dist is not None:
        info["distributed"] = {"mode": "ddp", "backend": dist.backend, "world_size": dist.world_size}
    if engine == "closed_form":
        from lsec.train.closed_form import fit_closed_form

        return fit_closed_form(cfg, split, root, info, say)
    torch.manual_seed(cfg.train.seed)
    loop, extra = _build_loop(cfg, split, engine, device, root, show_progress, dist)
    choose_prior = extra.pop("_choose_prior", None)
    if dist is not None and dist.rank > 0:  # rank 0's model is broadcast; dropout masks differ per rank
        torch.manual_seed(cfg.train.seed + 7919 * dist.rank)
    info.update(extra)
    say(f"validation: {info['validation']}")
    if "tiers" in info:  # temporal engine: the tier rule's class counts per fold
        say(f"tiers: {info['tiers']['summary']}")
    start, state = loop.resume_state() if resume else (1, None)
    info.update(
        best_epoch=None if state is None else int(state["best_epoch"]),
        best_metric=None if state is None else float(state["best_metric"]),
        num_parameters=sum(p.numel() for p in loop.model.parameters()),
        steps_per_epoch=loop.steps_per_epoch,
        max_epochs=loop.epochs,
    )
    save_json(root / RUN_FILE, info)
    try:
        result = loop.fit(start_epoch=start, state=state)
    except (KeyboardInterrupt, LsecError):  # LsecError: a lost worker (lsec.train.ddp.WorkerLost)
        save_json(root / RUN_FILE, {**info, "status": "interrupted"})
        raise
    info.update(
        status="completed",
        best_epoch=result.best_epoch,
        best_metric=result.best_metric,
        best_metrics=result.best_metrics,
        epochs_run=result.epochs_run,
        steps=result.steps,
        stopped_early=result.stopped_early,
    )
    if choose_prior is not None and main:
        info["popularity_prior"] = choose_prior(loop.model)
        say(f"popularity prior: kappa {info['popularity_prior']['kappa']:g} (best validation {cfg.train.metric})")
    info["warnings"] = _learning_warnings(cfg, info, result)
    for warning in info["warnings"]:
        say(f"warning: {warning}")
    save_json(root / RUN_FILE, info)
    return result


def _no_write(path: Path, payload: Any) -> None:
    return None


def _build_loop(
    cfg: Config, split: Any, engine: str, device: torch.device, root: Path, show_progress: bool, dist: Any = None
) -> tuple[Loop, dict[str, Any]]:
    """The objective of ``engine`` wrapped in the loop, and what run.json should say about it."""
    from lsec.train.engines import fold_summary, has_candidates
    from lsec.train.runs import build_graphs, build_model, uses_self_loops

    tc = cfg.train
    if engine == "temporal":  # DM-GNN: social events and consumption, not a split (lsec.train.temporal)
        from lsec.train.temporal import temporal_objective

        temporal, temporal_extra = temporal_objective(cfg, device)
        return loop_for(temporal, cfg, run_dir=root, show_progress=show_progress, distributed=dist), temporal_extra
    if engine == "gtr":  # MMBee's gift models: impressions, not a split (lsec.train.gtr)
        from lsec.train.gtr import gtr_objective

        gtr, gtr_extra = gtr_objective(cfg, device)
        return loop_for(gtr, cfg, run_dir=root, show_progress=show_progress, distributed=dist), gtr_extra
    model = build_model(cfg, split.graph)
    extra: dict[str, Any] = {"tasks": list(model.tasks), "relations": list(model.relations)}
    if engine == "bpr":
        objective: Any = _bpr_objective(cfg, split, model, device, extra)
    else:
        if tc.validate and not has_candidates(split, PRIMARY_TASK, "valid"):
            raise LsecError(
                f"split {split.name!r} of {split.root} has no validation candidate lists for task 'buy' "
                f"(folds: {fold_summary(split)}); the lsec engine validates on fixed candidate lists. Write them "
                "with `lsec data split`, train a dot-product model with train.engine=bpr (full-sort validation), "
                "or pass train.validate=false."
            )
        graphs = build_graphs(
            split.train_graph(),
            model.relations,
            self_loops=uses_self_loops(model, cfg.model.name),
            sell_min_weight=cfg.data.sell_min_weight,
        )
        objective = LsecObjective(model, split, graphs, cfg, device=device)
        extra["validation"] = (
            f"candidate lists of fold 'valid' of split {split.name!r}" if tc.validate else "none (train.validate=false)"
        )
        if tc.validate:
            extra["baselines"] = {"popularity": objective.popularity_report("valid")}
    return loop_for(objective, cfg, run_dir=root, show_progress=show_progress, distributed=dist), extra


def _bpr_objective(cfg: Config, split: Any, model: Any, device: torch.device, extra: dict[str, Any]) -> Any:
    from lsec.evaluate.full_sort import choose_popularity_prior, with_popularity_prior
    from lsec.train.bpr import BPRConfig, BprObjective
    from lsec.train.engines import full_sort_data, full_sort_report, model_score_block, popularity_block

    if model.scoring_kind(PRIMARY_TASK) != "dot" or not hasattr(model, "ego"):
        raise LsecError(
            f"train.engine=bpr trains dot-product models with an embedding table (lightgcn-dot, mf-bpr); "
            f"model {cfg.model.name!r} is not one: use train.engine=lsec."
        )
    tc = cfg.train
    data = full_sort_data(split, cfg)
    extra["validation"] = data.validation
    extra["train_pairs"] = len(data.train_users)
    adjacency = data.adjacency(device)
    train_matrix = data.train_matrix()
    ks = cfg.eval.full_sort_ks
    graphs = {"buy": adjacency}

    ev = cfg.eval

    def scores_of(current: Any, prior: float) -> Any:
        block = model_score_block(current, current.encode(graphs))
        return with_popularity_prior(block, train_matrix, prior=prior, cold_fallback=ev.cold_fallback)

    def validator(current: Any) -> dict[str, Any]:
        assert data.valid is not None
        return {"metrics": full_sort_report(scores_of(current, ev.popularity_prior[0]), train_matrix, data.valid, ks)}

    if data.valid is not None and len(ev.popularity_prior) > 1:

        def choose(current: Any) -> dict[str, Any]:  # after training, on the best weights
            assert data.valid is not None
            with torch.no_grad():
                block = model_score_block(current, current.encode(graphs))
            kappa, table = choose_popularity_prior(
                block, train_matrix, data.valid, ev.popularity_prior, metric=tc.metric, ks=ks,
                cold_fallback=ev.cold_fallback,
            )  # fmt: skip
            return {"kappa": kappa, "chosen_on": "valid", "metric": tc.metric, "validation": table}

        extra["_choose_prior"] = choose

    if data.valid is not None:
        extra["baselines"] = {
            "popularity": full_sort_report(popularity_block(train_matrix), train_matrix, data.valid, ks)
        }
    steps_per_epoch = max(1, math.ceil(len(data.train_users) / tc.batch_size))
    config = BPRConfig(
        epochs=max(tc.epochs, math.ceil(tc.min_steps / steps_per_epoch)),  # the loop's budget: the lr schedule spans it
        batch_size=tc.batch_size,
        lr=tc.lr,
        reg=tc.reg,
        seed=tc.seed,
        negatives=tc.num_negatives,
        hard_candidates=tc.hard_candidates,
        lr_decay_to=tc.lr_decay_to,
    )
    model.to(device)
    return BprObjective(
        model,
        adjacency,
        data.train_users,
        data.train_items,
        config,
        validator=None if data.valid is None else validator,
    )


def _learning_warnings(cfg: Config, info: dict[str, Any], result: FitResult) -> list[str]:
    """Say when the best validation result shows the model did not learn: AUC <= 0.5, or below popularity."""
    if not cfg.train.validate or not result.best_metrics:
        return []
    warnings = []
    metric = cfg.train.metric
    best = result.best_metrics.get(metric, math.nan)
    if metric == "auc" and not best > 0.5:
        warnings.append(f"best validation AUC {best:.4f} is not above 0.5 (random): the model did not learn")
    floor = info.get("baselines", {}).get("popularity", {}).get(metric)
    if floor is not None and not best > floor:
        warnings.append(
            f"best validation {metric} {best:.4f} is not above a popularity ranking of the same validation data "
            f"({floor:.4f}): more steps (train.min_steps), another lr, or more data may help"
        )
    return warnings


def loop_for(
    objective: Any,
    cfg: Config,
    *,
    run_dir: str | os.PathLike[str] | None = None,
    show_progress: bool = False,
    on_eval: Callable[[int, dict[str, float]], None] | None = None,
    distributed: Any = None,
) -> Loop:
    """The one loop around ``objective`` with the budget, cadence and stopping rule of ``cfg.train``."""
    tc = cfg.train
    return Loop(
        objective,
        epochs=tc.epochs,
        eval_every=tc.eval_every,
        patience=tc.patience,
        metric=tc.metric,
        min_delta=tc.min_delta,
        min_steps=tc.min_steps,
        validate=tc.validate,
        run_dir=run_dir,
        show_progress=show_progress,
        on_eval=on_eval,
        distributed=distributed,
    )
