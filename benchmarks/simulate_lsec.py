"""Simulator speed, memory and calibration: both LSEC presets at scale 1 against Tables 1-2 of the slides.

Each run happens in a fresh child process (so peak RSS is that run's own); the child reports wall time,
CPU time (user + sys, less sensitive to other jobs on the machine), peak RSS and the achieved counts.
An anchor (sorting 10 M float64 in the parent) is timed around the runs so figures from a loaded machine
can be compared as ratios.

    .venv/bin/python benchmarks/simulate_lsec.py                       # small x3, large x1
    .venv/bin/python benchmarks/simulate_lsec.py --small-runs 3 --large-runs 2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import statistics
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "simulate_lsec.json"


def one_run(preset: str, seed: int, queue: mp.Queue) -> None:
    from lsec.data.simulate import PRESETS, simulate_lsec

    wall, cpu = time.perf_counter(), time.process_time()
    graph = simulate_lsec(preset, scale=1.0, influence=0.5, seed=seed)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    target = PRESETS[preset]
    stats = graph.stats()
    relations = {r["relation"]: r for r in stats["relations"]}
    table = {"buy": target.num_buy, "follow": target.num_follow, "sell": target.num_sell}
    queue.put(
        {
            "preset": preset,
            "seed": seed,
            "wall_seconds": round(wall, 2),
            "cpu_seconds": round(cpu, 2),
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
            "nodes": stats["nodes"],
            "edges": {name: relations[name]["edges"] for name in table},
            "unique_pairs": {name: relations[name]["unique_pairs"] for name in table},
            "density_percent": {name: round(100 * relations[name]["density"], 4) for name in table},
            "ratio_to_table": {name: round(relations[name]["edges"] / table[name], 4) for name in table},
            "node_ratio_to_table": {
                "user": stats["nodes"]["user"] / target.num_users,
                "item": stats["nodes"]["item"] / target.num_items,
                "streamer": stats["nodes"]["streamer"] / target.num_streamers,
            },
            "influenced_buy_fraction": round(graph.meta["simulation"]["influenced_buy_fraction"], 4),
        }
    )


def run_child(preset: str, seed: int) -> dict:
    queue: mp.Queue = mp.Queue()
    child = mp.get_context("fork").Process(target=one_run, args=(preset, seed, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def anchor_seconds() -> float:
    data = np.random.default_rng(0).random(10_000_000)
    started = time.perf_counter()
    np.sort(data)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small-runs", type=int, default=3)
    parser.add_argument("--large-runs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    anchors = [anchor_seconds()]
    runs: dict[str, list[dict]] = {"lsec-small": [], "lsec-large": []}
    for preset, count in (("lsec-small", args.small_runs), ("lsec-large", args.large_runs)):
        for seed in range(count):
            result = run_child(preset, seed)
            runs[preset].append(result)
            print(json.dumps(result), flush=True)
            anchors.append(anchor_seconds())

    anchor = statistics.median(anchors)
    summary = {}
    for preset, results in runs.items():
        if not results:
            continue
        wall = statistics.median(r["wall_seconds"] for r in results)
        summary[preset] = {
            "runs": len(results),
            "median_wall_seconds": wall,
            "median_cpu_seconds": statistics.median(r["cpu_seconds"] for r in results),
            "max_peak_rss_gib": max(r["peak_rss_gib"] for r in results),
            "wall_over_anchor": round(wall / anchor, 1),
            "ratio_to_table_seed0": results[0]["ratio_to_table"],
        }
    report = {
        "machine": {"cpus": mp.cpu_count(), "python": platform.python_version(), "numpy": np.__version__},
        "command": f"python benchmarks/simulate_lsec.py --small-runs {args.small_runs} --large-runs {args.large_runs}",
        "anchor": {"what": "np.sort of 10M float64, median over the run", "seconds": round(anchor, 3)},
        "load_average_at_end": [round(x, 1) for x in __import__("os").getloadavg()],
        "summary": summary,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
