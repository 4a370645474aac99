"""Diagnostic for issue 3: does LSEC-LightGCN use the follow -> sell signal once its scorer can multiply?

The paper's scorer is an MLP over ``[target || query]``; its first layer is additive in the two sides, so a
user x item interaction (the user's followed streamers x the item's sellers) must be built by the hidden layer.
This probe adds, for the run only, element-wise products of every (query part, target part) pair to the first
layer of each task's scorer::

    h1 = relu(W_t t + W_q q + b1 + sum_{(a, b)} W_ab (q_a * t_b))

(``q_a``: ``buy.user`` / ``follow.user``; ``t_b``: ``sell.item`` / ``buy.item`` for the buy task), trains the
model with the standard :class:`lsec.train.trainer.Trainer` (the probe scores through the "custom" path, as
NeuMF does), and reports test AUC and recall@50 of the buy task for LightGCN (buy graph only) and LSEC-LightGCN,
on influence data and on a null control. It is not a model of the library: nothing in ``src/`` changes.

    .venv/bin/python benchmarks/lsec_interaction_probe.py --data pos=/tmp/s2/T/data-pos \\
        --data null-follow=/tmp/s2/T/data-follow --seeds 0 1 2 --out benchmarks/results/lsec_interaction_probe.json \\
        train.batch_size=512 train.lr=0.002 train.patience=3 train.min_delta=0.0005 train.epochs=30
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lsec.config import load_config
from lsec.data.split import load_split
from lsec.evaluate.protocols import evaluate_candidates
from lsec.train.runs import build_graphs, build_model, uses_self_loops
from lsec.train.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]


def add_products(model: Any) -> Any:
    """Give ``model`` (an LSECGNN) product terms in each task's first scorer layer (in place; returns it)."""
    base = type(model)
    pairs = {task: list(itertools.product(model.query_keys(task), model.target_keys(task))) for task in model.tasks}

    class WithProducts(base):  # type: ignore[misc, valid-type]
        def scoring_kind(self, task: str) -> str:
            return "custom"

        def score(self, task: str, enc: dict[str, torch.Tensor], users: torch.Tensor, targets: torch.Tensor):
            head = self.scorer(task)
            first = head.query_part(self.query(task, enc)).index_select(0, users)
            first = first + head.target_part(self.target(task, enc)).index_select(0, targets)
            products = [enc[a].index_select(0, users) * enc[b].index_select(0, targets) for a, b in pairs[task]]
            scaled = torch.cat(products, dim=-1) / self.out_dim  # sum over dims ~ dot product, not 200 raw inputs
            return head.head(first + self.products[task](scaled))

    hidden = {task: model.scorer(task).hidden_dims[0] for task in model.tasks}
    model.__class__ = WithProducts
    model.products = nn.ModuleDict(
        {task: nn.Linear(len(pairs[task]) * model.out_dim, hidden[task], bias=False) for task in model.tasks}
    )
    for layer in model.products.values():
        nn.init.zeros_(layer.weight)  # start as the paper's scorer; random product weights only add noise
    return model


def run_one(recipe: str, data: Path, seed: int, overrides: list[str], products: bool) -> dict[str, Any]:
    cfg = load_config(ROOT / "configs" / f"{recipe}.yaml", [*overrides, f"train.seed={seed}"])
    split = load_split(data, name=cfg.data.split)
    torch.manual_seed(seed)
    model = build_model(cfg, split.graph)
    if products:
        add_products(model)
    graphs = build_graphs(
        split.train_graph(),
        model.relations,
        self_loops=uses_self_loops(model, cfg.model.name),
        sell_min_weight=cfg.data.sell_min_weight,
    )
    trainer = Trainer(model, split, graphs, cfg)
    start = time.perf_counter()
    result = trainer.fit()
    # fit() leaves the best checkpoint's weights in the model
    with torch.no_grad():
        enc = model.encode(graphs)
        report, _ = evaluate_candidates(model, enc, split, "buy", "test", groups=("all",))
    return {
        "best_epoch": result.best_epoch,
        "valid_auc": result.best_metric,
        "test": report["all"],
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", action="append", required=True, help="LABEL=DIR (a simulated dataset)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--recipes", nargs="+", default=["lightgcn", "lsec-lightgcn"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--plain", action="store_true", help="the paper's scorer (no products): the reference")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "lsec_interaction_probe.json")
    parser.add_argument("overrides", nargs="*", help="dotted config overrides")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for label, folder in (item.split("=", 1) for item in args.data):
        for recipe, seed in itertools.product(args.recipes, args.seeds):
            if label != "pos" and recipe == "lightgcn":
                continue  # buy-graph-only model: the null controls leave its inputs unchanged
            out = run_one(recipe, Path(folder), seed, args.overrides, products=not args.plain)
            row = {"data": label, "recipe": recipe, "seed": seed, **out}
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {}
    for (label, recipe), group in itertools.groupby(rows, key=lambda r: (r["data"], r["recipe"])):
        group = list(group)
        summary[f"{label}/{recipe}"] = {
            metric: {
                "mean": statistics.fmean(r["test"][metric] for r in group),
                "std": statistics.stdev(r["test"][metric] for r in group) if len(group) > 1 else 0.0,
            }
            for metric in ("auc", "recall@50")
        }
    args.out.write_text(json.dumps({"rows": rows, "summary": summary, "overrides": args.overrides}, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
