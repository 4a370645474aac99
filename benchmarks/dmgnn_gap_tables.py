"""README tables of the strong-influence DM-GNN experiment (benchmarks/README.md, issue 15): rows and per-seed gaps.

Usage: python benchmarks/dmgnn_gap_tables.py SIM.json NULL.json SIM_NO_NEIGHBOUR.json NULL_NO_NEIGHBOUR.json
(the dmgnn.json files of `lsec experiment dmgnn`; the last two hold the rows run without neighbour consumption).
Gaps are per-seed differences, mean ± sample std; "> 2 std" = the first row beats the second by more than 2 std.
"""

import json
import sys

import numpy as np

sim, null, off_sim, off_null = (json.load(open(p)) for p in sys.argv[1:5])
M = ["link_auc_random", "link_auc_historical", "tier_macro_f1", "tier_accuracy"]


def per_seed(d, row, m):
    return {
        r["seed"]: r["test"]["all"].get(m) for r in d["runs"] if r["row"] == row and r["test"]["all"].get(m) is not None
    }


def baseline(d, m):
    s = d["summary"]["rows"].get("popularity / persistence")
    return s["all"][m] if s and m in s["all"] else None


def fmt(v):
    return f"{np.mean(v):.3f} ± {np.std(v, ddof=1):.3f}" if len(v) > 1 else (f"{v[0]:.3f}" if v else "-")


rows = [
    ("DM-GNN", sim, null),
    ("DM-GNN without decay", sim, null),
    ("link task alone", sim, null),
    ("tier task alone", sim, null),
    ("DM-GNN, no neighbour consumption", off_sim, off_null),
    ("tier task alone, no neighbour consumption", off_sim, off_null),
]
print("| row | seeds | " + " | ".join(M) + " | null: " + " | null: ".join(M) + " |")
print("|---|---:|" + "---:|" * (2 * len(M)))
for label, a, b in rows:
    name = label.replace(", no neighbour consumption", "")
    cells = []
    for d in (a, b):
        for m in M:
            cells.append(fmt(list(per_seed(d, name, m).values())))
    n = len(per_seed(a, name, "link_auc_random") or per_seed(a, name, "tier_macro_f1"))
    print(f"| {label} | {n} | " + " | ".join(cells) + " |")
cells = []
for d in (sim, null):
    for m in M:
        b = baseline(d, m)
        cells.append("-" if b is None else f"{b['mean']:.3f}")
print("| popularity / persistence | | " + " | ".join(cells) + " |")
print()
print("| gap (per seed) | metric | simulator | > 2 std | null control | > 2 std |")
print("|---|---|---:|---|---:|---|")
gaps = [
    ("DM-GNN", "link task alone", ["link_auc_random", "link_auc_historical"], (sim, null)),
    ("DM-GNN", "tier task alone", ["tier_macro_f1", "tier_accuracy"], (sim, null)),
    ("DM-GNN", "DM-GNN without decay", M, (sim, null)),
    ("tier task alone", None, ["tier_macro_f1", "tier_accuracy"], None),
    ("DM-GNN", None, M, None),
]
out = {}
for better, worse, metrics, pair in gaps:
    for m in metrics:
        cells = []
        for k, d in enumerate((sim, null)):
            if worse is None:  # neighbour consumption on - off
                a, b = per_seed(d, better, m), per_seed((off_sim, off_null)[k], better, m)
            else:
                a, b = per_seed(d, better, m), per_seed(d, worse, m)
            diff = np.array([a[s] - b[s] for s in a if s in b])
            if len(diff) < 2:
                cells += ["-", "-"]
                continue
            mu, sd = diff.mean(), diff.std(ddof=1)
            cells += [f"{mu:+.4f} ± {sd:.4f}", str(bool(mu > 2 * sd))]
        label = f"{better} − {worse}" if worse else f"{better}: neighbour consumption on − off"
        print(f"| {label} | {m} | " + " | ".join(cells) + " |")
