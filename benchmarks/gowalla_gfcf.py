"""GF-CF (linear + ideal low-pass graph filter, closed form) on Gowalla: quality and time, SVD included.

    .venv/bin/python benchmarks/gowalla_gfcf.py [--data-dir ../shared/data/gowalla] [--solver randomized svds]
        [--k 256] [--alpha 0.3] [--kernel auto|numba|scipy] [--breakdown] [--out FILE]

For each solver: fit (normalisation, truncated SVD, user queries) and full-sort evaluation of every test user
(:func:`lsec.evaluate.full_sort.full_sort_metrics` with the model's buffer-reusing score block); prints one
JSON line per solver. ``total_wall_s`` = fit + evaluation, excluding reading the text files (reported apart).
``score_wall_s`` is the part of the evaluation spent inside the model's scoring (linear filter + low-rank
product), the rest is the full sort's masking and top-k. ``--breakdown`` then times the parts apart (after the
timed run, not included in it): the SVD alone, and the linear filter and the low-rank product over all test users.
Results: benchmarks/results/gowalla_gfcf.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _gowalla import DEFAULT_DIR, Clock, load_gowalla, peak_rss_gib  # noqa: E402
from lsec.evaluate.full_sort import full_sort_metrics  # noqa: E402
from lsec.nn.models.gfcf import GFCF  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=str(DEFAULT_DIR))
    parser.add_argument("--solver", nargs="+", default=["randomized", "svds"])
    parser.add_argument("--k", type=int, default=256)
    parser.add_argument("--alpha", type=float, default=0.3)
    parser.add_argument("--kernel", default="auto", choices=["auto", "numba", "scipy"])
    parser.add_argument("--breakdown", action="store_true", help="time the SVD and the two score terms apart")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "gowalla_gfcf.json"))
    args = parser.parse_args()
    clock = Clock()
    _, train, test = load_gowalla(args.data_dir)
    load_wall = clock.wall()
    rows = []
    for solver in args.solver:
        run = Clock()
        model = GFCF(alpha=args.alpha, k=args.k, solver=solver, kernel=args.kernel).fit(train)
        fit_wall, fit_cpu = run.wall(), run.cpu()
        inner = model.score_block()
        spent = [0.0]

        def score(users: torch.Tensor, inner=inner, spent=spent) -> torch.Tensor:
            start = time.perf_counter()
            out = inner(users)
            spent[0] += time.perf_counter() - start
            return out

        metrics = full_sort_metrics(score, train, test, ks=(20,))
        row = {
            "solver": solver,
            "kernel": model.kernel_,
            "recall@20": metrics["recall@20"],
            "ndcg@20": metrics["ndcg@20"],
            "total_wall_s": run.wall(),
            "total_cpu_s": run.cpu(),
            "fit_wall_s": fit_wall,
            "fit_cpu_s": fit_cpu,
            "score_wall_s": spent[0],
            "k": args.k,
            "alpha": args.alpha,
            "threads": torch.get_num_threads(),
        }
        if args.breakdown:
            row["breakdown_wall_s"] = breakdown(model, train, test)
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {"load_wall_s": load_wall, "runs": rows, "peak_rss_gib": peak_rss_gib()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


def breakdown(model: GFCF, train, test, block_size: int = 2048) -> dict[str, float]:
    """Wall seconds of the SVD alone and of each score term over all test users (blocks of 2048)."""
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    normalised = sp.diags(model.user_weight_**0.5) @ model.train_ @ sp.diags(model.item_weight_)
    start = time.perf_counter()
    model._top_right_singular_vectors(sp.csr_matrix(normalised, dtype=np.float32))
    svd = time.perf_counter() - start
    out = torch.empty(block_size, train.shape[1])
    linear = low_rank = 0.0
    for first in range(0, len(users), block_size):
        index = users[first : first + block_size]
        start = time.perf_counter()
        model._linear_into(index, out[: len(index)])
        middle = time.perf_counter()
        out[: len(index)].addmm_(model.query_[torch.from_numpy(index)], model.right_, alpha=model.alpha)
        linear, low_rank = linear + middle - start, low_rank + time.perf_counter() - middle
    return {"svd": svd, "linear_filter": linear, "low_rank_addmm": low_rank}


if __name__ == "__main__":
    main()
