"""Fast BPR training for dot-product graph models (LightGCN on Gowalla-sized graphs on a CPU).

One epoch is one pass over the training interactions in a seeded random order, cut into batches; each
positive ``(u, i)`` gets ``K`` negative items drawn uniformly among the items ``u`` has not interacted with
(vectorised rejection sampling against a bitmap of the known ``(user, item)`` pairs), and each negative makes one BPR
triple. Each step propagates the whole graph once and takes the mean BPR loss over the ``B K`` triples with
the paper's L2 term on the triples' ego embeddings::

    loss = mean_{b,k} softplus(-(s(u_b, i_b) - s(u_b, j_bk))) + reg * 0.5 * sum_{b,k} (|e_u|^2 + |e_i|^2 + |e_j|^2) / (B K)

What makes it fast is the step count and the step cost, not a different model: large batches (tens of
thousands of positives) with a proportionally larger Adam learning rate need ~50-100x fewer full-graph
propagations per epoch than the usual batch of 2048; each propagation's backward costs one sparse product
(:func:`lsec.graph.adjacency.propagate`), and the batch's gradient is gathered and scattered once per
positive rather than once per triple (:func:`bpr_gradient`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lsec.graph.adjacency import BipartiteAdjacency, propagate
from lsec.nn.models.lightgcn import LightGCN
from lsec.train.loop import Loop, StepTimer, rng_from_tensor, rng_to_tensor
from lsec.train.sampling import KnownPairs


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
        users = np.asarray(users, np.int64)
        self.known = KnownPairs(users, items, int(users.max(initial=-1)) + 1, self.num_items)

    def is_positive(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """(n,) bool: whether each pair is one of the interactions given at construction."""
        return self.known.contains(users, items)

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
    """Hyper-parameters of :func:`train_bpr`.

    Defaults: large batches, uniform negatives and the paper's L2 weight. The best Gowalla recipe measured
    (benchmarks/README.md) adds ``hard_candidates=16`` and ``reg=3e-3`` (dynamic sampling overfits sooner,
    and the harder the negatives the larger the L2 weight they need).
    """

    epochs: int = 40  # passes over the training interactions
    batch_size: int = 32768  # positives per step (one full-graph propagation each)
    lr: float = 0.05  # Adam learning rate (scaled up with the batch)
    reg: float = 1e-4  # L2 weight on the batch's ego embeddings (the paper's 1e-4)
    seed: int = 0
    negatives: int = 4  # K: negatives per positive per step (each makes one BPR triple)
    hard_candidates: int = 1  # C > 1: each negative is the highest-scored of C uniform draws (dynamic sampling)
    lr_decay_to: float = 0.1  # final lr as a fraction of lr (cosine schedule); 1.0 = constant
    show_progress: bool = False


@dataclass
class BPRHistory:
    """Per-epoch training loss, wall time since start, and whatever ``on_epoch`` returned."""

    loss: list[float] = field(default_factory=list)
    elapsed: list[float] = field(default_factory=list)
    evaluations: list[dict[str, float]] = field(default_factory=list)


def _as_matrix(negatives: torch.Tensor, batch: int, *, candidates: bool = False) -> torch.Tensor:
    """Negatives as a (B, K) matrix; a flat (B,) vector is one negative per positive.

    With ``candidates=True`` a (B, K, C) tensor is accepted as well (C candidates per negative).
    """
    if negatives.dim() == 1:
        negatives = negatives.unsqueeze(1)
    shapes = "(B,), (B, K) or (B, K, C)" if candidates else "(B,) or (B, K)"
    if negatives.dim() not in ((2, 3) if candidates else (2,)) or negatives.shape[0] != batch:
        raise ValueError(
            f"BPR negatives must have shape {shapes} with B = {batch} positives. "
            f"Got shape {tuple(negatives.shape)} instead."
        )
    return negatives


def hardest(final: torch.Tensor, users: torch.Tensor, candidates: torch.Tensor, offset: int) -> torch.Tensor:
    """Dynamic negative sampling: of each row of ``C`` uniform candidates, the one the model scores highest.

    Scores are the current final embeddings' dot products (no gradient flows through the choice).

    Shapes:
        final: (N, d);  users: (B,);  candidates: (B, K, C) item indices -> (B, K) item indices
    """
    batch, k, c = candidates.shape
    e_u = final.index_select(0, users)  # (B, d)
    e_c = final.index_select(0, candidates.reshape(-1) + offset).view(batch, k * c, -1)  # (B, K C, d)
    scores = torch.bmm(e_c, e_u.unsqueeze(-1)).view(batch, k, c)  # (B, K, C)
    return candidates.gather(2, scores.argmax(2, keepdim=True)).squeeze(2)


def bpr_loss(
    model: LightGCN,
    final: torch.Tensor,
    users: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor,
    reg: float,
) -> torch.Tensor:
    """BPR loss plus the L2 term on ego embeddings, through autograd (the reference for :func:`bpr_gradient`).

    Every positive ``(u, i)`` makes one triple with each of its ``K`` negatives; the loss is the mean over the
    ``B * K`` triples, and each triple adds its three ego rows to the L2 term::

        loss = mean_{b,k} softplus(-(s(u_b, i_b) - s(u_b, j_bk))) + reg * 0.5 * sum_{b,k} (|e_u|^2 + |e_i|^2 + |e_j|^2) / (B K)

    Shapes:
        final: (N, d), users first;  users, positives: (B,);  negatives: (B,) or (B, K)
    """
    negatives = _as_matrix(negatives, len(users))
    k = negatives.shape[1]
    users, positives = users.repeat(k), positives.repeat(k)  # triple t = k * B + b
    negatives = negatives.t().reshape(-1)
    rows = torch.cat([users, positives + model.num_users, negatives + model.num_users])  # (3BK,)
    triples = len(users)
    picked = final[rows].view(3, triples, -1)
    margin = (picked[0] * (picked[1] - picked[2])).sum(-1)  # (BK,)
    l2 = 0.5 * model.ego()[rows].square().sum() / triples
    return F.softplus(-margin).mean() + reg * l2


def bpr_gradient(
    model: LightGCN,
    adjacency: BipartiteAdjacency,
    users: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor,
    reg: float,
    *,
    chunk_size: int = 65536,
    ego: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss value of :func:`bpr_loss` and its gradient with respect to the ego table, without autograd.

    The chain rule is written out. With ``final = P @ ego`` and ``P = sum_l Â^l / (L + 1)`` symmetric, the
    gradient reaching the ego table is ``P @ G``, ``G`` being the (N, d) gradient on the final embeddings (a model
    with ``combine`` / ``combine_transpose`` brings its own ``P`` and ``P^T``, e.g. :class:`~lsec.nn.models.mmbee.rec.MMBeeRec`).
    ``G`` is built per positive, not per triple: with ``c_bk = sigmoid(-margin_bk) / (B K)``::

        G[u_b]  += sum_k c_bk (e_j_bk - e_i_b)      G[i_b] -= (sum_k c_bk) e_u_b      G[j_bk] += c_bk e_u_b

    so a step gathers and scatters ``(2 + K) B`` rows instead of ``3 B K``. The L2 term needs no scatter:
    its gradient is ``reg * w_n * ego_n / (B K)`` where ``w_n`` counts the triples that use node ``n``.
    Positives are processed in chunks of ``chunk_size`` after one propagation (bounded memory).

    With ``(B, K, C)`` negatives each triple's negative is the hardest of its ``C`` candidates under the
    current model (:func:`hardest`, dynamic negative sampling); the loss is then BPR on the chosen triples.

    ``ego``: the model's ego table when the caller has it already (a computed one, e.g. MMBee-Rec's MFQ content,
    whose autograd graph the caller keeps for its backward); ``None`` reads ``model.ego()``.

    Shapes:
        users, positives: (B,);  negatives: (B,), (B, K) or (B, K, C);  ego: (N, d)

    Returns:
        (loss scalar, (N, d) gradient).
    """
    negatives = _as_matrix(negatives, len(users), candidates=True)
    offset = model.num_users
    with torch.no_grad():
        ego = model.ego() if ego is None else ego.detach()
        final = _final(model, adjacency, ego)
        if negatives.dim() == 3:
            negatives = hardest(final, users, negatives, offset)  # (B, K)
        batch, k = negatives.shape
        triples = batch * k
        grad_final = torch.zeros_like(ego)  # dL/dfinal
        loss = torch.zeros((), device=ego.device)
        for first in range(0, batch, chunk_size):
            u = users[first : first + chunk_size]
            i = positives[first : first + chunk_size] + offset
            j = negatives[first : first + chunk_size] + offset  # (b, K)
            size = len(u)
            e_u, e_i = final.index_select(0, u), final.index_select(0, i)  # (b, d)
            e_j = final.index_select(0, j.reshape(-1)).view(size, k, -1)  # (b, K, d)
            margin = (e_u * e_i).sum(-1, keepdim=True) - torch.bmm(e_j, e_u.unsqueeze(-1)).squeeze(-1)  # (b, K)
            loss += F.softplus(-margin).sum() / triples
            coef = torch.sigmoid(-margin).div_(triples)  # -dL/dmargin, (b, K)
            total = coef.sum(1, keepdim=True)  # (b, 1)
            grad_u = torch.bmm(coef.unsqueeze(1), e_j).squeeze(1).sub_(total * e_i)  # (b, d)
            grad_final.index_add_(0, u, grad_u)
            grad_final.index_add_(0, i, total * e_u, alpha=-1.0)
            grad_final.index_add_(0, j.reshape(-1), (coef.unsqueeze(-1) * e_u.unsqueeze(1)).view(size * k, -1))
        uses = (
            torch.bincount(users, minlength=len(ego)).mul_(k)
            + torch.bincount(positives + offset, minlength=len(ego)).mul_(k)
            + torch.bincount(negatives.reshape(-1) + offset, minlength=len(ego))
        ).to(ego.dtype)  # (N,) triples using each node
        loss += reg * 0.5 * (uses * ego.square().sum(1)).sum() / triples
        grad = _final_transpose(model, adjacency, grad_final)
        grad.addcmul_(uses.unsqueeze(1), ego, value=reg / triples)
    return loss, grad


def _final(model: Any, adjacency: BipartiteAdjacency, ego: torch.Tensor) -> torch.Tensor:
    """``final = P @ ego``: the model's own linear operator (``model.combine``) or LightGCN's layer combination."""
    if hasattr(model, "combine"):
        return model.combine(adjacency, ego)  # type: ignore[no-any-return]
    return _combine_layers(adjacency, ego, model.num_layers)


def _final_transpose(model: Any, adjacency: BipartiteAdjacency, grad: torch.Tensor) -> torch.Tensor:
    """``P^T @ grad`` for the ``P`` of :func:`_final` (LightGCN's is symmetric)."""
    if hasattr(model, "combine_transpose"):
        return model.combine_transpose(adjacency, grad)  # type: ignore[no-any-return]
    return _combine_layers(adjacency, grad, model.num_layers)


def _combine_layers(adjacency: BipartiteAdjacency, x: torch.Tensor, num_layers: int) -> torch.Tensor:
    """``sum_{l=0..L} Â^l x / (L + 1)`` (no autograd)."""
    total = x.clone()
    layer = x
    for _ in range(num_layers):
        layer = propagate(adjacency, layer)
        total.add_(layer)
    return total.div_(num_layers + 1)


class BprObjective:
    """Large-batch BPR with (optionally hard) negatives: the objective of :class:`~lsec.train.loop.Loop`.

    Each epoch is one seeded pass over ``(users, items)`` in batches of ``config.batch_size`` positives; each
    step writes the gradient of :func:`bpr_gradient` into the model's ego table and follows the cosine
    learning-rate schedule of ``config``. One generator, ``default_rng(config.seed)``, draws the batch order
    and the negatives of every epoch in turn (the same stream as before the loop existed, so recorded results
    repeat exactly); its state is part of :meth:`extra_state`, so a resumed run continues the same stream.

    Args:
        model: a dot-product model with an ego table (``LightGCN``, or ``MatrixFactorization`` as 0 layers).
        adjacency: the normalised training graph the model propagates over (unused with 0 layers).
        users, items: (E,) the training interactions (positives; never drawn as negatives).
        config: :class:`BPRConfig` (``epochs`` and ``show_progress`` are the loop's business).
        validator: ``model -> {"metrics": {...}}`` (e.g. full-sort recall@20 on a validation fold), or None.
    """

    def __init__(
        self,
        model: Any,
        adjacency: BipartiteAdjacency,
        users: np.ndarray,
        items: np.ndarray,
        config: BPRConfig,
        *,
        validator: Callable[[Any], dict[str, Any]] | None = None,
    ) -> None:
        if config.batch_size < 1 or config.epochs < 0:
            raise ValueError(
                f"BPRConfig needs a positive 'batch_size' and a non-negative 'epochs'. "
                f"Got batch_size={config.batch_size}, epochs={config.epochs}."
            )
        self.model = model
        self.adjacency = adjacency
        self.users = np.asarray(users, np.int64)
        self.items = np.asarray(items, np.int64)
        self.config = config
        self.validator = validator
        self.device = next(model.parameters()).device  # batches follow the model (train.device)
        self.timer = StepTimer()
        self.rng = np.random.default_rng(config.seed)
        self.sampler = NegativeSampler(self.users, self.items, model.num_items)
        groups = model.parameter_groups() if hasattr(model, "parameter_groups") else [{"params": model.parameters()}]
        self.optimizer = torch.optim.Adam(groups, lr=config.lr, fused=True)  # a group's "lr_scale" scales its lr
        self.total_steps = max(1, self.steps_per_epoch() * config.epochs)
        self.step = 0
        self.epoch_loss_sum = 0.0
        self.shared_order = False

    def steps_per_epoch(self) -> int:
        return max(1, -(-len(self.users) // self.config.batch_size))

    def distribute(self, rank: int, world_size: int) -> None:
        """Data-parallel rank ``rank`` of ``world_size`` (:mod:`lsec.train.ddp`): the batch order of epoch ``e``
        comes from ``default_rng([seed, e])`` (the same on every rank, which trains its share of it), negatives
        from a generator of ``(seed, 1 + rank)``, and the lr schedule spans ``ceil(S / W)`` steps per epoch."""
        self.shared_order = world_size > 1
        self.rng = np.random.default_rng([self.config.seed, 1 + rank])
        self.total_steps = max(1, -(-self.steps_per_epoch() // world_size) * self.config.epochs)

    def batches(self, epoch: int) -> Iterator[np.ndarray]:
        source = np.random.default_rng([self.config.seed, epoch]) if self.shared_order else self.rng
        order = source.permutation(len(self.users))
        self.epoch_loss_sum = 0.0  # loss x positives, summed over the epoch's batches
        for first in range(0, len(order), self.config.batch_size):
            yield order[first : first + self.config.batch_size]

    def train_step(self, batch: np.ndarray) -> float:
        config = self.config
        u, i = self.users[batch], self.items[batch]
        _set_lr(self.optimizer, config, self.step, self.total_steps)
        with self.timer("sampling"):
            draws = config.negatives * max(1, config.hard_candidates)
            j: np.ndarray = self.sampler.sample(np.tile(u, draws), self.rng).reshape(draws, -1).T  # (B, K C)
            if config.hard_candidates > 1:
                j = j.reshape(len(u), config.negatives, config.hard_candidates)  # (B, K, C)
        with self.timer("gradient"):
            device = self.device
            ego = self.model.ego() if hasattr(self.model, "backward_ego") else None  # computed: keep its graph
            loss, grad = bpr_gradient(
                self.model, self.adjacency, torch.from_numpy(u).to(device), torch.from_numpy(i).to(device),
                torch.from_numpy(j.copy()).to(device), config.reg, ego=ego,
            )  # fmt: skip
            if ego is not None and ego.requires_grad:
                ego.backward(grad)  # through the model's computed ego (MFQ), one forward per step
            else:
                set_ego_grad(self.model, grad)
        self.step += 1
        self.epoch_loss_sum += float(loss.detach()) * len(batch)
        return float(loss.detach())

    def validate(self) -> dict[str, Any]:
        return {"metrics": {}} if self.validator is None else self.validator(self.model)

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {"rng": rng_to_tensor(self.rng), "step": torch.tensor(self.step)}

    def load_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        if "rng" in state:
            rng_from_tensor(self.rng, state["rng"])
        if "step" in state:
            self.step = int(state["step"])


def set_ego_grad(model: Any, grad: torch.Tensor) -> None:
    """Write an (N, d) ego-table gradient into ``model``: one table (LightGCN), users and items apart (MF), or
    through the model's own ``backward_ego`` when its ego table is computed (MMBee-Rec: id + MFQ content)."""
    if hasattr(model, "backward_ego"):
        model.backward_ego(grad)
        return
    if isinstance(getattr(model, "embedding", None), torch.nn.Parameter):
        model.embedding.grad = grad
        return
    model.user.weight.grad = grad[: model.num_users]
    model.item.weight.grad = grad[model.num_users :]


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

    :class:`BprObjective` run by the one :class:`~lsec.train.loop.Loop` in memory, without validation.

    Args:
        on_epoch: called after each epoch with ``(epoch, model)`` (1-based epoch); a returned dict is
            recorded in the history; returning ``{"stop": 1.0}`` ends training.
    """
    objective = BprObjective(model, adjacency, users, items, config)
    history = BPRHistory()
    start = time.perf_counter()

    def after_epoch(epoch: int) -> bool:
        history.loss.append(objective.epoch_loss_sum / len(objective.users))  # mean over positives
        history.elapsed.append(time.perf_counter() - start)
        if on_epoch is None:
            return False
        model.eval()
        result = on_epoch(epoch, model)
        if result is None:
            return False
        history.evaluations.append({"epoch": float(epoch), **result})
        return bool(result.get("stop"))

    Loop(
        objective, epochs=config.epochs, validate=False, show_progress=config.show_progress, on_epoch=after_epoch
    ).fit()
    return history


def _set_lr(optimizer: torch.optim.Optimizer, config: BPRConfig, step: int, total_steps: int) -> None:
    progress = step / total_steps
    factor = config.lr_decay_to + (1.0 - config.lr_decay_to) * 0.5 * (1.0 + np.cos(np.pi * progress))
    if config.lr_decay_to >= 1.0:
        factor = 1.0
    for group in optimizer.param_groups:
        scale = float(group.get("lr_scale", 1.0))
        group["lr"] = float(config.lr * factor * scale)  # a plain float: optimizer state must load with weights_only
