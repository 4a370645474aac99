"""Cost of seed-edge exclusion: LSEC-LightGCN training steps on lsec-small (scale 1.0) with and without it.

    .venv/bin/python benchmarks/lsec_data.py --scale 1.0 --influence 0.5 --out /tmp/lsec/s100   # once
    flock /tmp/lsec-cpu.lock .venv/bin/python benchmarks/seed_edge_exclusion.py --data /tmp/lsec/s100 --steps 8

Two trainers on the same data and recipe (``configs/lsec-lightgcn.yaml``: embedding 200, GNN 128 -> 64, batch
4096, K = 4), one with ``train.exclude_seed_edges=true``: each of its steps rebuilds the buy and follow graphs
without the step's positive pairs (:class:`lsec.graph.adjacency.EdgeExclusion`) before propagating. Steps are
``Trainer.train_epoch(r, max_steps=1)`` (one real step), interleaved round by round with the order alternating
so that contention hits both alike; round 0 is a warm-up left out of the medians. Prints the median wall and
process-CPU seconds per step of each side, the ratio, and the exclusion's own share (the ``propagation`` phase
includes the rebuild). Results: benchmarks/results/seed_edge_exclusion.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from lsec.config import load_config
from lsec.data.split import load_split
from lsec.train.runs import build_graphs, build_model, uses_self_loops
from lsec.train.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "seed_edge_exclusion.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    split = load_split(args.data)
    trainers = {}
    for name, flag in (("plain", "false"), ("exclusion", "true")):
        cfg = load_config(
            ROOT / "configs" / "lsec-lightgcn.yaml", [f"data.dataset={args.data}", f"train.exclude_seed_edges={flag}"]
        )
        torch.manual_seed(0)
        model = build_model(cfg, split.graph)
        graphs = build_graphs(split.train_graph(), model.relations, self_loops=uses_self_loops(model, cfg.model.name))
        trainers[name] = Trainer(model, split, graphs, cfg)
    wall: dict[str, list[float]] = {name: [] for name in trainers}
    cpu: dict[str, list[float]] = {name: [] for name in trainers}
    phases: dict[str, list[dict[str, float]]] = {name: [] for name in trainers}
    load = os.getloadavg()[0]
    for r in range(args.steps + 1):
        order = list(trainers) if r % 2 == 0 else list(reversed(trainers))
        for name in order:
            trainer = trainers[name]
            trainer.timer.pop()
            w, c = time.perf_counter(), time.process_time()
            trainer.train_epoch(1 + r, max_steps=1)
            w, c = time.perf_counter() - w, time.process_time() - c
            if r > 0:
                wall[name].append(w)
                cpu[name].append(c)
                phases[name].append(trainer.timer.pop())
    result = {
        "data": args.data,
        "steps": args.steps,
        "threads": args.threads,
        "load_average_start": load,
        "load_average_end": os.getloadavg()[0],
        "steps_per_epoch": trainers["plain"].steps_per_epoch(),
        **{
            name: {
                "wall_median_s": statistics.median(wall[name]),
                "cpu_median_s": statistics.median(cpu[name]),
                "propagation_median_s": statistics.median(p.get("propagation", 0.0) for p in phases[name]),
                "wall_s": wall[name],
            }
            for name in trainers
        },
    }
    result["wall_ratio"] = result["exclusion"]["wall_median_s"] / result["plain"]["wall_median_s"]
    result["cpu_ratio"] = result["exclusion"]["cpu_median_s"] / result["plain"]["cpu_median_s"]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k not in ("plain", "exclusion")}))
    for name in trainers:
        print(name, {k: round(v, 3) for k, v in result[name].items() if k != "wall_s"})


if __name__ == "__main__":
    main()
