"""Link metrics against scikit-learn and a naive pairwise loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from lsec.metrics.link import average_precision, link_metrics


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
def test_against_sklearn(seed: int, ties: bool) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.random(200) < 0.3
    scores = labels * 0.5 + rng.normal(size=200)
    if ties:
        scores = np.round(scores, 1)
    assert average_precision(labels, scores) == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    out = link_metrics(scores[labels], scores[~labels])
    assert out["auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert out["ap"] == pytest.approx(average_precision_score(labels, scores), abs=1e-12)


def test_naive_auc_and_hand_ap() -> None:
    pos, neg = np.array([0.9, 0.4, 0.4]), np.array([0.4, 0.1])
    naive = np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg])
    out = link_metrics(pos, neg)
    assert out["auc"] == pytest.approx(naive)
    # thresholds 0.9 (P 1, R 1/3), 0.4 (P 3/4, R 1): AP = 1/3 * 1 + 2/3 * 3/4
    assert out["ap"] == pytest.approx(1 / 3 + 0.5)


def test_one_class_is_nan() -> None:
    assert math.isnan(average_precision(np.ones(3), np.arange(3.0)))
    assert all(math.isnan(v) for v in link_metrics(np.array([1.0]), np.array([])).values())
    with pytest.raises(ValueError, match="one length"):
        average_precision(np.ones(3), np.ones(2))
