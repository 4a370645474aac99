"""THE training loop (DESIGN section 7): every system trains through :class:`Loop` with its own objective.

The loop owns what every system shares::

    for epoch in 1..max_epochs:
        for batch in objective.batches(epoch):          # seeded by the objective
            optimizer.zero_grad()
            loss = objective.train_step(batch)          # forward + gradients (autograd or written out)
            optimizer.step()
        log {"event": "epoch", ...}; every eval_every epochs: metrics = objective.validate()
        early stopping on metrics[metric] (patience counted in evaluations, never before min_steps steps)
        checkpoints/best.pt (plain state_dict) and checkpoints/last.pt (everything needed to resume)

An *objective* says how an epoch's batches are drawn, what a batch's loss is and how to validate; it also owns
the model and the optimizer (so an objective may set a learning-rate schedule or write gradients itself).
The contract, for the objectives that exist and the gift (MMBee) and temporal (DM-GNN) ones that come next:

``model: torch.nn.Module`` and ``optimizer: torch.optim.Optimizer``
    what is trained; ``best.pt`` holds ``model.state_dict()``.
``steps_per_epoch() -> int``
    how many batches :meth:`batches` yields (progress bars and the ``min_steps`` budget use it).
``batches(epoch) -> Iterable``
    the epoch's batches. Randomness must come from the epoch number and the objective's seed (e.g.
    ``numpy.random.default_rng([seed, epoch])``) or from state returned by :meth:`extra_state`, so that a run
    resumed at epoch ``e`` draws what the uninterrupted run drew.
``train_step(batch) -> float``
    the loss of one batch, with the gradients of ``model`` filled in (``loss.backward()``, or written out).
    Phases may be timed with ``self.timer`` (the loop sets it: a :class:`StepTimer`).
``validate() -> dict``
    ``{"metrics": {name: float}, ...}``: the flat metrics early stopping reads, plus anything the log should
    keep (per-group reports). Called in ``eval`` mode under ``torch.no_grad()``.
``extra_state() -> dict[str, Tensor]`` / ``load_extra_state(state)``
    what else a bit-identical resume needs (random generator states), as tensors (``weights_only`` loading).

Determinism: the loop saves ``torch``'s RNG state in ``last.pt``; a run resumed from ``last.pt`` continues with
the same batches, negatives and numbers as an uninterrupted run (tested).

Data-parallel runs (``train.distributed=ddp`` under torchrun): with ``distributed`` set, each rank trains its
share of every epoch's batches (batch ``b`` on rank ``b % world_size``), gradients are averaged over the ranks
before each optimizer step, and rank 0 alone validates, logs and writes checkpoints (:mod:`lsec.train.ddp`).
An objective may have ``distribute(rank, world_size)``: called once, it makes ``batches(epoch)`` depend on
``(seed, epoch)`` only (the same sequence on every rank).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from lsec.errors import LsecError
from lsec.train.ddp import Distributed

LOG_FILE = "log.jsonl"
BEST_CHECKPOINT = "checkpoints/best.pt"
LAST_CHECKPOINT = "checkpoints/last.pt"


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


class Objective(Protocol):
    """What a system supplies to :class:`Loop` (see the module docstring for the contract)."""

    timer: StepTimer

    @property
    def model(self) -> torch.nn.Module: ...

    @property
    def optimizer(self) -> torch.optim.Optimizer: ...

    def steps_per_epoch(self) -> int: ...

    def batches(self, epoch: int) -> Iterable[Any]: ...

    def train_step(self, batch: Any) -> float: ...

    def validate(self) -> dict[str, Any]: ...

    def extra_state(self) -> dict[str, torch.Tensor]: ...

    def load_extra_state(self, state: dict[str, torch.Tensor]) -> None: ...


@dataclass
class FitResult:
    best_epoch: int
    best_metric: float
    epochs_run: int
    stopped_early: bool
    best_metrics: dict[str, float]
    steps: int = 0


def resolve_device(name: str) -> torch.device:
    """``train.device``: ``auto`` = CUDA when torch sees a GPU, else CPU; otherwise any torch device string."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise LsecError(f"train.device: expected auto, cpu, cuda or cuda:N. Got {name!r} instead.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise LsecError(f"train.device is {name!r} but torch sees no CUDA device on this machine (use auto or cpu).")
    return device


def rng_to_tensor(rng: np.random.Generator) -> torch.Tensor:
    """A numpy generator's state as a uint8 tensor (JSON bytes), so ``last.pt`` loads with ``weights_only``."""
    return torch.frombuffer(bytearray(json.dumps(rng.bit_generator.state).encode()), dtype=torch.uint8).clone()


def rng_from_tensor(rng: np.random.Generator, state: torch.Tensor) -> None:
    """Restore the state written by :func:`rng_to_tensor` into ``rng`` (same bit generator type)."""
    rng.bit_generator.state = json.loads(bytes(state.tolist()).decode())


class Loop:
    """Train ``objective`` for ``epochs`` epochs with validation, early stopping, checkpoints and a log.

    Args:
        objective: see :class:`Objective`.
        epochs: maximum number of epochs; raised to ``ceil(min_steps / steps_per_epoch)`` when that is larger.
        eval_every: validate every N epochs (and after the last one).
        patience: stop after this many validations without improvement of ``metric``.
        metric: the name in ``validate()["metrics"]`` that early stopping and the best checkpoint follow
            (larger is better).
        min_delta: an evaluation improves only if it beats the best by more than this.
        min_steps: optimizer steps a run takes before early stopping may end it: on a dataset of a few
            thousand edges an epoch is one or two steps, and a patience counted in epochs would stop a model
            before it learned anything.
        validate: ``False`` trains the fixed budget without validation; the last weights are the best.
        run_dir: folder for ``log.jsonl`` and ``checkpoints/``; ``None`` keeps everything in memory.
        show_progress: tqdm bars.
        on_eval: callback ``(epoch, metrics)`` after each validation.
        on_epoch: callback ``(epoch) -> bool`` after each epoch (after validation); ``True`` stops training.
        distributed: this rank of a data-parallel run (:mod:`lsec.train.ddp`); ``None`` trains in one process.
            ``step`` then counts batches of all ranks together.
    """

    def __init__(
        self,
        objective: Objective,
        *,
        epochs: int,
        eval_every: int = 1,
        patience: int = 5,
        metric: str = "auc",
        min_delta: float = 0.0,
        min_steps: int = 0,
        validate: bool = True,
        run_dir: str | os.PathLike[str] | None = None,
        show_progress: bool = False,
        on_eval: Callable[[int, dict[str, float]], None] | None = None,
        on_epoch: Callable[[int], bool | None] | None = None,
        distributed: Distributed | None = None,
    ) -> None:
        if epochs < 0 or eval_every < 1 or patience < 1 or min_steps < 0:
            raise ValueError(
                "Loop needs epochs >= 0, eval_every >= 1, patience >= 1 and min_steps >= 0. "
                f"Got epochs={epochs}, eval_every={eval_every}, patience={patience}, min_steps={min_steps}."
            )
        self.objective = objective
        self.timer = StepTimer()
        objective.timer = self.timer
        self.steps_per_epoch = max(1, objective.steps_per_epoch())
        self.epochs = max(epochs, math.ceil(min_steps / self.steps_per_epoch)) if epochs > 0 else 0
        self.eval_every = eval_every
        self.patience = patience
        self.metric = metric
        self.min_delta = min_delta
        self.min_steps = min_steps
        self.validate_runs = validate
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.show_progress = show_progress
        self.on_eval = on_eval
        self.on_epoch = on_epoch
        self.best_state: dict[str, torch.Tensor] | None = None
        self.step = 0
        self.distributed = distributed
        self.is_main = distributed is None or distributed.is_main
        if distributed is not None and hasattr(objective, "distribute"):
            objective.distribute(distributed.rank, distributed.world_size)

    @property
    def model(self) -> torch.nn.Module:
        return self.objective.model

    # ---------------------------------------------------------------------------------------- epochs
    def run_epoch(self, epoch: int, *, max_steps: int | None = None) -> float:
        """One epoch of optimizer steps; returns the mean step loss. ``max_steps`` cuts it short (benchmarks)."""
        if self.distributed is not None:
            return self._run_epoch_distributed(epoch, self.distributed)
        objective = self.objective
        objective.model.train()
        total, count = 0.0, 0
        bar = tqdm(
            total=self.steps_per_epoch if max_steps is None else min(max_steps, self.steps_per_epoch),
            desc=f"epoch {epoch}",
            disable=not self.show_progress,
            leave=False,
        )
        for batch in objective.batches(epoch):
            if max_steps is not None and count >= max_steps:
                break
            objective.optimizer.zero_grad(set_to_none=True)
            loss = objective.train_step(batch)
            with self.timer("optimizer"):
                objective.optimizer.step()
            total += loss
            count += 1
            self.step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}")
        bar.close()
        return total / max(1, count)

    def _run_epoch_distributed(self, epoch: int, dist: Distributed) -> float:
        """:meth:`run_epoch` of one rank: its batches, averaged gradients, one step per round."""
        objective = self.objective
        objective.model.train()
        total, count = 0.0, 0
        rounds = dist.rounds(self.steps_per_epoch)
        bar = tqdm(total=rounds, desc=f"epoch {epoch}", disable=not (self.show_progress and self.is_main), leave=False)
        for number, batch in enumerate(dist.my_batches(objective.batches(epoch), self.steps_per_epoch)):
            dist.where = f"epoch {epoch}, round {number + 1}/{rounds}"
            objective.optimizer.zero_grad(set_to_none=True)
            loss = objective.train_step(batch) if batch is not None else 0.0
            with self.timer("all_reduce"):
                loss_sum, active = dist.average_gradients(objective.model, objective.optimizer, loss, batch is not None)
            with self.timer("optimizer"):
                objective.optimizer.step()
            total += loss_sum
            count += active
            self.step += active
            bar.update(1)
            bar.set_postfix(loss=f"{loss_sum / max(1, active):.4f}")
        bar.close()
        return total / max(1, count)

    def validate(self) -> dict[str, Any]:
        """``objective.validate()`` in eval mode without gradients."""
        self.objective.model.eval()
        with torch.no_grad():
            return self.objective.validate()

    def fit(self, *, start_epoch: int = 1, state: dict[str, Any] | None = None) -> FitResult:
        """Train until ``epochs`` or early stop; ``state`` carries the counters of a resumed run."""
        best = float(state["best_metric"]) if state else -math.inf
        best_epoch = int(state["best_epoch"]) if state else 0
        bad = int(state["bad_evals"]) if state else 0
        self.step = int(state.get("step", (start_epoch - 1) * self.steps_per_epoch)) if state else 0
        best_metrics: dict[str, float] = dict(state.get("best_metrics", {})) if state else {}
        started = time.perf_counter() - (float(state["elapsed"]) if state else 0.0)
        epoch = start_epoch - 1
        stopped = False
        outer = tqdm(
            range(start_epoch, self.epochs + 1),
            desc="train",
            disable=not (self.show_progress and self.is_main),
            unit="epoch",
        )
        dist = self.distributed
        if dist is not None and state is None:
            dist.broadcast_module(self.model)  # one starting point (a resumed run loads the same last.pt everywhere)
        for epoch in outer:
            loss = self.run_epoch(epoch)
            self._log(
                {
                    "event": "epoch",
                    "epoch": epoch,
                    "step": self.step,
                    "train_loss": loss,
                    "elapsed": round(time.perf_counter() - started, 3),
                    "timing": self.timer.pop(),
                }
            )
            if self.validate_runs and (epoch % self.eval_every == 0 or epoch == self.epochs) and self.is_main:
                with self.timer("validation"):
                    report = self.validate()
                metrics = dict(report.get("metrics", {}))
                value = float(metrics.get(self.metric, math.nan))
                self._log(
                    {
                        "event": "eval",
                        "epoch": epoch,
                        "step": self.step,
                        "split": "valid",
                        "train_loss": loss,
                        "metrics": metrics,
                        **{k: v for k, v in report.items() if k != "metrics"},
                        "elapsed": round(time.perf_counter() - started, 3),
                        "timing": self.timer.pop(),
                    }
                )
                if self.on_eval is not None:
                    self.on_eval(epoch, metrics)
                if value > best + self.min_delta:
                    best, best_epoch, bad, best_metrics = value, epoch, 0, metrics
                    self._save_best()
                else:
                    bad += 1
                outer.set_postfix({self.metric: f"{value:.4f}", "best": f"{best:.4f}"})
                stopped = bad >= self.patience and self.step >= self.min_steps
            elif not self.validate_runs and self.is_main:
                best_epoch = epoch
                self._save_best()
            if self.on_epoch is not None and self.on_epoch(epoch):
                stopped = True
            if dist is not None:
                dist.where = f"the end of epoch {epoch}"
                stopped = dist.decide(stopped)  # rank 0 validated
            self._save_last(epoch, best, best_epoch, bad, best_metrics, time.perf_counter() - started)
            if stopped:
                break
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        elif self.run_dir is not None and (self.run_dir / BEST_CHECKPOINT).is_file():
            self.model.load_state_dict(torch.load(self.run_dir / BEST_CHECKPOINT, weights_only=True))
        self.model.eval()
        return FitResult(best_epoch, best, epoch, stopped, best_metrics, self.step)

    # ------------------------------------------------------------------------------- checkpointing
    def _log(self, event: dict[str, Any]) -> None:
        if self.run_dir is None or not self.is_main:
            return
        with open(self.run_dir / LOG_FILE, "a") as fh:
            fh.write(json.dumps(event, default=_json_default) + "\n")

    def _save_best(self) -> None:
        self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        if self.run_dir is not None:
            _atomic_save({k: v.cpu() for k, v in self.best_state.items()}, self.run_dir / BEST_CHECKPOINT)

    def _save_last(
        self, epoch: int, best: float, best_epoch: int, bad: int, best_metrics: dict[str, float], elapsed: float
    ) -> None:
        if self.run_dir is None:
            return
        ranks: list[Any] = []
        if self.distributed is not None:  # every rank's generators, so a resume continues each rank's streams
            ranks = self.distributed.gather(
                {"torch_rng": torch.get_rng_state(), "objective": self.objective.extra_state()}
            )
            if not self.is_main:
                self.distributed.barrier()  # rank 0 writes; the others wait for the file
                return
        payload = {
            "model": self.model.state_dict(),
            "optimizer": self.objective.optimizer.state_dict(),
            "objective": self.objective.extra_state(),
            "epoch": torch.tensor(epoch),
            "step": torch.tensor(self.step),
            "best_metric": torch.tensor(best, dtype=torch.float64),
            "best_epoch": torch.tensor(best_epoch),
            "bad_evals": torch.tensor(bad),
            "best_metrics": {k: torch.tensor(float(v), dtype=torch.float64) for k, v in best_metrics.items()},
            "elapsed": torch.tensor(elapsed, dtype=torch.float64),
            "torch_rng": torch.get_rng_state(),
        }
        if ranks:
            payload["ranks"] = ranks
        _atomic_save(payload, self.run_dir / LAST_CHECKPOINT)
        if self.distributed is not None:
            self.distributed.barrier()

    def resume_state(self) -> tuple[int, dict[str, Any] | None]:
        """Load ``last.pt`` (if any) into model, optimizer and objective; returns (next epoch, counters)."""
        if self.run_dir is None or not (self.run_dir / LAST_CHECKPOINT).is_file():
            return 1, None
        path = self.run_dir / LAST_CHECKPOINT
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            self.model.load_state_dict(payload["model"])
            self.objective.optimizer.load_state_dict(payload["optimizer"])
            ranks = payload.get("ranks", [])
            dist = self.distributed
            if dist is not None and len(ranks) == dist.world_size:  # this rank's own generators
                payload["objective"], payload["torch_rng"] = (
                    ranks[dist.rank]["objective"],
                    ranks[dist.rank]["torch_rng"],
                )
            self.objective.load_extra_state(payload.get("objective", {}))
        except Exception as err:  # torch raises UnpicklingError, IndexError, RuntimeError... for damaged files
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise LsecError(
                f"{path}: cannot resume from this checkpoint (expected one written by this model and version; {first})."
            ) from None
        torch.set_rng_state(payload["torch_rng"])
        best_path = self.run_dir / BEST_CHECKPOINT
        if best_path.is_file():
            self.best_state = torch.load(best_path, map_location="cpu", weights_only=True)
        state: dict[str, Any] = {k: payload[k].item() for k in ("best_metric", "best_epoch", "bad_evals", "elapsed")}
        if "step" in payload:
            state["step"] = int(payload["step"])
        state["best_metrics"] = {k: float(v) for k, v in payload.get("best_metrics", {}).items()}
        return int(payload["epoch"]) + 1, state


def _atomic_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
