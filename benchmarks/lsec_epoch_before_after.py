"""LSEC-LightGCN training step and epoch on lsec-small (scale 1.0): before vs after the fast-engine propagation.

    .venv/bin/python benchmarks/lsec_data.py --scale 1.0 --influence 0.5 --out /tmp/lsec/s100   # once
    flock /tmp/lsec-cpu.lock .venv/bin/python benchmarks/lsec_epoch_before_after.py --data /tmp/lsec/s100 --steps 8

What is compared, in one process, on the same data, config and trainer code:

- ``before``: the foundation's :func:`propagate` (commit f8d379b, the last one before 678d294 "Fast engine"):
  ``adjacency.matrix @ x`` on an int64-index CSR tensor, with autograd's generic sparse backward (which
  builds ``A^T`` at every call). It is patched into the conv modules (``lsec.nn.conv.lightgcn`` and
  ``lsec.nn.conv.gcn`` import ``propagate`` by name) for the ``before`` steps only;
- ``after``: :func:`lsec.graph.adjacency.propagate` as it is in the working tree (int32 CSR, one-product
  custom backward, no zero-filled output).

Everything else (``lsec train``'s :class:`Trainer`, slides' recipe ``configs/lsec-lightgcn.yaml``: embedding 200,
GNN 128 -> 64, batch 4096, K = 4, lr 5e-4) is the current code for both, so the difference is the propagation
work alone. Each side has its own model and optimizer (same seed). Steps are ``Trainer.train_epoch(r,
max_steps=1)`` (one real training step: encode, sampling, scoring, loss, backward, Adam), interleaved round by
round with the order alternating, so contention hits both alike; round 0 is a warm-up and is left out of the
medians. Then ``--validations`` validation passes per side (interleaved). The epoch estimate is
``steps_per_epoch x median step + median validation`` (wall and process-CPU seconds; CPU counts all threads).
Results: benchmarks/results/lsec_epoch_before_after.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

import lsec.nn.conv.gcn as conv_gcn
import lsec.nn.conv.lightgcn as conv_lightgcn
from lsec.config import load_config
from lsec.data.split import load_split
from lsec.graph.adjacency import BipartiteAdjacency, propagate
from lsec.train.runs import build_graphs, build_model, uses_self_loops
from lsec.train.trainer import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from propagation_lsec import old_propagate  # noqa: E402  (the foundation's propagate, shared with that benchmark)

ROOT = Path(__file__).resolve().parents[1]
BEFORE_COMMIT = "f8d379b"  # parent of 678d294, the fast-engine commit


VARIANTS: dict[str, Callable[[BipartiteAdjacency, torch.Tensor], torch.Tensor]] = {
    "before": old_propagate,
    "after": propagate,
}


def use(name: str) -> None:
    conv_lightgcn.propagate = VARIANTS[name]  # type: ignore[assignment]
    conv_gcn.propagate = VARIANTS[name]  # type: ignore[assignment]


def git_state() -> dict[str, object]:
    def run(*cmd: str) -> str:
        return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    watched = ["src/lsec/graph/adjacency.py", "src/lsec/nn/conv/lightgcn.py", "src/lsec/train/trainer.py"]
    return {"head": run("rev-parse", "--short", "HEAD"), "modified": run("status", "--short", "--", *watched)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("/tmp/lsec/s100"))
    parser.add_argument("--recipe", default="lsec-lightgcn")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per side (after one warm-up step)")
    parser.add_argument("--validations", type=int, default=1, help="timed validation passes per side")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--results", type=Path, default=ROOT / "benchmarks" / "results" / "lsec_epoch_before_after.json"
    )
    parser.add_argument("overrides", nargs="*", help="dotted config overrides, e.g. train.batch_size=2048")
    args = parser.parse_args()
    if not (args.data / "splits").is_dir():
        raise SystemExit(
            f"{args.data}: no split folder. Make the data first: "
            f".venv/bin/python benchmarks/lsec_data.py --scale 1.0 --influence 0.5 --out {args.data}"
        )

    cfg = load_config(
        ROOT / "configs" / f"{args.recipe}.yaml",
        [f"data.dataset={args.data}", f"train.num_threads={args.threads}", *args.overrides],
    )
    torch.set_num_threads(args.threads)
    load_avg_start = os.getloadavg()
    split = load_split(args.data, name=cfg.data.split)
    trainers: dict[str, Trainer] = {}
    graphs = None
    for name in VARIANTS:
        torch.manual_seed(cfg.train.seed)
        model = build_model(cfg, split.graph)
        if graphs is None:
            graphs = build_graphs(
                split.train_graph(),
                model.relations,
                self_loops=uses_self_loops(model, cfg.model.name),
                sell_min_weight=cfg.data.sell_min_weight,
            )
        trainers[name] = Trainer(model, split, graphs, cfg)
    assert graphs is not None

    # Same model values on both sides: the two propagations must give the same encode and gradients.
    check = trainers["after"].model
    outputs = {}
    for name in VARIANTS:
        use(name)
        check.zero_grad(set_to_none=True)
        enc = check.encode(graphs)
        sum((v * v).mean() for v in enc.values()).backward()  # type: ignore[union-attr]
        grads = [p.grad.clone() for p in check.parameters() if p.grad is not None]
        outputs[name] = ([v.detach() for v in enc.values()], grads)
    check.zero_grad(set_to_none=True)
    max_diff = max(
        float((a - b).abs().max())
        for side_a, side_b in zip(outputs["before"], outputs["after"])
        for a, b in zip(side_a, side_b)
    )
    del outputs

    steps: dict[str, dict[str, list[float]]] = {n: {"wall": [], "cpu": []} for n in VARIANTS}
    phases: dict[str, dict[str, list[float]]] = {n: {} for n in VARIANTS}
    names = list(VARIANTS)
    for r in range(args.steps + 1):
        for name in names if r % 2 == 0 else names[::-1]:
            use(name)
            trainer = trainers[name]
            trainer.timer.pop()
            wall, cpu = time.perf_counter(), time.process_time()
            trainer.train_epoch(1 + r, max_steps=1)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            split_phases = trainer.timer.pop()
            if r == 0:
                continue  # warm-up (first touch of buffers, int64 copies of the matrices for "before")
            steps[name]["wall"].append(wall)
            steps[name]["cpu"].append(cpu)
            for phase, seconds in split_phases.items():
                phases[name].setdefault(phase, []).append(seconds)
        print(json.dumps({"round": r, **{n: round(steps[n]["wall"][-1], 3) for n in names if r}}), flush=True)

    validations: dict[str, dict[str, list[float]]] = {n: {"wall": [], "cpu": []} for n in VARIANTS}
    for r in range(args.validations):
        for name in names if r % 2 == 0 else names[::-1]:
            use(name)
            wall, cpu = time.perf_counter(), time.process_time()
            trainers[name].validate()
            validations[name]["wall"].append(time.perf_counter() - wall)
            validations[name]["cpu"].append(time.process_time() - cpu)
            trainers[name].timer.pop()
    use("after")

    steps_per_epoch = trainers["after"].steps_per_epoch()
    sides: dict[str, dict[str, object]] = {}
    for name in VARIANTS:
        step_wall = statistics.median(steps[name]["wall"])
        step_cpu = statistics.median(steps[name]["cpu"])
        val_wall = statistics.median(validations[name]["wall"])
        val_cpu = statistics.median(validations[name]["cpu"])
        sides[name] = {
            "step_wall_s": [round(s, 3) for s in steps[name]["wall"]],
            "step_cpu_s": [round(s, 3) for s in steps[name]["cpu"]],
            "median_step_wall_s": step_wall,
            "median_step_cpu_s": step_cpu,
            "step_phase_median_wall_s": {k: round(statistics.median(v), 3) for k, v in phases[name].items()},
            "validation_wall_s": validations[name]["wall"],
            "validation_cpu_s": validations[name]["cpu"],
            "estimated_epoch_wall_s": steps_per_epoch * step_wall + val_wall,
            "estimated_epoch_cpu_s": steps_per_epoch * step_cpu + val_cpu,
        }
    before, after = sides["before"], sides["after"]
    report = {
        "mode": f"{args.steps} timed steps per side (+1 warm-up) and {args.validations} validation(s), interleaved",
        "machine": {
            "threads": args.threads,
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "load_average_start": load_avg_start,
            "load_average_end": os.getloadavg(),
        },
        "git": git_state(),
        "before_commit": BEFORE_COMMIT,
        "recipe": args.recipe,
        "dataset": str(args.data),
        "overrides": args.overrides,
        "train_edges": {rel[1]: len(t) for rel, t in split.train_graph().items()},
        "adjacency_nnz": {name: a.num_edges for name, a in graphs.items()},
        "steps_per_epoch": steps_per_epoch,
        "max_abs_diff_encode_and_grads_before_vs_after": max_diff,
        "before": before,
        "after": after,
        "speedup": {
            key: float(before[key]) / float(after[key])  # type: ignore[arg-type]
            for key in ("median_step_wall_s", "median_step_cpu_s", "estimated_epoch_wall_s", "estimated_epoch_cpu_s")
        },
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
