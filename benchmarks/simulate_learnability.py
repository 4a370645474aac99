"""How learnable is the LSEC simulator? Ceilings and a collaborative-filtering proxy, no project model trained.

Issue 12 point 4 asks for a simulator on which NCF and LightGCN (MLP) reach the paper's test AUC (0.81 / 0.85,
Table 3) with the official protocol. Training those at scale 1.0 takes many minutes per run; this probe says in
a few minutes whether a setting of the generative knobs (:class:`lsec.data.simulate.lsec.LsecModel`) can get
there at all. Data: ``simulate_lsec("lsec-small", scale, influence, seed, model=...)`` with the paper's time split
(train days 0-29, test days 40-49). Each test user with a training purchase (at most ``--users``) gets its test
purchases plus ``--negatives`` uniform items it never bought; every figure is the mean per-user AUC:

``--version 3`` starts from simulator v3's knobs (its niche count scaled with ``--scale``) instead of v2's.

* ``pop``: training purchases of the item (what every trained model must beat);
* ``oracle``: the generative probability of the purchase (organic share from the user's true topics and the
  items' true popularity, plus the through-streamer share from the true follow and sell graphs): the ceiling;
* ``oracle_organic``: the same without the streamer channel;
* ``inferred_topic``: the user's topic histogram over its training purchases at the candidate's true topic, plus
  ``0.1 * log1p(pop)``: what a model that had learnt the item topics perfectly could do from the buy history;
* ``als``: ``implicit``'s ALS (64 factors, regularization 1, alpha 20, 15 iterations) on the training buys: a
  collaborative-filtering model that must learn the topics from co-purchases, run in the throwaway venv of
  ``benchmarks/compare_peers.py`` when ``--implicit-python`` points at it (skipped otherwise);
* ``als+w*log1p(pop)``: ALS plus a popularity prior (ALS has no item bias; BPR-trained models learn one), for
  each ``w`` of ``ALS_POP_WEIGHTS``: the best of them is the proxy for a trained model.

    .venv/bin/python benchmarks/simulate_learnability.py --scale 1.0 \\
        --model '{"num_topics": 128, "organic_primary": 0.85}' \\
        --implicit-python benchmarks/_work/implicit-venv/bin/python --results benchmarks/results/learnability.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from lsec.data.simulate import lsec as simulator

DAY = 86_400
ALS_POP_WEIGHTS = (0.01, 0.03, 0.1, 0.3)  # ALS has no item bias: the best mix with log popularity is reported too

ALS_SCRIPT = """
import json, sys
import numpy as np, scipy.sparse as sp, threadpoolctl, implicit
threadpoolctl.threadpool_limits(1, "blas")
folder = sys.argv[1]
train = sp.load_npz(folder + "/train.npz").tocsr()
model = implicit.cpu.als.AlternatingLeastSquares(
    factors=64, regularization=1.0, alpha=20.0, iterations=15, random_state=0, num_threads=1
)
model.fit(train, show_progress=False)
np.save(folder + "/user_factors.npy", model.user_factors)
np.save(folder + "/item_factors.npy", model.item_factors)
"""


def _matrix(
    src: np.ndarray, dst: np.ndarray, shape: tuple[int, int], weight: np.ndarray | None = None
) -> sp.csr_matrix:
    values = np.ones(src.shape[0]) if weight is None else weight
    out = sp.csr_matrix((values, (src, dst)), shape=shape)
    if weight is None:
        out.data[:] = 1.0
    return out


def per_user_auc(score: np.ndarray, label: np.ndarray, tie_break: np.ndarray) -> float:
    x = score + 1e-9 * tie_break
    pos, neg = x[label == 1], x[label == 0]
    return float((pos[:, None] > neg[None]).mean() + 0.5 * (pos[:, None] == neg[None]).mean())


def probe(args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    gamma = args.degree_exponent
    target = simulator._check_arguments("lsec-small", args.scale, args.influence, args.seed, None, 20, gamma)
    base = simulator.model_for(simulator.check_version(args.version), target.num_items)
    model = dataclasses.replace(base, **json.loads(args.model))
    graph = simulator.simulate_lsec(
        "lsec-small", scale=args.scale, influence=args.influence, seed=args.seed, model=model, degree_exponent=gamma
    )
    # The latent nodes are the first stage of the generator, drawn from the first spawned stream: redraw them.
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(args.seed).spawn(6)]
    nodes = simulator._latent_nodes(target, model, streams[0])
    u, i, n = graph.num_users, graph.num_items, graph.num_streamers
    b, f, s = graph["buy"], graph["follow"], graph["sell"]
    day = (b.ts - graph.time_origin) // DAY
    train, test = day < 30, day >= 40
    buys = _matrix(b.src[train], b.dst[train], (u, i))
    every = _matrix(b.src, b.dst, (u, i))
    tests = _matrix(b.src[test], b.dst[test], (u, i))
    pop = np.asarray(buys.sum(0)).ravel().astype(np.float64)
    popularity, topic = nodes["item_popularity"], nodes["item_topic"]
    k = nodes["num_topics"]
    topic_mass = np.bincount(topic, weights=popularity, minlength=k)
    follows = _matrix(f.src, f.dst, (u, n))
    assert s.weight is not None
    sales = s.weight.astype(np.float64)
    sells = _matrix(s.src, s.dst, (n, i), sales / np.bincount(s.src, weights=sales, minlength=n)[s.src])
    histogram = (buys @ _matrix(np.arange(i), topic, (i, k))).toarray()
    users = np.unique(b.src[test])
    users = users[np.asarray(buys[users].sum(1)).ravel() > 0][: args.users]
    rng = np.random.default_rng(args.seed)
    anywhere = 1.0 - model.organic_primary - model.organic_secondary
    lists = []
    for user in users:
        pos = tests[user].indices
        draw = rng.integers(0, i, 3 * args.negatives)
        neg = draw[~np.isin(draw, every[user].indices)][: args.negatives]
        lists.append((user, np.concatenate([pos, neg]), np.r_[np.ones(len(pos)), np.zeros(len(neg))]))
    figures: dict[str, list[float]] = {"pop": [], "oracle": [], "oracle_organic": [], "inferred_topic": []}
    for user, cand, label in lists:
        t1, t2 = nodes["user_topic"][user], nodes["user_topic2"][user]
        organic = popularity[cand] * (
            model.organic_primary * (topic[cand] == t1) / topic_mass[t1]
            + model.organic_secondary * (topic[cand] == t2) / topic_mass[t2]
            + anywhere / topic_mass.sum()
        )
        channel = np.asarray((follows[user] @ sells)[:, cand].todense()).ravel() / max(follows[user].sum(), 1.0)
        p = pop[cand]
        figures["pop"].append(per_user_auc(p, label, p))
        figures["oracle_organic"].append(per_user_auc(organic, label, p))
        figures["oracle"].append(per_user_auc((1 - args.influence) * organic + args.influence * channel, label, p))
        figures["inferred_topic"].append(per_user_auc(histogram[user][topic[cand]] + 0.1 * np.log1p(p), label, p))
    if args.implicit_python:
        with tempfile.TemporaryDirectory() as folder:
            sp.save_npz(f"{folder}/train.npz", buys.tocsr())
            subprocess.run([str(args.implicit_python), "-c", ALS_SCRIPT, folder], check=True)
            user_factors = np.load(f"{folder}/user_factors.npy")
            item_factors = np.load(f"{folder}/item_factors.npy")
        figures["als"] = [
            per_user_auc(item_factors[cand] @ user_factors[user], label, pop[cand]) for user, cand, label in lists
        ]
        for weight in ALS_POP_WEIGHTS:
            figures[f"als+{weight}*log1p(pop)"] = [
                per_user_auc(item_factors[cand] @ user_factors[user] + weight * np.log1p(pop[cand]), label, pop[cand])
                for user, cand, label in lists
            ]
    counts = np.sort(np.bincount(b.dst, minlength=i))[::-1]
    return {
        "args": {k: v for k, v in vars(args).items() if k not in ("results", "implicit_python")},
        "model": json.loads(args.model),
        "num_topics": model.num_topics,
        "users": int(len(users)),
        "train_buys_per_user": round(buys.nnz / u, 2),
        "top1pct_item_share": round(float(counts[: max(1, i // 100)].sum() / counts.sum()), 3),
        **{name: round(float(np.mean(v)), 4) for name, v in figures.items()},
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--influence", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--model", default="{}", help="JSON of LsecModel fields to change, e.g. '{\"num_topics\": 64}'."
    )
    parser.add_argument(
        "--version", default="2", help="Simulator version whose knobs --model changes (2 or 3; v3 scales its niches)."
    )
    parser.add_argument("--degree-exponent", type=float, default=simulator.DEFAULT_DEGREE_EXPONENT)
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--negatives", type=int, default=100)
    parser.add_argument("--implicit-python", type=Path, default=None, help="Python of a venv with implicit (ALS).")
    parser.add_argument("--results", type=Path, default=None, help="Append the JSON line to this file.")
    args = parser.parse_args()
    line = json.dumps(probe(args))
    print(line)
    if args.results is not None:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        with args.results.open("a") as handle:
            handle.write(line + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
