"""Paired user-bootstrap of MMBee Table 1 / 4 gaps: how much of a gap the one shared test day can explain.

The tables' std is over training seeds on the *same* test day, so it leaves out the sampling noise of that
day's users. This script re-scores the finished runs of an experiment folder (``lsec experiment mmbee-table1 /
mmbee-table4 --out OUT``) on the test impressions, takes per user the seed-mean of ``AUC_better - AUC_base``
(users with both classes), and resamples users with replacement: the UAUC gap (plain mean) and the GAUC gap
(weighted by the user's impressions), each with its bootstrap standard error and 95 % interval. No training.

    .venv/bin/python benchmarks/mmbee_gap_bootstrap.py OUT [--pair "SIM+GIE:SIM" ...] [--seeds 5] --json F
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lsec.evaluate.mmbee_tables import TABLE1, TABLE4
from lsec.metrics.grouped import grouped_auc
from lsec.train.gtr_runs import evaluate_gtr
from lsec.train.runs import load_run

RECIPES = dict(TABLE1) | dict(TABLE4)
DEFAULT_PAIRS = ("MMoE+GIE:MMoE", "SIM+GIE:SIM")


def per_user(out: Path, row: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(users, per-user AUC (nan: one class), impressions per user) of one finished run, or None."""
    run_dir = out / "runs" / RECIPES[row] / f"seed{seed}"
    if not (run_dir / "results" / "test.json").is_file():
        return None
    run = load_run(run_dir)
    _, scores = evaluate_gtr(run, "test", ["gift"])
    data = run.split.data
    rows = data.indices("test")
    found = grouped_auc(data.users[rows], data.labels["gift"][rows], scores["gift"])
    return found.per_user["user"], found.per_user["auc"], found.per_user["num_samples"]


def bootstrap(out: Path, better: str, base: str, seeds: int, draws: int) -> dict[str, object]:
    diffs, used = [], []
    users = counts = None
    for seed in range(seeds):
        a, b = per_user(out, better, seed), per_user(out, base, seed)
        if a is None or b is None:
            continue
        assert np.array_equal(a[0], b[0])
        users, counts = a[0], a[2]
        diffs.append(a[1] - b[1])
        used.append(seed)
    if not diffs or users is None or counts is None:
        return {"better": better, "baseline": base, "seeds": []}
    gap = np.mean(diffs, axis=0)  # (users,), nan for one-class users
    keep = ~np.isnan(gap)
    gap, weight = gap[keep], counts[keep].astype(np.float64)
    rng = np.random.default_rng(0)
    picks = rng.integers(0, gap.size, size=(draws, gap.size))
    boot_u = gap[picks].mean(1)
    boot_g = (gap[picks] * weight[picks]).sum(1) / weight[picks].sum(1)
    out_: dict[str, object] = {"better": better, "baseline": base, "seeds": used, "users": int(gap.size)}
    for name, point, boot in (
        ("uauc", float(gap.mean()), boot_u),
        ("gauc", float((gap * weight).sum() / weight.sum()), boot_g),
    ):
        lo, hi = np.percentile(boot, [2.5, 97.5])
        out_[name] = {"gap": point, "se": float(boot.std(ddof=1)), "ci95": [float(lo), float(hi)]}
    return out_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="+", help="experiment folders (e.g. OUT and OUT/control)")
    parser.add_argument("--pair", action="append", help="BETTER:BASE row labels (default: the +GIE gaps)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    for out in args.out:
        for pair in args.pair or DEFAULT_PAIRS:
            better, base = pair.split(":")
            entry = {"experiment": str(out), **bootstrap(out, better, base, args.seeds, args.draws)}
            results.append(entry)
            shown = ", ".join(
                f"{m} {entry[m]['gap']:+.4f} (se {entry[m]['se']:.4f}, 95% {entry[m]['ci95'][0]:+.4f}..{entry[m]['ci95'][1]:+.4f})"  # type: ignore[index]
                for m in ("uauc", "gauc")
                if m in entry
            )
            print(f"{out} {better} - {base}: seeds {entry['seeds']}, users {entry.get('users')}: {shown}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
