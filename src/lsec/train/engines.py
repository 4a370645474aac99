"""What each ``train.engine`` needs from a split: training pairs, a validation fold, baselines.

- ``lsec``: multi-task training on the candidate-list protocol (:class:`lsec.train.lsec.LsecObjective`).
- ``bpr``: the large-batch BPR engine (:class:`lsec.train.bpr.BprObjective`) with full-sort validation
  (recall@k / ndcg@k over every item, the user's training items masked).
- ``closed_form``: models fitted in one shot (GF-CF), no optimizer.
- ``gtr``: MMBee's gift models on impressions (:mod:`lsec.train.gtr`); ``temporal``: DM-GNN (:mod:`lsec.train.temporal`).
- ``auto``: ``closed_form`` for ``gf-cf``, ``gtr`` for ``mmbee-*``, ``temporal`` for ``dmgnn`` / ``tgat``, else ``lsec``.

**Validation without a validation fold** (``train.engine=bpr``, e.g. a LightGCN-layout folder with only
``train.txt`` and ``test.txt``): with ``train.validate=true`` the run carves one from training. Each user's
distinct training pairs are shuffled with ``default_rng([seed, 1])`` and the first
``floor(valid_fraction * n_u)`` of them are held out (users with fewer than ``1 / valid_fraction`` pairs keep
all of theirs); the model trains and validates on what is left. Evaluation and serving afterwards propagate
over every training pair, as the test protocol does. With ``train.validate=false`` the run trains the fixed
budget of ``train.epochs`` on every training pair and keeps the last weights. ``run.json`` says which it did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from lsec.config import Config
from lsec.errors import LsecConfigError, LsecDataError
from lsec.evaluate.full_sort import ScoreBlock, full_sort_metrics, model_score_block, popularity_block
from lsec.graph.adjacency import bipartite_adjacency

CLOSED_FORM_MODELS = ("gf-cf",)
GTR_MODELS = ("mmbee-sim", "mmbee-mmoe")  # lsec.train.gtr.MODELS
TEMPORAL_MODELS = ("dmgnn", "tgat", "static-gnn")  # lsec.train.temporal.MODELS
TASK = "buy"


def resolve_engine(cfg: Config) -> str:
    """The engine a config asks for (``auto`` resolved by model name)."""
    engine = cfg.train.engine
    if engine == "auto":
        name = cfg.model.name
        engine = (
            "closed_form" if name in CLOSED_FORM_MODELS
            else "gtr" if name in GTR_MODELS
            else "temporal" if name in TEMPORAL_MODELS
            else "lsec"
        )  # fmt: skip
    if (engine == "closed_form") != (cfg.model.name in CLOSED_FORM_MODELS):
        raise LsecConfigError(
            f"train.engine {engine!r} does not fit model {cfg.model.name!r}: closed_form is for "
            f"{', '.join(CLOSED_FORM_MODELS)} (fitted without an optimizer), the other engines for trained models."
        )
    return engine


def fold_summary(split: Any, task: str = TASK) -> str:
    """``train 810128, valid 0, test 217242`` pairs of ``task`` per fold (for error messages and run.json)."""
    folds = np.asarray(split.fold(task))
    names = ("train", "valid", "test")
    return ", ".join(f"{name} {int((folds == i).sum())}" for i, name in enumerate(names))


def has_candidates(split: Any, task: str, fold: str) -> bool:
    """Whether the split has fixed candidate lists of ``task`` for ``fold``."""
    counts = split.info.get("candidates", {}).get(task, {}).get(fold, {})
    return task in split.tasks and bool(counts.get("evaluated_users"))


def distinct_pairs(table: Any, num_targets: int) -> tuple[np.ndarray, np.ndarray]:
    keys = np.unique(table.src.astype(np.int64) * num_targets + table.dst.astype(np.int64))
    return keys // num_targets, keys % num_targets


def carve_validation(users: np.ndarray, items: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks ``(keep, held_out)`` over the pairs: ``floor(fraction * n_u)`` random pairs per user held out.

    Shapes:
        users (E,), items (E,) -> (E,) bool, (E,) bool
    """
    rng = np.random.default_rng([seed, 1])
    order = np.lexsort((rng.random(len(users)), users))  # users grouped, random order within each user
    sorted_users = users[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_users)) + 1]
    counts = np.diff(np.r_[starts, len(users)])
    rank = np.arange(len(users)) - np.repeat(starts, counts)  # position within the user's shuffled pairs
    quota = np.floor(fraction * counts).astype(np.int64)
    held = np.zeros(len(users), bool)
    held[order] = rank < np.repeat(quota, counts)
    return ~held, held


def csr(users: np.ndarray, items: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    matrix = sp.csr_matrix((np.ones(len(users), np.float32), (users, items)), shape=shape)
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


@dataclass
class FullSortData:
    """The buy pairs of a split as the BPR engine and the full-sort protocol use them."""

    num_users: int
    num_items: int
    train_users: np.ndarray  # pairs the model trains on (training fold, minus a carved validation)
    train_items: np.ndarray
    valid: sp.csr_matrix | None  # validation positives, or None (train.validate=false)
    validation: str  # how validation was obtained, for run.json and the CLI

    def train_matrix(self) -> sp.csr_matrix:
        return csr(self.train_users, self.train_items, (self.num_users, self.num_items))

    def adjacency(self, device: torch.device) -> Any:
        return bipartite_adjacency(self.train_users, self.train_items, self.num_users, self.num_items).to(device)


def full_sort_data(split: Any, cfg: Config) -> FullSortData:
    """Training pairs and the validation positives of ``split`` for ``cfg`` (see the module docstring)."""
    graph = split.graph
    if not graph.has(TASK):
        raise LsecDataError(f"split {split.name!r}: the dataset has no 'buy' edges to train on", file=split.root)
    num_users, num_items = int(graph.num_nodes["user"]), int(graph.num_nodes["item"])
    users, items = distinct_pairs(split.edges(TASK, "train"), num_items)
    if len(users) == 0:
        raise LsecDataError(
            f"split {split.name!r} has no training pairs of task 'buy'",
            file=split.root,
            expected="a fold 'train' with buy edges",
            found=fold_summary(split),
        )
    tc = cfg.train
    if not tc.validate:
        return FullSortData(num_users, num_items, users, items, None, "none (train.validate=false): fixed budget")
    valid_users, valid_items = distinct_pairs(split.edges(TASK, "valid"), num_items)
    if len(valid_users):
        return FullSortData(
            num_users, num_items, users, items, csr(valid_users, valid_items, (num_users, num_items)),
            f"fold 'valid' of split {split.name!r}: {len(valid_users)} pairs",
        )  # fmt: skip
    keep, held = carve_validation(users, items, tc.valid_fraction, tc.seed)
    if not held.any():
        raise LsecDataError(
            f"split {split.name!r} has no validation fold and no user has enough training pairs to carve one",
            file=split.root,
            expected=f"users with at least {int(np.ceil(1 / tc.valid_fraction))} pairs, or train.validate=false",
            found=fold_summary(split),
        )
    return FullSortData(
        num_users, num_items, users[keep], items[keep], csr(users[held], items[held], (num_users, num_items)),
        f"carved from training (no 'valid' fold): {int(held.sum())} pairs, {tc.valid_fraction:.0%} of each "
        f"user's with seed {tc.seed}",
    )  # fmt: skip


def full_sort_report(score_block: ScoreBlock, train: sp.csr_matrix, test: sp.csr_matrix, ks: Any) -> dict[str, float]:
    """:func:`~lsec.evaluate.full_sort.full_sort_metrics` without the user count."""
    metrics = full_sort_metrics(score_block, train, test, ks=tuple(ks))
    metrics.pop("num_users", None)
    return metrics


__all__ = ["full_sort_report", "model_score_block", "popularity_block"]
