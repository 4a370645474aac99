"""How much does the follow -> sell path tell about test-window purchases, beyond the buy history? (no training)

Model-free check of the LSEC simulator (issue 3 point 5): on a simulated lsec-small graph with the paper's time
split (train days 0-29, test days 40-49), every test user with a training purchase (at most ``--users``) gets
its test purchases plus ``--negatives`` uniform items it never bought, scored by

* ``pop``: training purchases of the item;
* ``cf``: item-kNN on the training buy graph, ``sum_j in B_u cos(i, j)`` (a buy-only model);
* ``fs``: follow -> sell, ``sum_s F_us * sales_si / sales_s`` over train-window follows and sell edges;
* ``base``: the best of ``cf / max + a * log1p(pop) / max`` over ``a`` in {0.5, 1, 2} (what the buy graph gives);
* ``best``: the best of ``base + l * fs / max`` over ``l`` in {0.25, 0.5, 1, 2, 4}.

Each figure is the mean per-user AUC. ``best - base`` is the information the follow and sell graphs add to the
buy graph; on a null control (``--null follow|sell``) it should vanish.

    .venv/bin/python benchmarks/simulate_signal.py --scale 0.1 --influence 0.5
    .venv/bin/python benchmarks/simulate_signal.py --scale 0.1 --influence 0.5 --null follow
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from lsec.data.graph import EdgeTable
from lsec.data.simulate.lsec import DEFAULT_DEGREE_EXPONENT, TIME_ORIGIN, simulate_lsec

DAY = 86_400
POP_WEIGHTS = (0.5, 1.0, 2.0)
FS_WEIGHTS = (0.25, 0.5, 1.0, 2.0, 4.0)


def day(table: EdgeTable) -> np.ndarray:
    return (table.ts - TIME_ORIGIN) // DAY


def matrix(
    table: EdgeTable, mask: np.ndarray, shape: tuple[int, int], weight: np.ndarray | None = None
) -> sp.csr_matrix:
    values = np.ones(int(mask.sum())) if weight is None else weight
    out = sp.csr_matrix((values, (table.src[mask], table.dst[mask])), shape=shape)
    if weight is None:
        out.data[:] = 1.0
    return out


def auc(score: np.ndarray, label: np.ndarray, tie_break: np.ndarray) -> float:
    x = score + 1e-9 * tie_break
    pos, neg = x[label == 1], x[label == 0]
    return float((pos[:, None] > neg[None]).mean() + 0.5 * (pos[:, None] == neg[None]).mean())


def signal(args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    graph = simulate_lsec(
        "lsec-small",
        scale=args.scale,
        influence=args.influence,
        seed=args.seed,
        null=args.null,
        degree_exponent=args.degree_exponent,
    )
    u, i, n = graph.num_users, graph.num_items, graph.num_streamers
    b, f, s = graph["buy"], graph["follow"], graph["sell"]
    train, test = day(b) < 30, day(b) >= 40
    buys = matrix(b, train, (u, i))
    follows = matrix(f, day(f) < 30, (u, n))
    sold = day(s) < 30
    assert s.weight is not None
    sales = s.weight[sold].astype(np.float64)
    share = sales / np.bincount(s.src[sold], weights=sales, minlength=n)[s.src[sold]]
    sells = matrix(s, sold, (n, i), share)
    pop = np.asarray(buys.sum(0)).ravel()
    normed = buys @ sp.diags(1 / (np.sqrt(pop) + 1e-9))
    cosine = (normed.T @ normed).tocsr()
    every = matrix(b, np.ones(len(b), dtype=bool), (u, i))
    tests = matrix(b, test, (u, i))
    users = np.unique(b.src[test])
    users = users[np.asarray(buys[users].sum(1)).ravel() > 0][: args.users]
    rng = np.random.default_rng(args.seed)
    figures: dict[str, list[float]] = {}
    for user in users:
        pos = tests[user].indices
        draw = rng.integers(0, i, 3 * args.negatives)
        neg = draw[~np.isin(draw, every[user].indices)][: args.negatives]
        cand = np.concatenate([pos, neg])
        label = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
        cf = np.asarray((buys[user] @ cosine)[:, cand].todense()).ravel()
        fs = np.asarray((follows[user] @ sells)[:, cand].todense()).ravel()
        pp = pop[cand].astype(np.float64)
        cf_n, fs_n = cf / (cf.max() + 1e-12), fs / (fs.max() + 1e-12)
        pop_n = np.log1p(pp) / (np.log1p(pp).max() + 1e-12)
        for name, score in (("pop", pp), ("cf", cf), ("fs", fs)):
            figures.setdefault(name, []).append(auc(score, label, pp))
        for a in POP_WEIGHTS:
            figures.setdefault(f"base a={a}", []).append(auc(cf_n + a * pop_n, label, pp))
            for w in FS_WEIGHTS:
                figures.setdefault(f"best a={a} l={w}", []).append(auc(cf_n + a * pop_n + w * fs_n, label, pp))
    means = {k: float(np.mean(v)) for k, v in figures.items()}
    base = max(v for k, v in means.items() if k.startswith("base"))
    best = max(v for k, v in means.items() if k.startswith("best"))
    return {
        "args": {k: v for k, v in vars(args).items() if k != "results"},
        "users": int(len(users)),
        "edges": {rel[1]: len(table) for rel, table in graph.items()},
        "pop": round(means["pop"], 4),
        "cf": round(means["cf"], 4),
        "fs": round(means["fs"], 4),
        "base": round(base, 4),
        "best": round(best, 4),
        "best_minus_base": round(best - base, 4),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--influence", type=float, default=0.5)
    parser.add_argument("--null", choices=["follow", "sell"], default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--degree-exponent", type=float, default=DEFAULT_DEGREE_EXPONENT)
    parser.add_argument("--users", type=int, default=1500)
    parser.add_argument("--negatives", type=int, default=100)
    parser.add_argument("--results", type=Path, default=None, help="Append the JSON line to this file.")
    args = parser.parse_args()
    line = json.dumps(signal(args))
    print(line)
    if args.results is not None:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        with args.results.open("a") as handle:
            handle.write(line + "\n")


if __name__ == "__main__":
    main()
