from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from lsec.metrics.classification import MacroF1, confusion_matrix, f1_per_class, macro_f1


@pytest.mark.parametrize("seed", range(5))
def test_macro_f1_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 5, 300)
    y_pred = np.where(rng.random(300) < 0.5, y_true, rng.integers(0, 5, 300))
    assert macro_f1(y_true, y_pred) == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    # an absent class counts 0 when num_classes says it exists
    expected = f1_score(y_true, y_pred, average="macro", labels=range(7), zero_division=0)
    assert macro_f1(y_true, y_pred, num_classes=7) == pytest.approx(expected)


def test_naive_counts_and_sparse_labels():
    y_true = np.array([10, 10, 20, 30, 30, 30])
    y_pred = np.array([10, 20, 20, 30, 10, 30])
    f1 = []
    for c in (10, 20, 30):
        tp = np.sum((y_true == c) & (y_pred == c))
        fp = np.sum((y_true != c) & (y_pred == c))
        fn = np.sum((y_true == c) & (y_pred != c))
        f1.append(2 * tp / (2 * tp + fp + fn))
    np.testing.assert_allclose(f1_per_class(y_true, y_pred), f1)
    assert macro_f1(y_true, y_pred) == pytest.approx(np.mean(f1))


def test_metric_object_and_errors():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 3, 100), rng.integers(0, 3, 100)
    metric = MacroF1(num_classes=3)
    metric.update(y_true[:40], y_pred[:40])
    metric.update(y_true[40:], y_pred[40:])
    assert metric.compute() == pytest.approx(macro_f1(y_true, y_pred, num_classes=3))
    assert confusion_matrix(y_true, y_pred, 3).sum() == 100
    with pytest.raises(ValueError, match=r"class ids must be in 0\.\.2"):
        macro_f1(np.array([0, 3]), np.array([0, 1]), num_classes=3)
    with pytest.raises(ValueError, match="integer class ids"):
        macro_f1(np.array([0.5]), np.array([1.0]))
