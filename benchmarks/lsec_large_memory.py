"""Peak memory of LSEC-LightGCN training on lsec-large (scale 1.0, ~10.4 million edges): target <= 8 GiB.

    nice -n 19 .venv/bin/python benchmarks/lsec_data.py --preset lsec-large --scale 1.0 --influence 0.5 \\
        --out /tmp/lsec/large                                              # once (~1 GiB on disk)
    nice -n 19 .venv/bin/python benchmarks/lsec_large_memory.py --data /tmp/lsec/large --steps 10 --threads 2

Does what ``lsec train --config configs/lsec-lightgcn.yaml`` does (slides' settings: embedding 200, GNN
128 -> 64, batch 4096, K = 4, lr 5e-4; same ``load_split`` / ``build_model`` / ``build_graphs`` / ``Trainer``
calls as ``lsec.train.trainer.train_run``), for ``--steps`` training steps (``0`` = one whole epoch) and then
one validation pass (every validation user's 500 candidates), in this process, and reports:

- the peak resident set size of the process (``VmHWM`` of /proc/self/status, and ``ru_maxrss``), the
  figure the target is about;
- the RSS at the end of every phase and its peak within the phase (a sampler thread reads ``VmRSS``
  every 20 ms), so the phase that sets the peak is named;
- step and validation times (wall and process CPU). Memory does not depend on the machine's load, so this
  script may run niced; its times are then only indicative (said so in benchmarks/README.md).

Results: benchmarks/results/lsec_large_memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import threading
import time
from pathlib import Path

import torch

from lsec.config import load_config
from lsec.data.split import load_split
from lsec.train.runs import build_graphs, build_model, uses_self_loops
from lsec.train.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
GIB = 2**30


def status_bytes(field: str) -> int:
    """A ``kB`` field of /proc/self/status (``VmRSS``, ``VmHWM``) in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


class MemoryLog:
    """Per-phase RSS: a daemon thread samples ``VmRSS`` and keeps the maximum of the current phase."""

    def __init__(self, interval: float = 0.02) -> None:
        self.phase = "start"
        self.peaks: dict[str, int] = {}
        self.ends: dict[str, int] = {}
        self.seconds: dict[str, float] = {}
        self._since = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            rss = status_bytes("VmRSS")
            phase = self.phase
            self.peaks[phase] = max(self.peaks.get(phase, 0), rss)
            time.sleep(interval)

    def enter(self, phase: str) -> None:
        """Close the current phase (record its end RSS) and start ``phase``."""
        rss = status_bytes("VmRSS")
        self.ends[self.phase] = rss
        self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), rss)
        now = time.perf_counter()
        self.seconds[self.phase] = now - self._since
        self._since = now
        self.phase = phase

    def stop(self) -> None:
        self.enter("done")
        self._stop.set()
        self._thread.join()

    def table(self) -> dict[str, dict[str, float]]:
        return {
            phase: {
                "peak_rss_gib": round(self.peaks.get(phase, 0) / GIB, 3),
                "end_rss_gib": round(self.ends[phase] / GIB, 3),
                "wall_s": round(self.seconds[phase], 2),
            }
            for phase in self.ends
            if phase != "done"
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("/tmp/lsec/large"))
    parser.add_argument("--recipe", default="lsec-lightgcn")
    parser.add_argument("--steps", type=int, default=10, help="training steps to run (0 = one whole epoch)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-validation", action="store_true")
    parser.add_argument("--limit-gib", type=float, default=8.0)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "lsec_large_memory.json")
    parser.add_argument("overrides", nargs="*", help="dotted config overrides, e.g. train.batch_size=2048")
    args = parser.parse_args()
    if not (args.data / "splits").is_dir():
        raise SystemExit(
            f"{args.data}: no split folder. Make the data first: .venv/bin/python benchmarks/lsec_data.py "
            f"--preset lsec-large --scale 1.0 --influence 0.5 --out {args.data}"
        )

    mem = MemoryLog()
    cfg = load_config(
        ROOT / "configs" / f"{args.recipe}.yaml",
        [f"data.dataset={args.data}", f"train.num_threads={args.threads}", *args.overrides],
    )
    torch.set_num_threads(args.threads)
    mem.enter("load_split")
    split = load_split(args.data, name=cfg.data.split)
    train_graph = split.train_graph()
    mem.enter("build_model")
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg, split.graph)
    mem.enter("build_graphs")
    graphs = build_graphs(
        train_graph,
        model.relations,
        self_loops=uses_self_loops(model, cfg.model.name),
        sell_min_weight=cfg.data.sell_min_weight,
    )
    mem.enter("trainer_init")
    trainer = Trainer(model, split, graphs, cfg)
    steps_per_epoch = trainer.steps_per_epoch()
    run_steps = steps_per_epoch if args.steps == 0 else min(args.steps, steps_per_epoch)

    step_wall: list[float] = []
    step_cpu: list[float] = []
    rss_after_step: list[float] = []
    phases: dict[str, list[float]] = {}
    mem.enter("train_step_1")
    for step in range(run_steps):
        if step == 1:
            mem.enter("train_steps_2_on")
        wall, cpu = time.perf_counter(), time.process_time()
        trainer.train_epoch(1 + step, max_steps=1)  # one real step (its own epoch-seeded batch)
        step_wall.append(time.perf_counter() - wall)
        step_cpu.append(time.process_time() - cpu)
        rss_after_step.append(round(status_bytes("VmRSS") / GIB, 3))
        for phase, seconds in trainer.timer.pop().items():
            phases.setdefault(phase, []).append(seconds)
        print(json.dumps({"step": step + 1, "wall_s": round(step_wall[-1], 2), "rss_gib": rss_after_step[-1]}))

    validation: dict[str, object] = {}
    if not args.no_validation:
        mem.enter("validation")
        wall, cpu = time.perf_counter(), time.process_time()
        reports = trainer.validate()
        validation = {
            "wall_s": time.perf_counter() - wall,
            "cpu_s": time.process_time() - cpu,
            "phases": trainer.timer.pop(),
            "metrics_all_users": {task: report.get("all") for task, report in reports.items()},
        }
    mem.stop()

    peak = status_bytes("VmHWM")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    later = step_wall[1:] or step_wall
    num_parameters = sum(p.numel() for p in model.parameters())
    report = {
        "target": f"peak RSS <= {args.limit_gib} GiB",
        "met": peak <= args.limit_gib * GIB,
        "peak_rss_gib_vmhwm": round(peak / GIB, 3),
        "peak_rss_gib_ru_maxrss": round(maxrss / GIB, 3),
        "phases": mem.table(),
        "rss_gib_after_each_step": rss_after_step,
        "machine": {
            "threads": args.threads,
            "cores": os.cpu_count(),
            "nice": os.nice(0),
            "load_average_end": os.getloadavg(),
            "platform": platform.platform(),
            "torch": torch.__version__,
        },
        "recipe": args.recipe,
        "dataset": str(args.data),
        "overrides": args.overrides,
        "nodes": dict(split.graph.num_nodes),
        "train_edges": {rel[1]: len(t) for rel, t in train_graph.items()},
        "adjacency_nnz": {name: a.num_edges for name, a in graphs.items()},
        "num_parameters": num_parameters,
        "parameters_plus_grad_plus_adam_gib": round(num_parameters * 4 * 4 / GIB, 3),
        "steps_per_epoch": steps_per_epoch,
        "steps_run": run_steps,
        "step_wall_s": [round(s, 2) for s in step_wall],
        "step_cpu_s": [round(s, 2) for s in step_cpu],
        "median_step_wall_s": statistics.median(later),
        "median_step_cpu_s": statistics.median(step_cpu[1:] or step_cpu),
        "step_phase_median_wall_s": {k: round(statistics.median(v), 3) for k, v in phases.items()},
        "validation": validation,
        "estimated_epoch_wall_s": steps_per_epoch * statistics.median(later) + float(validation.get("wall_s", 0.0)),  # type: ignore[arg-type]
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
