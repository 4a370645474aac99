"""Fast BPR training for dot-product graph models (LightGCN on Gowalla-sized graphs on a CPU).

One epoch is one pass over the training interactions in a seeded random order, cut into batches; each
positive ``(u, i)`` gets one negative item drawn uniformly among the items ``u`` has not interacted with
(vectorised rejection sampling against the sorted ``(user, item)`` keys). Each step propagates the whole
graph once and takes the BPR loss with the paper's L2 term on the batch's ego embeddings::

    loss = mean_b softplus(-(s(u, i) - s(u, j))) + reg * 0.5 * (|e_u|^2 + |e_i|^2 + |e_j|^2) / B

What makes it fast is the step count, not a different model: large batches (tens of thousands of
triples) with a proportionally larger Adam learning rate need ~50-100x fewer full-graph propagations
per epoch than the usual batch of 2048, and each propagation's backward costs one sparse product
(:func:`lsec.graph.adjacency.propagate`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from lsec.graph.adjacency import BipartiteAdjacency, propagate
from lsec.nn.models.lightgcn import LightGCN


class NegativeSampler:
    """Uniform negatives that avoid each user's known positives (seeded, vectorised).

    Args:
        users, items: (E,) the interactions that must not be drawn as negatives.
        num_items: catalogue size.
        max_rounds: redraw rounds for negatives that hit a positive (the rest are kept as drawn, which
            only happens for users who interacted with almost every item).
    """

    def __init__(self, users: np.ndarray, items: np.ndarray, num_items: int, max_rounds: int = 20) -> None:
        self.num_items = int(num_items)
        self.max_rounds = max_rounds
        self.keys = np.unique(np.asarray(users, np.int64) * self.num_items + np.asarray(items, np.int64))

    def is_positive(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = users.astype(np.int64) * self.num_items + items
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return self.keys[at] == keys

    def sample(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(B,) negative items for ``users``."""
        negatives = rng.integers(0, self.num_items, len(users))
        redo = np.flatnonzero(self.is_positive(users, negatives))
        for _ in range(self.max_rounds):
            if len(redo) == 0:
                break
            negatives[redo] = rng.integers(0, self.num_items, len(redo))
            redo = redo[self.is_positive(users[redo], negatives[redo])]
        return negatives


@dataclass
class BPRConfig:
    """Hyper-parameters of :func:`train_bpr` (defaults: the fast Gowalla recipe of benchmarks/README.md)."""

    epochs: int = 40  # passes over the training interactions
    batch_size: int = 32768  # positives per step (one full-graph propagation each)
    lr: float = 0.05  # Adam learning rate (scaled up with the batch)
    reg: float = 1e-4  # L2 weight on the batch's ego embeddings (the paper's 1e-4)
    seed: int = 0
    negatives: int = 4  # negatives per positive per epoch (each makes one BPR triple)
    lr_decay_to: float = 0.1  # final lr as a fraction of lr (cosine schedule); 1.0 = constant
    show_progress: bool = False


@dataclass
class BPRHistory:
    """Per-epoch training loss, wall time since start, and whatever ``on_epoch`` returned."""

    loss: list[float] = field(default_factory=list)
    elapsed: list[float] = field(default_factory=list)
    evaluations: list[dict[str, float]] = field(default_factory=list)


def bpr_loss(
    model: LightGCN,
    final: torch.Tensor,
    users: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor,
    reg: float,
) -> torch.Tensor:
    """BPR loss plus the L2 term on ego embeddings. ``final`` is (N, d), users first."""
    rows = torch.cat([users, positives + model.num_users, negatives + model.num_users])  # (3B,)
    batch = len(users)
    picked = final[rows].view(3, batch, -1)  # one gather (and one scatter in the backward)
    margin = (picked[0] * (picked[1] - picked[2])).sum(-1)  # (B,)
    l2 = 0.5 * model.ego()[rows].square().sum() / batch
    return F.softplus(-margin).mean() + reg * l2


def bpr_gradient(
    model: LightGCN,
    adjacency: BipartiteAdjacency,
    users: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor,
    reg: float,
    *,
    chunk_size: int = 131072,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss value and its gradient with respect to the ego table, without autograd.

    Same value and gradient as ``bpr_loss(model, model.propagate(adjacency), ...)`` (tested). The chain
    rule is written out: the layer combination ``P = sum_l Â^l / (L + 1)`` is symmetric, so the gradient
    reaching the ego table is ``P @ G`` where ``G`` is the (N, d) gradient on the final embeddings; this
    avoids autograd's bookkeeping and the sort-based scatter of indexing. Triples are processed in chunks
    of ``chunk_size`` after one propagation, so memory stays bounded for very large batches.

    Returns:
        (loss scalar, (N, d) gradient).
    """
    with torch.no_grad():
        ego = model.ego()
        final = _combine_layers(adjacency, ego, model.num_layers)
        batch = len(users)
        grad_final = torch.zeros_like(ego)  # dL/dfinal
        grad_l2 = torch.zeros_like(ego)  # the L2 term acts on the ego table directly
        loss = torch.zeros(())
        offset = model.num_users
        for first in range(0, batch, chunk_size):
            part = slice(first, first + chunk_size)
            size = len(users[part])
            rows = torch.cat([users[part], positives[part] + offset, negatives[part] + offset])  # (3b,)
            picked = final.index_select(0, rows).view(3, size, -1)  # (3, b, d)
            e_u, e_i, e_j = picked[0], picked[1], picked[2]
            margin = (e_u * (e_i - e_j)).sum(-1)  # (b,)
            ego_rows = ego.index_select(0, rows)  # (3b, d)
            loss += (F.softplus(-margin).sum() + reg * 0.5 * ego_rows.square().sum()) / batch
            coef = (torch.sigmoid(-margin) / batch).unsqueeze(1)  # -dL/dmargin, (b, 1)
            grad_final.index_add_(0, rows, torch.cat([coef * (e_j - e_i), -coef * e_u, coef * e_u]))
            grad_l2.index_add_(0, rows, ego_rows, alpha=reg / batch)
        grad = _combine_layers(adjacency, grad_final, model.num_layers).add_(grad_l2)
    return loss, grad


def _combine_layers(adjacency: BipartiteAdjacency, x: torch.Tensor, num_layers: int) -> torch.Tensor:
    """``sum_{l=0..L} Â^l x / (L + 1)`` (no autograd)."""
    total = x.clone()
    layer = x
    for _ in range(num_layers):
        layer = propagate(adjacency, layer)
        total.add_(layer)
    return total.div_(num_layers + 1)


def train_bpr(
    model: LightGCN,
    adjacency: BipartiteAdjacency,
    users: np.ndarray,
    items: np.ndarray,
    config: BPRConfig,
    *,
    on_epoch: Callable[[int, LightGCN], dict[str, float] | None] | None = None,
) -> BPRHistory:
    """Train ``model`` with BPR on the interactions ``(users, items)`` (the edges of ``adjacency``).

    Args:
        on_epoch: called after each epoch with ``(epoch, model)`` (1-based epoch); a returned dict is
            recorded in the history; returning ``{"stop": 1.0}`` ends training.
    """
    if config.batch_size < 1 or config.epochs < 0:
        raise ValueError(
            f"BPRConfig needs a positive 'batch_size' and a non-negative 'epochs'. "
            f"Got batch_size={config.batch_size}, epochs={config.epochs}."
        )
    users = np.asarray(users, np.int64)
    items = np.asarray(items, np.int64)
    rng = np.random.default_rng(config.seed)
    sampler = NegativeSampler(users, items, model.num_items)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)
    steps_per_epoch = -(-len(users) // config.batch_size)
    total_steps = max(1, steps_per_epoch * config.epochs)
    history = BPRHistory()
    start = time.perf_counter()
    step = 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = rng.permutation(len(users))
        running = 0.0
        for first in tqdm(
            range(0, len(order), config.batch_size), disable=not config.show_progress, desc=f"epoch {epoch}"
        ):
            batch = order[first : first + config.batch_size]
            u, i = np.tile(users[batch], config.negatives), np.tile(items[batch], config.negatives)
            j = sampler.sample(u, rng)
            _set_lr(optimizer, config, step, total_steps)
            loss, grad = bpr_gradient(
                model, adjacency, torch.from_numpy(u), torch.from_numpy(i), torch.from_numpy(j), config.reg
            )
            model.embedding.grad = grad
            optimizer.step()
            running += float(loss.detach()) * len(batch)
            step += 1
        history.loss.append(running / len(users))
        history.elapsed.append(time.perf_counter() - start)
        if on_epoch is not None:
            model.eval()
            result = on_epoch(epoch, model)
            if result is not None:
                history.evaluations.append({"epoch": float(epoch), **result})
                if result.get("stop"):
                    break
    return history


def _set_lr(optimizer: torch.optim.Optimizer, config: BPRConfig, step: int, total_steps: int) -> None:
    if config.lr_decay_to >= 1.0:
        return
    progress = step / total_steps
    factor = config.lr_decay_to + (1.0 - config.lr_decay_to) * 0.5 * (1.0 + np.cos(np.pi * progress))
    for group in optimizer.param_groups:
        group["lr"] = config.lr * factor
