"""Issue 11 point 6, evaluation only: the popularity prior on trained run folders of benchmarks/generalisation.py.

    nice -n 10 .venv/bin/python benchmarks/generalisation_prior.py [--runs benchmarks/_work/generalisation]
        [--work benchmarks/_work/generalisation] [--out benchmarks/results/generalisation_prior.json]

No training: for each of ``{ciao,tiktok}-{gf-cf,lightgcn-dot,mf-bpr}`` in ``--runs`` (run folders, e.g. of the
configs before the prior existed: their weights are what the recipes still train, since the prior is chosen after
training and the cold fallback only adds the same constant to every validation of a run), recall@20 / ndcg@20 of

- ``model_alone``: the trained ranking itself (no prior, no fallback);
- ``cold_fallback_only``: users without a training pair ranked by popularity (kappa 0), on test and warm test users;
- ``sensitivity``: valid and test at every kappa of 0, 0.3, 1, 3, 10, 30, 100, and the kappa validation recall@20
  chooses from it;
- ``decade_choice``: the kappa validation recall@20 chooses from the recipes' grid [0, 1, 10, 100] (ties: the
  smaller) and its valid / test figures: what ``lsec train`` + ``lsec evaluate`` give with a validation fold;

and popularity on valid, test and warm test users. Datasets are read from ``--work`` (as imported by
benchmarks/generalisation.py). One torch thread.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
FINE = (0.0, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
RECIPE_GRID = (0.0, 1.0, 10.0, 100.0)


def main() -> None:
    from generalisation import matrices, metrics_of, prior_sensitivity, run_block, warm_only
    from lsec.evaluate.full_sort import popularity_block

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default=str(HERE / "_work" / "generalisation"))
    parser.add_argument("--work", default=str(HERE / "_work" / "generalisation"))
    parser.add_argument("--out", default=str(HERE / "results" / "generalisation_prior.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = {}
    for ds in ("ciao", "tiktok"):
        split = {"tiktok": "given", "ciao": "time"}[ds]
        train, valid, test, stats = matrices(Path(args.work) / ds, split)
        test_warm = warm_only(test, train)
        pop = popularity_block(train)
        entry: dict = {
            "stats": stats,
            "popularity": {
                "valid": metrics_of(pop, train, valid),
                "test": metrics_of(pop, train, test),
                "test_warm": metrics_of(pop, train, test_warm),
            },
            "models": {},
        }
        for model in ("gf-cf", "lightgcn-dot", "mf-bpr"):
            started = time.perf_counter()
            rd = Path(args.runs) / f"{ds}-{model}"
            e: dict = {
                "model_alone": {"test": metrics_of(run_block(rd, train, 0.0, False), train, test)},
                "cold_fallback_only": {
                    "test": metrics_of(run_block(rd, train, 0.0, True), train, test),
                    "test_warm": metrics_of(run_block(rd, train, 0.0, True), train, test_warm),
                },
                "sensitivity": prior_sensitivity(rd, train, valid, test, FINE),
            }
            rows = e["sensitivity"]["rows"]
            kappa = max(RECIPE_GRID, key=lambda k: (rows[str(k)]["valid"]["recall@20"], -k))
            e["decade_choice"] = {"kappa": kappa, **rows[str(kappa)]}
            e["seconds"] = round(time.perf_counter() - started, 1)
            entry["models"][model] = e
            print(ds, model, json.dumps(e["decade_choice"]), "finer grid:", e["sensitivity"]["chosen_on_valid"],
                  flush=True)  # fmt: skip
        out[ds] = entry
        Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
