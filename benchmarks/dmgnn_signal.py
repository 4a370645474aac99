"""How much of the simulator's influence signal can a tier classifier reach, with and without decay?

For the tier queries of the DM-GNN protocol (``lsec.train.temporal_data``: user ``u`` at an event time ``t``,
tier = bin of ``u``'s paid amount in ``[t, t + 7 days)``), fit a multinomial logistic regression on the
training queries (standardised features, balanced class weights) and report the test macro-F1 of three
feature sets:

* ``own``: ``u``'s own consumption features in ``[t - 7 days, t)`` (what DM-GNN's tier head receives);
* ``own + ties (no decay)``: plus ``log1p`` of the number of purchases in ``[t - 7 days, t)`` of the users ``u``
  acted on before ``t`` (its ties; the social events strictly before ``t``), per tie;
* ``own + ties (decay)``: plus ``log1p`` of ``sum exp(-decay * age in days)`` over those purchases (all before
  ``t``), per tie. (Per tie, because the number of ties known before ``t`` grows with ``t``: a sum drifts
  between the training and the test period and costs the classifier 5-8 points of accuracy even on the null.)

The gap ``ties - own`` bounds what message passing over social edges can add to tiers; the gap ``decay - no
decay`` what a recency decay can add. On the null control both should vanish. The DM-GNN encoder itself
never sees a tie's purchases (its messages carry node embeddings, event kinds and ages only), so this is an
upper reference, not what the model reaches.

The link side (issue 15 point 5, decay): for the test events ``(u, v, t)`` against their historical negatives
``(u, v', t)`` (an earlier partner of ``u``), the AUC of three scores built from the events strictly before ``t``:
``pair count`` (the number of earlier ``u``-``v`` events, what the aggregated graph knows), ``pair decayed``
(``sum exp(-decay * age in days)`` over them: recency) and ``partner's purchases, decayed`` (``v``'s purchases
before ``t``, decayed: interactions that follow purchases). Recency carries something the aggregated graph
lacks when ``pair decayed`` beats ``pair count``; on the null control the pair scores should fall to 0.5-ish.

Usage: .venv/bin/python benchmarks/dmgnn_signal.py DATASET [DATASET ...] [--decay 1.0] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def tie_purchase_features(data, users, times, window, decay_per_day):  # type: ignore[no-untyped-def]
    """(Q, 2): log1p of u's earlier partners' purchases in [t - window, t) and of their decayed sum, per partner."""
    from lsec.data.schema import CONSUMPTION_KINDS
    from lsec.train.temporal_data import DAY

    pay = data.consumption_kind == CONSUMPTION_KINDS["pay"]
    buyer, pts = data.consumption_user[pay], data.consumption_ts[pay]
    order = np.lexsort((pts, buyer))
    buyer, pts = buyer[order], pts[order]
    starts = np.searchsorted(buyer, np.arange(data.num_users + 1))
    # partners of u before t: social events with src == u (u acted on v) strictly before t
    ev_order = np.lexsort((data.ts, data.src))
    e_src, e_dst, e_ts = data.src[ev_order], data.dst[ev_order], data.ts[ev_order]
    e_start = np.searchsorted(e_src, np.arange(data.num_users + 1))
    out = np.zeros((len(users), 2))
    for q, (u, t) in enumerate(zip(users, times, strict=True)):
        lo, hi = e_start[u], e_start[u + 1]
        before = e_ts[lo:hi] < t
        partners = np.unique(e_dst[lo:hi][before])
        recent = 0.0
        decayed = 0.0
        for v in partners:
            s = pts[starts[v] : starts[v + 1]]
            s = s[s < t]
            recent += np.count_nonzero(s >= t - window)
            decayed += np.exp(-decay_per_day * (t - s) / DAY).sum()
        per = max(len(partners), 1)  # per partner: the number of partners known before t grows with t (drift)
        out[q] = (np.log1p(recent / per), np.log1p(decayed / per))
    return out


def link_recency(data, decay_per_day, max_events, rng):  # type: ignore[no-untyped-def]
    """AUC of the pair-count, pair-decayed and partner-purchase scores on test events vs historical negatives."""
    from lsec.data.schema import CONSUMPTION_KINDS
    from lsec.metrics.link import link_metrics
    from lsec.train.temporal_data import DAY, NO_NEGATIVE, historical_negatives

    n = data.num_users
    key = np.minimum(data.src, data.dst) * n + np.maximum(data.src, data.dst)  # undirected pair
    order = np.lexsort((data.ts, key))
    pair_key, pair_ts = key[order], data.ts[order]
    pay = data.consumption_kind == CONSUMPTION_KINDS["pay"]
    buyer, pts = data.consumption_user[pay], data.consumption_ts[pay]  # sorted by (user, ts)
    starts = np.searchsorted(buyer, np.arange(n + 1))
    events = np.flatnonzero(data.fold_mask("test"))
    events = np.sort(rng.choice(events, min(max_events, len(events)), replace=False))
    src, dst, t = data.src[events], data.dst[events], data.ts[events]
    hist = historical_negatives(data, src, dst, rng)
    keep = hist != NO_NEGATIVE
    src, dst, t, hist = src[keep], dst[keep], t[keep], hist[keep]

    def scores(v: np.ndarray) -> np.ndarray:
        out = np.zeros((len(src), 3))
        k = np.minimum(src, v) * n + np.maximum(src, v)
        lo = np.searchsorted(pair_key, k, "left")
        hi = np.searchsorted(pair_key, k, "right")
        for q in range(len(src)):
            times = pair_ts[lo[q] : hi[q]]
            times = times[times < t[q]]
            bought = pts[starts[v[q]] : starts[v[q] + 1]]
            bought = bought[bought < t[q]]
            out[q] = (
                len(times),
                np.exp(-decay_per_day * (t[q] - times) / DAY).sum(),
                np.exp(-decay_per_day * (t[q] - bought) / DAY).sum(),
            )
        return out

    pos, neg = scores(dst), scores(hist)
    names = ("pair count", "pair decayed", "partner's purchases, decayed")
    return {"events": int(len(src))} | {
        name: float(link_metrics(pos[:, i], neg[:, i])["auc"]) for i, name in enumerate(names)
    }


def measure(dataset: str, decay: float, max_queries: int, seed: int) -> dict:  # type: ignore[type-arg]
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from lsec.config import load_config
    from lsec.metrics.classification import macro_f1
    from lsec.train.temporal import temporal_task
    from lsec.train.temporal_data import tier_queries

    cfg = load_config("configs/dmgnn/dmgnn.yaml", [f"data.dataset={dataset}"])
    task = temporal_task(cfg)
    data, rule = task.data, task.rule
    rng = np.random.default_rng(seed)
    sets: dict[str, tuple[np.ndarray, ...]] = {}
    for fold in ("train", "test"):
        users, times, _ = tier_queries(data, fold, rule.window)
        pick = np.sort(rng.choice(len(users), min(max_queries, len(users)), replace=False))
        users, times = users[pick], times[pick]
        own = data.features(users, times, rule.window)
        ties = tie_purchase_features(data, users, times, rule.window, decay)
        truth = rule.tiers(data.paid_amount(users, times, rule.window))
        sets[fold] = (own, ties, truth)
    result = {"dataset": dataset, "decay_per_day": decay, "queries": {f: len(sets[f][2]) for f in sets}}
    variants = {"own": lambda o, t: o, "own + ties (no decay)": lambda o, t: np.c_[o, t[:, :1]],
                "own + ties (decay)": lambda o, t: np.c_[o, t[:, 1:]]}  # fmt: skip
    for name, make in variants.items():
        x_train, x_test = make(*sets["train"][:2]), make(*sets["test"][:2])
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced"))
        clf.fit(x_train, sets["train"][2])
        predicted = clf.predict(x_test)
        result[name] = {
            "tier_macro_f1": float(macro_f1(sets["test"][2], predicted, rule.num_tiers)),
            "tier_accuracy": float(np.mean(predicted == sets["test"][2])),
        }
    result["link (historical negatives), AUC"] = link_recency(data, decay, max_queries, rng)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="+", help="dataset folders with social edges and consumption")
    parser.add_argument("--decay", type=float, default=1.0, help="decay per day of the decayed tie feature")
    parser.add_argument("--max-queries", type=int, default=4000, help="tier queries sampled per fold")
    parser.add_argument("--seed", type=int, default=0, help="seed of the query sample")
    parser.add_argument("--out", help="JSON file for the results")
    args = parser.parse_args()
    results = []
    for dataset in args.datasets:
        started = time.perf_counter()
        result = measure(dataset, args.decay, args.max_queries, args.seed)
        result["seconds"] = round(time.perf_counter() - started, 1)
        results.append(result)
        print(json.dumps(result))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
