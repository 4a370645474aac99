"""How long do the split's candidate lists and the candidate-list metrics take on lsec-small-sized data?

Times (wall and CPU, median of --repeats) for:
  * ``split_by_time`` (fold assignment of every edge),
  * ``build_candidates`` per task and fold (500 candidates per evaluated user),
  * ``write_split`` end to end (folds + all lists + parquet files) and ``load_split`` + reading one list,
  * ``candidate_metrics`` on each list with random float32 scores (and float64),
and, in the same run, an anchor: ``np.sort`` of as many float32 values as the largest list has rows.
Ratios to the anchor are the figures to compare across (shared, noisy) machines.

Usage:
    .venv/bin/python benchmarks/split_metrics.py --data /tmp/lsec-small      # a canonical dataset folder
    .venv/bin/python benchmarks/split_metrics.py --simulate lsec-small        # simulate it first (~1 min)
Writes benchmarks/results/split_metrics.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from lsec.data import load, save
from lsec.data.split import build_candidates, load_split, split_by_time, write_split
from lsec.metrics.ranking import candidate_metrics


def timed(fn, repeats: int) -> dict[str, Any]:
    walls, cpus, out = [], [], None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus), "runs": len(walls), "result": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="canonical dataset folder")
    parser.add_argument("--simulate", default=None, help="simulator preset to generate instead (e.g. lsec-small)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "split_metrics.json")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="lsec-split-bench-"))
    if args.data is None:
        from lsec.data.simulate.lsec import simulate_lsec

        graph = simulate_lsec(preset=args.simulate or "lsec-small", seed=0)
        save(graph, workdir / "data")
        data_dir = workdir / "data"
    else:
        data_dir = args.data
        graph = load(data_dir)
    report: dict[str, Any] = {"dataset": str(data_dir), "graph": repr(graph), "repeats": args.repeats, "steps": {}}
    steps = report["steps"]

    folds_run = timed(lambda: split_by_time(graph), args.repeats)
    folds = folds_run.pop("result")
    steps["split_by_time"] = folds_run

    largest = 0
    for task in ("buy", "follow"):
        for fold in ("valid", "test"):
            run = timed(lambda task=task, fold=fold: build_candidates(graph, folds, task, fold, 500, 0), args.repeats)
            cand = run.pop("result")
            run["rows"] = len(cand)
            run["users"] = int(cand.users().size)
            steps[f"build_candidates[{task},{fold}]"] = run
            largest = max(largest, len(cand))
            rng = np.random.default_rng(0)
            scores = rng.random(len(cand), dtype=np.float32)
            for dtype in (np.float32, np.float64):
                s = scores.astype(dtype)
                metric_run = timed(lambda c=cand, s=s: candidate_metrics(c.user, c.label, s), args.repeats)
                metric_run["metrics"] = metric_run.pop("result")
                metric_run["rows"] = len(cand)
                steps[f"candidate_metrics[{task},{fold},{np.dtype(dtype).name}]"] = metric_run

    # write_split copies the dataset's splits folder only, so write into a scratch copy of the folder
    target = workdir / "copy"
    if target != data_dir:
        save(graph, target)
    write_run = timed(lambda: write_split(target, folds, name="bench", graph=graph), args.repeats)
    write_run.pop("result")
    steps["write_split[buy+follow, 500]"] = write_run
    load_run = timed(lambda: len(load_split(target, "bench", graph=graph).candidates("follow", "valid")), args.repeats)
    load_run["rows"] = load_run.pop("result")
    steps["load_split+read[follow,valid]"] = load_run

    anchor_values = np.random.default_rng(1).random(largest, dtype=np.float32)
    anchor = timed(lambda: np.sort(anchor_values), args.repeats)
    anchor.pop("result")
    anchor["rows"] = largest
    report["anchor_np_sort_float32"] = anchor
    for run in steps.values():
        run["wall_ratio_to_anchor"] = round(run["wall_s"] / anchor["wall_s"], 2)
        run["cpu_ratio_to_anchor"] = round(run["cpu_s"] / max(anchor["cpu_s"], 1e-9), 2)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=float) + "\n")
    width = max(len(k) for k in steps)
    print(f"anchor np.sort({largest:,} float32): wall {anchor['wall_s']:.3f} s, cpu {anchor['cpu_s']:.3f} s")
    for name, run in steps.items():
        print(
            f"{name:<{width}}  wall {run['wall_s']:7.2f} s  cpu {run['cpu_s']:7.2f} s  "
            f"(x{run['wall_ratio_to_anchor']} / x{run['cpu_ratio_to_anchor']} anchor)"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
