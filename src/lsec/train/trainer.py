"""The training loop: multi-task negative-sampling training, validation, early stopping, checkpoints, resume.

One step (what the slides describe, and what a GNN recommender honestly costs)::

    enc  = model.encode(graphs)                        # full-graph propagation over TRAINING edges
    L    = L_buy(batch of buy positives + K negatives each)
         + alpha * L_follow(batch of follow positives + K negatives each)      (alpha = task_weight = 0.5)
    Adam step on every parameter

The encode runs once per step (not once per epoch): the embedding tables and GNN weights change every
step, so reusing a stale encoding would train a different model. An epoch visits every distinct training
buy pair once (``ceil(n_buy / batch_size)`` steps); the follow task is spread over the same steps, so one
epoch also visits every follow pair once. Negatives are drawn uniformly among targets that are not a
training positive of the user (a fresh, seeded draw every epoch). Every ``eval_every`` epochs the model is
scored on the validation candidate lists (buy task) and early stopping watches ``train.metric``.

Determinism: parameters come from ``torch.manual_seed(seed)``; the batch order and negatives of epoch
``e`` come from ``numpy.random.default_rng([seed, e])``, so a resumed run draws the same batches as an
uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from lsec.config import Config
from lsec.data.schema import relation
from lsec.errors import LsecError
from lsec.evaluate.protocols import evaluate_candidates
from lsec.graph.adjacency import BipartiteAdjacency
from lsec.nn.models.base import TASK_TARGET, RecommenderModel
from lsec.train.losses import pair_loss
from lsec.train.runs import BEST_CHECKPOINT, LAST_CHECKPOINT, LOG_FILE
from lsec.train.sampling import NegativeSampler

PRIMARY_TASK = "buy"


@dataclass
class TaskData:
    """Distinct training positive pairs of one task and their negative sampler."""

    task: str
    users: np.ndarray  # (P,) int64
    targets: np.ndarray  # (P,) int64
    sampler: NegativeSampler


@dataclass
class FitResult:
    best_epoch: int
    best_metric: float
    epochs_run: int
    stopped_early: bool
    best_metrics: dict[str, float]


class StepTimer:
    """Wall-clock seconds per phase (propagation, sampling, scoring, backward, optimizer, evaluation)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - start

    def pop(self) -> dict[str, float]:
        out = {k: round(v, 4) for k, v in self.seconds.items()}
        self.seconds.clear()
        return out


def task_data(split_graph: Any, task: str) -> TaskData:
    """Distinct (user, target) training pairs of ``task`` from the training-window graph."""
    src_type, _, dst_type = relation(task)
    table = split_graph[task]
    num_users, num_targets = split_graph.num_nodes[src_type], split_graph.num_nodes[dst_type]
    keys = np.unique(table.src.astype(np.int64) * num_targets + table.dst.astype(np.int64))
    users, targets = keys // num_targets, keys % num_targets
    return TaskData(task, users, targets, NegativeSampler(users, targets, num_users, num_targets))


def training_logits(
    model: RecommenderModel, task: str, enc: dict[str, torch.Tensor], users: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """``model.score(task, enc, users, targets)`` computed the cheap way, with gradients.

    For an MLP scorer the first layer is applied to the user and target TABLES (one row per node) and
    then gathered per pair, instead of to every (user, target) row: the same numbers (the layer is
    linear), but ``num_users + num_targets`` rows instead of ``batch * (1 + K)``. Dot scorers gather and
    multiply; custom scorers (NeuMF) call ``model.score``. ``index_select`` is used for the gathers
    because its backward (``index_add``) is much faster on CPU than that of advanced indexing.

    Shapes:
        users (n,), targets (n,) -> (n,)
    """
    kind = model.scoring_kind(task)
    if kind == "custom":
        return model.score(task, enc, users, targets)
    query, target = model.query(task, enc), model.target(task, enc)
    head = model.scorer(task)
    if head is None:
        return (query.index_select(0, users) * target.index_select(0, targets)).sum(-1)
    first = head.query_part(query).index_select(0, users) + head.target_part(target).index_select(0, targets)
    return head.head(first)


class Trainer:
    """Train ``model`` on ``split`` as configured; write log and checkpoints into ``run_dir``.

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
    ) -> None:
        self.model = model
        self.split = split
        self.graphs = graphs
        self.config = config
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.show_progress = show_progress
        self.on_eval = on_eval
        self.timer = StepTimer()
        train_graph = split.train_graph()
        self.tasks = [task_data(train_graph, t) for t in model.tasks]
        self.losses = {t: self._loss_name(t) for t in model.tasks}
        self.optimizer = torch.optim.Adam(
            model.parameters(), lr=config.train.lr, weight_decay=config.train.weight_decay
        )
        self.best_state: dict[str, torch.Tensor] | None = None

    def _loss_name(self, task: str) -> str:
        if self.config.train.loss != "auto":
            return self.config.train.loss
        return "bpr" if self.model.scoring_kind(task) == "dot" else "bce"

    # ---------------------------------------------------------------------------------------- steps
    def steps_per_epoch(self) -> int:
        primary = self._primary()
        return max(1, math.ceil(len(primary.users) / self.config.train.batch_size))

    def _primary(self) -> TaskData:
        return next((t for t in self.tasks if t.task == PRIMARY_TASK), self.tasks[0])

    def _task_weight(self, task: str) -> float:
        return 1.0 if task == self._primary().task else self.config.train.task_weight

    def train_epoch(self, epoch: int, *, max_steps: int | None = None) -> float:
        """One pass over every training positive; returns the mean step loss.

        ``max_steps`` stops the epoch early (benchmarks time a few steps of a large graph this way).
        """
        tc = self.config.train
        rng = np.random.default_rng([tc.seed, epoch])
        steps = self.steps_per_epoch()
        orders = {t.task: rng.permutation(len(t.users)) for t in self.tasks}
        self.model.train()
        total = 0.0
        run_steps = steps if max_steps is None else min(steps, max_steps)
        bar = tqdm(range(run_steps), desc=f"epoch {epoch}", disable=not self.show_progress, leave=False)
        for step in bar:
            with self.timer("propagation"):
                enc = self.model.encode(self.graphs)
            loss = torch.zeros(())
            for data in self.tasks:
                per_step = math.ceil(len(data.users) / steps)
                index = orders[data.task][step * per_step : (step + 1) * per_step]
                if index.size == 0:
                    continue
                with self.timer("sampling"):
                    users = data.users[index]
                    negatives = data.sampler.sample(users, tc.num_negatives, rng)  # (b, K)
                with self.timer("scoring"):
                    u = torch.from_numpy(users)
                    pos_targets = torch.from_numpy(data.targets[index])
                    all_users = torch.cat([u, u.repeat_interleave(tc.num_negatives)])
                    all_targets = torch.cat([pos_targets, torch.from_numpy(negatives.ravel())])
                    logits = training_logits(self.model, data.task, enc, all_users, all_targets)
                    pos, neg = logits[: len(u)], logits[len(u) :].view(-1, tc.num_negatives)  # (b,), (b, K)
                    loss = loss + self._task_weight(data.task) * pair_loss(self.losses[data.task], pos, neg)
            with self.timer("backward"):
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
            with self.timer("optimizer"):
                self.optimizer.step()
            total += float(loss.detach())
            bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
        return total / run_steps

    @torch.no_grad()
    def validate(self) -> dict[str, Any]:
        """Validation report of every trained task that has candidate lists (buy first)."""
        self.model.eval()
        ec = self.config.eval
        with self.timer("propagation_eval"):
            enc = self.model.encode(self.graphs)
        reports: dict[str, Any] = {}
        with self.timer("evaluation"):
            for task in self.model.tasks:
                if task not in TASK_TARGET:
                    continue
                try:
                    report, _ = evaluate_candidates(
                        self.model,
                        enc,
                        self.split,
                        task,
                        "valid",
                        ks=ec.ks,
                        first_ks=ec.first_ks,
                        batch_size=ec.batch_size,
                        groups=("all",),  # early stopping needs all users only; warm/cold come with `lsec evaluate`
                    )
                except LsecError:
                    if task == PRIMARY_TASK:
                        raise
                    continue  # no follow candidate lists in this split
                reports[task] = report
        return reports

    # ----------------------------------------------------------------------------------------- fit
    def fit(self, *, start_epoch: int = 1, state: dict[str, Any] | None = None) -> FitResult:
        """Train until ``train.epochs`` or early stop; ``state`` carries counters from a resumed run."""
        tc = self.config.train
        best = float(state["best_metric"]) if state else -math.inf
        best_epoch = int(state["best_epoch"]) if state else 0
        bad = int(state["bad_evals"]) if state else 0
        best_metrics: dict[str, float] = {}
        started = time.perf_counter() - (float(state["elapsed"]) if state else 0.0)
        epoch = start_epoch - 1
        stopped = False
        outer = tqdm(range(start_epoch, tc.epochs + 1), desc="train", disable=not self.show_progress, unit="epoch")
        for epoch in outer:
            loss = self.train_epoch(epoch)
            elapsed = time.perf_counter() - started
            self._log(
                {
                    "event": "epoch",
                    "epoch": epoch,
                    "train_loss": loss,
                    "elapsed": round(elapsed, 3),
                    "timing": self.timer.pop(),
                }
            )
            if epoch % tc.eval_every == 0 or epoch == tc.epochs:
                reports = self.validate()
                metrics = reports[PRIMARY_TASK]["all"] if PRIMARY_TASK in reports else {}
                value = float(metrics.get(tc.metric, math.nan))
                self._log(
                    {
                        "event": "eval",
                        "epoch": epoch,
                        "split": "valid",
                        "train_loss": loss,
                        "metrics": metrics,
                        "groups": reports,
                        "elapsed": round(time.perf_counter() - started, 3),
                        "timing": self.timer.pop(),
                    }
                )
                if self.on_eval is not None:
                    self.on_eval(epoch, metrics)
                if value > best + tc.min_delta:
                    best, best_epoch, bad, best_metrics = value, epoch, 0, dict(metrics)
                    self._save_best()
                else:
                    bad += 1
                outer.set_postfix({tc.metric: f"{value:.4f}", "best": f"{best:.4f}"})
                stopped = bad >= tc.patience
            self._save_last(epoch, best, best_epoch, bad, time.perf_counter() - started)
            if stopped:
                break
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        elif self.run_dir is not None and (self.run_dir / BEST_CHECKPOINT).is_file():
            self.model.load_state_dict(torch.load(self.run_dir / BEST_CHECKPOINT, weights_only=True))
        self.model.eval()
        return FitResult(best_epoch, best, epoch, stopped, best_metrics)

    # ------------------------------------------------------------------------------- checkpointing
    def _log(self, event: dict[str, Any]) -> None:
        if self.run_dir is None:
            return
        with open(self.run_dir / LOG_FILE, "a") as fh:
            fh.write(json.dumps(event) + "\n")

    def _save_best(self) -> None:
        self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        if self.run_dir is not None:
            _atomic_save(self.best_state, self.run_dir / BEST_CHECKPOINT)

    def _save_last(self, epoch: int, best: float, best_epoch: int, bad: int, elapsed: float) -> None:
        if self.run_dir is None:
            return
        payload = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": torch.tensor(epoch),
            "best_metric": torch.tensor(best, dtype=torch.float64),
            "best_epoch": torch.tensor(best_epoch),
            "bad_evals": torch.tensor(bad),
            "elapsed": torch.tensor(elapsed, dtype=torch.float64),
            "torch_rng": torch.get_rng_state(),
        }
        _atomic_save(payload, self.run_dir / LAST_CHECKPOINT)

    def resume_state(self) -> tuple[int, dict[str, Any] | None]:
        """Load ``last.pt`` (if any) into model and optimizer; returns (next epoch, counters)."""
        if self.run_dir is None or not (self.run_dir / LAST_CHECKPOINT).is_file():
            return 1, None
        payload = torch.load(self.run_dir / LAST_CHECKPOINT, map_location="cpu", weights_only=True)
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        torch.set_rng_state(payload["torch_rng"])
        if (self.run_dir / BEST_CHECKPOINT).is_file():
            self.best_state = torch.load(self.run_dir / BEST_CHECKPOINT, map_location="cpu", weights_only=True)
        state = {k: payload[k].item() for k in ("best_metric", "best_epoch", "bad_evals", "elapsed")}
        return int(payload["epoch"]) + 1, state


def _atomic_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train_run(
    cfg: Config,
    run_dir: str | os.PathLike[str],
    *,
    resume: bool = False,
    show_progress: bool = False,
) -> FitResult:
    """Train the configured model into ``run_dir`` (contract 6 folder); ``resume`` continues from last.pt.

    On resume the run's own ``config.yaml`` is used (``cfg`` is ignored except when the folder has none).
    """
    import dataclasses

    from lsec.config import dump_config, load_config
    from lsec.data.split import load_split
    from lsec.errors import LsecConfigError
    from lsec.train.runs import (
        CONFIG_FILE,
        RUN_FILE,
        build_graphs,
        build_model,
        read_run_info,
        uses_self_loops,
        write_json,
    )

    root = Path(run_dir)
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
    torch.set_num_threads(cfg.train.num_threads or os.cpu_count() or 1)

    split = load_split(dataset, name=cfg.data.split)
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg, split.graph)
    graphs = build_graphs(
        split.train_graph(),
        model.relations,
        self_loops=uses_self_loops(model, cfg.model.name),
        sell_min_weight=cfg.data.sell_min_weight,
    )
    root.mkdir(parents=True, exist_ok=True)
    dump_config(cfg, root / CONFIG_FILE)
    trainer = Trainer(model, split, graphs, cfg, run_dir=root, show_progress=show_progress)
    start, state = trainer.resume_state() if resume else (1, None)
    info: dict[str, Any] = {
        "model": cfg.model.name,
        "dataset": str(dataset),
        "split": cfg.data.split,
        "seed": cfg.train.seed,
        "status": "running",
        "best_epoch": None if state is None else int(state["best_epoch"]),
        "best_metric": None if state is None else float(state["best_metric"]),
        "metric": cfg.train.metric,
        "tasks": list(model.tasks),
        "relations": list(model.relations),
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "num_threads": torch.get_num_threads(),
        "steps_per_epoch": trainer.steps_per_epoch(),
    }
    write_json(root / RUN_FILE, info)
    try:
        result = trainer.fit(start_epoch=start, state=state)
    except KeyboardInterrupt:
        write_json(root / RUN_FILE, {**info, "status": "interrupted"})
        raise
    info.update(
        status="completed",
        best_epoch=result.best_epoch,
        best_metric=result.best_metric,
        best_metrics=result.best_metrics,
        epochs_run=result.epochs_run,
        stopped_early=result.stopped_early,
    )
    write_json(root / RUN_FILE, info)
    return result
