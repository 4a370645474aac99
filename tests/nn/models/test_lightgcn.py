"""Dot-product LightGCN: the layer combination against a dense formula, the model contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lsec.graph.adjacency import bipartite_adjacency
from lsec.nn.models.lightgcn import LightGCN


def small_graph(seed: int = 0, num_users: int = 9, num_items: int = 11, num_edges: int = 40):
    rng = np.random.default_rng(seed)
    users, items = rng.integers(0, num_users, num_edges), rng.integers(0, num_items, num_edges)
    return users, items, bipartite_adjacency(users, items, num_users, num_items)


@pytest.mark.parametrize("num_layers", [0, 1, 3])
def test_encode_is_mean_of_powers_of_normalised_adjacency(num_layers):
    _, _, adj = small_graph()
    torch.manual_seed(0)
    model = LightGCN(9, 11, embedding_dim=5, num_layers=num_layers)
    enc = model.encode({"buy": adj})
    dense = adj.matrix.to_dense()
    e0 = torch.cat([model.user_embedding, model.item_embedding]).detach()
    want = sum(torch.linalg.matrix_power(dense, k) @ e0 for k in range(num_layers + 1)) / (num_layers + 1)
    assert enc["buy.user"].shape == (9, 5) and enc["buy.item"].shape == (11, 5)
    torch.testing.assert_close(torch.cat([enc["buy.user"], enc["buy.item"]]), want, rtol=1e-5, atol=1e-6)


def test_contract_dot_scorer_and_score_all_agree_with_score():
    _, _, adj = small_graph(1)
    model = LightGCN(9, 11, embedding_dim=4)
    assert model.scorer("buy") is None and model.scoring_kind("buy") == "dot"
    enc = model.encode({"buy": adj})
    users = torch.tensor([0, 3, 8])
    table = model.score_all("buy", enc, users)
    assert table.shape == (3, 11)
    pairs = model.score("buy", enc, users.repeat_interleave(11), torch.arange(11).repeat(3))
    torch.testing.assert_close(table.reshape(-1), pairs)
    with pytest.raises(ValueError, match="follow"):
        model.score_all("follow", enc, users)


def test_wrong_graph_size_and_state_dict_roundtrip():
    _, _, adj = small_graph(2)
    with pytest.raises(ValueError, match="adjacency"):
        LightGCN(8, 11).encode({"buy": adj})
    model = LightGCN(9, 11, embedding_dim=4)
    clone = LightGCN(9, 11, embedding_dim=4)
    clone.load_state_dict(model.state_dict())
    torch.testing.assert_close(clone.encode({"buy": adj})["buy.item"], model.encode({"buy": adj})["buy.item"])
