"""Does a trained model beat popularity on a simulator setting? (issue 12 point 4; companion of
``simulate_learnability.py``, which scores the lists without training).

Simulates lsec-small at ``SCALE`` (influence 0.5) with simulator ``--version`` (2 or 3) and the ``LsecModel``
fields of ``KNOBS_JSON`` changed (``{}``: the version's own knobs), splits it as ``make demo`` does (30 / 10 / 10
days, 500 candidates per user), trains each model and prints one JSON line: per model its best validation AUC,
the popularity AUC of the same validation lists, its test AUC, the test popularity AUC and the training seconds.

Recipes (``--recipe``): ``demo`` is the demo's (``lsec.cli.demo._recipe``: the model's YAML recipe, batch 1024,
lr 0.002, patience 3, 20 epochs at most); ``default`` is the model's YAML recipe unchanged (what ``lsec train``
and ``tests/train/test_tiny_data.py`` use). ``--set`` adds config overrides (``train.lr=0.001`` ...).
``--null follow`` trains on the null control (the follow relation's streamer endpoint shuffled, as the demo).

    .venv/bin/python benchmarks/simulate_learnability_train.py TAG SCALE KNOBS_JSON [lightgcn,lsec-lightgcn] \\
        [--version 3] [--recipe default] [--seed 0] [--null follow] >> benchmarks/results/learnability_v3_train.jsonl

Run folders go to /tmp/lsec-learnability/TAG.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
from pathlib import Path

import numpy as np

from lsec.cli.demo import _recipe
from lsec.config import load_config
from lsec.data.simulate.lsec import DEFAULT_DEGREE_EXPONENT, check_version, model_for, simulate_lsec
from lsec.data.simulate.permute import permute_relation
from lsec.data.split import load_split, split_by_time, write_split
from lsec.data.store import save
from lsec.evaluate.protocols import candidate_report, evaluate_run
from lsec.train.runs import load_run
from lsec.train.trainer import train_run

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tag")
    parser.add_argument("scale", type=float)
    parser.add_argument("knobs", nargs="?", default="{}")
    parser.add_argument("models", nargs="?", default="lightgcn,lsec-lightgcn")
    parser.add_argument("--version", default="2")
    parser.add_argument("--recipe", choices=("demo", "default"), default="demo")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the simulation, the split and the training.")
    parser.add_argument("--null", choices=("follow", "sell"), default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--degree-exponent", type=float, default=DEFAULT_DEGREE_EXPONENT)
    parser.add_argument("--set", action="append", default=[], help="Config override, e.g. train.lr=0.001.")
    args = parser.parse_args()
    knobs = json.loads(args.knobs)
    version = check_version(args.version)
    root = Path("/tmp/lsec-learnability") / args.tag
    if root.exists():
        shutil.rmtree(root)
    began = time.perf_counter()
    common = {"scale": args.scale, "influence": 0.5, "seed": args.seed, "degree_exponent": args.degree_exponent}
    graph = simulate_lsec("lsec-small", version=version, **common)
    if knobs:
        model = dataclasses.replace(model_for(version, graph.num_items), **knobs)
        graph = simulate_lsec("lsec-small", model=model, **common)
    if args.null is not None:
        graph = permute_relation(graph, args.null, seed=args.seed)
    save(graph, root / "data")
    folds = split_by_time(graph, train_days=30, valid_days=10, test_days=10)
    write_split(root / "data", folds, tasks=("buy", "follow"), num_candidates=500, seed=args.seed, graph=graph)
    out: dict = {
        "tag": args.tag,
        "scale": args.scale,
        "version": version,
        "num_topics": graph.meta["simulation"]["model"]["num_topics"],
        "knobs": knobs,
        "recipe": args.recipe,
        "overrides": args.set,
        "seed": args.seed,
        "null": args.null,
        "degree_exponent": args.degree_exponent,
        "train_buys_per_user": round(len(load_split(root / "data").train_graph()["buy"].src) / graph.num_users, 2),
        "data_seconds": round(time.perf_counter() - began, 1),
    }
    test_pop = _test_popularity_auc(root / "data")
    for name in args.models.split(","):
        started = time.time()
        extra = [f"train.num_threads={args.threads}", *args.set]
        if args.recipe == "demo":
            cfg = _recipe(name, root / "data", 20, args.seed)
            cfg = load_config(CONFIGS / f"{name}.yaml", [*_overrides(cfg), *extra])
        else:
            overrides = [f"data.dataset={root / 'data'}", f"train.seed={args.seed}", *extra]
            cfg = load_config(CONFIGS / f"{name}.yaml", overrides)
        fit = train_run(cfg, root / name)
        result, _ = evaluate_run(load_run(root / name), "test")
        info = json.loads((root / name / "run.json").read_text())
        out[name] = {
            "valid_best_auc": round(fit.best_metric, 4),
            "valid_popularity_auc": round(info["baselines"]["popularity"]["auc"], 4),
            "test_auc": round(result["tasks"]["buy"]["all"]["auc"], 4),
            "test_popularity_auc": round(test_pop, 4),
            "steps": fit.steps,
            "best_epoch": fit.best_epoch,
            "seconds": round(time.time() - started),
        }
    print(json.dumps(out), flush=True)


def _test_popularity_auc(dataset: Path) -> float:
    """AUC (all users) of ranking the buy test lists by training purchase counts, as the trainer does for valid."""
    split = load_split(dataset)
    train = split.train_graph()
    candidates = split.candidates("buy", "test")
    counts = np.bincount(train["buy"].dst, minlength=train.num_nodes["item"]).astype(np.float64)
    report = candidate_report(candidates, counts[np.asarray(candidates.target)], groups=("all",))
    return float(report["all"]["auc"])


def _overrides(cfg: object) -> list[str]:
    """The demo recipe as overrides of the model's YAML recipe (so that --set and the thread count apply)."""
    from lsec.cli.demo import DEMO_OVERRIDES

    train = cfg.train  # type: ignore[attr-defined]
    data = cfg.data  # type: ignore[attr-defined]
    return [f"data.dataset={data.dataset}", f"train.epochs={train.epochs}", f"train.seed={train.seed}", *DEMO_OVERRIDES]


if __name__ == "__main__":
    main()
