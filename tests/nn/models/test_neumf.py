from __future__ import annotations

import pytest
import torch

from lsec.nn.models.neumf import NeuMF


def test_score_is_the_fused_ncf_formula() -> None:
    """NCF's output layer over [p*q || MLP_L([q' || p'])] equals the GMF + tower split the model uses."""
    torch.manual_seed(0)
    model = NeuMF(6, 8, embedding_dim=4, mlp_embedding_dim=3, mlp_dims=(5, 2)).eval()
    enc = model.encode({})
    users, items = torch.tensor([0, 1, 5, 5]), torch.tensor([7, 0, 3, 3])
    p, q = model.gmf_user.weight[users], model.gmf_item.weight[items]
    h = torch.cat([model.mlp_item.weight[items], model.mlp_user.weight[users]], dim=1)  # (B, 6) = [q' || p']
    first = torch.cat([model.tower.target_proj.weight, model.tower.query_proj.weight], dim=1)  # (5, 6)
    h = torch.relu(h @ first.T + model.tower.query_proj.bias)
    h = torch.relu(model.tower.rest[0](h))  # (B, 2): the last hidden layer
    output = model.tower.rest[1]
    fused_weight = torch.cat([model.gmf_out.weight[0], output.weight[0]])  # over [p*q || h]
    expected = torch.cat([p * q, h], dim=1) @ fused_weight + output.bias
    torch.testing.assert_close(model.score("buy", enc, users, items), expected)
    assert model.scoring_kind("buy") == "custom" and model.scorer("buy") is None
    assert repr(model) == "NeuMF(gmf_dim=4, tower=6->5->2->1)"


def test_gradients_reach_both_towers_and_errors() -> None:
    torch.manual_seed(0)
    model = NeuMF(4, 5, embedding_dim=3, mlp_embedding_dim=2, mlp_dims=(4,))
    model.score("buy", model.encode({}), torch.arange(4), torch.arange(4)).sum().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    with pytest.raises(ValueError, match="scores tasks"):
        model.score_all("follow", model.encode({}), torch.arange(2))
    with pytest.raises(ValueError, match="positive"):
        NeuMF(0, 5)
