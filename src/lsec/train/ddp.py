"""Data-parallel training with ``torch.distributed`` (DESIGN section 8): the one place a process group lives.

``torchrun --nproc-per-node 2 -m lsec train --config ... train.distributed=ddp`` starts one process per rank;
:func:`process_group` joins them (gloo on CPU, nccl when the ranks train on CUDA) and leaves the group when
training ends, and :class:`Distributed` is what :class:`~lsec.train.loop.Loop` uses during the run.

The batch rule (every engine, no change to single-process numbers)
    Every rank builds the epoch's full seeded batch sequence ``objective.batches(epoch)`` (the same on every
    rank: it comes from ``(seed, epoch)``) and trains batch ``b`` when ``b % world_size == rank``: rank 0 takes
    batches 0, W, 2W, ..., rank 1 batches 1, W+1, ... The ranks' batches are disjoint and together cover the
    epoch. An epoch is ``ceil(S / W)`` rounds; in the last round a rank without a batch contributes no
    gradient. An objective whose batch order comes from a generator it advances itself (the BPR engine) has a
    ``distribute(rank, world_size)`` method that switches to an order drawn from ``(seed, epoch)``.

One optimizer step per round
    each rank fills its gradients from its own batch; :meth:`Distributed.average_gradients` sums them over the
    ranks (one all-reduce of a flat buffer) and divides by the number of ranks that had a batch; every rank
    then takes the same optimizer step, so parameters and optimizer state stay identical on every rank.
    Objectives whose forward is not a module call (BPR writes its gradient out) are covered the same way. The
    learning rate of the step is rank 0's (schedules keyed on a step counter agree). The loop counts steps as
    batches consumed (``min_steps`` and the epoch budget mean the same data as in one process).

Rank 0 validates, logs and writes checkpoints; the others wait at a barrier. ``last.pt`` also keeps every
rank's random-generator states, so ``--resume`` under the same number of ranks continues bit for bit.
A worker that dies (killed, out of memory) makes the next collective of the survivors fail: they raise
:class:`WorkerLost` (one line: what happened and how to resume) and torchrun ends the job.
"""

from __future__ import annotations

import contextlib
import datetime
import math
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from lsec.errors import LsecError

T = TypeVar("T")
DISTRIBUTED = ("none", "ddp")
TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


class WorkerLost(LsecError):
    """A collective failed because another rank is gone; the run can continue with ``--resume``."""


@dataclass
class Distributed:
    """This process's place in the group and the collectives the loop needs."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device
    where: str = "start"  # "epoch E step S": said when a peer is lost

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # ------------------------------------------------------------------------------------- batches
    def rounds(self, steps_per_epoch: int) -> int:
        """Optimizer steps per epoch: ``ceil(S / W)``."""
        return max(1, math.ceil(steps_per_epoch / self.world_size))

    def my_batches(self, batches: Iterable[T], steps_per_epoch: int) -> Iterator[T | None]:
        """This rank's batch of every round (``None`` when the last round has none for it); see the module doc."""
        iterator = iter(batches)
        for _ in range(self.rounds(steps_per_epoch)):
            mine: T | None = None
            for rank in range(self.world_size):
                batch = next(iterator, None)
                if rank == self.rank:
                    mine = batch
            yield mine

    # --------------------------------------------------------------------------------- collectives
    def average_gradients(
        self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss: float, active: bool
    ) -> tuple[float, int]:
        """Average ``model``'s gradients over the ranks that had a batch; returns (sum of their losses, count).

        A parameter keeps ``grad=None`` when no rank produced a gradient for it (as in one process). The
        optimizer's learning rates become rank 0's.
        """
        params = [p for p in model.parameters() if p.requires_grad]
        groups = optimizer.param_groups
        head = torch.tensor(
            [loss if active else 0.0, 1.0 if active else 0.0]
            + [float(g["lr"]) if self.is_main else 0.0 for g in groups]
            + [0.0 if p.grad is None else 1.0 for p in params],
            dtype=torch.float64,
            device=self.device,
        )
        grads = [torch.zeros_like(p).flatten() if p.grad is None else p.grad.detach().flatten() for p in params]
        flat = torch.cat(grads) if grads else torch.zeros(0, device=self.device)
        self._all_reduce(head)
        self._all_reduce(flat)
        loss_sum, count = float(head[0]), int(round(float(head[1])))
        for group, lr in zip(groups, head[2 : 2 + len(groups)].tolist(), strict=True):
            group["lr"] = lr
        has_grad = head[2 + len(groups) :]
        offset = 0
        for param, seen in zip(params, has_grad.tolist(), strict=True):
            n = param.numel()
            if seen > 0:
                param.grad = (flat[offset : offset + n] / max(1, count)).view_as(param).to(param.dtype)
            else:
                param.grad = None
            offset += n
        return loss_sum, count

    def broadcast_module(self, module: torch.nn.Module) -> None:
        """Rank 0's parameters and buffers on every rank (a fresh run starts from one model)."""
        for tensor in [*module.parameters(), *module.buffers()]:
            self._call(torch.distributed.broadcast, tensor.data, src=0)

    def decide(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank (early stopping)."""
        value = torch.tensor([1 if flag else 0], device=self.device)
        self._call(torch.distributed.broadcast, value, src=0)
        return bool(value.item())

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (picklable), in rank order, on every rank."""
        out: list[Any] = [None] * self.world_size
        self._call(torch.distributed.all_gather_object, out, obj)
        return out

    def barrier(self) -> None:
        if self.backend == "nccl":
            self._call(torch.distributed.barrier, device_ids=[self.device.index or 0])
        else:
            self._call(torch.distributed.barrier)

    def _all_reduce(self, tensor: torch.Tensor) -> None:
        self._call(torch.distributed.all_reduce, tensor)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RuntimeError as err:  # DistBackendError / gloo "Connection closed by peer" / timeouts
            first = re.sub(r"\[[^\]]*\.(cc|cpp):\d+\]\s*", "", (str(err).strip().splitlines() or [""])[0])
            first = first.split(". ")[0][:120] or type(err).__name__
            raise WorkerLost(
                f"rank {self.rank}: lost the other workers at {self.where} ({first}). The job stops here; "
                "continue it from the last checkpoint with the same torchrun command and --resume."
            ) from None


def launched_by_torchrun() -> bool:
    return all(name in os.environ for name in TORCHRUN_ENV)


@contextmanager
def process_group(mode: str, device: torch.device) -> Iterator[Distributed | None]:
    """Join the torchrun group for ``train.distributed=ddp`` (``None`` for ``none``) and leave it at the end.

    The backend is nccl when ``device`` is CUDA (each rank on ``cuda:LOCAL_RANK``), gloo otherwise.
    """
    if mode not in DISTRIBUTED:
        raise LsecError(f"train.distributed must be one of {', '.join(DISTRIBUTED)}. Got {mode!r} instead.")
    if mode == "none":
        yield None
        return
    if not launched_by_torchrun():
        raise LsecError(
            "train.distributed=ddp needs the environment torchrun sets (RANK, WORLD_SIZE, MASTER_ADDR...): start "
            "it as `torchrun --nproc-per-node 2 -m lsec train ... train.distributed=ddp`."
        )
    if not torch.distributed.is_available():
        raise LsecError("train.distributed=ddp: this torch build has no torch.distributed.")
    rank, world, local = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    timeout = datetime.timedelta(seconds=float(os.environ.get("LSEC_DDP_TIMEOUT", "1800")))
    try:
        torch.distributed.init_process_group(backend, timeout=timeout)
    except (RuntimeError, ValueError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise LsecError(f"train.distributed=ddp: rank {rank} could not join the process group ({first}).") from None
    try:
        yield Distributed(rank, world, local, backend, device)
    finally:
        with contextlib.suppress(Exception):  # a group broken by a lost worker cannot be torn down cleanly
            torch.distributed.destroy_process_group()


def threads_per_rank(num_threads: int) -> int:
    """``train.num_threads`` of one rank: the configured value, else the machine's cores shared by local ranks."""
    if num_threads:
        return num_threads
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, (os.cpu_count() or 1) // max(1, local_world))
