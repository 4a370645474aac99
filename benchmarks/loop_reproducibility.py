"""Same seed, same numbers through the training-loop refactor: a fingerprint of three trainings.

    .venv/bin/python benchmarks/loop_reproducibility.py TAG      # writes /tmp/repro/TAG.json

Simulates lsec-small at scale 0.05 (seed 0, split 30 / 10 / 10 days), trains LSEC-LightGCN and LightGCN (MLP) with
their recipes for 3 epochs (one thread) and records each epoch's training loss and validation AUC; trains a
dot-product LightGCN with ``train_bpr`` (hard negatives, 3 epochs) on a random 500 x 800 graph and records its
losses and two sums of the final embedding table. Run it on two commits and compare the JSON files: the figures
recorded before and after the refactor are in benchmarks/README.md ("One training loop").
The recipes now take at least ``train.min_steps`` steps, so ``train.min_steps=0`` keeps the 3-epoch budget.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

from lsec.config import load_config
from lsec.data.simulate.lsec import simulate_lsec
from lsec.data.split import split_by_time, write_split
from lsec.data.store import save
from lsec.graph.adjacency import bipartite_adjacency
from lsec.nn.models.lightgcn import LightGCN
from lsec.train.bpr import BPRConfig, train_bpr
from lsec.train.runs import read_log
from lsec.train.trainer import train_run

WORK = Path("/tmp/repro")


def main(tag: str) -> dict:
    out: dict = {}
    data = WORK / "data"
    if not data.exists():
        graph = simulate_lsec("lsec-small", scale=0.05, influence=0.5, seed=0)
        save(graph, data)
        folds = split_by_time(graph, train_days=30, valid_days=10, test_days=10)
        write_split(data, folds, tasks=("buy", "follow"), num_candidates=500, seed=0, graph=graph)
    for name in ("lsec-lightgcn", "lightgcn"):
        run = WORK / f"run-{tag}-{name}"
        shutil.rmtree(run, ignore_errors=True)
        overrides = [f"data.dataset={data}", "train.epochs=3", "train.num_threads=1", "train.min_steps=0"]
        train_run(load_config(f"configs/{name}.yaml", overrides), run)
        out[name] = [(e.get("train_loss"), e.get("metrics", {}).get("auc")) for e in read_log(run)]
    rng = np.random.default_rng(0)
    keys = np.unique(rng.integers(0, 500, 20000) * 800 + rng.integers(0, 800, 20000))
    users, items = keys // 800, keys % 800
    torch.manual_seed(0)
    model = LightGCN(500, 800, embedding_dim=16, num_layers=2)
    torch.set_num_threads(1)
    config = BPRConfig(epochs=3, batch_size=4096, hard_candidates=4, reg=3e-3)
    history = train_bpr(model, bipartite_adjacency(users, items, 500, 800), users, items, config)
    table = model.embedding.detach().double()
    out["bpr"] = {"loss": history.loss, "sum": float(table.sum()), "abs": float(table.abs().sum())}
    return out


if __name__ == "__main__":
    tag = sys.argv[1] if len(sys.argv) > 1 else "now"
    result = main(tag)
    (WORK / f"{tag}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result))
