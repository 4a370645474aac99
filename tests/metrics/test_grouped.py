from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from lsec.metrics.grouped import GroupedAUCMetric, auc, gauc, grouped_auc, task_metrics, uauc


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


def naive_task(labels, scores, users) -> dict[str, float]:
    """Eq. 13 written out: per-user AUC by pairs, UAUC unweighted, GAUC weighted by impressions."""
    per, weights, skipped = [], [], 0
    for u in sorted(set(users.tolist())):
        m = users == u
        if labels[m].min() == labels[m].max():
            skipped += 1
            continue
        per.append(naive_auc(labels[m], scores[m]))
        weights.append(int(m.sum()))
    return {
        "auc": naive_auc(labels, scores),
        "uauc": sum(per) / len(per),
        "gauc": sum(a * w for a, w in zip(per, weights)) / sum(weights),
        "skipped_users": float(skipped),
    }


@pytest.mark.parametrize("seed", range(3))
def test_task_metrics_report_each_task_from_its_own_samples(seed):
    gift_users, gift_labels, gift_scores = data(seed, n=500)
    # A second task with other users, another length and scores anti-correlated with the labels: its AUC is
    # far from the gift task's, so a mix-up of tasks cannot pass by chance.
    rng = np.random.default_rng(100 + seed)
    follow_users = rng.integers(0, 25, 300).astype(str)
    follow_labels = (rng.random(300) < 0.5).astype(np.int8)
    follow_scores = -follow_labels + 0.8 * rng.random(300)
    follow_users[:3] = "solo"  # one user with a single class: skipped and counted
    follow_labels[:3] = 0
    out = task_metrics(
        {"gift": (gift_labels, gift_scores, gift_users), "follow": (follow_labels, follow_scores, follow_users)}
    )
    assert list(out) == ["gift", "follow"]
    for name, (labels, scores, users) in {
        "gift": (gift_labels, gift_scores, gift_users),
        "follow": (follow_labels, follow_scores, follow_users),
    }.items():
        expected = naive_task(labels, scores, users)
        for key in ("auc", "uauc", "gauc", "skipped_users"):
            assert out[name][key] == pytest.approx(expected[key], abs=1e-12), (name, key)
        assert out[name]["auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
        assert out[name]["num_samples"] == labels.size
        assert out[name]["num_positives"] == labels.sum()
        assert out[name]["num_users"] == np.unique(users).size
    assert out["follow"]["auc"] < 0.3 < 0.4 < out["gift"]["auc"]
    assert out["follow"]["skipped_users"] >= 1


def test_task_metrics_one_class_task_and_bad_input():
    labels = np.zeros(4, dtype=np.int8)
    out = task_metrics({"gift": (labels, np.arange(4.0), np.array([0, 0, 1, 1]))})
    assert np.isnan(out["gift"]["auc"]) and np.isnan(out["gift"]["uauc"])
    assert out["gift"]["skipped_users"] == 2
    with pytest.raises(ValueError, match="task 'gift'.*one length"):
        task_metrics({"gift": (labels, np.arange(3.0), np.arange(4))})
    with pytest.raises(ValueError, match="task 'gift'.*shape of scores"):
        task_metrics({"gift": (labels, np.arange(4.0), np.arange(3))})
    with pytest.raises(ValueError, match="non-empty mapping"):
        task_metrics({})
