"""Probe for issue 11 point 6: what the test ranking would give if it used the validation fold's pairs too.

    flock /tmp/lsec-cpu.lock .venv/bin/python benchmarks/generalisation_history.py
        [--work benchmarks/_work/generalisation] [--runs tiktok-lightgcn-dot,ciao-lightgcn-dot,...]

Reads the run folders that benchmarks/generalisation.py wrote (no training here). ``lsec evaluate`` propagates a
trained model over the TRAINING fold only and masks only training items, so on a split with a given 'valid'
fold (TikTok's, Ciao's time split) the valid pairs are invisible at test time. With a carved validation
(Gowalla) the test-time graph already holds every training pair. For each run and for popularity, this prints
test recall@20 / ndcg@20 under four protocols, all with the same trained weights:

- ``train``: what ``lsec evaluate`` does (the check: equals its numbers);
- ``train+cold``: the same, but users without a training pair get the popularity ranking;
- ``history``: the graph (LightGCN propagation, GF-CF's fit, popularity counts) is train + valid, and train +
  valid items are masked;
- ``history+cold``: both.

Writes benchmarks/results/generalisation_history.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

HERE = Path(__file__).resolve().parent
RUNS = (
    "tiktok-gf-cf,tiktok-lightgcn-dot,tiktok-mf-bpr,ciao-gf-cf,ciao-lightgcn-dot,ciao-mf-bpr,"
    "tiktok-lightgcn-dot-c1,ciao-lightgcn-dot-c1"
)


def with_cold_fallback(block: Any, known: sp.csr_matrix, popularity: Any) -> Any:
    """Users without a pair in ``known`` are scored by ``popularity`` instead of ``block``."""
    cold = torch.from_numpy(np.diff(known.indptr) == 0)

    def score(users: torch.Tensor) -> torch.Tensor:
        out = block(users)
        rows = cold[users]
        if rows.any():
            out[rows] = popularity(users[rows])
        return out

    return score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default=str(HERE / "_work" / "generalisation"))
    parser.add_argument("--runs", default=RUNS)
    parser.add_argument("--out", default=str(HERE / "results" / "generalisation_history.json"))
    args = parser.parse_args()
    from lsec.evaluate.full_sort import full_sort_metrics, model_score_block, popularity_block
    from lsec.graph.adjacency import bipartite_adjacency
    from lsec.nn.models.base import RecommenderModel
    from lsec.nn.models.gfcf import GFCF
    from lsec.train.engines import csr, distinct_pairs
    from lsec.train.runs import load_run

    def metrics(block: Any, mask: sp.csr_matrix, test: sp.csr_matrix) -> dict[str, float]:
        m = full_sort_metrics(block, mask, test, ks=(20,))
        return {k: round(m[k], 5) for k in ("recall@20", "ndcg@20")}

    result: dict[str, Any] = {}
    for name in args.runs.split(","):
        run_dir = Path(args.work) / name
        if not (run_dir / "run.json").is_file():
            print(f"{name}: no run folder, skipped")
            continue
        run = load_run(run_dir)
        split = run.split
        num_users, num_items = int(split.graph.num_nodes["user"]), int(split.graph.num_nodes["item"])
        shape = (num_users, num_items)
        pairs = {f: distinct_pairs(split.edges("buy", f), num_items) for f in ("train", "valid", "test")}
        train = csr(*pairs["train"], shape)
        test = csr(*pairs["test"], shape)
        history_users = np.concatenate([pairs["train"][0], pairs["valid"][0]])
        history_items = np.concatenate([pairs["train"][1], pairs["valid"][1]])
        history = csr(history_users, history_items, shape)
        if isinstance(run.model, RecommenderModel):
            block_train = model_score_block(run.model, run.encode())
            with torch.no_grad():
                adjacency = bipartite_adjacency(history_users, history_items, num_users, num_items)
                block_history = model_score_block(run.model, run.model.encode({"buy": adjacency}))
        else:
            block_train = run.model.score_block()
            block_history = GFCF(**run.config.model.hparams).fit(history).score_block()
        pop_train, pop_history = popularity_block(train), popularity_block(history)
        entry = {
            "train": metrics(block_train, train, test),
            "train+cold": metrics(with_cold_fallback(block_train, train, pop_train), train, test),
            "history": metrics(block_history, history, test),
            "history+cold": metrics(with_cold_fallback(block_history, history, pop_history), history, test),
            "popularity_train": metrics(pop_train, train, test),
            "popularity_history": metrics(pop_history, history, test),
        }
        result[name] = entry
        print(name, json.dumps(entry), flush=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
