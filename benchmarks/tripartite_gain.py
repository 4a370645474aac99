"""Does LSEC-LightGCN take the follow -> sell signal? (issue 12 point 5; helper H1, simulator v3.)

Simulates lsec-small at ``--scale`` (influence 0.5, simulator ``--version``), optionally on a null control
(``--null follow|sell``: that relation's streamer endpoint shuffled), splits it as ``make demo`` does
(30 / 10 / 10 days, 500 candidates per user) and trains each ``--variants`` entry with the demo recipe
(``--recipe demo``: the model's YAML recipe, batch 1024, lr 0.002, patience 3, 20 epochs at most) or the YAML
recipe unchanged (``--recipe default``), each variant's own overrides on top. Prints one JSON line per variant:
validation (best checkpoint) and test AUC / recall@50 (all users), beside the popularity ranking of the same
lists (training purchase counts).

Variants (``VARIANTS`` below): a name -> (config, overrides). ``*-mlp`` is the paper's MLP scorer, ``*-dot`` the
cross-graph dot scorer, ``*-dotpop`` dot + popularity prior, ``*-mlpdotpop`` MLP + dot + prior, ``*-hoppop`` the
dot scorer between single propagation steps (``dot_hops``) + prior; every variant
trains with seed-edge exclusion (``train.exclude_seed_edges=true``), since a dot product of a pair that is
already linked in the propagated graph rewards the link itself.

    nice -n 10 .venv/bin/python benchmarks/tripartite_gain.py --scale 0.1 --version 3 --seed 0 \\
        --variants lightgcn-dot,lsec-dot [--null follow] >> benchmarks/results/tripartite_gain.jsonl

Work folders go to /tmp/lsec-tripartite/.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from lsec.cli.demo import _recipe
from lsec.config import load_config
from lsec.data.simulate.lsec import check_version, simulate_lsec
from lsec.data.simulate.permute import permute_relation
from lsec.data.split import load_split, split_by_time, write_split
from lsec.data.store import save
from lsec.evaluate.protocols import candidate_report, evaluate_run
from lsec.train.runs import load_run
from lsec.train.trainer import train_run

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
EXCLUDE = ("train.exclude_seed_edges=true",)
DOT = ("model.hparams.scorer=dot",)
POP = ("model.hparams.popularity_prior=true",)
VARIANTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "lightgcn-mlp": ("lightgcn", EXCLUDE),
    "lsec-mlp": ("lsec-lightgcn", EXCLUDE),
    "lightgcn-mlppop": ("lightgcn", (*EXCLUDE, *POP)),
    "lsec-mlppop": ("lsec-lightgcn", (*EXCLUDE, *POP)),
    "lightgcn-dot": ("lightgcn", (*EXCLUDE, *DOT)),
    "lsec-dot": ("lsec-lightgcn", (*EXCLUDE, *DOT)),
    "lightgcn-dotpop": ("lightgcn", (*EXCLUDE, *DOT, *POP)),
    "lsec-dotpop": ("lsec-lightgcn", (*EXCLUDE, *DOT, *POP)),
    "lightgcn-mlpdotpop": ("lightgcn", (*EXCLUDE, "model.hparams.scorer=mlp+dot", *POP)),
    "lsec-mlpdotpop": ("lsec-lightgcn", (*EXCLUDE, "model.hparams.scorer=mlp+dot", *POP)),
    "lightgcn-hoppop": ("lightgcn", (*EXCLUDE, *DOT, *POP, "model.hparams.dot_hops=true")),
    "lsec-hoppop": ("lsec-lightgcn", (*EXCLUDE, *DOT, *POP, "model.hparams.dot_hops=true")),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, required=True)
    parser.add_argument("--version", default="3")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the simulation, the split and the training.")
    parser.add_argument("--null", choices=("follow", "sell"), default=None)
    parser.add_argument("--variants", default="lightgcn-dot,lsec-dot")
    parser.add_argument("--recipe", choices=("demo", "default"), default="demo")
    parser.add_argument("--epochs", type=int, default=20, help="Epoch bound of the demo recipe.")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], help="Extra config override for every variant.")
    args = parser.parse_args()
    version = check_version(args.version)
    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    root = (
        Path("/tmp/lsec-tripartite")
        / f"s{args.scale}-v{version}-seed{args.seed}-{args.null or 'real'}-{time.time_ns()}"
    )
    began = time.perf_counter()
    graph = simulate_lsec("lsec-small", version=version, scale=args.scale, influence=0.5, seed=args.seed)
    if args.null is not None:
        graph = permute_relation(graph, args.null, seed=args.seed)
    save(graph, root / "data")
    folds = split_by_time(graph, train_days=30, valid_days=10, test_days=10)
    write_split(root / "data", folds, tasks=("buy", "follow"), num_candidates=500, seed=args.seed, graph=graph)
    common = {
        "scale": args.scale, "version": version, "seed": args.seed, "null": args.null, "recipe": args.recipe,
        "data_seconds": round(time.perf_counter() - began, 1), "popularity": _popularity(root / "data"),
    }  # fmt: skip
    for name in names:
        config_name, overrides = VARIANTS[name]
        extra = [f"train.num_threads={args.threads}", *overrides, *args.set]
        if args.recipe == "demo":
            cfg = _recipe(config_name, root / "data", args.epochs, args.seed)
            cfg = load_config(CONFIGS / f"{config_name}.yaml", [*_demo_overrides(cfg), *extra])
        else:
            base = [f"data.dataset={root / 'data'}", f"train.seed={args.seed}"]
            cfg = load_config(CONFIGS / f"{config_name}.yaml", [*base, *extra])
        started = time.time()
        fit = train_run(cfg, root / name)
        run = load_run(root / name)
        figures = {}
        for fold in ("valid", "test"):
            metrics = evaluate_run(run, fold)[0]["tasks"]["buy"]["all"]
            figures[fold] = {"auc": round(metrics["auc"], 4), "recall@50": round(metrics["recall@50"], 4)}
        row = {
            **common, "variant": name, "config": config_name, "overrides": [*overrides, *args.set], **figures,
            "steps": fit.steps, "best_epoch": fit.best_epoch, "seconds": round(time.time() - started),
            "learned": _learned_scalars(run.model),
        }  # fmt: skip
        print(json.dumps(row), flush=True)
        shutil.rmtree(root / name, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)


def _popularity(dataset: Path) -> dict[str, dict[str, float]]:
    """AUC and recall@50 (all users) of ranking each fold's buy lists by training purchase counts."""
    split = load_split(dataset)
    train = split.train_graph()
    counts = np.bincount(train["buy"].dst, minlength=train.num_nodes["item"]).astype(np.float64)
    out = {}
    for fold in ("valid", "test"):
        candidates = split.candidates("buy", fold)
        report = candidate_report(candidates, counts[np.asarray(candidates.target)], groups=("all",))["all"]
        out[fold] = {"auc": round(float(report["auc"]), 4), "recall@50": round(float(report["recall@50"]), 4)}
    return out


def _learned_scalars(model: object) -> dict[str, list[float]]:
    """The dot weights and the prior weight the run ended with (what the model chose to use)."""
    out: dict[str, list[float]] = {}
    for group in ("dot_weights", "prior_weight"):
        params = getattr(model, group, None)
        if params:
            for task, p in params.items():
                out[f"{group}.{task}"] = [round(float(x), 3) for x in p.detach().reshape(-1)]
    return out


def _demo_overrides(cfg: object) -> list[str]:
    """The demo recipe as overrides of the model's YAML recipe (so that the variant's overrides apply)."""
    from lsec.cli.demo import DEMO_OVERRIDES

    train = cfg.train  # type: ignore[attr-defined]
    data = cfg.data  # type: ignore[attr-defined]
    return [f"data.dataset={data.dataset}", f"train.epochs={train.epochs}", f"train.seed={train.seed}", *DEMO_OVERRIDES]


if __name__ == "__main__":
    main()
