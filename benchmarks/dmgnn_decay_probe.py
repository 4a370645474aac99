"""Does recency weighting of the sampled neighbours carry anything a model could use? (no training)

Issue 15 point 5: before asking DM-GNN's decay to beat no decay, check on the model's own inputs whether the
data give a recency weight anything to use. For each query the ``k`` neighbour events the encoder would see
(``--sampler recent``: the ``k`` latest events strictly before ``t``, or ``uniform``: ``k`` drawn uniformly
among them, seeded) are aggregated three ways, with ``w_j = exp(-lambda * age_j in days)``:

* ``mean`` (no decay): the plain mean over the real neighbours (what uniform attention gives);
* ``decay, normalised``: ``sum w_j f_j / sum w_j`` (DM-GNN's decay as this repository implements it: a
  ``-lambda dt`` bias on the attention scores, renormalised by the softmax);
* ``decay, unnormalised``: ``log1p(sum w_j f_j)`` (the decay factor multiplying the messages, no renormalisation:
  the context's size then says how recent the activity is).

Queries and neighbour features ``f_j``:

* **tiers**: user ``u`` at time ``t`` (the protocol's tier queries), ``f_j`` = the partner's node attributes at
  the event's own time (``TemporalData.node_attributes``: log1p pays in the last day, pays and paid amount in
  the last 7 days, strictly before the event) and a constant 1 (activity); base features: ``u``'s own
  consumption in the last 7 days. Score: macro-F1 of a logistic regression (standardised, balanced).
* **links**: a test event ``(u, v, t)`` against its historical negative ``(u, v', t)``; ``f_j`` over ``u``'s
  neighbours = [the partner is the candidate], over the candidate's neighbours = the constant 1 (its recent
  activity: bursts follow purchases); base: the candidate's node attributes at ``t``. Score: AUC.

**Multi-task bound** (``oracle: other task``): the ``mean`` features plus the OTHER task's true target, which
no model has at query time: for tiers, ``log1p`` of ``u``'s social events in ``[t, t + W)`` (what the link task
predicts about ``u``); for links, the tiers of ``u`` and of the candidate in ``[t, t + W)`` (one-hot). If even the
other task's answer adds nothing, sharing an encoder with it has nothing to transfer (through these inputs).

The logistic regression is fitted on the validation fold's queries and scored on the test fold's (the encoder's
decay is a single rate: this asks whether the best linear read-out of each aggregation differs). ``--seeds``
repeats with other query samples, negatives and uniform draws; gaps are per-seed differences (mean ± sample std).
On the null control (``--null social`` data) every gap should vanish.

Usage: .venv/bin/python benchmarks/dmgnn_decay_probe.py DATA [DATA ...] [--sampler recent] [--decay 1.0]
    [--k 10] [--tier-window-days 7] [--max-queries 3000] [--seeds 5] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import numpy as np

AGGREGATIONS = ("mean", "decay, normalised", "decay, unnormalised")
ORACLE = "oracle: other task"


def neighbours(data: Any, nodes: np.ndarray, times: np.ndarray, k: int, sampler: str, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    from lsec.graph.temporal import most_recent, uniform_before

    if sampler == "recent":
        return most_recent(data.csr, nodes=nodes, times=times, k=k)
    return uniform_before(data.csr, nodes=nodes, times=times, k=k, seed=rng)


def aggregate(values: np.ndarray, mask: np.ndarray, age_days: np.ndarray, decay: float) -> dict[str, np.ndarray]:
    """values (B, k, F), mask (B, k), ages (B, k) -> {aggregation: (B, F)} (module docstring)."""
    m = mask[..., None].astype(np.float64)
    w = np.exp(-decay * age_days)[..., None] * m
    count = np.maximum(m.sum(1), 1.0)
    total = np.maximum(w.sum(1), 1e-300)
    return {
        "mean": (values * m).sum(1) / count,
        "decay, normalised": np.where(w.sum(1) > 0, (values * w).sum(1) / total, 0.0),
        "decay, unnormalised": np.log1p((values * w).sum(1)),
    }


def tier_sets(data: Any, rule: Any, fold: str, args: argparse.Namespace, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    from lsec.train.temporal_data import DAY, tier_queries

    users, times, _ = tier_queries(data, fold, rule.window)
    pick = np.sort(rng.choice(len(users), min(args.max_queries, len(users)), replace=False))
    users, times = users[pick], times[pick]
    nb = neighbours(data, users, times, args.k, args.sampler, rng)
    flat = np.where(nb.mask, nb.neighbors, 0).ravel()
    attrs = data.node_attributes(flat, np.where(nb.mask, nb.timestamps, times[:, None]).ravel(), rule.window)
    values = np.concatenate([attrs.reshape(len(users), args.k, -1), np.ones((len(users), args.k, 1))], axis=2)
    agg = aggregate(values, nb.mask, nb.dt / DAY, args.decay)
    own = data.features(users, times, rule.window)
    truth = rule.tiers(data.paid_amount(users, times, rule.window))
    agg["oracle: other task"] = np.c_[agg["mean"], future_events(data, users, times, rule.window)]
    return own, agg, truth


def future_events(data: Any, users: np.ndarray, times: np.ndarray, window: int) -> np.ndarray:
    """(B,) log1p of the social events of ``users[b]`` in ``[t, t + window)``: what the link task predicts of them."""
    from lsec.graph.temporal import count_before

    after = count_before(data.csr, nodes=users, times=times + window) - count_before(data.csr, nodes=users, times=times)
    return np.log1p(after.astype(np.float64))


def link_sets(data: Any, tier_rule: Any, fold: str, args: argparse.Namespace, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    from lsec.train.temporal_data import DAY, NO_NEGATIVE, historical_negatives

    events = np.flatnonzero(data.fold_mask(fold))
    events = np.sort(rng.choice(events, min(args.max_queries, len(events)), replace=False))
    src, dst, t = data.src[events], data.dst[events], data.ts[events]
    hist = historical_negatives(data, src, dst, rng)
    keep = hist != NO_NEGATIVE
    src, dst, t, hist = src[keep], dst[keep], t[keep], hist[keep]
    own_nb = neighbours(data, src, t, args.k, args.sampler, rng)
    window = tier_rule.window

    def features(cand: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        match = (own_nb.neighbors == cand[:, None]) & own_nb.mask
        u_side = aggregate(match[..., None].astype(np.float64), own_nb.mask, own_nb.dt / DAY, args.decay)
        c_nb = neighbours(data, cand, t, args.k, args.sampler, rng)
        c_side = aggregate(np.ones((len(cand), args.k, 1)), c_nb.mask, c_nb.dt / DAY, args.decay)
        base = data.node_attributes(cand, t, window)
        out = {a: np.c_[u_side[a], c_side[a]] for a in AGGREGATIONS}
        tiers = np.c_[
            tier_rule.tiers(data.paid_amount(src, t, window)), tier_rule.tiers(data.paid_amount(cand, t, window))
        ]
        out["oracle: other task"] = np.c_[out["mean"], np.eye(tier_rule.num_tiers)[tiers].reshape(len(cand), -1)]
        return base, out

    pos, neg = features(dst), features(hist)
    base = np.r_[pos[0], neg[0]]
    agg = {a: np.r_[pos[1][a], neg[1][a]] for a in (*AGGREGATIONS, ORACLE)}
    truth = np.r_[np.ones(len(dst), np.int64), np.zeros(len(hist), np.int64)]
    return base, agg, truth


def fit_score(x_fit, y_fit, x_test, y_test, kind, num_tiers):  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from lsec.metrics.classification import macro_f1
    from lsec.metrics.link import link_metrics

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced"))
    clf.fit(x_fit, y_fit)
    if kind == "tiers":
        return float(macro_f1(y_test, clf.predict(x_test), num_tiers))
    p = clf.predict_proba(x_test)[:, 1]
    return float(link_metrics(p[y_test == 1], p[y_test == 0])["auc"])


def measure(dataset: str, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    from lsec.config import load_config
    from lsec.train.temporal import temporal_task

    overrides = [f"data.dataset={dataset}", f"model.hparams.tier_window_days={args.tier_window_days}"]
    cfg = load_config("configs/dmgnn/dmgnn.yaml", overrides)
    task = temporal_task(cfg)
    data, rule = task.data, task.rule
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    for kind in ("tiers", "links"):
        sets = {}
        for fold in ("valid", "test"):
            sets[fold] = (
                tier_sets(data, rule, fold, args, rng) if kind == "tiers" else link_sets(data, rule, fold, args, rng)
            )
        (b_fit, a_fit, y_fit), (b_test, a_test, y_test) = sets["valid"], sets["test"]
        row = {"base": fit_score(b_fit, y_fit, b_test, y_test, kind, rule.num_tiers)}
        for a in (*AGGREGATIONS, ORACLE):
            row[a] = fit_score(np.c_[b_fit, a_fit[a]], y_fit, np.c_[b_test, a_test[a]], y_test, kind, rule.num_tiers)
        row["queries"] = {"valid": int(len(y_fit)), "test": int(len(y_test))}
        out[kind] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="+", help="dataset folders with social edges and consumption")
    parser.add_argument("--sampler", choices=("recent", "uniform"), default="recent", help="neighbour sampler")
    parser.add_argument("--decay", type=float, default=1.0, help="lambda, per day")
    parser.add_argument("--tier-window-days", type=float, default=7, help="tier window (protocol default 7)")
    parser.add_argument("--k", type=int, default=10, help="neighbours per query")
    parser.add_argument("--max-queries", type=int, default=3000, help="queries sampled per fold")
    parser.add_argument("--seeds", type=int, default=5, help="repeats (seeds 0..n-1)")
    parser.add_argument("--out", help="JSON file for the results")
    args = parser.parse_args()
    results = []
    for dataset in args.datasets:
        started = time.perf_counter()
        runs = [measure(dataset, args, seed) for seed in range(args.seeds)]
        summary: dict[str, Any] = {}
        for kind, metric in (("tiers", "macro-F1"), ("links", "AUC (historical negatives)")):
            rows = {k: [r[kind][k] for r in runs] for k in ("base", *AGGREGATIONS, ORACLE)}
            gaps = {
                "decay, normalised - mean": [
                    a - b for a, b in zip(rows["decay, normalised"], rows["mean"], strict=True)
                ],
                "decay, unnormalised - mean": [
                    a - b for a, b in zip(rows["decay, unnormalised"], rows["mean"], strict=True)
                ],
                "mean - base": [a - b for a, b in zip(rows["mean"], rows["base"], strict=True)],
                "oracle - mean": [a - b for a, b in zip(rows[ORACLE], rows["mean"], strict=True)],
            }
            summary[kind] = {"metric": metric, "queries": runs[0][kind]["queries"]} | {
                k: _mean_std(v) for k, v in (rows | gaps).items()
            }
        result = {
            "dataset": dataset,
            "sampler": args.sampler,
            "decay_per_day": args.decay,
            "k": args.k,
            "tier_window_days": args.tier_window_days,
            "seeds": args.seeds,
            "summary": summary,
            "runs": runs,
            "seconds": round(time.perf_counter() - started, 1),
        }
        results.append(result)
        print(json.dumps({k: result[k] for k in ("dataset", "sampler", "decay_per_day", "summary", "seconds")}))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=2)


def _mean_std(values: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "beyond_2_std": bool(len(values) > 1 and statistics.fmean(values) > 2 * statistics.stdev(values)),
    }


if __name__ == "__main__":
    main()
