from __future__ import annotations

import math

import pytest
import torch

from lsec.train.losses import bce_loss, bpr_loss, pair_loss


def test_bce_matches_the_log_loss_by_hand() -> None:
    pos = torch.tensor([0.5, -1.0])
    neg = torch.tensor([[0.0, 2.0], [-3.0, 1.0]])
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    terms = [-math.log(sig(0.5)), -math.log(sig(-1.0))] + [-math.log(1 - sig(v)) for v in (0.0, 2.0, -3.0, 1.0)]
    assert float(bce_loss(pos, neg)) == pytest.approx(sum(terms) / 6, rel=1e-6)


def test_bpr_matches_by_hand_and_dispatch() -> None:
    pos = torch.tensor([1.0])
    neg = torch.tensor([[0.0, 3.0]])
    expected = (-math.log(1 / (1 + math.exp(-1.0))) - math.log(1 / (1 + math.exp(2.0)))) / 2
    assert float(bpr_loss(pos, neg)) == pytest.approx(expected, rel=1e-6)
    assert float(pair_loss("bpr", pos, neg)) == float(bpr_loss(pos, neg))
    with pytest.raises(ValueError, match="'bce' or 'bpr'"):
        pair_loss("hinge", pos, neg)
