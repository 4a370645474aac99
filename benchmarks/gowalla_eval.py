"""Full-sort evaluation speed on Gowalla: all 29,858 test users x 40,981 items, training items masked.

    .venv/bin/python benchmarks/gowalla_eval.py [--repeats 3] [--threads 2] [--block-size 2048]

Times :func:`lsec.evaluate.full_sort.full_sort_metrics` with random 64-d embeddings (speed does not depend
on the values): median wall and process-CPU seconds over repeats. On a shared machine CPU seconds /
threads is the wall time the same work takes on idle cores. Results: benchmarks/results/gowalla_eval.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _gowalla import DEFAULT_DIR, Clock, load_gowalla, peak_rss_gib  # noqa: E402
from lsec.evaluate.full_sort import dot_scores, full_sort_metrics  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=str(DEFAULT_DIR))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--block-size", type=int, default=2048)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "gowalla_eval.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    _, train, test = load_gowalla(args.data_dir)
    gen = torch.Generator().manual_seed(0)
    users = torch.randn(train.shape[0], 64, generator=gen)
    items = torch.randn(train.shape[1], 64, generator=gen)
    walls, cpus = [], []
    for _ in range(args.repeats):
        clock = Clock()
        metrics = full_sort_metrics(dot_scores(users, items), train, test, ks=(20,), block_size=args.block_size)
        walls.append(clock.wall())
        cpus.append(clock.cpu())
    result = {
        "users": int(metrics["num_users"]),
        "items": train.shape[1],
        "threads": args.threads,
        "block_size": args.block_size,
        "median_wall_s": float(np.median(walls)),
        "median_cpu_s": float(np.median(cpus)),
        "idle_machine_estimate_s": float(np.median(cpus)) / args.threads,
        "runs_wall_s": walls,
        "runs_cpu_s": cpus,
        "peak_rss_gib": peak_rss_gib(),
    }
    print(json.dumps(result))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
