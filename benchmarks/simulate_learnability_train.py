"""Does a trained model beat popularity on a simulator setting? (issue 12 point 4; companion of
``simulate_learnability.py``, which scores the lists without training).

Simulates lsec-small at ``SCALE`` (influence 0.5, seed 0) with the ``LsecModel`` fields of ``KNOBS_JSON`` changed,
splits it as ``make demo`` does (30 / 10 / 10 days, 500 candidates per user), trains each model with the demo's
recipe (``lsec.cli.demo._recipe``: the model's YAML recipe, batch 1024, lr 0.002, patience 3, 20 epochs at most)
and prints one JSON line: per model its best validation AUC, the popularity AUC of the same validation lists, its
test AUC and the training seconds.

    .venv/bin/python benchmarks/simulate_learnability_train.py TAG SCALE KNOBS_JSON [lightgcn,lsec-lightgcn] \\
        >> benchmarks/results/learnability_train.jsonl

Run folders go to /tmp/lsec-learnability/TAG.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

from lsec.cli.demo import _recipe
from lsec.data.simulate.lsec import LsecModel, simulate_lsec
from lsec.data.split import split_by_time, write_split
from lsec.data.store import save
from lsec.evaluate.protocols import evaluate_run
from lsec.train.runs import load_run
from lsec.train.trainer import train_run


def main() -> None:
    tag, scale, knobs = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3])
    models = sys.argv[4].split(",") if len(sys.argv) > 4 else ["lightgcn", "lsec-lightgcn"]
    root = Path("/tmp/lsec-learnability") / tag
    graph = simulate_lsec(
        "lsec-small", scale=scale, influence=0.5, seed=0, model=dataclasses.replace(LsecModel(), **knobs)
    )
    save(graph, root / "data")
    folds = split_by_time(graph, train_days=30, valid_days=10, test_days=10)
    write_split(root / "data", folds, tasks=("buy", "follow"), num_candidates=500, seed=0, graph=graph)
    out: dict = {"tag": tag, "scale": scale, "knobs": knobs}
    for name in models:
        started = time.time()
        fit = train_run(_recipe(name, root / "data", 20, 0), root / name)
        result, _ = evaluate_run(load_run(root / name), "test")
        info = json.loads((root / name / "run.json").read_text())
        out[name] = {
            "valid_best_auc": round(fit.best_metric, 4),
            "valid_popularity_auc": round(info["baselines"]["popularity"]["auc"], 4),
            "test_auc": round(result["tasks"]["buy"]["all"]["auc"], 4),
            "seconds": round(time.time() - started),
        }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
