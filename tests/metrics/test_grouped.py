from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from lsec.metrics.grouped import GroupedAUCMetric, auc, gauc, grouped_auc, uauc


def naive_auc(labels, scores) -> float:
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg) / (len(pos) * len(neg))


def data(seed: int, n: int = 600, ties: bool = True):
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 40, n)
    labels = (rng.random(n) < 0.3).astype(np.int8)
    scores = rng.integers(0, 8, n).astype(np.float64) if ties else rng.normal(size=n)
    return users, labels, scores


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("ties", [True, False])
def test_global_auc_matches_sklearn_and_naive(seed, ties):
    _, labels, scores = data(seed, ties=ties)
    assert auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert auc(labels, scores) == pytest.approx(naive_auc(labels, scores), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_uauc_gauc_match_naive_loop(seed):
    users, labels, scores = data(seed)
    users[:5] = 999  # a user with one class only
    labels[:5] = 1
    per, weights, skipped = [], [], 0
    for u in np.unique(users):
        m = users == u
        if labels[m].min() == labels[m].max():
            skipped += 1
            continue
        per.append(naive_auc(labels[m], scores[m]))
        assert per[-1] == pytest.approx(roc_auc_score(labels[m], scores[m]))
        weights.append(m.sum())
    result = grouped_auc(users, labels, scores)
    assert result.num_skipped == skipped >= 1
    assert result.num_users == np.unique(users).size
    assert result.uauc == pytest.approx(np.mean(per), abs=1e-12)
    assert result.gauc == pytest.approx(np.average(per, weights=weights), abs=1e-12)
    assert uauc(users, labels, scores) == result.uauc
    assert gauc(users, labels, scores) == result.gauc


def test_constant_scores_give_half_and_one_class_is_an_error():
    labels = np.array([0, 1, 0, 1, 1])
    assert auc(labels, np.ones(5)) == 0.5
    assert uauc(np.zeros(5), labels, np.ones(5)) == 0.5
    with pytest.raises(ValueError, match="both classes"):
        auc(np.ones(3), np.arange(3.0))
    assert np.isnan(uauc(np.arange(3), np.array([0, 1, 1]), np.arange(3.0)))


def test_metric_object():
    users, labels, scores = data(1)
    metric = GroupedAUCMetric()
    for part in np.array_split(np.arange(users.size), 3):
        metric.update(users[part], labels[part], scores[part])
    out = metric.compute()
    assert out["auc"] == pytest.approx(auc(labels, scores))
    assert out["gauc"] == pytest.approx(gauc(users, labels, scores))
