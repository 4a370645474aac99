"""Data-parallel training (issue 16.3, :mod:`lsec.train.ddp`): two gloo ranks forked from the test process.

Forking (not torchrun) keeps each run to the training itself; ``lsec train`` under torchrun uses the same
``train_run`` with the environment set here (RANK, WORLD_SIZE, MASTER_ADDR...).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from lsec.config import Config, apply_overrides
from lsec.errors import LsecConfigError, LsecError
from lsec.train.ddp import Distributed
from lsec.train.loop import LAST_CHECKPOINT, Loop, StepTimer
from lsec.train.runs import read_log
from lsec.train.trainer import train_run

WORLD = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _child(rank: int, port: int, out: Path, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD), LOCAL_WORLD_SIZE=str(WORLD),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), LSEC_DDP_TIMEOUT="60",
    )  # fmt: skip
    torch.set_num_threads(1)
    try:
        result = {"ok": fn(rank, *args)}
    except LsecError as err:
        result = {"error": str(err)}
    (out / f"rank{rank}.json").write_text(json.dumps(result))


def run_ranks(fn: Callable[..., Any], out: Path, *args: Any, timeout: float = 120) -> list[dict[str, Any]]:
    """``fn(rank, *args)`` in WORLD processes; each one's ``{"ok": value}`` / ``{"error": msg}`` (``{}``: died).

    Processes come from a forkserver that has imported torch and lsec once (a plain fork of the test process,
    whose torch threads may hold locks, can deadlock; spawn would import everything per rank).
    """
    out.mkdir(parents=True, exist_ok=True)
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "lsec.train.trainer", "tests.train.test_ddp"])
    port = free_port()
    procs = [ctx.Process(target=_child, args=(rank, port, out, fn, args)) for rank in range(WORLD)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout)
    for proc in procs:
        if proc.is_alive():
            proc.kill()
            pytest.fail("a rank hung")
    return [json.loads(p.read_text()) if (p := out / f"rank{r}.json").is_file() else {} for r in range(WORLD)]


# ------------------------------------------------------------------ the batch rule: disjoint, covering
def rank_view(rank: int) -> Distributed:
    return Distributed(rank, WORLD, rank, "gloo", torch.device("cpu"))


@pytest.mark.parametrize("steps", [4, 5])
def test_ranks_draw_disjoint_batches_that_cover_the_epoch(board_dataset: Path, steps: int) -> None:
    from lsec.train.bpr import BPRConfig, BprObjective
    from lsec.train.gtr import GtrObjective

    # GTR: the epoch's seeded permutation of the training rows, in batches
    gtr = SimpleNamespace(train_rows=np.arange(100, 100 + 9 * steps), seed=3, batch_size=9)
    gtr.steps_per_epoch = lambda: steps
    # BPR: distribute() switches the order to (seed, epoch); negatives per rank
    model = SimpleNamespace(parameters=lambda: iter([torch.zeros(1)]), num_items=50)
    users, items = np.repeat(np.arange(20), 2), np.arange(40) % 50
    for epoch in (1, 2):
        seen_gtr = [
            np.concatenate(
                [b for b in rank_view(r).my_batches(GtrObjective.batches(gtr, epoch), steps) if b is not None]
            )
            for r in range(WORLD)
        ]
        assert not set(seen_gtr[0]) & set(seen_gtr[1])
        assert sorted(np.concatenate(seen_gtr)) == list(gtr.train_rows)
        assert len(seen_gtr[0]) == 9 * ((steps + 1) // 2)  # rank 0 takes batches 0, 2, 4...
        seen_bpr = []
        for r in range(WORLD):
            bpr = BprObjective(model, None, users, items, BPRConfig(batch_size=40 // steps + 1, epochs=3, seed=5))  # type: ignore[arg-type]
            bpr.distribute(r, WORLD)
            for past in range(1, epoch):  # earlier epochs advance no shared stream
                list(bpr.batches(past))
            chosen = rank_view(r).my_batches(bpr.batches(epoch), bpr.steps_per_epoch())
            seen_bpr.append(np.concatenate([b for b in chosen if b is not None]))
        assert not set(seen_bpr[0]) & set(seen_bpr[1])
        assert sorted(np.concatenate(seen_bpr)) == list(range(40))


def test_lsec_ranks_take_disjoint_positives(board_dataset: Path) -> None:
    from lsec.data.split import load_split
    from lsec.train.lsec import LsecObjective
    from lsec.train.runs import build_graphs, build_model

    cfg = apply_overrides(
        Config(), ["model.name=lsec-lightgcn", "train.batch_size=64", f"data.dataset={board_dataset}"]
    )
    split = load_split(board_dataset)
    model = build_model(cfg, split.graph)
    objective = LsecObjective(model, split, build_graphs(split.train_graph(), model.relations, self_loops=False), cfg)
    steps = objective.steps_per_epoch()
    assert steps >= 3
    buy = objective.tasks[0]
    per_step = -(-len(buy.users) // steps)
    pairs = []
    for r in range(WORLD):
        taken = [
            b.orders["buy"][b.step * per_step : (b.step + 1) * per_step]
            for b in rank_view(r).my_batches(objective.batches(1), steps)
            if b is not None
        ]
        pairs.append(np.concatenate(taken))
    assert not set(pairs[0]) & set(pairs[1])
    assert sorted(np.concatenate(pairs)) == list(range(len(buy.users)))


# ------------------------------------------------------- gradients averaged; checkpoint = rank 0's model
class Regression:
    """Least squares on fixed data, plain SGD: the DDP update has a closed form to check against."""

    def __init__(self, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(0)  # the data: the same everywhere
        self.x = torch.randn(50, 3, generator=gen, dtype=torch.float64)
        noise = 0.1 * torch.randn(50, generator=gen, dtype=torch.float64)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) + noise
        self.model = torch.nn.Linear(3, 1).double()
        with torch.no_grad():  # the starting weights: from ``seed``
            for param in self.model.parameters():
                param.copy_(
                    torch.randn(param.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
                )
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1)
        self.timer = StepTimer()

    def steps_per_epoch(self) -> int:
        return 5  # odd: the last round of 2 ranks has one batch

    def batches(self, epoch: int) -> list[np.ndarray]:
        return np.array_split(np.random.default_rng([0, epoch]).permutation(50), 5)

    def loss(self, batch: np.ndarray) -> torch.Tensor:
        index = torch.from_numpy(batch)
        return ((self.model(self.x[index]).squeeze(-1) - self.y[index]) ** 2).mean()

    def train_step(self, batch: np.ndarray) -> float:
        loss = self.loss(batch)
        loss.backward()
        return float(loss.detach())

    def validate(self) -> dict[str, Any]:
        return {"metrics": {}}

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {}

    def load_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        return None


def _fit_regression(rank: int, run: Path) -> list[float]:
    from lsec.train.ddp import process_group

    objective = Regression(seed=rank)  # different starting weights: rank 0's are broadcast
    with process_group("ddp", torch.device("cpu")) as dist:
        Loop(objective, epochs=3, validate=False, run_dir=run, distributed=dist).fit()
    return [float(v) for v in torch.cat([p.detach().flatten() for p in objective.model.parameters()])]


def test_ddp_averages_gradients_and_rank0_checkpoint_is_the_model(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    results = run_ranks(_fit_regression, tmp_path / "out", run)
    assert results[0]["ok"] == results[1]["ok"]  # identical replicas
    # reference: rounds of (batch 2k, batch 2k+1), the gradient of the mean of their losses, one SGD step
    ref = Regression(seed=0)
    for epoch in (1, 2, 3):
        batches = ref.batches(epoch)
        for first in range(0, 5, 2):
            ref.optimizer.zero_grad()
            group = batches[first : first + 2]
            (sum(ref.loss(b) for b in group) / len(group)).backward()
            ref.optimizer.step()
    expected = torch.cat([p.detach().flatten() for p in ref.model.parameters()])
    torch.testing.assert_close(torch.tensor(results[0]["ok"], dtype=torch.float64), expected, rtol=0, atol=1e-12)
    # one process on the same batches takes 5 steps per epoch: another model (the check can fail)
    single = Regression(seed=0)
    Loop(single, epochs=3, validate=False).fit()
    assert not torch.allclose(torch.cat([p.detach().flatten() for p in single.model.parameters()]), expected)
    # the checkpoint rank 0 wrote is that model, and a reload in one process gives it back
    reload = Regression(seed=9)
    loop = Loop(reload, epochs=3, validate=False, run_dir=run)
    assert loop.resume_state()[0] == 4
    torch.testing.assert_close(torch.cat([p.detach().flatten() for p in reload.model.parameters()]), expected)
    assert len(torch.load(run / LAST_CHECKPOINT, weights_only=True)["ranks"]) == WORLD
    assert [e["step"] for e in read_log(run) if e["event"] == "epoch"] == [5, 10, 15]  # batches of all ranks


# ------------------------------------------------------------------------ kill one worker, then resume
FAST = ["model.name=lsec-lightgcn", "train.lr=0.003", "train.batch_size=64", "train.num_threads=1"]


def ddp_config(dataset: Path) -> Config:
    extra = [*FAST, "model.hparams.embedding_dim=16", "train.epochs=5", "train.distributed=ddp"]
    return apply_overrides(Config(), [f"data.dataset={dataset}", *extra])


def _train(rank: int, dataset: Path, run: Path, resume: bool, die_at_step: int) -> float:
    """``train_run`` of one rank; rank 1 kills itself (SIGKILL) at its ``die_at_step``-th batch when > 0."""
    if die_at_step and rank == 1:
        from lsec.train.lsec import LsecObjective

        original, calls = LsecObjective.train_step, [0]

        def dying(self, batch):  # type: ignore[no-untyped-def]
            calls[0] += 1
            if calls[0] == die_at_step:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(self, batch)

        LsecObjective.train_step = dying  # type: ignore[method-assign]  # this rank's process only
    return train_run(ddp_config(dataset), run, resume=resume).best_metric


def test_killed_worker_stops_the_job_and_resume_loses_nothing(board_dataset: Path, tmp_path: Path) -> None:
    reference = run_ranks(_train, tmp_path / "o1", board_dataset, tmp_path / "full", False, 0)
    assert all("ok" in r for r in reference), reference
    # epoch 4 of 5 (2-3 batches per rank and epoch), mid-epoch
    broken = run_ranks(_train, tmp_path / "o2", board_dataset, tmp_path / "cut", False, 8)
    assert broken[1] == {}  # killed
    assert "rank 0: lost the other workers" in broken[0]["error"] and "--resume" in broken[0]["error"]
    assert "\n" not in broken[0]["error"]
    assert json.loads((tmp_path / "cut" / "run.json").read_text())["status"] == "interrupted"
    last = torch.load(tmp_path / "cut" / LAST_CHECKPOINT, weights_only=True)
    assert 1 <= int(last["epoch"]) < 5

    again = run_ranks(_train, tmp_path / "o3", board_dataset, tmp_path / "cut", True, 0)
    assert again[0]["ok"] == reference[0]["ok"]
    evals = [
        {e["epoch"]: e["metrics"] for e in read_log(tmp_path / r) if e["event"] == "eval"} for r in ("full", "cut")
    ]
    assert evals[1] == evals[0] and len(evals[0]) == 5  # every epoch's validation (resumed ones last) as uninterrupted
    full_model = torch.load(tmp_path / "full" / LAST_CHECKPOINT, weights_only=True)["model"]
    cut_model = torch.load(tmp_path / "cut" / LAST_CHECKPOINT, weights_only=True)["model"]
    for key in full_model:
        torch.testing.assert_close(cut_model[key], full_model[key], rtol=0, atol=0)


def test_distributed_setting_is_validated(board_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(LsecConfigError, match="train.distributed must be none or ddp"):
        apply_overrides(Config(), ["train.distributed=horovod"])
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(LsecError, match="torchrun --nproc-per-node 2 -m lsec train"):
        train_run(ddp_config(board_dataset), tmp_path / "r")
    assert not (tmp_path / "r").exists()
