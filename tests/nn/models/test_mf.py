from __future__ import annotations

import pytest
import torch

from lsec.nn.models.mf import MatrixFactorization


def test_scores_are_inner_products() -> None:
    torch.manual_seed(0)
    model = MatrixFactorization(5, 7, embedding_dim=3)
    enc = model.encode({})
    users, items = torch.tensor([0, 4, 2]), torch.tensor([6, 0, 2])
    expected = (model.user.weight[users] * model.item.weight[items]).sum(1)
    torch.testing.assert_close(model.score("buy", enc, users, items), expected)
    torch.testing.assert_close(model.score_all("buy", enc, users), model.user.weight[users] @ model.item.weight.T)
    assert model.scoring_kind("buy") == "dot" and model.tasks == ("buy",)
    model.score("buy", enc, users, items).sum().backward()
    assert model.user.weight.grad is not None and model.item.weight.grad is not None
    with pytest.raises(ValueError, match="positive"):
        MatrixFactorization(5, 7, embedding_dim=0)
