"""The LSEC-GNN objective: multi-task negative-sampling training on the candidate-list protocol.

One step (what the slides describe, and what a GNN recommender honestly costs)::

    enc  = model.encode(graphs)                        # full-graph propagation over TRAINING edges
    L    = L_buy(batch of buy positives + K negatives each)
         + alpha * L_follow(batch of follow positives + K negatives each)      (alpha = task_weight = 0.5)

The loop (:mod:`lsec.train.loop`) takes the Adam step. The encode runs once per step (not once per epoch): the
embedding tables and GNN weights change every step, so reusing a stale encoding would train a different
model. An epoch visits every distinct training buy pair once (``ceil(n_buy / batch_size)`` steps); the follow
task is spread over the same steps, so one epoch also visits every follow pair once. Negatives are drawn
uniformly among targets that are not a training positive of the user (a fresh, seeded draw every epoch).
Validation scores the validation candidate lists (buy task; follow too when the split has its lists).

Seed-edge exclusion (``train.exclude_seed_edges``, as the LSEC-GNN authors' code trains): each step
propagates over the training graphs without the step's own positive pairs (and their reverses) of the relation
the task predicts, so a model never learns "the pair is already linked", which holds for every training
positive and for no evaluated pair; validation and test propagate over the full training graphs.

Determinism: the batch order and negatives of epoch ``e`` come from ``numpy.random.default_rng([seed, e])``,
so a resumed run draws the same batches as an uninterrupted one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lsec.config import Config
from lsec.data.schema import relation
from lsec.errors import LsecError
from lsec.evaluate.protocols import candidate_report, evaluate_candidates
from lsec.graph.adjacency import BipartiteAdjacency, EdgeExclusion, gather_rows
from lsec.nn.models.base import TASK_TARGET, RecommenderModel
from lsec.train.loop import StepTimer
from lsec.train.losses import pair_loss
from lsec.train.sampling import NegativeSampler

PRIMARY_TASK = "buy"


@dataclass
class TaskData:
    """Distinct training positive pairs of one task and their negative sampler."""

    task: str
    users: np.ndarray  # (P,) int64, sorted (pairs grouped by user)
    targets: np.ndarray  # (P,) int64
    sampler: NegativeSampler
    num_targets: int = 0

    @property
    def num_sources(self) -> int:
        """Source nodes (users) with at least one positive."""
        return int(np.count_nonzero(np.diff(self.users, prepend=-1)))

    def one_per_source(self, rng: np.random.Generator) -> np.ndarray:
        """Indices of one uniformly drawn positive per source node (the authors' epoch). Shapes: -> (num_sources,)"""
        starts = np.flatnonzero(np.diff(self.users, prepend=-1))
        counts = np.diff(np.r_[starts, len(self.users)])
        return starts + (rng.random(len(starts)) * counts).astype(np.int64)


def task_data(split_graph: Any, task: str) -> TaskData:
    """Distinct (user, target) training pairs of ``task`` from the training-window graph."""
    src_type, _, dst_type = relation(task)
    table = split_graph[task]
    num_users, num_targets = split_graph.num_nodes[src_type], split_graph.num_nodes[dst_type]
    keys = np.unique(table.src.astype(np.int64) * num_targets + table.dst.astype(np.int64))
    users, targets = keys // num_targets, keys % num_targets
    return TaskData(task, users, targets, NegativeSampler(users, targets, num_users, num_targets), num_targets)


def training_logits(
    model: RecommenderModel, task: str, enc: dict[str, torch.Tensor], users: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """``model.score(task, enc, users, targets)`` computed the cheap way, with gradients.

    For an MLP scorer the first layer is applied to the user and target TABLES (one row per node) and
    then gathered per pair, instead of to every (user, target) row: the same numbers (the layer is
    linear), but ``num_users + num_targets`` rows instead of ``batch * (1 + K)``. Dot scorers gather and
    multiply; custom scorers (NeuMF) call ``model.score``. The gathers are :func:`gather_rows`:
    ``index_select`` with a backward that is one sparse product (same bits as ``index_add_``, several times
    faster on CPU; advanced indexing's backward is slower still).

    Shapes:
        users (n,), targets (n,) -> (n,)
    """
    kind = model.scoring_kind(task)
    if kind == "custom":
        return model.score(task, enc, users, targets)
    query, target = model.query(task, enc), model.target(task, enc)
    head = model.scorer(task)
    if head is None:
        return (gather_rows(query, users) * gather_rows(target, targets)).sum(-1)
    first = gather_rows(head.query_part(query), users) + gather_rows(head.target_part(target), targets)
    return head.head(first)


@dataclass
class LsecBatch:
    step: int
    orders: dict[str, np.ndarray]
    rng: np.random.Generator


class LsecObjective:
    """Multi-task BCE / BPR with K negatives on the training-window graphs (objective of :class:`~lsec.train.loop.Loop`).

    Args:
        model: a :class:`RecommenderModel` (its ``tasks`` and ``relations`` say what to train and read).
        split: a loaded split (``train_graph()``, ``candidates(task, fold)``).
        graphs: relation name -> adjacency of the training edges (see :func:`lsec.train.runs.build_graphs`).
        config: the resolved config (``train`` and ``eval`` sections are used).
        device: where the model, graphs and batches live.
    """

    def __init__(
        self,
        model: RecommenderModel,
        split: Any,
        graphs: dict[str, BipartiteAdjacency],
        config: Config,
        *,
        device: torch.device | None = None,
    ) -> None:
        self.device = device or torch.device("cpu")
        self.model = model.to(self.device)
        self.split = split
        self.graphs = {k: g.to(self.device) for k, g in graphs.items()}
        self.config = config
        self.timer = StepTimer()
        train_graph = split.train_graph()
        self.train_graph = train_graph
        self.tasks = [task_data(train_graph, t) for t in model.tasks]
        self.exclusions: dict[str, EdgeExclusion] = {}
        if config.train.exclude_seed_edges:
            for data in self.tasks:
                if data.task in graphs and graphs[data.task].symmetric:
                    src_type, _, dst_type = relation(data.task)
                    self.exclusions[data.task] = EdgeExclusion(
                        data.users, data.targets, train_graph.num_nodes[src_type], train_graph.num_nodes[dst_type],
                        self_loops=graphs[data.task].self_loops,
                    )  # fmt: skip
        self.losses = {t: self._loss_name(t) for t in model.tasks}
        self.optimizer = torch.optim.Adam(
            model.parameters(), lr=config.train.lr, weight_decay=config.train.weight_decay
        )

    def _loss_name(self, task: str) -> str:
        if self.config.train.loss != "auto":
            return self.config.train.loss
        return "bpr" if self.model.scoring_kind(task) == "dot" else "bce"

    def _primary(self) -> TaskData:
        return next((t for t in self.tasks if t.task == PRIMARY_TASK), self.tasks[0])

    def _task_weight(self, task: str) -> float:
        return 1.0 if task == self._primary().task else self.config.train.task_weight

    # ----------------------------------------------------------------------------------- objective
    def steps_per_epoch(self) -> int:
        primary = self._primary()
        per_epoch = len(primary.users) if self.config.train.positives == "all" else primary.num_sources
        return max(1, math.ceil(per_epoch / self.config.train.batch_size))

    def batches(self, epoch: int) -> Iterator[LsecBatch]:
        rng = np.random.default_rng([self.config.train.seed, epoch])
        if self.config.train.positives == "all":
            orders = {t.task: rng.permutation(len(t.users)) for t in self.tasks}
        else:  # the authors' epoch: one random positive per source node per relation, in random order
            orders = {t.task: rng.permutation(t.one_per_source(rng)) for t in self.tasks}
        for step in range(self.steps_per_epoch()):
            yield LsecBatch(step, orders, rng)

    def train_step(self, batch: LsecBatch) -> float:
        tc = self.config.train
        steps = self.steps_per_epoch()
        drawn = []  # (task data, users, targets, negatives) of this step, drawn before the propagation
        for data in self.tasks:
            per_step = math.ceil(len(data.users) / steps)
            index = batch.orders[data.task][batch.step * per_step : (batch.step + 1) * per_step]
            if index.size == 0:
                continue
            with self.timer("sampling"):
                users = data.users[index]
                if tc.negatives == "unseen":
                    negatives = data.sampler.sample(users, tc.num_negatives, batch.rng)  # (b, K)
                else:  # uniform over all targets, positives included (the authors' code)
                    negatives = batch.rng.integers(0, data.num_targets, (len(users), tc.num_negatives))
            drawn.append((data, users, data.targets[index], negatives))
        with self.timer("propagation"):
            graphs = self.graphs
            if self.exclusions:
                graphs = dict(graphs)
                for data, users, targets, _ in drawn:
                    if data.task in self.exclusions:  # the batch's own positives leave the graph it sees
                        graphs[data.task] = self.exclusions[data.task].without(users, targets).to(self.device)
            enc = self.model.encode(graphs)
        loss = torch.zeros((), device=self.device)
        for data, users, targets, negatives in drawn:
            with self.timer("scoring"):
                u = torch.from_numpy(users).to(self.device)
                pos_targets = torch.from_numpy(targets).to(self.device)
                all_users = torch.cat([u, u.repeat_interleave(tc.num_negatives)])
                all_targets = torch.cat([pos_targets, torch.from_numpy(negatives.ravel()).to(self.device)])
                logits = training_logits(self.model, data.task, enc, all_users, all_targets)
                pos, neg = logits[: len(u)], logits[len(u) :].view(-1, tc.num_negatives)  # (b,), (b, K)
                loss = loss + self._task_weight(data.task) * pair_loss(self.losses[data.task], pos, neg)
        with self.timer("backward"):
            loss.backward()
        return float(loss.detach())

    def validate(self) -> dict[str, Any]:
        """Validation report of every trained task that has candidate lists (buy first)."""
        reports = self.reports("valid", groups=("all",))  # early stopping needs all users only
        metrics = dict(reports[PRIMARY_TASK]["all"]) if PRIMARY_TASK in reports else {}
        if metrics:
            metrics["mean"] = mean_of_six(metrics, self.config.eval.ks)
        return {"metrics": metrics, "groups": reports}

    def reports(self, fold: str, *, groups: tuple[str, ...] = ("all",)) -> dict[str, Any]:
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
                        fold,
                        ks=ec.ks,
                        first_ks=ec.first_ks,
                        batch_size=ec.batch_size,
                        groups=groups,
                    )
                except LsecError:
                    if task == PRIMARY_TASK:
                        raise
                    continue  # no follow candidate lists in this split
                reports[task] = report
        return reports

    def popularity_report(self, fold: str = "valid") -> dict[str, float]:
        """Metrics of ranking the primary task's ``fold`` candidate lists by training popularity (a floor)."""
        ec = self.config.eval
        data = self._primary()
        candidates = self.split.candidates(data.task, fold)
        _, _, dst_type = relation(data.task)
        counts = np.bincount(data.targets, minlength=self.train_graph.num_nodes[dst_type]).astype(np.float64)
        scores = counts[np.asarray(candidates.target)]
        report = candidate_report(candidates, scores, ks=ec.ks, first_ks=ec.first_ks, groups=("all",))
        metrics = dict(report["all"])
        metrics["mean"] = mean_of_six(metrics, ec.ks)
        return metrics

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {}  # batches are drawn from (seed, epoch): nothing else to resume

    def load_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        return None


def mean_of_six(metrics: dict[str, float], ks: tuple[int, ...]) -> float:
    """The authors' early-stopping score: mean of auc, mrr, ndcg@k and recall@k (k in ``eval.ks``: 10, 50)."""
    names = ["auc", "mrr", *(f"ndcg@{k}" for k in ks), *(f"recall@{k}" for k in ks)]
    return float(np.mean([metrics[n] for n in names]))
