"""Can LSEC-LightGCN's cross-graph dot products carry the follow -> sell signal before any training? (issue 12.5)

On a dataset folder with a split (``benchmarks/tripartite_gain.py`` writes one under /tmp/lsec-tripartite/), builds
LSEC-LightGCN with random N(0, 1) tables (seeded), propagates over the training graphs and scores the buy
validation lists by ``log1p(training purchases) + w * z(<E_u^q, E_i^t>)`` (``z``: standardised over the rows) for
each (user key, item key) pair, with the layers combined by their mean or the last layer only, and for the
first propagation step alone (user's followed streamers . item's sellers), next to the graph heuristic it
approximates (row-normalised follow @ sell). One JSON line of AUCs (all users), best ``w``.

    nice -n 10 .venv/bin/python benchmarks/tripartite_paths.py DATASET [--dims 200,1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import scipy.sparse as sp
import torch

from lsec.data.split import load_split
from lsec.evaluate.protocols import candidate_report
from lsec.graph.adjacency import bipartite_adjacency, propagate
from lsec.nn.models.lsec_gnn import LSECGNN

WEIGHTS = (0.03, 0.1, 0.3, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("--dims", default="200")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    split = load_split(args.dataset)
    train = split.train_graph()
    n = train.num_nodes
    graphs = {
        r: bipartite_adjacency(train[r].src, train[r].dst, *(n[t] for t in _types(r)), self_loops=False)
        for r in ("buy", "follow", "sell")
    }
    rows = split.candidates("buy", "valid")
    user, target = np.asarray(rows.user), np.asarray(rows.target)
    pop = np.log1p(np.bincount(train["buy"].dst, minlength=n["item"]).astype(np.float64))[target]

    def auc(score: np.ndarray) -> float:
        return round(float(candidate_report(rows, score, groups=("all",))["all"]["auc"]), 4)

    def best(signal: np.ndarray) -> dict[str, float]:
        z = (signal - signal.mean()) / (signal.std() + 1e-12)
        figures = {w: auc(pop + w * z) for w in WEIGHTS}
        w = max(figures, key=figures.__getitem__)
        return {"auc": figures[w], "w": w, "alone": auc(signal)}

    follows = _rows(
        sp.csr_matrix(
            (np.ones(len(train["follow"].src)), (train["follow"].src, train["follow"].dst)), (n["user"], n["streamer"])
        )
    )
    sells = _rows(
        sp.csr_matrix(
            (np.ones(len(train["sell"].src)), (train["sell"].src, train["sell"].dst)), (n["streamer"], n["item"])
        )
    )
    reach = np.asarray((follows @ sells)[user, target]).ravel()
    out: dict = {"dataset": args.dataset, "popularity": auc(pop), "heuristic_reach": best(reach)}
    for dim in (int(d) for d in args.dims.split(",")):
        for combine in ("mean", "last"):
            torch.manual_seed(args.seed)
            model = LSECGNN(n["user"], n["item"], n["streamer"], aggregator="lightgcn", embedding_dim=dim,
                            layer_dims=(dim, dim), lightgcn_combine=combine, scorer="dot")  # fmt: skip
            with torch.no_grad():
                enc = model.encode(graphs)
                u, t = torch.from_numpy(user), torch.from_numpy(target)
                for q, k in model.dot_pairs("buy"):
                    signal = (enc[q][u] * enc[k][t]).sum(-1).numpy().astype(np.float64)
                    out[f"d{dim}.{combine}.{q}*{k}"] = best(signal)
                if combine == "mean":  # one step only: (A_follow E_S)_u . (A_sell^T E_S)_i, the path itself
                    follow1 = propagate(graphs["follow"], torch.cat([model._table("user"), model._table("streamer")]))
                    sell1 = propagate(graphs["sell"], torch.cat([model._table("streamer"), model._table("item")]))
                    user1, item1 = follow1[: n["user"]], sell1[n["streamer"] :]
                    signal = (user1[u] * item1[t]).sum(-1).numpy().astype(np.float64)
                    out[f"d{dim}.layer1.follow.user*sell.item"] = best(signal)
    print(json.dumps(out), flush=True)


def _types(rel: str) -> tuple[str, str]:
    return {"buy": ("user", "item"), "follow": ("user", "streamer"), "sell": ("streamer", "item")}[rel]


def _rows(m: sp.csr_matrix) -> sp.csr_matrix:
    m.data[:] = 1.0
    degree = np.asarray(m.sum(1)).ravel()
    degree[degree == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / degree) @ m)


if __name__ == "__main__":
    main()
