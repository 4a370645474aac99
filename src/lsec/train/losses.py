"""Training losses over one positive and K sampled negatives per row.

``bce``: binary cross-entropy with logits, averaged over all ``n * (1 + K)`` labelled pairs (the slides'
log loss, eq. 8, as a mean rather than a sum so that the learning rate does not depend on the batch size).
``bpr``: Bayesian personalised ranking, ``-log sigmoid(s_pos - s_neg)`` averaged over the ``n * K`` pairs;
used for dot-product models (LightGCN-dot, MF-BPR), as in their papers.

Shapes:
    positive (n,), negative (n, K) -> scalar
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bce_loss(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """Mean BCE with logits: label 1 for ``positive``, 0 for every entry of ``negative``."""
    logits = torch.cat([positive.reshape(-1), negative.reshape(-1)])
    labels = torch.cat([torch.ones_like(positive.reshape(-1)), torch.zeros_like(negative.reshape(-1))])
    return F.binary_cross_entropy_with_logits(logits, labels)


def bpr_loss(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """Mean ``-log sigmoid(pos - neg)`` over every (positive, negative) pair of a row."""
    return -F.logsigmoid(positive[:, None] - negative).mean()


LOSSES = {"bce": bce_loss, "bpr": bpr_loss}


def pair_loss(name: str, positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """Dispatch by name: ``"bce"`` or ``"bpr"``."""
    try:
        fn = LOSSES[name]
    except KeyError:
        raise ValueError(f"The 'loss' parameter must be 'bce' or 'bpr'. Got {name!r} instead.") from None
    return fn(positive, negative)
