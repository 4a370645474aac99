"""GIE offline build at MMBee scale: Swing + the five metapath expansions + the expansion store, and a plain reference.

    flock /tmp/lsec-cpu.lock .venv/bin/python benchmarks/gie_speed.py [--users 1000000] [--streamers 100000]
        [--edges 10000000] [--k 20] [--cap 100] [--sample 300]

1. Generates a heavy-tailed synthetic gift graph (seeded): users' activity and streamers' popularity are
   Zipf-like, so a few streamers have tens of thousands of gifting users (Swing's hard case).
2. Ours, timed stage by stage (wall and process CPU, peak RSS): ``gift_graph`` (merge), ``swing`` in bounded mode
   (``--cap`` users per streamer, top ``--k``), the five ``metapath_neighbours`` (u2a2u, u2a2u2a, u2a2a, a2a,
   a2u2a; width ``--k``), and ``build_store`` with random 32-d tables standing in for the GraphCL tables (the
   pre-training is timed by ``lsec mmbee build-store``, not here).
3. A plain reference (dicts of sets, pure Python, exact Swing of eq. 8) on ``--sample`` streamers of the same
   graph, and our exact mode on the same rows: seconds per row of each, the ratio, and the recall of the
   bounded top-k against the exact one on those rows.
Results: benchmarks/results/gie_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from lsec.graph.metapath import METAPATHS, metapath_neighbours
from lsec.graph.swing import gift_graph, swing, swing_recall
from lsec.serve.expansion_store import build_store

ROOT = Path(__file__).resolve().parents[1]


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def synthetic(users: int, streamers: int, edges: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    user_p = 1.0 / np.arange(1, users + 1) ** 0.6
    streamer_p = 1.0 / np.arange(1, streamers + 1) ** 0.9
    src = rng.choice(users, edges, p=user_p / user_p.sum())
    dst = rng.choice(streamers, edges, p=streamer_p / streamer_p.sum())
    amount = rng.integers(1, 100, edges).astype(np.float32)
    return rng.permutation(users)[src], rng.permutation(streamers)[dst], amount


def naive_swing(users_of: dict[int, set[int]], streamers_of: dict[int, set[int]], row: int, alpha: float) -> dict:
    """Eq. 8 for one streamer, as written: sum over ordered user pairs of 1 / (alpha + |I_u & I_v|)."""
    scores: dict[int, float] = defaultdict(float)
    members = list(users_of[row])
    for u in members:
        for v in members:
            common = streamers_of[u] & streamers_of[v]
            weight = 1.0 / (alpha + len(common))
            for j in common:
                if j != row:
                    scores[j] += weight
    return scores


class Clock:
    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> dict[str, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        out = {"wall_s": round(wall - self.wall, 3), "cpu_s": round(cpu - self.cpu, 3), "peak_rss_gib": peak_gib()}
        self.wall, self.cpu = wall, cpu
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--streamers", type=int, default=100_000)
    parser.add_argument("--edges", type=int, default=10_000_000)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--cap", type=int, default=100)
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gie_speed.json"))
    args = parser.parse_args()
    result: dict = {"config": vars(args), "cpus": os.cpu_count(), "load_average_start": os.getloadavg()[0]}
    src, dst, amount = synthetic(args.users, args.streamers, args.edges, args.seed)
    clock = Clock()
    graph = gift_graph(src=src, dst=dst, num_users=args.users, num_streamers=args.streamers, weight=amount)
    stages = {"gift_graph": clock.lap()}
    result["distinct_edges"] = int(graph.user_ptr[-1])
    result["max_users_per_streamer"] = int(np.diff(graph.streamer_ptr).max())
    bounded = swing(graph=graph, k=args.k, mode="bounded", max_users_per_streamer=args.cap, seed=args.seed)
    stages["swing_bounded"] = clock.lap()
    expansions = {}
    for name in METAPATHS:
        expansions[name] = metapath_neighbours(metapath=name, graph=graph, k=args.k, swing=bounded)
        stages[f"metapath_{name}"] = clock.lap()
    rng = np.random.default_rng(args.seed)
    tables = [rng.standard_normal((n, 32)).astype(np.float32) for n in (args.users, args.streamers)]
    folder = Path(tempfile.mkdtemp(prefix="gie-store-"))
    try:
        build_store(folder / "store", graph=graph, swing=bounded, user_embeddings=tables[0],
                    streamer_embeddings=tables[1], k=args.k, neighbours=expansions)  # fmt: skip
        stages["build_store"] = clock.lap()
        result["store_bytes"] = sum(p.stat().st_size for p in (folder / "store").rglob("*") if p.is_file())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result["stages"] = stages
    result["total_wall_s"] = round(sum(s["wall_s"] for s in stages.values()), 3)
    result["total_cpu_s"] = round(sum(s["cpu_s"] for s in stages.values()), 3)
    result["peak_rss_gib"] = peak_gib()

    # plain reference on a sample of streamers with at most 2,000 users (pure Python is quadratic per row)
    degree = np.diff(graph.streamer_ptr)
    eligible = np.flatnonzero((degree >= 2) & (degree <= 2000))
    rows = np.sort(rng.choice(eligible, min(args.sample, len(eligible)), replace=False))
    users_of = {
        int(r): set(graph.streamer_users[graph.streamer_ptr[r] : graph.streamer_ptr[r + 1]].tolist()) for r in rows
    }
    wanted_users = set().union(*users_of.values())
    streamers_of = {
        u: set(graph.user_streamers[graph.user_ptr[u] : graph.user_ptr[u + 1]].tolist()) for u in wanted_users
    }
    start = time.perf_counter()
    naive_top = {}
    for r in rows.tolist():
        scores = naive_swing(users_of, streamers_of, r, 1.0)
        naive_top[r] = [j for j, _ in sorted(scores.items(), key=lambda x: (-x[1], x[0]))[: args.k]]
    naive_s = time.perf_counter() - start
    start = time.perf_counter()
    exact = swing(graph=graph, k=args.k, mode="exact", streamers=rows)
    exact_s = time.perf_counter() - start
    bounded_rows = swing(
        graph=graph, k=args.k, mode="bounded", max_users_per_streamer=args.cap, seed=args.seed, streamers=rows
    )
    agree = np.mean(
        [
            set(naive_top[r]) == set(exact.indices[i][exact.indices[i] >= 0].tolist())
            for i, r in enumerate(rows.tolist())
        ]
    )
    result["reference"] = {
        "rows": len(rows),
        "naive_seconds": round(naive_s, 3),
        "exact_seconds": round(exact_s, 3),
        "ratio_naive_over_exact": round(naive_s / max(exact_s, 1e-9), 1),
        "exact_top_k_equals_naive_share": float(agree),
        "bounded_recall_of_exact": swing_recall(exact=exact, bounded=bounded_rows),
    }  # fmt: skip
    result["load_average_end"] = os.getloadavg()[0]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
