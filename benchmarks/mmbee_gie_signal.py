"""Is there a GIE signal in gifting data? A no-training probe on held-out impressions (issue 13 point 7).

Everything is computed from the training days' gifts only (the same cut as ``lsec.train.gtr``), with no
model and no fitted weight: per held-out impression (validation and test days) of user ``u`` and target
streamer ``a``,

* ``history``: number of training gifts of ``u`` to ``a`` (what SIM's behaviour sequence holds);
* ``category``: share of ``u``'s training gifts in ``a``'s category (SIM's hard search by category);
* ``popularity``: training gifts received by ``a`` (what a streamer id embedding learns);
* ``u2a2a``: summed Swing scores of ``a`` from the streamers ``u`` gifted (Swing neighbours, k = 20);
* ``u2a2u2a``: share of ``u``'s co-gifting users (u2a2u, k = 20) who gifted ``a`` in training;
* ``a2u2a``: share of ``a``'s a2u2a streamers (co-gifted with ``a``) that ``u`` gifted;
* ``walk5``: unbounded 5-hop co-gifting walks ``u -> a' -> v -> a'' -> w -> a`` (``(A S S)[u, a]`` with
  ``A`` the 0/1 user-streamer gift matrix and ``S = A^T A`` minus its diagonal): a stand-in for what smooth
  embeddings over the graph (GraphCL's ``Θ``) can carry beyond the bounded lists' exact membership.

Scores are compared lexicographically, never weighted: ``history > graph > category > popularity`` means
"order by history, break its ties by the graph feature, then by category, then by popularity". The question
is whether a graph feature adds ranking power beyond what the backbone already has (history, category,
popularity): the UAUC / GAUC of ``history, category, popularity`` against ``history, <graph>, category,
popularity``, and the plain AUC of each feature on the impressions whose target ``u`` never gifted in
training (``new``: where the history is silent and only an expansion can help). On ``--null graph`` data every
graph gain must vanish.

    .venv/bin/python benchmarks/mmbee_gie_signal.py DATA [DATA ...] --out benchmarks/results/mmbee_gie_signal.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lsec.data.events import read_events
from lsec.data.store import load
from lsec.graph.metapath import metapath_neighbours
from lsec.graph.swing import gift_graph, swing
from lsec.metrics.grouped import auc, grouped_auc
from lsec.train.gtr import gift_data

K = 20
GRAPH_FEATURES = ("u2a2a", "u2a2u2a", "a2u2a", "walk5")


def features(data: str) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Per held-out impression: the probe's features (module docstring), labels, users and fold (1 / 2)."""
    graph = load(data)
    events = read_events(data, "impressions")
    category = np.asarray(graph.node_features["streamer"]["category"], np.int64)
    d = gift_data(
        users=events["user"], streamers=events["streamer"], ts=events["ts"], label=events["label"],
        amount=events["amount"], streamer_category=category, num_users=graph.num_nodes["user"],
        time_origin=int(graph.time_origin or 0),
    )  # fmt: skip
    nu, ns = d.num_users, d.num_streamers
    train_gift = (d.fold == 0) & (d.labels["gift"] > 0)
    gu, gs = d.users[train_gift], d.streamers[train_gift]
    g = gift_graph(src=gu, dst=gs, num_users=nu, num_streamers=ns)  # weight = number of gifts
    sw = swing(graph=g, k=K, mode="bounded", seed=0)
    u2a2u = metapath_neighbours(metapath="u2a2u", graph=g, k=K)
    a2u2a = metapath_neighbours(metapath="a2u2a", graph=g, k=K)

    held = np.flatnonzero(d.fold > 0)
    u, a = d.users[held], d.streamers[held]
    pair = g_pairs = None
    pair = u * ns + a
    g_pairs = gu * ns + gs
    uniq, counts = np.unique(g_pairs, return_counts=True)
    pos = np.searchsorted(uniq, pair).clip(max=max(uniq.size - 1, 0))
    history = np.where(uniq.size and (uniq[pos] == pair), counts[pos], 0).astype(float) if uniq.size else 0 * u
    # category share of the user's training gifts
    per_user = np.bincount(gu, minlength=nu).astype(float)
    per_user_cat = np.bincount(gu * d.num_categories + category[gs], minlength=nu * d.num_categories)
    cat_share = per_user_cat[u * d.num_categories + category[a]] / np.maximum(per_user[u], 1)
    popularity = np.bincount(gs, minlength=ns)[a].astype(float)

    # u2a2a: sum over the user's gifted streamers s of Swing(s, a)
    sw_csr = sw.to_csr()  # (ns, ns)
    user_streamer = g_csr(g)  # (nu, ns) 0/1
    reach = (user_streamer @ sw_csr).tocsr()  # (nu, ns): summed Swing scores from the user's streamers
    u2a2a = np.asarray(reach[u, a]).ravel()
    # u2a2u2a: share of co-gifters who gifted a
    co = u2a2u.indices[u]  # (n, K)
    co_valid = co >= 0
    gifted = np.zeros(co.shape, dtype=bool)
    gifted[co_valid] = np.isin(co[co_valid].astype(np.int64) * ns + np.repeat(a, K).reshape(co.shape)[co_valid], uniq)
    u2a2u2a = gifted.sum(1) / np.maximum(co_valid.sum(1), 1)
    # a2u2a: share of the target's co-gifted streamers that the user gifted
    nb = a2u2a.indices[a]
    nb_valid = nb >= 0
    hit = np.zeros(nb.shape, dtype=bool)
    hit[nb_valid] = np.isin(np.repeat(u, K).reshape(nb.shape)[nb_valid] * ns + nb[nb_valid].astype(np.int64), uniq)
    a2u2a_share = hit.sum(1) / np.maximum(nb_valid.sum(1), 1)
    s_mat = (user_streamer.T @ user_streamer).tocsr()
    s_mat.setdiag(0)
    s_mat.eliminate_zeros()
    walk = (user_streamer @ s_mat @ s_mat).tocsr()  # (nu, ns)
    walk5 = np.asarray(walk[u, a]).ravel()
    f = {
        "history": history,
        "category": cat_share,
        "popularity": popularity,
        "u2a2a": u2a2a,
        "u2a2u2a": u2a2u2a,
        "a2u2a": a2u2a_share,
        "walk5": walk5,
    }
    return f, d.labels["gift"][held], u, d.fold[held]


def g_csr(g):  # type: ignore[no-untyped-def]
    import scipy.sparse as sp

    data = np.ones(g.user_streamers.shape[0])
    return sp.csr_matrix((data, g.user_streamers, g.user_ptr), shape=(g.num_users, g.num_streamers))


def lexicographic(f: dict[str, np.ndarray], order: tuple[str, ...]) -> np.ndarray:
    """One score whose order is the lexicographic order of the named features (dense ranks, no weights)."""
    score = np.zeros(f[order[0]].shape[0])
    for name in order:
        rank = np.unique(f[name], return_inverse=True)[1].reshape(-1).astype(float)
        score = score * (rank.max(initial=0) + 1) + rank
    return score


def probe(data: str) -> dict[str, object]:
    f, y, u, fold = features(data)
    out: dict[str, object] = {}
    for name, mask in (("valid", fold == 1), ("test", fold == 2), ("held_out", fold > 0)):
        ff = {k: v[mask] for k, v in f.items()}
        yy, uu = y[mask], u[mask]
        combos = {"history": ("history",), "history+category+popularity": ("history", "category", "popularity")}
        for g in GRAPH_FEATURES:
            combos[f"history+{g}"] = ("history", g)
            combos[f"history+{g}+category+popularity"] = ("history", g, "category", "popularity")
        rows: dict[str, dict[str, float]] = {}
        for label, order in combos.items():
            r = grouped_auc(uu, yy, lexicographic(ff, order))
            rows[label] = {"uauc": r.uauc, "gauc": r.gauc, "auc": auc(yy, lexicographic(ff, order))}
        new = ff["history"] == 0
        single = {
            k: auc(yy[new], v[new]) for k, v in ff.items() if k != "history"
        }  # AUC on impressions of never-gifted targets
        gifts_new = yy[new] > 0
        reach = {k: float((ff[k][new][gifts_new] > 0).mean()) for k in GRAPH_FEATURES}
        reach_neg = {k: float((ff[k][new][~gifts_new] > 0).mean()) for k in GRAPH_FEATURES}
        out[name] = {
            "impressions": int(mask.sum()),
            "positives": int(yy.sum()),
            "users_with_both_classes": int(grouped_auc(uu, yy, np.zeros(yy.shape)).num_users)
            - int(grouped_auc(uu, yy, np.zeros(yy.shape)).num_skipped),
            "share_of_gifts_to_new_targets": float(1 - (ff["history"][yy > 0] > 0).mean()),
            "combos": rows,
            "new_target_auc": single,
            "new_target_reach_gifts": reach,
            "new_target_reach_negatives": reach_neg,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="+")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = {str(Path(data).resolve()): probe(data) for data in args.data}
    for data, folds in results.items():
        r = folds["held_out"]
        assert isinstance(r, dict)
        print(f"{Path(data).name}: held-out {r['impressions']} impressions, {r['positives']} gifts, "
              f"{r['share_of_gifts_to_new_targets']:.3f} of gifts to never-gifted targets")  # fmt: skip
        for label, v in r["combos"].items():
            print(f"  {label:<40} UAUC {v['uauc']:.4f} GAUC {v['gauc']:.4f} AUC {v['auc']:.4f}")
        print("  new targets, AUC per feature: " + ", ".join(f"{k} {v:.4f}" for k, v in r["new_target_auc"].items()))
        print("  new targets reached (gifts / negatives): "
              + ", ".join(f"{k} {r['new_target_reach_gifts'][k]:.3f}/{r['new_target_reach_negatives'][k]:.3f}"
                          for k in GRAPH_FEATURES))  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
