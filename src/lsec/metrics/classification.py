"""Multi-class classification metrics (DM-GNN consumption tiers, DESIGN section 5). Definitions are API.

For class ``c`` with ``TP_c``, ``FP_c``, ``FN_c`` counted from the confusion matrix,
:math:`F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c)` (0 when the denominator is 0, i.e. the class never occurs
in ``y_true`` nor ``y_pred``), and ``macro_f1`` is the unweighted mean of ``F1_c`` over the classes:
``0..num_classes-1`` when ``num_classes`` is given (absent classes then count as 0, like scikit-learn's
``f1_score(average="macro", labels=range(num_classes), zero_division=0)``), otherwise the classes that
occur in ``y_true`` or ``y_pred``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MacroF1", "confusion_matrix", "f1_per_class", "macro_f1"]


def _classes(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    """Labels re-indexed to ``0..C-1`` and ``C``."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-d arrays of one length. Got {y_true.shape} and {y_pred.shape}.")
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        if values.size and not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"{name} must hold integer class ids. Got dtype {values.dtype} instead.")
    if num_classes is not None:
        if num_classes < 1:
            raise ValueError(
                f"The 'num_classes' parameter of macro_f1 must be a positive int. Got {num_classes} instead."
            )
        both = np.concatenate([y_true, y_pred])
        if both.size and (both.min() < 0 or both.max() >= num_classes):
            bad = both[(both < 0) | (both >= num_classes)][0]
            raise ValueError(f"class ids must be in 0..{num_classes - 1}. Got {bad} instead.")
        return y_true.astype(np.int64), y_pred.astype(np.int64), num_classes
    labels, inverse = np.unique(np.concatenate([y_true, y_pred]), return_inverse=True)
    inverse = inverse.reshape(-1)
    return inverse[: y_true.size], inverse[y_true.size :], max(labels.size, 1)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``(C, C)`` int64 counts, rows = true class, columns = predicted class."""
    t, p, c = _classes(y_true, y_pred, num_classes)
    return np.bincount(t * c + p, minlength=c * c).reshape(c, c)


def f1_per_class(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """``(C,)`` F1 of each class (see the module docstring for the class set and the 0/0 convention)."""
    t, p, c = _classes(y_true, y_pred, num_classes)
    matrix = np.bincount(t * c + p, minlength=c * c).reshape(c, c)
    true_pos = np.diag(matrix).astype(np.float64)
    denominator = 2 * true_pos + (matrix.sum(axis=0) - true_pos) + (matrix.sum(axis=1) - true_pos)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, 2 * true_pos / denominator, 0.0)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None) -> float:
    """Unweighted mean of per-class F1. ``nan`` for empty input."""
    if np.asarray(y_true).size == 0:
        return float("nan")
    return float(f1_per_class(y_true, y_pred, num_classes).mean())


class MacroF1:
    """Accumulating macro-F1 over a fixed number of classes (``update`` / ``compute`` / ``reset``)."""

    def __init__(self, num_classes: int) -> None:
        if num_classes < 1:
            raise ValueError(
                f"The 'num_classes' parameter of MacroF1 must be a positive int. Got {num_classes} instead."
            )
        self.num_classes = num_classes
        self.reset()

    def reset(self) -> None:
        self.matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        self.matrix += confusion_matrix(y_true, y_pred, self.num_classes)

    def compute(self) -> float:
        true_pos = np.diag(self.matrix).astype(np.float64)
        denominator = 2 * true_pos + (self.matrix.sum(axis=0) - true_pos) + (self.matrix.sum(axis=1) - true_pos)
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.where(denominator > 0, 2 * true_pos / denominator, 0.0).mean())

    def __repr__(self) -> str:
        return f"MacroF1(num_classes={self.num_classes})"
