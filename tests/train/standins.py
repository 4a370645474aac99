"""Private stand-ins used by these tests only while a teammate's module has not landed yet.

``ensure_ranking_metrics()`` installs a naive ``lsec.metrics.ranking.candidate_metrics`` (per-user loop,
DESIGN section 5 definitions, pessimistic ties) when the real module is missing; it does nothing once
the real one exists.
"""

from __future__ import annotations

import importlib
import sys
import types

import numpy as np


def _naive_candidate_metrics(user, label, score, ks=(10, 50), first_ks=(10,), per_user=False):  # type: ignore[no-untyped-def]
    out: dict[str, list[float]] = {}
    for u in np.unique(user):
        m = user == u
        y, s = label[m].astype(bool), score[m].astype(float)
        pos, neg = s[y], s[~y]
        if pos.size == 0:
            continue
        # pessimistic rank: 1 + #items scored strictly higher + #other items tied (negatives first)
        ranks = np.array([1 + (s > p).sum() + ((s == p) & ~y).sum() for p in pos])
        vals = {
            "auc": ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum())
            / max(1, pos.size * neg.size)
        }
        vals["mrr"] = float(np.mean(1.0 / ranks))
        for k in ks:
            dcg = sum(1 / np.log2(r + 1) for r in ranks if r <= k)
            idcg = sum(1 / np.log2(i + 2) for i in range(min(pos.size, k)))
            vals[f"ndcg@{k}"] = dcg / idcg
            vals[f"recall@{k}"] = float((ranks <= k).sum() / pos.size)
        for k in first_ks:
            first = ranks.min()
            vals[f"mrr_first@{k}"] = 1.0 / first if first <= k else 0.0
        for key, v in vals.items():
            out.setdefault(key, []).append(float(v))
    return {k: float(np.mean(v)) for k, v in out.items()}


def ensure_ranking_metrics() -> None:
    try:
        importlib.import_module("lsec.metrics.ranking")
    except ModuleNotFoundError:
        module = types.ModuleType("lsec.metrics.ranking")
        module.candidate_metrics = _naive_candidate_metrics  # type: ignore[attr-defined]
        sys.modules["lsec.metrics.ranking"] = module
