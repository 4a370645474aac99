from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import ndcg_score, roc_auc_score

from lsec.metrics.ranking import CandidateMetrics, candidate_metrics, candidate_metrics_detail, ndcg_at_k, recall_at_k


def naive_user_metrics(labels: list[int], scores: list[float], ks, first_ks) -> dict[str, float]:
    """Direct transcription of the definitions for one user (pessimistic ties)."""
    pos = [s for s, lab in zip(scores, labels) if lab == 1]
    neg = [s for s, lab in zip(scores, labels) if lab == 0]
    out: dict[str, float] = {}
    if neg and pos:
        pairs = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
        out["auc"] = pairs / (len(pos) * len(neg))
    if not pos:
        return out
    # pessimistic ranking: sort by (-score, label) so negatives come first among ties
    ranked = sorted(zip(scores, labels), key=lambda x: (-x[0], x[1]))
    ranks = [i + 1 for i, (_, lab) in enumerate(ranked) if lab == 1]
    out["mrr"] = sum(1 / r for r in ranks) / len(ranks)
    for k in ks:
        dcg = sum(1 / math.log2(r + 1) for r in ranks if r <= k)
        idcg = sum(1 / math.log2(i + 1) for i in range(1, min(len(pos), k) + 1))
        out[f"ndcg@{k}"] = dcg / idcg
        out[f"recall@{k}"] = sum(r <= k for r in ranks) / len(pos)
    for k in first_ks:
        out[f"mrr_first@{k}"] = 1 / ranks[0] if ranks[0] <= k else 0.0
    return out


def random_lists(seed: int, num_users: int = 40, ties: bool = True):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 30, num_users)
    user = np.repeat(rng.permutation(1000)[:num_users], sizes)
    label = (rng.random(user.size) < 0.2).astype(np.int8)
    # few distinct values -> many ties (including positive/negative ties)
    score = rng.integers(0, 6, user.size).astype(np.float64) if ties else rng.random(user.size)
    perm = rng.permutation(user.size)  # rows not grouped
    return user[perm], label[perm], score[perm]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ties", [True, False])
def test_matches_naive_loop(seed, ties):
    user, label, score = random_lists(seed, ties=ties)
    ks, first_ks = (1, 3, 10), (1, 5)
    result = candidate_metrics_detail(user, label, score, ks=ks, first_ks=first_ks)
    per_user_naive = {}
    for u in np.unique(user):
        m = user == u
        per_user_naive[int(u)] = naive_user_metrics(label[m].tolist(), score[m].tolist(), ks, first_ks)
    names = list(result.metrics)
    for name in names:
        values = [d[name] for d in per_user_naive.values() if name in d]
        assert result.metrics[name] == pytest.approx(np.mean(values), abs=1e-12), name
    # per user values too
    got = result.per_user
    for i, u in enumerate(got["user"]):
        for name in names:
            expected = per_user_naive[int(u)].get(name, float("nan"))
            if math.isnan(expected):
                assert math.isnan(got[name][i])
            else:
                assert got[name][i] == pytest.approx(expected, abs=1e-12)
    no_pos = sum(1 for d in per_user_naive.values() if "mrr" not in d)
    no_auc = sum(1 for d in per_user_naive.values() if "auc" not in d)
    assert result.num_skipped == no_pos
    assert result.num_skipped_auc == no_auc
    assert result.num_users == len(per_user_naive)


def test_mixed_list_lengths_use_several_blocks():
    rng = np.random.default_rng(7)
    sizes = np.array([1, 2, 3, 700, 64, 65, 500, 9])
    user = np.repeat(np.arange(sizes.size), sizes)
    label = (rng.random(user.size) < 0.3).astype(np.int8)
    label[np.cumsum(sizes) - 1] = 1
    score = np.round(rng.random(user.size), 2)
    result = candidate_metrics_detail(user, label, score, ks=(10, 50), first_ks=(10,))
    for i in range(sizes.size):
        m = user == i
        naive = naive_user_metrics(label[m].tolist(), score[m].tolist(), (10, 50), (10,))
        for name, value in naive.items():
            assert result.per_user[name][i] == pytest.approx(value, abs=1e-12), (i, name)


@pytest.mark.parametrize("seed", range(3))
def test_auc_matches_sklearn_per_user(seed):
    user, label, score = random_lists(seed, ties=True)
    per_user = candidate_metrics(user, label, score, per_user=True)
    for i, u in enumerate(per_user["user"]):
        m = user == u
        if 0 < label[m].sum() < m.sum():
            assert per_user["auc"][i] == pytest.approx(roc_auc_score(label[m], score[m]))


@pytest.mark.parametrize("seed", range(3))
def test_ndcg_matches_sklearn_without_ties(seed):
    rng = np.random.default_rng(seed)
    num_users, size, k = 20, 50, 10
    user = np.repeat(np.arange(num_users), size)
    label = (rng.random(user.size) < 0.1).astype(np.int8)
    label[::size] = 1  # every user has a positive
    score = rng.random(user.size)
    got = candidate_metrics(user, label, score, ks=(k,), per_user=True)["ndcg@10"]
    expected = [ndcg_score(label[user == u][None], score[user == u][None], k=k) for u in range(num_users)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_constant_scorer_is_pessimistic():
    rng = np.random.default_rng(0)
    user = np.repeat(np.arange(100), 500)
    label = np.zeros(user.size, np.int8)
    label[rng.choice(user.size, 300, replace=False)] = 1
    label[::500] = 1
    m = candidate_metrics(user, label, np.zeros(user.size), ks=(10, 50), first_ks=(10,))
    assert m["auc"] == pytest.approx(0.5)
    # every positive ranks after all 490+ negatives of its list
    assert m["recall@10"] == 0.0 and m["recall@50"] == 0.0
    assert m["ndcg@10"] == 0.0 and m["mrr_first@10"] == 0.0
    assert m["mrr"] < 1 / 490


def test_perfect_and_reversed_scorers():
    user = np.repeat(np.arange(3), 4)
    label = np.array([1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0], np.int8)
    good = label + 0.01 * np.arange(12)
    m = candidate_metrics(user, label, good, ks=(2,), first_ks=(1,))
    assert m == {
        "auc": 1.0,
        "mrr": pytest.approx((1 + 0.75 + 1) / 3),
        "ndcg@2": 1.0,
        "recall@2": 1.0,
        "mrr_first@1": 1.0,
    }
    bad = candidate_metrics(user, label, -good, ks=(2,), first_ks=(1,))
    assert bad["auc"] == 0.0 and bad["mrr_first@1"] == 0.0


def test_skipped_users_are_counted():
    user = np.array([0, 0, 1, 1, 2, 2])
    label = np.array([1, 0, 0, 0, 1, 1])
    result = candidate_metrics_detail(user, label, np.array([0.9, 0.1, 0.5, 0.4, 0.3, 0.2]))
    assert result.num_skipped == 1  # user 1: no positive
    assert result.num_skipped_auc == 2  # user 1 and user 2 (no negative)
    assert result.metrics["auc"] == 1.0
    assert result.metrics["mrr"] == pytest.approx((1 + (1 + 0.5) / 2) / 2)


def test_accumulating_object_equals_one_shot():
    user, label, score = random_lists(3)
    metric = CandidateMetrics(ks=(5,), first_ks=(5,))
    for part in np.array_split(np.arange(user.size), 4):
        metric.update(user[part], label[part], score[part])
    assert metric.compute() == candidate_metrics(user, label, score, ks=(5,), first_ks=(5,))
    metric.reset()
    with pytest.raises(ValueError, match="before any update"):
        metric.compute()


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="NaN"):
        candidate_metrics(np.zeros(2), np.array([1, 0]), np.array([np.nan, 1.0]))
    with pytest.raises(ValueError, match="'ks' parameter"):
        candidate_metrics(np.zeros(2), np.array([1, 0]), np.zeros(2), ks=(0,))
    with pytest.raises(ValueError, match="0/1"):
        candidate_metrics(np.zeros(2), np.array([2, 0]), np.zeros(2))


def test_topk_building_blocks():
    hits = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [0, 1, 0, 0]], dtype=bool)
    relevant = np.array([3, 0, 1])
    np.testing.assert_allclose(recall_at_k(hits, relevant, 3), [2 / 3, np.nan, 1.0])
    ideal = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    np.testing.assert_allclose(ndcg_at_k(hits, relevant, 3), [(1 + 0.5) / ideal, np.nan, 1 / np.log2(3)])
    # agrees with candidate_metrics on the same ranking
    user = np.repeat([0, 2], 4)
    label = np.r_[hits[0], hits[2]].astype(np.int8)
    label[3] = 1  # third relevant item of user 0 ranked 4th
    score = np.tile([4.0, 3.0, 2.0, 1.0], 2)
    m = candidate_metrics(user, label, score, ks=(3,), per_user=True)
    np.testing.assert_allclose(m["ndcg@3"], ndcg_at_k(hits[[0, 2]], relevant[[0, 2]], 3))
    np.testing.assert_allclose(m["recall@3"], recall_at_k(hits[[0, 2]], relevant[[0, 2]], 3))


@pytest.mark.parametrize("seed", range(3))
def test_grouped_rows_and_float32_scores_take_the_fast_path_with_same_results(seed):
    user, label, score = random_lists(seed, ties=True)
    order = np.argsort(user, kind="stable")
    grouped = candidate_metrics_detail(
        user[order], label[order], score[order].astype(np.float32), ks=(3,), first_ks=(2,)
    )
    shuffled = candidate_metrics_detail(user, label, score, ks=(3,), first_ks=(2,))
    assert grouped.metrics == pytest.approx(shuffled.metrics, abs=1e-12)
    np.testing.assert_array_equal(grouped.per_user["user"], shuffled.per_user["user"])


@pytest.mark.parametrize("seed", range(3))
def test_infinite_scores_and_padding(seed):
    # -inf scores share the padding value of the internal blocks; they must still rank as ordinary ties
    user, label, score = random_lists(seed, ties=True)
    score[score == 0] = -np.inf
    score[score == 5] = np.inf
    result = candidate_metrics_detail(user, label, score, ks=(3,), first_ks=(2,))
    for i, u in enumerate(result.per_user["user"]):
        m = user == u
        for name, value in naive_user_metrics(label[m].tolist(), score[m].tolist(), (3,), (2,)).items():
            assert result.per_user[name][i] == pytest.approx(value, abs=1e-12), name
