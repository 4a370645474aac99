"""Power and calibration of the three influence tests over many simulated datasets (issue 12 point 6).

    .venv/bin/python benchmarks/influence_power.py [--replicates 20] [--scales 0.05 0.1] [--samples 3000]
        [--partners 20] [--permutations 1000] [--rewirings 199] [--exceedances 10]

For each scale and each replicate r (simulation seed r, influence 0.6): the influenced dataset and its two null
controls (``permute_relation`` of follow and of sell, seed 1000 + r). Each is analysed with
``analyze_influence`` (seed r; ``--rewirings R`` > 0: the graph-level Monte Carlo test against R rewirings,
0: the sign-flip test against one rewiring; ``--exceedances h``: a relation's draws stop once its patterns have
been reached h times, p = h / draws). Power: the share of influenced datasets where each pattern has p < 0.01
(target: at least 19 of 20). Calibration: over the null datasets that remove a pattern (follow for patterns 1-2,
sell for patterns 1 and 3), the number with p < 0.05 (target: at most 1 of 20 per pattern and null).
Results: benchmarks/results/influence_power.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from lsec.analysis.influence import analyze_influence
from lsec.data.simulate import permute_relation, simulate_lsec

RESULTS = Path(__file__).parent / "results" / "influence_power.json"
PATTERNS = ("users_items", "similar_users", "similar_items")
REMOVES = {"follow": ("users_items", "similar_users"), "sell": ("users_items", "similar_items")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicates", type=int, default=20)
    parser.add_argument("--scales", type=float, nargs="+", default=[0.05, 0.1])
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--partners", type=int, default=20)
    parser.add_argument("--permutations", type=int, default=1000)
    parser.add_argument("--rewirings", type=int, default=0, help="0: sign-flip test; R > 0: graph-level Monte Carlo")
    parser.add_argument("--exceedances", type=int, default=0, help="sequential Monte Carlo stop (0: all R draws)")
    parser.add_argument("--influence", type=float, default=0.6)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    started, load = time.perf_counter(), os.getloadavg()[0]
    rows = []
    for scale in args.scales:
        for r in range(args.replicates):
            base = simulate_lsec("lsec-small", scale=scale, influence=args.influence, seed=r)
            for null in (None, "follow", "sell"):
                graph = base if null is None else permute_relation(base, null, seed=1000 + r)
                result = analyze_influence(
                    graph, samples=args.samples, seed=r, permutations=args.permutations, bootstrap=0,
                    partners=args.partners, rewirings=args.rewirings, exceedances=args.exceedances,
                )  # fmt: skip
                row = {"scale": scale, "replicate": r, "null": null}
                row.update({key: result[key].comparison.p_value for key in PATTERNS})  # type: ignore[union-attr]
                rows.append(row)
            print(json.dumps(rows[-3:]), flush=True)
    summary = []
    for scale in args.scales:
        mine = [row for row in rows if row["scale"] == scale]
        influenced = [row for row in mine if row["null"] is None]
        entry = {"scale": scale, "datasets": len(influenced)}
        entry["detected_p_below_0.01"] = {k: sum(row[k] < 0.01 for row in influenced) for k in PATTERNS}
        entry["false_detections_p_below_0.05"] = {
            f"{key} | null {null}": sum(row[key] < 0.05 for row in mine if row["null"] == null)
            for null, keys in REMOVES.items()
            for key in keys
        }
        summary.append(entry)
    out = {
        "config": vars(args),
        "seconds": round(time.perf_counter() - started, 1),
        "load_average_start": load,
        "load_average_end": os.getloadavg()[0],
        "summary": summary,
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
