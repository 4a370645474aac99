"""Training speed of LSEC-GNN: epoch time, where it goes, and time to early stop.

Trains a recipe (default LSEC-LightGCN) on a dataset with a split (benchmarks/lsec_data.py writes one) and
reports, from the run's log.jsonl, the wall time of every epoch split into phases (propagation = the
full-graph encode of each step, sampling = negatives, scoring = pair logits + loss, backward, optimizer,
and validation = encode + candidate scoring + metrics), plus the time to early stop when it happens
within --epochs. Raw figures go to benchmarks/results/lsec_train_speed.json.

    .venv/bin/python benchmarks/lsec_data.py --scale 1.0 --out /tmp/lsec/s100
    .venv/bin/python benchmarks/lsec_train_speed.py --data /tmp/lsec/s100 --epochs 3 --threads 2
    .venv/bin/python benchmarks/lsec_train_speed.py --data /tmp/lsec/s100 --steps 5 --threads 2   # quick estimate

``--steps N`` times N training steps and one validation pass instead of whole epochs, and estimates an
epoch as ``steps_per_epoch * median step + validation`` (said so in the output).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import time
from pathlib import Path

import torch

from lsec.config import load_config
from lsec.train.runs import read_log, read_run_info
from lsec.train.trainer import train_run

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--recipe", default="lsec-lightgcn")
    parser.add_argument("--epochs", type=int, default=3, help="maximum epochs (early stopping may end sooner)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("/tmp/lsec/speed-run"))
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "lsec_train_speed.json")
    parser.add_argument("--steps", type=int, default=0, help="time this many steps + one validation, then estimate")
    parser.add_argument("overrides", nargs="*", help="dotted config overrides, e.g. train.patience=3")
    args = parser.parse_args()
    if args.steps:
        return estimate_from_steps(args)

    shutil.rmtree(args.out, ignore_errors=True)
    cfg = load_config(
        ROOT / "configs" / f"{args.recipe}.yaml",
        [
            f"data.dataset={args.data}",
            f"train.epochs={args.epochs}",
            f"train.num_threads={args.threads}",
            *args.overrides,
        ],
    )
    started = time.perf_counter()
    result = train_run(cfg, args.out, show_progress=True)
    wall = time.perf_counter() - started
    events = read_log(args.out)
    epochs = [e for e in events if e["event"] == "epoch"]
    evals = [e for e in events if e["event"] == "eval"]
    phases: dict[str, list[float]] = {}
    for e in epochs + evals:
        for phase, seconds in e.get("timing", {}).items():
            phases.setdefault(phase, []).append(seconds)
    epoch_seconds = [e["elapsed"] for e in epochs]
    epoch_seconds = [b - a for a, b in zip([0.0, *epoch_seconds[:-1]], epoch_seconds)]
    info = read_run_info(args.out)
    report = {
        "machine": {"cpus": torch.get_num_threads(), "platform": platform.platform(), "torch": torch.__version__},
        "recipe": args.recipe,
        "dataset": str(args.data),
        "overrides": args.overrides,
        "steps_per_epoch": info.get("steps_per_epoch"),
        "num_parameters": info.get("num_parameters"),
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        "best_epoch": result.best_epoch,
        "best_valid": result.best_metrics,
        "wall_seconds_total": round(wall, 1),
        "epoch_plus_eval_seconds": [round(s, 1) for s in epoch_seconds],
        "median_epoch_plus_eval_seconds": round(statistics.median(epoch_seconds), 1),
        "phase_median_seconds_per_epoch": {k: round(statistics.median(v), 2) for k, v in phases.items()},
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


def estimate_from_steps(args: argparse.Namespace) -> None:
    from lsec.data.split import load_split
    from lsec.train.runs import build_graphs, build_model, uses_self_loops
    from lsec.train.trainer import Trainer

    cfg = load_config(
        ROOT / "configs" / f"{args.recipe}.yaml",
        [f"data.dataset={args.data}", f"train.num_threads={args.threads}", *args.overrides],
    )
    torch.set_num_threads(args.threads)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    split = load_split(args.data)
    timings["load_split"] = time.perf_counter() - start
    torch.manual_seed(0)
    model = build_model(cfg, split.graph)
    start = time.perf_counter()
    graphs = build_graphs(split.train_graph(), model.relations, self_loops=uses_self_loops(model, cfg.model.name))
    timings["build_graphs"] = time.perf_counter() - start
    trainer = Trainer(model, split, graphs, cfg, show_progress=True)
    step_seconds, step_cpu = [], []
    phases: dict[str, list[float]] = {}
    load_before = os.getloadavg()
    for step in range(args.steps):
        start, cpu = time.perf_counter(), time.process_time()
        trainer.train_epoch(1 + step, max_steps=1)
        step_seconds.append(time.perf_counter() - start)
        step_cpu.append(time.process_time() - cpu)
        for phase, seconds in trainer.timer.pop().items():
            phases.setdefault(phase, []).append(seconds)
    start, cpu = time.perf_counter(), time.process_time()
    trainer.validate()
    validation = time.perf_counter() - start
    validation_cpu = time.process_time() - cpu
    validation_phases = trainer.timer.pop()
    steps = trainer.steps_per_epoch()
    median_step = statistics.median(step_seconds[1:] or step_seconds)  # the first step warms caches up
    median_cpu = statistics.median(step_cpu[1:] or step_cpu)
    report = {
        "mode": f"estimate from {args.steps} timed steps + 1 validation (not a full epoch)",
        "machine": {"threads": args.threads, "platform": platform.platform(), "torch": torch.__version__},
        "recipe": args.recipe,
        "dataset": str(args.data),
        "overrides": args.overrides,
        "train_edges": {rel[1]: len(t) for rel, t in split.train_graph().items()},
        "steps_per_epoch": steps,
        "step_seconds": [round(s, 2) for s in step_seconds],
        "median_step_seconds": round(median_step, 2),
        "step_cpu_seconds": [round(s, 2) for s in step_cpu],
        "median_step_cpu_seconds": round(median_cpu, 2),
        "validation_cpu_seconds": round(validation_cpu, 1),
        "estimated_epoch_cpu_seconds": round(steps * median_cpu + validation_cpu, 1),
        "load_average_before_after": [round(load_before[0], 1), round(os.getloadavg()[0], 1)],
        "step_phase_median_seconds": {k: round(statistics.median(v), 3) for k, v in phases.items()},
        "validation_seconds": round(validation, 1),
        "validation_phases": validation_phases,
        "estimated_epoch_seconds": round(steps * median_step + validation, 1),
        "setup_seconds": {k: round(v, 1) for k, v in timings.items()},
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
