"""GF-CF (linear + ideal low-pass graph filter, closed form) on Gowalla: quality and time, SVD included.

    .venv/bin/python benchmarks/gowalla_gfcf.py [--data-dir ../shared/data/gowalla] [--solver randomized svds]
        [--k 256] [--alpha 0.3]

For each solver: fit (normalisation, item-item filter, truncated SVD) and full-sort evaluation of every
test user; prints one JSON line per solver. Times exclude reading the text files (reported apart).
Results: benchmarks/results/gowalla_gfcf.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "gowalla_gfcf.json"))
    args = parser.parse_args()
    clock = Clock()
    _, train, test = load_gowalla(args.data_dir)
    rows = []
    for solver in args.solver:
        run = Clock()
        model = GFCF(alpha=args.alpha, k=args.k, solver=solver).fit(train)
        fit_wall, fit_cpu = run.wall(), run.cpu()
        metrics = full_sort_metrics(model.score_all, train, test, ks=(20,))
        row = {
            "solver": solver,
            "recall@20": metrics["recall@20"],
            "ndcg@20": metrics["ndcg@20"],
            "total_wall_s": run.wall(),
            "total_cpu_s": run.cpu(),
            "fit_wall_s": fit_wall,
            "fit_cpu_s": fit_cpu,
            "k": args.k,
            "alpha": args.alpha,
            "item_item_nnz": int(model.item_item_.nnz),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {"load_wall_s": clock.wall() - sum(r["total_wall_s"] for r in rows), "runs": rows}
    result["peak_rss_gib"] = peak_rss_gib()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
